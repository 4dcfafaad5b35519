// HTTP building blocks shared by the command gateway, the query API and the broker's control
// endpoint: a server that runs on its own threads, JSON bodies through Protobuf's JSON mapping,
// the error body of SPEC §6, and the /metrics, /healthz and /readyz routes every process serves.
#pragma once

#include <google/protobuf/message.h>
#include <httplib.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

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
  int read_timeout_s = 10;          // a client that sends nothing for this long is dropped; default 10
  int write_timeout_s = 10;         // a client that reads nothing for this long is dropped; default 10
};

// An httplib::Server listening on one address, serving on its own threads until Stop().
class Server {
 public:
  explicit Server(ServerOptions options = {});
  ~Server();  // stops

  httplib::Server& routes() { return server_; }

  // Binds and starts serving. Unavailable when the address cannot be bound.
  Status Start(const HostPort& address);
  void Stop();

  // The bound port (useful when started on port 0).
  int port() const { return port_; }
  // "http://HOST:PORT"
  std::string url() const;

 private:
  ServerOptions options_;
  httplib::Server server_;
  std::thread thread_;
  std::string host_;
  int port_ = 0;
};

// Parses a JSON body into `message` (snake_case or lowerCamel names, enum names in any case,
// unknown fields refused). InvalidArgument with the parser's words otherwise.
Status ParseJson(std::string_view body, google::protobuf::Message& message);

// The message as JSON with snake_case names.
std::string ToJson(const google::protobuf::Message& message);

// Answers `status` with `message` as JSON.
void ReplyJson(httplib::Response& res, int status, const google::protobuf::Message& message);

// Answers `status` with {"error": {code, message, details}}.
void ReplyError(httplib::Response& res, int status, std::string_view code, std::string_view message,
                const std::vector<v1::FieldError>& details = {});

// The HTTP status and error code a non-OK Status is answered with (400 invalid_argument,
// 404 not_found, 503 unavailable, ...).
int HttpStatusFor(const Status& status);
std::string_view ErrorCodeFor(const Status& status);

// Answers a non-OK Status with HttpStatusFor/ErrorCodeFor and its message.
void ReplyStatus(httplib::Response& res, const Status& status);

// Registers GET /metrics (the registry), /healthz (always 200 while the process serves) and
// /readyz (200 when `ready` returns an empty string, else 503 with that reason). Registers the
// gauge kledger_ready (1/0, the same answer as /readyz) in `registry`, refreshed at each scrape.
void AddOperatorRoutes(httplib::Server& server, std::shared_ptr<prometheus::Registry> registry,
                       std::function<std::string()> not_ready_reason);

}  // namespace kledger::http
