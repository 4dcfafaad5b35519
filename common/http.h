// HTTP building blocks shared by the command gateway, the query API and the broker's control
// endpoint: a server that runs on its own threads, JSON bodies through Protobuf's JSON mapping,
// the error body of SPEC §6, and the /metrics, /healthz, /readyz and /openapi.json routes every
// API server serves.
#pragma once

#include <google/protobuf/message.h>
#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/auth.h"
#include "common/status.h"
#include "kledger/v1/api.pb.h"

namespace kledger::http {

struct HostPort {
  std::string host;
  int port = 0;  // 0: any free port
};

// Parses "HOST:PORT" (PORT may be 0). InvalidArgument naming the expected form otherwise.
Result<HostPort> ParseHostPort(std::string_view text);

struct ServerOptions {
  size_t max_body_bytes = 1 << 20;  // larger bodies are answered 413; default 1 MiB
  int read_timeout_s = 10;   // a client that sends nothing for this long is dropped; default 10
  int write_timeout_s = 10;  // a client that reads nothing for this long is dropped; default 10
  // Requests handled at once, those waiting for Kafka's acknowledgement included; more are
  // answered 503 + Retry-After at once. Also the number of worker threads for blocking
  // handlers. Default 64.
  int max_concurrent_requests = 64;
  // PEM certificate (chain) and private key files: both set, the server speaks HTTPS only;
  // both empty, plain HTTP. Default: empty.
  std::string tls_cert_file{};
  std::string tls_key_file{};
};

// A handler's answer is complete: call exactly once, from any thread, after the handler filled
// the response; the request and the response stay valid until then.
using Done = std::function<void()>;
// A handler that answers later, without holding a thread while it waits (the command routes,
// answered when Kafka acknowledges). It runs on the server's event-loop thread, so it must not
// block; it may call `done` before it returns.
using AsyncHandler = std::function<void(const httplib::Request&, httplib::Response&, Done done)>;
// A handler that answers before it returns. It runs on one of the server's worker threads
// (max_concurrent_requests of them), so it may block: on a RocksDB read, on Kafka.
using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

// The routes of one server, tried in the order registered; a pattern is a regular expression the
// whole path must match (each "([^/]+)" a path parameter, in httplib::Request::matches). Filled
// before Server::Start; handlers see httplib's Request (path, params, headers, body, matches,
// remote_addr) and fill its Response (status, headers, body).
class Router {
 public:
  Router& Get(const std::string& pattern, Handler handler);
  Router& Post(const std::string& pattern, Handler handler);
  Router& PostAsync(const std::string& pattern, AsyncHandler handler);
  // An AsyncHandler that may block before it returns (it runs on a worker thread, as a Handler
  // does) and answers when it calls `done`, possibly later and from another thread: a worker is
  // held only while the handler computes (/v1/batch: it parses and submits, Kafka's delivery
  // thread answers).
  Router& PostOnWorker(const std::string& pattern, AsyncHandler handler);

  struct Route {
    std::string method;
    // Text every matching path starts and ends with, checked before the regular expression.
    std::string literal_prefix;
    std::string literal_suffix;
    std::regex regex;
    AsyncHandler handler;
    bool blocking;  // a Handler or PostOnWorker's: run on a worker thread
  };
  // The route serving `method` (HEAD is served by GET's) and `path`, its captures in `matches`;
  // nullptr when none does.
  const Route* Find(std::string_view method, const std::string& path, std::smatch& matches) const;

  // `handler` in the form every route is kept in: an AsyncHandler that is done when it returns.
  static AsyncHandler Blocking(Handler handler);

 private:
  Router& Add(std::string method, const std::string& pattern, AsyncHandler handler, bool blocking);
  std::vector<Route> routes_;
};

// An HTTP/1.1 server (HTTPS with TLS) on one address: one event-loop thread ("kl-http") reads
// requests and writes answers for every connection (Boost.Beast over Asio); blocking handlers
// run on worker threads ("kl-http-work"), asynchronous ones on the loop. Serves until Stop().
class Server {
 public:
  explicit Server(ServerOptions options = {});
  ~Server();  // stops

  Router& routes() { return router_; }

  // Binds and starts serving. Unavailable when the address cannot be bound; InvalidArgument
  // when the TLS certificate or key cannot be loaded.
  Status Start(const HostPort& address);
  // Stops accepting, lets the requests in flight finish (up to read + write timeouts), closes
  // every connection and joins the threads; an answer whose Done comes later is dropped.
  // Idempotent.
  void Stop();

  // The bound port (useful when started on port 0).
  int port() const { return port_; }
  bool tls() const { return !options_.tls_cert_file.empty(); }
  // "http://HOST:PORT", or "https://HOST:PORT" with TLS.
  std::string url() const;

  struct Core;  // the event loop and what its connections share (common/http_server.cc)

 private:
  ServerOptions options_;
  Router router_;
  std::shared_ptr<Core> core_;
  std::string host_;
  int port_ = 0;
};

// One route of an API as docs/openapi.json describes it: its method and its path pattern
// (httplib's regex, each "([^/]+)" one path parameter). Each API lists its routes from the
// table it registers them from, so that a test can hold the document to them.
struct RouteInfo {
  const char* method;   // "GET", "POST"
  const char* pattern;  // e.g. R"(/v1/instances/([^/]+)/accounts)"
};

// "/v1/instances/{}/accounts" for R"(/v1/instances/([^/]+)/accounts)": a route's pattern with each
// path parameter as "{}", the `route` label of its metrics.
std::string RouteTemplate(std::string_view pattern);

// The metrics of the API routes (SPEC §7, docs/metrics.md): every answer counted in
// kledger_http_requests_total{route,code} and timed in
// kledger_http_request_duration_seconds{route}, refusals (401, 403) included. One per process,
// shared by its APIs. Thread-safe.
class RouteMetrics {
 public:
  explicit RouteMetrics(prometheus::Registry& registry);
  // `handler`, counted and timed as `route`.
  Handler Wrap(const RouteInfo& route, Handler handler);
  AsyncHandler Wrap(const RouteInfo& route, AsyncHandler handler);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
};

// Who may call a route: the right it needs and the instances a request touches.
struct Access {
  auth::Right right = auth::Right::kQuery;
  // The instance ids the request touches. Unset: the route spans every instance (/v1/digest,
  // /metrics) and needs a token granted on "*". An empty list (e.g. a body that does not parse,
  // which the handler then refuses) needs the right on some instance.
  std::function<std::vector<std::string>(const httplib::Request&)> instances{};
};

// The {instance} of /v1/instances/{instance}/... routes: the route pattern's first capture.
std::vector<std::string> PathInstance(const httplib::Request& req);

// Wraps `handler` so that it runs only when `authorizer` grants the request's bearer token
// `access`; otherwise answers 401 (with WWW-Authenticate: Bearer) or 403 and logs the refusal
// without the token. With Authorizer::AllowAll() the handler always runs. Every route of the
// command and query APIs is registered through this, but /v1/batch, which parses its body once
// and then calls Authorize with the instances it names.
Handler Guarded(std::shared_ptr<const auth::Authorizer> authorizer, Access access, Handler handler);
AsyncHandler Guarded(std::shared_ptr<const auth::Authorizer> authorizer, Access access,
                     AsyncHandler handler);

// The check Guarded makes, for a handler that learns the instances a request touches itself
// (from a body it parses once): true when `authorizer` grants the bearer token `right` on each of
// `instances` (unset: on "*"; empty: on some instance); otherwise answers 401 or 403 and logs the
// refusal without the token. Call it only when authorizer.enabled().
bool Authorize(const auth::Authorizer& authorizer, auth::Right right,
               std::optional<std::vector<std::string>> instances, const httplib::Request& req,
               httplib::Response& res);

// Parses a JSON body into `message` (snake_case or lowerCamel names, enum names in any case,
// unknown fields refused). InvalidArgument with the parser's words otherwise.
Status ParseJson(std::string_view body, google::protobuf::Message& message);

// The message as JSON with snake_case names.
std::string ToJson(const google::protobuf::Message& message);

// Answers `status` with `message` as JSON.
void ReplyJson(httplib::Response& res, int status, const google::protobuf::Message& message);

// Answers `status` with {"error": {code, message, details}}. Bytes of the message and of the
// details' fields that are not UTF-8 (a client's input quoted back) become U+FFFD.
void ReplyError(httplib::Response& res, int status, std::string_view code, std::string_view message,
                const std::vector<v1::FieldError>& details = {});

// The HTTP status and error code a non-OK Status is answered with (400 invalid_argument,
// 404 not_found, 503 unavailable, ...).
int HttpStatusFor(const Status& status);
std::string_view ErrorCodeFor(const Status& status);

// Answers a non-OK Status with HttpStatusFor/ErrorCodeFor and its message.
void ReplyStatus(httplib::Response& res, const Status& status);

// Registers GET /metrics (the registry), /healthz (always 200 while the process serves), /readyz
// (200 when `ready` returns an empty string, else 503 with that reason) and /openapi.json
// (OpenApiDocument()). Registers the gauge kledger_ready (1/0, the same answer as /readyz) in
// `registry`, refreshed at each scrape. /healthz, /readyz and /openapi.json stay open;
// /metrics needs an `admin` token on "*" when `metrics_authorizer` is given (default: open, for
// Prometheus scrapes). GET /v1/whoami answers what the bearer token may do under
// `api_authorizer` (the API's: a WhoAmI), 401 for a missing or unknown token when it is on.
void AddOperatorRoutes(Router& server, std::shared_ptr<prometheus::Registry> registry,
                       std::function<std::string()> not_ready_reason,
                       std::shared_ptr<const auth::Authorizer> api_authorizer,
                       std::shared_ptr<const auth::Authorizer> metrics_authorizer = nullptr);
// The routes AddOperatorRoutes registers.
std::vector<RouteInfo> OperatorRoutes();

// docs/openapi.json as it was when the binary was built (embedded by CMake): the OpenAPI
// document of every route of the command, query and operator APIs.
std::string_view OpenApiDocument();

}  // namespace kledger::http
