// Token file parsing and the authorization decision. Tokens are kept only as SHA-256 digests,
// so that neither a parse error nor a refused request can echo one into a log.
#include "common/auth.h"

#include <fnmatch.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cctype>
#include <fstream>
#include <sstream>

namespace kledger::auth {
namespace {

// Short enough to type, long enough that guessing one over HTTP is hopeless.
constexpr size_t kMinTokenLength = 16;
constexpr std::string_view kSha256Prefix = "sha256:";

std::array<unsigned char, 32> Sha256(std::string_view data) {
  std::array<unsigned char, 32> out{};
  unsigned int size = 0;
  // EVP_Digest with SHA-256 cannot fail short of memory exhaustion; then the zero digest matches
  // no stored token (digests of real tokens are never all zero in practice).
  EVP_Digest(data.data(), data.size(), out.data(), &size, EVP_sha256(), nullptr);
  return out;
}

std::string Hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * size);
  for (size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0xf];
  }
  return out;
}

bool ParseHexDigest(std::string_view hex, std::array<unsigned char, 32>& out) {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    const size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

unsigned Bit(Right right) { return 1u << static_cast<unsigned>(right); }

}  // namespace

std::string_view RightName(Right right) {
  switch (right) {
    case Right::kSubmit:
      return "submit";
    case Right::kQuery:
      return "query";
    case Right::kAdmin:
      return "admin";
  }
  return "unknown";
}

std::shared_ptr<const Authorizer> Authorizer::AllowAll() {
  static const std::shared_ptr<const Authorizer> kAllowAll = [] {
    std::shared_ptr<Authorizer> a(new Authorizer());
    a->enabled_ = false;
    return a;
  }();
  return kAllowAll;
}

Result<std::shared_ptr<const Authorizer>> Authorizer::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::IoError("cannot read the auth token file " + path +
                           " (check --auth-tokens / KLEDGER_AUTH_TOKENS and its permissions)");
  }
  std::stringstream text;
  text << in.rdbuf();
  return FromText(text.str(), path);
}

Result<std::shared_ptr<const Authorizer>> Authorizer::FromText(std::string_view text,
                                                               std::string_view source) {
  std::shared_ptr<Authorizer> out(new Authorizer());
  int line_number = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    // Errors name the line and what is wrong with it, never its content: the line holds a token.
    auto bad = [&](const std::string& what) {
      return Status::InvalidArgument(std::string(source) + ":" + std::to_string(line_number) +
                                     ": " + what +
                                     " (expected TOKEN INSTANCE_PATTERN RIGHTS, e.g. "
                                     "'sha256:<64 hex> acme* submit,query')");
    };
    const std::vector<std::string_view> fields = SplitFields(line);
    if (fields.empty() || fields[0].front() == '#') continue;
    if (fields.size() != 3) {
      return bad("has " + std::to_string(fields.size()) + " fields instead of 3");
    }
    Grant grant;
    const std::string_view token = fields[0];
    if (token.starts_with(kSha256Prefix)) {
      if (!ParseHexDigest(token.substr(kSha256Prefix.size()), grant.digest)) {
        return bad("the hashed token is not 'sha256:' followed by 64 hex digits");
      }
    } else {
      if (token.size() < kMinTokenLength) {
        return bad("the token is shorter than " + std::to_string(kMinTokenLength) +
                   " characters; use a long random one (openssl rand -hex 32)");
      }
      grant.digest = Sha256(token);
    }
    grant.pattern = std::string(fields[1]);
    std::string_view rights = fields[2];
    while (!rights.empty()) {
      const size_t comma = rights.find(',');
      const std::string_view name = rights.substr(0, comma);
      if (name == "submit") {
        grant.rights |= Bit(Right::kSubmit);
      } else if (name == "query") {
        grant.rights |= Bit(Right::kQuery);
      } else if (name == "admin") {
        grant.rights |= Bit(Right::kAdmin);
      } else {
        return bad("unknown right '" + std::string(name) + "' (rights are submit, query, admin)");
      }
      rights = comma == std::string_view::npos ? std::string_view() : rights.substr(comma + 1);
    }
    out->grants_.push_back(std::move(grant));
  }
  if (out->grants_.empty()) {
    return Status::InvalidArgument(std::string(source) +
                                   " grants nothing (no token lines): every request would be "
                                   "refused; add a line TOKEN INSTANCE_PATTERN RIGHTS");
  }
  return std::shared_ptr<const Authorizer>(std::move(out));
}

Decision Authorizer::Authorize(std::string_view token, std::string_view instance,
                               Right right) const {
  if (!enabled_) return {};
  if (token.empty()) {
    return {Decision::Kind::kUnauthenticated,
            "a bearer token is required (Authorization: Bearer <token>)", ""};
  }
  const Digest digest = Sha256(token);
  Decision decision;
  decision.token_id = std::string(kSha256Prefix) + Hex(digest.data(), 6);
  bool known = false;
  bool granted = false;
  // Every grant is compared, matching or not, so the time taken says nothing about the file.
  for (const Grant& grant : grants_) {
    if (CRYPTO_memcmp(grant.digest.data(), digest.data(), digest.size()) != 0) continue;
    known = true;
    if ((grant.rights & Bit(right)) == 0) continue;
    bool covers = false;
    if (instance == kAllInstances) {
      covers = grant.pattern == kAllInstances;
    } else if (instance == kAnyInstance) {
      covers = true;
    } else {
      covers = fnmatch(grant.pattern.c_str(), std::string(instance).c_str(), 0) == 0;
    }
    granted = granted || covers;
  }
  if (!known) {
    decision.kind = Decision::Kind::kUnauthenticated;
    decision.reason = "the bearer token is not valid";
  } else if (!granted) {
    decision.kind = Decision::Kind::kForbidden;
    decision.reason = "the token does not grant '" + std::string(RightName(right)) + "' on " +
                      (instance == kAllInstances  ? std::string("every instance")
                       : instance == kAnyInstance ? std::string("any instance")
                                                  : "instance '" + std::string(instance) + "'");
  }
  return decision;
}

Authorizer::Identity Authorizer::Identify(std::string_view token) const {
  constexpr Right kRights[] = {Right::kSubmit, Right::kQuery, Right::kAdmin};
  Identity identity;
  if (!enabled_) {
    identity.grants.push_back(
        {std::string(kAllInstances), {std::begin(kRights), std::end(kRights)}});
    return identity;
  }
  // The decision on "some instance, some right" tells a known token from an unknown one.
  identity.decision = Authorize(token, kAnyInstance, Right::kSubmit);
  if (identity.decision.kind == Decision::Kind::kUnauthenticated) return identity;
  identity.decision.kind = Decision::Kind::kAllow;
  identity.decision.reason.clear();
  const Digest digest = Sha256(token);
  for (const Grant& grant : grants_) {
    if (CRYPTO_memcmp(grant.digest.data(), digest.data(), digest.size()) != 0) continue;
    TokenGrant& shown = identity.grants.emplace_back();
    shown.pattern = grant.pattern;
    for (Right right : kRights) {
      if ((grant.rights & Bit(right)) != 0) shown.rights.push_back(right);
    }
  }
  return identity;
}

std::string_view BearerToken(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return {};
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
    token.remove_suffix(1);
  }
  return token;
}

}  // namespace kledger::auth
