// The HTTP server of common/http.h: Boost.Beast's parser and serializer over one Asio event loop,
// httplib's Request and Response as what handlers see, and the limits of ServerOptions.
//
// The loop accepts, reads each request (its header first, so that a client that expects
// "100 Continue" gets it), routes it, runs asynchronous handlers itself and hands blocking ones
// to the worker pool, and writes each answer once its handler called Done. A connection carries
// one request at a time. Nothing here blocks the loop: a request waiting
// for Kafka holds a few hundred bytes, not a thread.
#include <httplib.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include "common/http.h"
#include "common/internal/worker_pool.h"

namespace kledger::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Requests one keep-alive connection may carry before the server closes it (nginx's default).
constexpr int kKeepAliveRequests = 1000;
// The event loop's executor, concrete: one thread runs the loop, so a connection needs no
// strand, and a concrete executor spares Asio's type-erased one its copies on every operation.
// (Two loop threads were measured: +10% requests/s for +40% CPU per request.)
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
using PlainStream = beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy>;
using TlsStream = beast::ssl_stream<PlainStream>;
// The largest request header (httplib's and nginx's default is 8 KiB).
constexpr uint32_t kHeaderLimit = 8192;

// The error body for an answer a handler left without one (a bare status), and for the server's
// own refusals.
void FillEmptyError(const httplib::Request& req, httplib::Response& res) {
  if (res.status < 400 || !res.body.empty()) return;
  if (res.status == 413) {
    ReplyError(res, 413, "payload_too_large", "the request body exceeds the size limit");
  } else if (res.status == 404) {
    ReplyError(res, 404, "not_found", "no route for " + req.method + " " + req.path);
  } else if (res.status == 400) {
    // Refused before it was parsed, a request has no method.
    ReplyError(res, 400, "invalid_argument",
               req.method.empty() ? "the request is not well-formed HTTP/1.1"
                                  : "method " + req.method + " is not served here");
  } else {
    ReplyError(res, res.status, "http_" + std::to_string(res.status),
               "the request cannot be served (HTTP status " + std::to_string(res.status) + ")");
  }
}

bool IsKnownMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "POST" || method == "PUT" ||
         method == "DELETE" || method == "OPTIONS" || method == "PATCH";
}

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // Closes the connection unless it is writing an answer (which closes it when done, the server
  // being stopped). From any thread.
  virtual void CloseUnlessWriting() = 0;
};

}  // namespace

struct Server::Core {
  Core(ServerOptions options, Router router)
      : options(std::move(options)), router(std::move(router)) {}

  const ServerOptions options;
  const Router router;  // a copy taken at Start: requests may outlive the Server's
  asio::io_context io{1};
  std::optional<asio::ssl::context> tls;
  Acceptor acceptor{io.get_executor()};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  // Named "kl-http-work" (as top and the benchmark's per-thread CPU figures show them; the event
  // loop's thread is "kl-http").
  std::unique_ptr<internal::WorkerPool> workers;
  std::thread loop;
  std::atomic<int> in_flight{0};  // requests dispatched and not yet answered
  std::atomic<bool> stopping{false};

  // Whether a handler's Done may still hand its answer to the loop. Stop closes it before the
  // loop ends, so that nothing is posted to a loop that will never run it (the connection it
  // holds would hold the loop in turn, and neither be freed).
  std::mutex answers_mu;
  bool answers_open = true;

  // Every open connection, for Stop to close. Connections leave in their destructor, on any
  // thread (the last reference may be a Done a Kafka thread drops).
  std::mutex mu;
  std::unordered_map<ConnectionBase*, std::weak_ptr<ConnectionBase>> live;

  void Remember(const std::shared_ptr<ConnectionBase>& c) {
    std::lock_guard lock(mu);
    live.emplace(c.get(), c);
  }
  void Forget(ConnectionBase* c) {
    std::lock_guard lock(mu);
    live.erase(c);
  }
  void CloseAll() {
    std::vector<std::shared_ptr<ConnectionBase>> open;
    {
      std::lock_guard lock(mu);
      for (auto& [raw, weak] : live) {
        if (auto c = weak.lock()) open.push_back(std::move(c));
      }
    }
    for (auto& c : open) c->CloseUnlessWriting();
  }
};

namespace {

// One accepted connection: reads a request, has it answered, writes the answer, and again while
// the client keeps it alive. `Stream` is PlainStream or TlsStream.
template <typename Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(std::shared_ptr<Server::Core> core, Stream stream, const tcp::endpoint& remote)
      : core_(std::move(core)), stream_(std::move(stream)) {
    remote_addr_ = remote.address().to_string();
    remote_port_ = remote.port();
  }
  ~Connection() override { core_->Forget(this); }

  void Start() {
    if constexpr (kTls) {
      Lowest().expires_after(std::chrono::seconds(core_->options.read_timeout_s));
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->ReadHeader();
                              });
    } else {
      ReadHeader();
    }
  }

  void CloseUnlessWriting() override {
    asio::post(Lowest().get_executor(), [self = this->shared_from_this()] {
      if (!self->writing_) self->Close();
    });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, PlainStream>;

  PlainStream& Lowest() { return beast::get_lowest_layer(stream_); }

  void Close() {
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();
  }

  // Closes after the last answer without losing it: the client may still be sending (the body
  // of a request refused 413), and closing with unread bytes would reset the connection before
  // the client read the answer. So: no more sending, then read and discard until the client
  // closes too, for at most a second (nginx's lingering close).
  void LingeringClose() {
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Lowest().expires_after(std::chrono::seconds(1));
    Drain();
  }

  void Drain() {
    buffer_.clear();
    Lowest().async_read_some(buffer_.prepare(4096),
                             [self = this->shared_from_this()](beast::error_code ec, size_t) {
                               if (ec) return self->Close();
                               self->Drain();
                             });
  }

  void ReadHeader() {
    if (core_->stopping.load()) return Close();
    parser_.emplace();
    parser_->body_limit(core_->options.max_body_bytes);
    parser_->header_limit(kHeaderLimit);
    // An idle keep-alive connection is dropped no later than a silent half-sent request.
    const int idle_s =
        served_ == 0 ? core_->options.read_timeout_s : std::min(core_->options.read_timeout_s, 5);
    Lowest().expires_after(std::chrono::seconds(idle_s));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, size_t) {
                               if (ec) return self->OnReadError(ec);
                               self->OnHeader();
                             });
  }

  void OnHeader() {
    const auto& header = parser_->get();
    if (!beast::iequals(header[bhttp::field::expect], "100-continue")) return ReadBody();
    continue_ = {bhttp::status::continue_, header.version()};
    bhttp::async_write(stream_, continue_,
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         if (ec) return self->Close();
                         self->ReadBody();
                       });
  }

  void ReadBody() {
    Lowest().expires_after(std::chrono::seconds(core_->options.read_timeout_s));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->OnReadError(ec);
                        self->OnRequest();
                      });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return Refuse(413);
    }
    // A request that is not HTTP/1.1 is answered (and the connection closed); a client that
    // went away, timed out or was closed by Stop is not.
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      return Refuse(400);
    }
    Close();
  }

  // Answers `status` (its error body filled in) and closes the connection.
  void Refuse(int status) {
    req_ = {};
    res_ = {};
    res_.status = status;
    keep_alive_ = false;
    head_ = false;
    Write();
  }

  void OnRequest() {
    Lowest().expires_never();  // the handler takes what it takes; Stop bounds it
    auto& message = parser_->get();
    req_ = {};
    res_ = {};
    req_.method = std::string(message.method_string());
    req_.version = message.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
    req_.target = std::string(message.target());
    const size_t query = req_.target.find('?');
    req_.path = httplib::detail::decode_url(req_.target.substr(0, query), false);
    if (query != std::string::npos) {
      httplib::detail::parse_query_text(req_.target.substr(query + 1), req_.params);
    }
    for (const auto& field : message) {
      req_.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    }
    req_.body = std::move(message.body());
    req_.remote_addr = remote_addr_;
    req_.remote_port = remote_port_;
    keep_alive_ = message.keep_alive() && ++served_ < kKeepAliveRequests;
    head_ = message.method() == bhttp::verb::head;
    parser_.reset();
    Dispatch();
  }

  void Dispatch() {
    if (!IsKnownMethod(req_.method)) {
      res_.status = 400;
      return Write();
    }
    const int limit = std::max(1, core_->options.max_concurrent_requests);
    const bool stopping = core_->stopping.load();
    const bool over = !stopping && core_->in_flight.fetch_add(1) >= limit;
    if (over) core_->in_flight.fetch_sub(1);
    if (stopping || over) {
      res_.set_header("Retry-After", "1");
      ReplyError(res_, 503, "unavailable",
                 stopping ? std::string("the server is stopping; retry shortly")
                          : "too many concurrent requests (limit " + std::to_string(limit) +
                                "); retry shortly");
      return Write();
    }
    holds_slot_ = true;
    const Router::Route* route = core_->router.Find(req_.method, req_.path, req_.matches);
    if (route == nullptr) {
      res_.status = 404;
      return Write();
    }
    answered_.store(false);
    Done done = [self = this->shared_from_this()] {
      if (self->answered_.exchange(true)) return;  // a second call is a handler's bug: ignored
      std::lock_guard lock(self->core_->answers_mu);
      // After Stop gave up on the request, its connection is closed: the answer is dropped.
      if (!self->core_->answers_open) return;
      asio::post(self->Lowest().get_executor(), [self] { self->Write(); });
    };
    if (route->blocking) {
      core_->workers->Enqueue(
          [self = this->shared_from_this(), route, done] { self->Run(*route, done); });
    } else {
      Run(*route, done);
    }
  }

  void Run(const Router::Route& route, const Done& done) {
    try {
      route.handler(req_, res_, done);
    } catch (const std::exception& e) {
      Failed(e.what(), done);
    } catch (...) {
      Failed("unknown exception", done);
    }
  }

  void Failed(std::string_view what, const Done& done) {
    spdlog::error("http: {} {} failed: {}", req_.method, req_.path, what);
    if (answered_.load()) return;
    res_ = {};
    ReplyError(res_, 500, "internal", "the server failed to handle the request; see its log");
    done();
  }

  void Write() {
    if (holds_slot_) core_->in_flight.fetch_sub(1);
    holds_slot_ = false;
    FillEmptyError(req_, res_);
    out_ = {};
    out_.version(req_.version == "HTTP/1.0" ? 10 : 11);
    out_.result(static_cast<unsigned>(res_.status < 0 ? 200 : res_.status));
    for (const auto& [name, value] : res_.headers) out_.insert(name, value);
    if (head_) {
      out_.content_length(res_.body.size());
    } else {
      out_.body() = std::move(res_.body);
      out_.prepare_payload();
    }
    out_.keep_alive(keep_alive_ && !core_->stopping.load());
    Lowest().expires_after(std::chrono::seconds(core_->options.write_timeout_s));
    writing_ = true;
    bhttp::async_write(stream_, out_,
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         self->writing_ = false;
                         if (ec) return self->Close();
                         if (!self->out_.keep_alive()) return self->LingeringClose();
                         self->ReadHeader();
                       });
  }

  std::shared_ptr<Server::Core> core_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::empty_body> continue_;
  bhttp::response<bhttp::string_body> out_;
  httplib::Request req_;
  httplib::Response res_;
  std::string remote_addr_;
  int remote_port_ = 0;
  int served_ = 0;
  bool keep_alive_ = false;
  bool head_ = false;
  bool holds_slot_ = false;
  bool writing_ = false;
  std::atomic<bool> answered_{false};
};

void Accept(const std::shared_ptr<Server::Core>& core) {
  core->acceptor.async_accept([core](beast::error_code ec, Socket socket) {
    if (ec == asio::error::operation_aborted || !core->acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors, say: wait a moment rather than spin.
      spdlog::warn("http: cannot accept a connection: {}", ec.message());
      auto timer = std::make_shared<asio::steady_timer>(core->io, std::chrono::milliseconds(100));
      timer->async_wait([core, timer](beast::error_code) { Accept(core); });
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    const tcp::endpoint remote = socket.remote_endpoint(ignored);
    std::shared_ptr<ConnectionBase> connection;
    if (core->tls) {
      auto c = std::make_shared<Connection<TlsStream>>(
          core, TlsStream(PlainStream(std::move(socket)), *core->tls), remote);
      c->Start();
      connection = std::move(c);
    } else {
      auto c =
          std::make_shared<Connection<PlainStream>>(core, PlainStream(std::move(socket)), remote);
      c->Start();
      connection = std::move(c);
    }
    core->Remember(connection);
    Accept(core);
  });
}

// Text every path a pattern matches starts with: the pattern's text before its first character
// with a meaning in a regular expression (less its last character when that is quantified).
// Nothing for a pattern with alternatives.
std::string LiteralPrefix(const std::string& pattern) {
  if (pattern.find('|') != std::string::npos) return "";
  const size_t special = pattern.find_first_of("\\()[]{}.*+?|^$");
  if (special == std::string::npos) return pattern;
  const bool quantified = std::string_view("*+?{").find(pattern[special]) != std::string::npos;
  return pattern.substr(0, quantified && special > 0 ? special - 1 : special);
}

// Text every path a pattern matches ends with: what follows its last group, when that is plain
// text (R"(/v1/instances/([^/]+)/accounts)": "/accounts"). Nothing otherwise.
std::string LiteralSuffix(const std::string& pattern) {
  if (pattern.find('|') != std::string::npos) return "";
  const size_t special = pattern.find_last_of("\\()[]{}.*+?|^$");
  if (special == std::string::npos || pattern[special] != ')') return "";
  return pattern.substr(special + 1);
}

}  // namespace

Router& Router::Get(const std::string& pattern, Handler handler) {
  return Add("GET", pattern, Blocking(std::move(handler)), true);
}

Router& Router::Post(const std::string& pattern, Handler handler) {
  return Add("POST", pattern, Blocking(std::move(handler)), true);
}

Router& Router::PostAsync(const std::string& pattern, AsyncHandler handler) {
  return Add("POST", pattern, std::move(handler), false);
}

Router& Router::PostOnWorker(const std::string& pattern, AsyncHandler handler) {
  return Add("POST", pattern, std::move(handler), true);
}

AsyncHandler Router::Blocking(Handler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res,
                                        Done done) {
    handler(req, res);
    done();
  };
}

Router& Router::Add(std::string method, const std::string& pattern, AsyncHandler handler,
                    bool blocking) {
  routes_.push_back({std::move(method), LiteralPrefix(pattern), LiteralSuffix(pattern),
                     std::regex(pattern), std::move(handler), blocking});
  return *this;
}

const Router::Route* Router::Find(std::string_view method, const std::string& path,
                                  std::smatch& matches) const {
  if (method == "HEAD") method = "GET";
  for (const Route& route : routes_) {
    if (route.method != method || !path.starts_with(route.literal_prefix) ||
        !path.ends_with(route.literal_suffix)) {
      continue;
    }
    if (std::regex_match(path, matches, route.regex)) return &route;
  }
  return nullptr;
}

Server::Server(ServerOptions options) : options_(std::move(options)) {}

Server::~Server() { Stop(); }

Status Server::Start(const HostPort& address) {
  host_ = address.host;
  core_ = std::make_shared<Core>(options_, router_);
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    core_->tls.emplace(asio::ssl::context::tls_server);
    beast::error_code ec;
    core_->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                                asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                                asio::ssl::context::no_tlsv1_1,
                            ec);
    if (!ec) core_->tls->use_certificate_chain_file(options_.tls_cert_file, ec);
    if (!ec) core_->tls->use_private_key_file(options_.tls_key_file, asio::ssl::context::pem, ec);
    if (ec || SSL_CTX_check_private_key(core_->tls->native_handle()) != 1) {
      // The paths are not secret.
      return Status::InvalidArgument("cannot load the TLS certificate " + options_.tls_cert_file +
                                     " and key " + options_.tls_key_file +
                                     " (both must be readable PEM files, the key matching the "
                                     "certificate; pass --tls-cert and --tls-key together)");
    }
  }
  const auto cannot_listen = [&](const std::string& why) {
    return Status::Unavailable("cannot listen on " + address.host + ":" +
                               std::to_string(address.port) +
                               " (in use, or not an address of this machine: " + why + ")");
  };
  beast::error_code ec;
  tcp::resolver resolver(core_->io);
  auto endpoints = resolver.resolve(address.host, std::to_string(address.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) return cannot_listen(ec ? ec.message() : "no address");
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  Acceptor& acceptor = core_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return cannot_listen(ec.message());
  port_ = acceptor.local_endpoint().port();

  core_->work.emplace(core_->io.get_executor());
  core_->workers = std::make_unique<internal::WorkerPool>(
      static_cast<size_t>(std::max(1, options_.max_concurrent_requests)), "kl-http-work");
  Accept(core_);
  core_->loop = std::thread([core = core_.get()] {
    pthread_setname_np(pthread_self(), "kl-http");
    core->io.run();
  });
  return Status::Ok();
}

void Server::Stop() {
  if (!core_ || !core_->loop.joinable()) return;
  Core& core = *core_;
  core.stopping.store(true);
  asio::post(core.acceptor.get_executor(), [&core] {
    beast::error_code ignored;
    core.acceptor.close(ignored);
  });
  // The requests in flight are answered first: a blocking handler's thread, or Kafka's
  // acknowledgement, finishes within the timeouts.
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(options_.read_timeout_s + options_.write_timeout_s);
  while (core.in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (core.in_flight.load() > 0) {
    spdlog::warn("http: stopping with {} request(s) unanswered", core.in_flight.load());
  }
  // Idle connections close now, those writing an answer once it is written, and those still
  // awaiting theirs drop it when it comes.
  core.CloseAll();
  {
    std::lock_guard lock(core.answers_mu);
    core.answers_open = false;
  }
  core.work.reset();
  core.loop.join();
  core.workers->Shutdown();
}

std::string Server::url() const {
  return (tls() ? "https://" : "http://") + host_ + ":" + std::to_string(port_);
}

}  // namespace kledger::http
