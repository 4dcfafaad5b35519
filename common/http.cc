#include "common/http.h"

#include <google/protobuf/util/json_util.h>
#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>

#include "common/internal/json_fast.h"
#include "common/metrics.h"

namespace kledger::http {

Result<HostPort> ParseHostPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  auto bad = [&] {
    return Status::InvalidArgument("address '" + std::string(text) +
                                   "' is not HOST:PORT (for example 127.0.0.1:8080)");
  };
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return bad();
  HostPort out;
  out.host = std::string(text.substr(0, colon));
  const std::string_view port = text.substr(colon + 1);
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
  if (ec != std::errc() || end != port.data() + port.size() || out.port < 0 || out.port > 65535) {
    return bad();
  }
  return out;
}

namespace {

// `text` with each byte that does not begin a well-formed UTF-8 sequence replaced by U+FFFD.
// Error messages quote what the client sent, and Protobuf's JSON printer would silently drop
// such bytes (logging an error for each).
std::string ValidUtf8(std::string_view text) {
  static constexpr uint32_t kMinCodePoint[] = {0, 0, 0x80, 0x800, 0x10000};  // by length
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
    const unsigned char lead = byte(0);
    const size_t length = lead < 0x80           ? 1
                          : (lead >> 5) == 0x06 ? 2
                          : (lead >> 4) == 0x0E ? 3
                          : (lead >> 3) == 0x1E ? 4
                                                : 0;
    bool valid = length > 0 && i + length <= text.size();
    uint32_t code_point = lead & (0x7F >> length);
    for (size_t k = 1; valid && k < length; ++k) {
      valid = (byte(k) & 0xC0) == 0x80;
      code_point = (code_point << 6) | (byte(k) & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either.
    valid =
        valid && (length == 1 || (code_point >= kMinCodePoint[length] && code_point <= 0x10FFFF &&
                                  (code_point < 0xD800 || code_point > 0xDFFF)));
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> PathInstance(const httplib::Request& req) {
  if (req.matches.size() < 2) return {};
  return {req.matches[1].str()};
}

std::string RouteTemplate(std::string_view pattern) {
  constexpr std::string_view kParameter = "([^/]+)";
  std::string out;
  for (size_t i = 0; i < pattern.size();) {
    if (pattern.substr(i, kParameter.size()) == kParameter) {
      out += "{}";
      i += kParameter.size();
    } else {
      out += pattern[i++];
    }
  }
  return out;
}

RouteMetrics::RouteMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("kledger_http_requests_total")
                    .Help("Answers of the API routes, by route and HTTP status code")
                    .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("kledger_http_request_duration_seconds")
                    .Help("Time to answer a request of an API route, by route")
                    .Register(registry)) {}

Handler RouteMetrics::Wrap(const RouteInfo& route, Handler handler) {
  AsyncHandler counted = Wrap(route, Router::Blocking(std::move(handler)));
  return [counted = std::move(counted)](const httplib::Request& req, httplib::Response& res) {
    counted(req, res, [] {});
  };
}

AsyncHandler RouteMetrics::Wrap(const RouteInfo& route, AsyncHandler handler) {
  const std::string name = RouteTemplate(route.pattern);
  prometheus::Histogram& duration = duration_.Add({{"route", name}}, LatencyBuckets());
  // The route's counter for each status code, found in the family once: looking one up hashes
  // its labels under the family's lock.
  auto by_code = std::make_shared<std::array<std::atomic<prometheus::Counter*>, 600>>();
  auto count = [this, name, by_code](int code) {
    if (code < 0 || code >= static_cast<int>(by_code->size())) {
      requests_.Add({{"route", name}, {"code", std::to_string(code)}}).Increment();
      return;
    }
    std::atomic<prometheus::Counter*>& slot = (*by_code)[code];
    prometheus::Counter* counter = slot.load(std::memory_order_acquire);
    if (counter == nullptr) {
      counter = &requests_.Add({{"route", name}, {"code", std::to_string(code)}});
      slot.store(counter, std::memory_order_release);
    }
    counter->Increment();
  };
  return [&duration, count = std::move(count), handler = std::move(handler)](
             const httplib::Request& req, httplib::Response& res, Done done) {
    const auto start = std::chrono::steady_clock::now();
    handler(req, res, [&duration, &count, &res, start, done = std::move(done)] {
      duration.Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      count(res.status < 0 ? 200 : res.status);  // a handler that set no status is answered 200
      done();
    });
  };
}

bool Authorize(const auth::Authorizer& authorizer, auth::Right right,
               std::optional<std::vector<std::string>> touched, const httplib::Request& req,
               httplib::Response& res) {
  const std::string header = req.get_header_value("Authorization");
  const std::string_view token = auth::BearerToken(header);
  std::vector<std::string> instances =
      touched ? std::move(*touched) : std::vector<std::string>{std::string(auth::kAllInstances)};
  // Nothing names an instance (a body the handler refuses): any grant of the right will do.
  if (instances.empty()) instances.emplace_back(auth::kAnyInstance);
  auth::Decision decision;
  for (const std::string& instance : instances) {
    decision = authorizer.Authorize(token, instance, right);
    if (!decision.allowed()) break;
  }
  if (decision.allowed()) return true;
  // The token never reaches the log: only its digest's prefix, for correlation.
  spdlog::warn("http: {} {} from {} refused {}: {}{}", req.method, req.path, req.remote_addr,
               decision.http_status(), decision.reason,
               decision.token_id.empty() ? "" : " (token " + decision.token_id + ")");
  if (decision.kind == auth::Decision::Kind::kUnauthenticated) {
    res.set_header("WWW-Authenticate", R"(Bearer realm="kledger")");
    ReplyError(res, 401, "unauthenticated", decision.reason);
  } else {
    res.set_header("WWW-Authenticate", R"(Bearer realm="kledger", error="insufficient_scope")");
    ReplyError(res, 403, "forbidden", decision.reason);
  }
  return false;
}

namespace {

// Whether `authorizer` grants the request `access`; when not, answers 401 or 403 and logs the
// refusal without the token.
bool Authorized(const auth::Authorizer& authorizer, const Access& access,
                const httplib::Request& req, httplib::Response& res) {
  std::optional<std::vector<std::string>> instances;
  if (access.instances) instances = access.instances(req);
  return Authorize(authorizer, access.right, std::move(instances), req, res);
}

}  // namespace

Handler Guarded(std::shared_ptr<const auth::Authorizer> authorizer, Access access,
                Handler handler) {
  assert(authorizer && "pass auth::Authorizer::AllowAll() to serve without authentication");
  if (!authorizer->enabled()) return handler;
  return [authorizer = std::move(authorizer), access = std::move(access),
          handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    if (Authorized(*authorizer, access, req, res)) handler(req, res);
  };
}

AsyncHandler Guarded(std::shared_ptr<const auth::Authorizer> authorizer, Access access,
                     AsyncHandler handler) {
  assert(authorizer && "pass auth::Authorizer::AllowAll() to serve without authentication");
  if (!authorizer->enabled()) return handler;
  return [authorizer = std::move(authorizer), access = std::move(access),
          handler = std::move(handler)](const httplib::Request& req, httplib::Response& res,
                                        Done done) {
    if (!Authorized(*authorizer, access, req, res)) return done();
    handler(req, res, std::move(done));
  };
}

Status ParseJson(std::string_view body, google::protobuf::Message& message) {
  if (internal::ParseJsonFast(body, message)) return Status::Ok();  // what Protobuf would give
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  options.case_insensitive_enum_parsing = true;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), &message, options);
  if (!status.ok()) {
    return Status::InvalidArgument("body is not a valid " + message.GetDescriptor()->name() +
                                   " JSON document: " + std::string(status.message()));
  }
  return Status::Ok();
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  // Printing a well-formed message cannot fail; an error here is a bug worth seeing.
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  assert(status.ok());
  return out;
}

void ReplyJson(httplib::Response& res, int status, const google::protobuf::Message& message) {
  res.status = status;
  res.set_content(ToJson(message), "application/json");
}

void ReplyError(httplib::Response& res, int status, std::string_view code, std::string_view message,
                const std::vector<v1::FieldError>& details) {
  v1::ErrorBody body;
  body.mutable_error()->set_code(std::string(code));
  body.mutable_error()->set_message(ValidUtf8(message));
  for (const auto& d : details) {
    v1::FieldError& detail = *body.mutable_error()->add_details();
    detail = d;
    detail.set_field(ValidUtf8(d.field()));
  }
  ReplyJson(res, status, body);
}

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kUnavailable:
    case StatusCode::kFatal:  // the client is recreated: a retry may succeed
      return 503;
    case StatusCode::kTimeout:
      return 503;
    case StatusCode::kOutOfRange:
      return 400;
    case StatusCode::kCorruption:
    case StatusCode::kIoError:
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

std::string_view ErrorCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kAlreadyExists:
      return "already_exists";
    case StatusCode::kFailedPrecondition:
      return "failed_precondition";
    case StatusCode::kUnavailable:
    case StatusCode::kFatal:
      return "unavailable";
    case StatusCode::kTimeout:
      return "timeout";
    case StatusCode::kOutOfRange:
      return "out_of_range";
    case StatusCode::kCorruption:
      return "corruption";
    case StatusCode::kIoError:
      return "io_error";
    case StatusCode::kInternal:
      return "internal";
  }
  return "internal";
}

void ReplyStatus(httplib::Response& res, const Status& status) {
  const int code = HttpStatusFor(status);
  if (code == 503) res.set_header("Retry-After", "1");
  ReplyError(res, code, ErrorCodeFor(status), status.message());
}

std::vector<RouteInfo> OperatorRoutes() {
  return {{"GET", "/metrics"},
          {"GET", "/healthz"},
          {"GET", "/readyz"},
          {"GET", R"(/openapi\.json)"},
          {"GET", "/v1/whoami"}};
}

void AddOperatorRoutes(Router& server, std::shared_ptr<prometheus::Registry> registry,
                       std::function<std::string()> not_ready_reason,
                       std::shared_ptr<const auth::Authorizer> api_authorizer,
                       std::shared_ptr<const auth::Authorizer> metrics_authorizer) {
  // Readiness as a metric too, so that an alert can see it lost (Kubernetes only acts on it):
  // evaluated at every scrape, the moment Prometheus looks.
  auto& ready = prometheus::BuildGauge()
                    .Name("kledger_ready")
                    .Help("1 when /readyz answers 200 (the process is ready to serve), else 0")
                    .Register(*registry)
                    .Add({});
  auto metrics = [registry, not_ready_reason, &ready](const httplib::Request&,
                                                      httplib::Response& res) {
    ready.Set(!not_ready_reason || not_ready_reason().empty() ? 1 : 0);
    res.set_content(RenderMetrics(*registry), "text/plain; version=0.0.4; charset=utf-8");
  };
  server.Get("/metrics", metrics_authorizer ? Guarded(std::move(metrics_authorizer),
                                                      {.right = auth::Right::kAdmin}, metrics)
                                            : metrics);
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server.Get("/readyz", [not_ready_reason](const httplib::Request&, httplib::Response& res) {
    const std::string reason = not_ready_reason ? not_ready_reason() : std::string();
    if (reason.empty()) {
      res.set_content("ready\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("not ready: " + reason + "\n", "text/plain");
    }
  });
  server.Get(R"(/openapi\.json)", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(OpenApiDocument()), "application/json");
  });
  server.Get("/v1/whoami", [api_authorizer](const httplib::Request& req, httplib::Response& res) {
    const auth::Authorizer::Identity identity =
        api_authorizer->Identify(auth::BearerToken(req.get_header_value("Authorization")));
    if (!identity.decision.allowed()) {
      res.set_header("WWW-Authenticate", R"(Bearer realm="kledger")");
      return ReplyError(res, identity.decision.http_status(), "unauthenticated",
                        identity.decision.reason);
    }
    v1::WhoAmI who;
    who.set_auth_enabled(api_authorizer->enabled());
    who.set_token_id(identity.decision.token_id);
    for (const auth::Authorizer::TokenGrant& grant : identity.grants) {
      v1::Grant& shown = *who.add_grants();
      shown.set_instances(grant.pattern);
      for (auth::Right right : grant.rights) shown.add_rights(std::string(auth::RightName(right)));
    }
    ReplyJson(res, 200, who);
  });
}

}  // namespace kledger::http
