#include "common/http.h"

#include <google/protobuf/util/json_util.h>
#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

#include <charconv>

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

Server::Server(ServerOptions options) : options_(options) {
  server_.set_payload_max_length(options_.max_body_bytes);
  server_.set_read_timeout(options_.read_timeout_s, 0);
  server_.set_write_timeout(options_.write_timeout_s, 0);
  server_.set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                                   std::exception_ptr ep) {
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
  server_.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    // Only fill in bodies httplib left empty (its own 404s and 413s); handlers write their own.
    if (!res.body.empty()) return;
    if (res.status == 413) {
      ReplyError(res, 413, "payload_too_large", "the request body exceeds the size limit");
    } else if (res.status == 404) {
      ReplyError(res, 404, "not_found", "no route for " + req.method + " " + req.path);
    }
  });
}

Server::~Server() { Stop(); }

Status Server::Start(const HostPort& address) {
  host_ = address.host;
  if (address.port == 0) {
    port_ = server_.bind_to_any_port(address.host);
    if (port_ <= 0) port_ = 0;
  } else if (server_.bind_to_port(address.host, address.port)) {
    port_ = address.port;
  }
  if (port_ == 0) {
    return Status::Unavailable("cannot listen on " + address.host + ":" +
                               std::to_string(address.port) +
                               " (in use, or not an address of this machine)");
  }
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  return Status::Ok();
}

void Server::Stop() {
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

std::string Server::url() const { return "http://" + host_ + ":" + std::to_string(port_); }

Status ParseJson(std::string_view body, google::protobuf::Message& message) {
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
  body.mutable_error()->set_message(std::string(message));
  for (const auto& d : details) *body.mutable_error()->add_details() = d;
  ReplyJson(res, status, body);
}

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kTimeout: return 503;
    case StatusCode::kOutOfRange: return 400;
    case StatusCode::kCorruption:
    case StatusCode::kIoError:
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

std::string_view ErrorCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid_argument";
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kAlreadyExists: return "already_exists";
    case StatusCode::kFailedPrecondition: return "failed_precondition";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kTimeout: return "timeout";
    case StatusCode::kOutOfRange: return "out_of_range";
    case StatusCode::kCorruption: return "corruption";
    case StatusCode::kIoError: return "io_error";
    case StatusCode::kInternal: return "internal";
  }
  return "internal";
}

void ReplyStatus(httplib::Response& res, const Status& status) {
  const int code = HttpStatusFor(status);
  if (code == 503) res.set_header("Retry-After", "1");
  ReplyError(res, code, ErrorCodeFor(status), status.message());
}

void AddOperatorRoutes(httplib::Server& server, std::shared_ptr<prometheus::Registry> registry,
                       std::function<std::string()> not_ready_reason) {
  // Readiness as a metric too, so that an alert can see it lost (Kubernetes only acts on it):
  // evaluated at every scrape, the moment Prometheus looks.
  auto& ready = prometheus::BuildGauge()
                    .Name("kledger_ready")
                    .Help("1 when /readyz answers 200 (the process is ready to serve), else 0")
                    .Register(*registry)
                    .Add({});
  server.Get("/metrics", [registry, not_ready_reason, &ready](const httplib::Request&,
                                                               httplib::Response& res) {
    ready.Set(!not_ready_reason || not_ready_reason().empty() ? 1 : 0);
    res.set_content(RenderMetrics(*registry), "text/plain; version=0.0.4; charset=utf-8");
  });
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
}

}  // namespace kledger::http
