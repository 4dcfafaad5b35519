// Bearer-token authentication and instance-scoped authorization for the HTTP APIs: the token
// file (`--auth-tokens`), and the decision a request gets (allow, 401 or 403).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kledger::auth {

enum class Right { kSubmit, kQuery, kAdmin };

// "submit", "query", "admin".
std::string_view RightName(Right right);

// Instance argument of Authorize for routes that span every instance (/v1/digest, /metrics):
// only a token whose pattern is "*" covers it. Never a valid instance id ('*' is not allowed).
inline constexpr std::string_view kAllInstances = "*";
// Instance argument of Authorize when a request names no valid instance (a body the handler
// will refuse): any grant of the right covers it. The empty string is never a valid instance id.
inline constexpr std::string_view kAnyInstance = "";

struct Decision {
  enum class Kind { kAllow, kUnauthenticated, kForbidden };
  Kind kind = Kind::kAllow;
  // Why it was refused, safe to show the caller and to log: it never holds the token.
  std::string reason;
  // "sha256:<first 12 hex digits>" of the presented token (empty when none was presented): lets
  // an operator tell which token was used without the token itself reaching a log.
  std::string token_id;

  bool allowed() const { return kind == Kind::kAllow; }
  int http_status() const {
    return kind == Kind::kAllow ? 200 : kind == Kind::kForbidden ? 403 : 401;
  }
};

// The grants of a token file. Immutable once built, so one instance is shared by every HTTP
// thread without locking.
class Authorizer {
 public:
  // Auth off: every request is allowed, with or without a token (`--insecure-no-auth`, or
  // `kledger dev` without `--auth-tokens`).
  static std::shared_ptr<const Authorizer> AllowAll();

  // Reads a token file: one grant per line, `TOKEN INSTANCE_PATTERN RIGHTS`, separated by
  // spaces or tabs. TOKEN is the token itself (at least 16 characters) or `sha256:<64 hex>` of
  // it; INSTANCE_PATTERN a glob (`*`, `acme*`, `shop-?`); RIGHTS a comma-separated subset of
  // submit, query, admin. `#` starts a comment line; blank lines are skipped. A token may appear
  // on several lines; its grants add up. On error returns InvalidArgument naming the file and
  // line (never its token) or IoError when the file cannot be read.
  static Result<std::shared_ptr<const Authorizer>> FromFile(const std::string& path);
  // The same from text already in memory; `source` names it in errors.
  static Result<std::shared_ptr<const Authorizer>> FromText(std::string_view text,
                                                            std::string_view source);

  // False for AllowAll().
  bool enabled() const { return enabled_; }

  // What `token` may do: its grants in file order (the pattern and the rights of each line).
  // With authentication off, one grant of every right on "*". `decision` is kUnauthenticated
  // when the token is missing or matches no line (then `grants` is empty), else kAllow.
  struct TokenGrant {
    std::string pattern;
    std::vector<Right> rights;
  };
  struct Identity {
    Decision decision;
    std::vector<TokenGrant> grants;
  };
  Identity Identify(std::string_view token) const;
  // Number of grants (lines) loaded.
  size_t size() const { return grants_.size(); }

  // Whether `token` (the bearer token as presented, possibly empty) may use `right` on
  // `instance` (or on every instance: kAllInstances; or on some instance: kAnyInstance).
  // kUnauthenticated (401) when the token is missing or matches no line; kForbidden (403) when it
  // is known but no line of it grants the right on the instance. Tokens are compared by their
  // SHA-256 digests in constant time.
  Decision Authorize(std::string_view token, std::string_view instance, Right right) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Grant {
    Digest digest;
    std::string pattern;
    unsigned rights = 0;  // bit (1 << Right)
  };

  Authorizer() = default;

  bool enabled_ = true;
  std::vector<Grant> grants_;
};

// The token of an `Authorization: Bearer <token>` header value; empty when the header is absent
// or of another scheme.
std::string_view BearerToken(std::string_view authorization_header);

}  // namespace kledger::auth
