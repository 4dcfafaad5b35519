#include "common/http.h"

#include <google/protobuf/util/json_util.h>
#include <prometheus/gauge.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
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

// Threads beyond max_concurrent_requests: they read the excess requests and answer them 503
// instead of leaving them queued behind busy threads.
constexpr int kSpareThreads = 4;

// Requests one keep-alive connection may carry before the server closes it (nginx's default).
constexpr int kKeepAliveRequests = 1000;

// httplib's thread pool, its workers named "kl-http" (as top and the benchmark's per-thread CPU
// figures show them) when they take their first connection.
class NamedThreadPool final : public httplib::TaskQueue {
 public:
  explicit NamedThreadPool(size_t threads) : pool_(threads) {}
  void enqueue(std::function<void()> fn) override {
    pool_.enqueue([fn = std::move(fn)] {
      thread_local bool named = false;
      if (!named) pthread_setname_np(pthread_self(), "kl-http");
      named = true;
      fn();
    });
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_;
};

// Whether this pool thread's current request holds an in-flight slot. httplib serves a request
// on one pool thread from pre-routing to post-routing, and each pool belongs to one server.
thread_local bool holds_slot = false;

std::unique_ptr<httplib::Server> MakeServer(const ServerOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) {
    return std::make_unique<httplib::Server>();
  }
  return std::make_unique<httplib::SSLServer>(options.tls_cert_file.c_str(),
                                              options.tls_key_file.c_str());
}

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

Server::Server(ServerOptions options)
    : options_(std::move(options)), server_(MakeServer(options_)) {
  httplib::Server& server = *server_;
  server.set_payload_max_length(options_.max_body_bytes);
  server.set_read_timeout(options_.read_timeout_s, 0);
  server.set_write_timeout(options_.write_timeout_s, 0);
  // An idle keep-alive connection is dropped no later than a silent half-sent request.
  server.set_keep_alive_timeout(std::min(options_.read_timeout_s, 5));
  // httplib writes an answer's headers and body apart: with Nagle's algorithm the body then
  // waits for the client's delayed ACK of the headers, up to 40 ms on a keep-alive connection.
  server.set_tcp_nodelay(true);
  // httplib closes a keep-alive connection after 5 requests by default, so a caller posting one
  // transfer a request reconnects every fifth; nginx's default is kept instead.
  server.set_keep_alive_max_count(kKeepAliveRequests);
  // Remembered so that Start can widen httplib's listen backlog of 5 (see there).
  server.set_socket_options([this](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_fd_ = sock;
  });
  const int max_in_flight = std::max(1, options_.max_concurrent_requests);
  server.new_task_queue = [max_in_flight] {
    return new NamedThreadPool(static_cast<size_t>(max_in_flight + kSpareThreads));
  };
  server.set_pre_routing_handler(
      [this, max_in_flight](const httplib::Request&, httplib::Response& res) {
        if (holds_slot) in_flight_.fetch_sub(1);  // a response that skipped post-routing
        holds_slot = false;
        if (in_flight_.fetch_add(1) >= max_in_flight) {
          in_flight_.fetch_sub(1);
          res.set_header("Retry-After", "1");
          ReplyError(res, 503, "unavailable",
                     "too many concurrent requests (limit " + std::to_string(max_in_flight) +
                         "); retry shortly");
          return httplib::Server::HandlerResponse::Handled;
        }
        holds_slot = true;
        return httplib::Server::HandlerResponse::Unhandled;
      });
  server.set_post_routing_handler([this](const httplib::Request&, httplib::Response&) {
    if (holds_slot) in_flight_.fetch_sub(1);
    holds_slot = false;
  });
  server.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("http: {} {} failed: {}", req.method, req.path, what);
        ReplyError(res, 500, "internal", "the server failed to handle the request; see its log");
      });
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    // Only fill in bodies httplib left empty (its own errors); handlers write their own.
    if (!res.body.empty()) return;
    if (res.status == 413) {
      ReplyError(res, 413, "payload_too_large", "the request body exceeds the size limit");
    } else if (res.status == 404) {
      ReplyError(res, 404, "not_found", "no route for " + req.method + " " + req.path);
    } else if (res.status == 400) {
      // A malformed request, or a method httplib routes nowhere (TRACE, CONNECT).
      ReplyError(res, 400, "invalid_argument",
                 "the request is not well-formed HTTP, or no route serves method " + req.method);
    } else {
      ReplyError(res, res.status, "http_" + std::to_string(res.status),
                 "the request cannot be served (HTTP status " + std::to_string(res.status) + ")");
    }
  });
}

Server::~Server() { Stop(); }

Status Server::Start(const HostPort& address) {
  host_ = address.host;
  if (!server_->is_valid()) {
    // SSLServer is invalid when its certificate or key did not load; the paths are not secret.
    return Status::InvalidArgument("cannot load the TLS certificate " + options_.tls_cert_file +
                                   " and key " + options_.tls_key_file +
                                   " (both must be readable PEM files, the key matching the "
                                   "certificate; pass --tls-cert and --tls-key together)");
  }
  if (address.port == 0) {
    port_ = server_->bind_to_any_port(address.host);
    if (port_ <= 0) port_ = 0;
  } else if (server_->bind_to_port(address.host, address.port)) {
    port_ = address.port;
  }
  if (port_ == 0) {
    return Status::Unavailable("cannot listen on " + address.host + ":" +
                               std::to_string(address.port) +
                               " (in use, or not an address of this machine)");
  }
  // httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, fixed in Debian's build):
  // more callers connecting at once than that overflow it, and some of their requests fail to
  // read an answer. Listening again on the bound socket only widens the queue.
  if (listen_fd_ >= 0) ::listen(listen_fd_, SOMAXCONN);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::Ok();
}

void Server::Stop() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string Server::url() const {
  return (tls() ? "https://" : "http://") + host_ + ":" + std::to_string(port_);
}

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

httplib::Server::Handler RouteMetrics::Wrap(const RouteInfo& route,
                                            httplib::Server::Handler handler) {
  const std::string name = RouteTemplate(route.pattern);
  prometheus::Histogram& duration = duration_.Add({{"route", name}}, LatencyBuckets());
  return [this, name, &duration, handler = std::move(handler)](const httplib::Request& req,
                                                               httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    handler(req, res);
    duration.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    // A handler that set no status is answered 200 by httplib.
    const int code = res.status < 0 ? 200 : res.status;
    requests_.Add({{"route", name}, {"code", std::to_string(code)}}).Increment();
  };
}

httplib::Server::Handler Guarded(std::shared_ptr<const auth::Authorizer> authorizer, Access access,
                                 httplib::Server::Handler handler) {
  assert(authorizer && "pass auth::Authorizer::AllowAll() to serve without authentication");
  if (!authorizer->enabled()) return handler;
  return [authorizer = std::move(authorizer), access = std::move(access),
          handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    const std::string header = req.get_header_value("Authorization");
    const std::string_view token = auth::BearerToken(header);
    std::vector<std::string> instances;
    if (!access.instances) {
      instances.emplace_back(auth::kAllInstances);
    } else {
      instances = access.instances(req);
    }
    // Nothing names an instance (a body the handler refuses): any grant of the right will do.
    if (instances.empty()) instances.emplace_back(auth::kAnyInstance);
    auth::Decision decision;
    for (const std::string& instance : instances) {
      decision = authorizer->Authorize(token, instance, access.right);
      if (!decision.allowed()) break;
    }
    if (decision.allowed()) return handler(req, res);
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

void AddOperatorRoutes(httplib::Server& server, std::shared_ptr<prometheus::Registry> registry,
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
