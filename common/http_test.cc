#include "common/http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "common/socket_for_testing.h"

namespace kledger::http {
namespace {

TEST(HttpTest, ParsesHostPortAndRefusesMalformedAddresses) {
  auto ok = ParseHostPort("127.0.0.1:8080");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->host, "127.0.0.1");
  EXPECT_EQ(ok->port, 8080);
  EXPECT_EQ(ParseHostPort("localhost:0")->port, 0);
  for (const char* bad : {"", "8080", ":8080", "host:", "host:http", "host:70000", "host:-1"}) {
    EXPECT_FALSE(ParseHostPort(bad).ok()) << bad;
  }
}

TEST(HttpTest, JsonMappingAcceptsLowerCaseEnumsAndRefusesUnknownFields) {
  v1::Entry entry;
  ASSERT_TRUE(
      ParseJson(R"({"account":"cash","direction":"debit","amount":"5","currency":"USD"})", entry)
          .ok());
  EXPECT_EQ(entry.direction(), v1::DEBIT);
  EXPECT_EQ(entry.amount(), 5);
  Status unknown = ParseJson(R"({"acount":"cash"})", entry);
  EXPECT_EQ(unknown.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.message().find("Entry"), std::string::npos) << unknown.message();
  EXPECT_FALSE(ParseJson("{not json", entry).ok());
}

TEST(HttpTest, ServesOperatorRoutesAndAnswersErrorsWithTheSpecBody) {
  Server server({.max_body_bytes = 64});
  auto registry = std::make_shared<prometheus::Registry>();
  std::string not_ready = "catching up";
  AddOperatorRoutes(
      server.routes(), registry, [&] { return not_ready; }, auth::Authorizer::AllowAll());
  server.routes().Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    ReplyStatus(res, Status::Unavailable("broker down"));
  });
  ASSERT_TRUE(server.Start({"127.0.0.1", 0}).ok());
  httplib::Client client("127.0.0.1", server.port());

  EXPECT_EQ(client.Get("/healthz")->status, 200);
  EXPECT_EQ(client.Get("/readyz")->status, 503);
  not_ready.clear();
  EXPECT_EQ(client.Get("/readyz")->status, 200);
  EXPECT_EQ(client.Get("/metrics")->status, 200);

  auto unavailable = client.Post("/echo", "{}", "application/json");
  ASSERT_TRUE(unavailable);
  EXPECT_EQ(unavailable->status, 503);
  EXPECT_EQ(unavailable->get_header_value("Retry-After"), "1");
  v1::ErrorBody body;
  ASSERT_TRUE(ParseJson(unavailable->body, body).ok()) << unavailable->body;
  EXPECT_EQ(body.error().code(), "unavailable");
  EXPECT_EQ(body.error().message(), "broker down");

  auto too_large = client.Post("/echo", std::string(1000, 'x'), "application/json");
  ASSERT_TRUE(too_large);
  EXPECT_EQ(too_large->status, 413);
  EXPECT_EQ(client.Get("/nowhere")->status, 404);
}

TEST(HttpTest, EveryErrorHasTheSpecBodyInValidUtf8) {
  Server server;
  server.routes().Get("/echo", [](const httplib::Request& req, httplib::Response& res) {
    v1::FieldError detail;
    detail.set_field(req.get_param_value("q"));
    detail.set_code("invalid_format");
    ReplyError(res, 400, "invalid_argument", "not '" + req.get_param_value("q") + "'", {detail});
  });
  ASSERT_TRUE(server.Start({"127.0.0.1", 0}).ok());
  httplib::Client client("127.0.0.1", server.port());

  // A stray byte, an overlong '/', a surrogate: each becomes U+FFFD; valid UTF-8 stays.
  auto echoed = client.Get("/echo?q=a%FFb%C0%AFc%ED%A0%80d%C3%A9");
  ASSERT_TRUE(echoed);
  v1::ErrorBody body;
  ASSERT_TRUE(ParseJson(echoed->body, body).ok()) << echoed->body;
  const std::string replaced = "a\uFFFDb\uFFFD\uFFFDc\uFFFD\uFFFD\uFFFDd\u00E9";
  EXPECT_EQ(body.error().message(), "not '" + replaced + "'");
  EXPECT_EQ(body.error().details(0).field(), replaced);

  // httplib's own refusals (a method it routes nowhere) carry the error body too.
  auto trace = client.send([] {
    httplib::Request req;
    req.method = "TRACE";
    req.path = "/echo";
    return req;
  }());
  ASSERT_TRUE(trace);
  EXPECT_EQ(trace->status, 400);
  EXPECT_EQ(trace->get_header_value("Content-Type"), "application/json");
  ASSERT_TRUE(ParseJson(trace->body, body).ok()) << trace->body;
  EXPECT_EQ(body.error().code(), "invalid_argument");
  EXPECT_EQ(body.error().message(), "method TRACE is not served here");
}

// A connected loopback socket to `port`, or -1.
int RawConnect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  const timeval guard{10, 0};  // every test's own bound on a read
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
  return fd;
}

TEST(HttpTest, ARequestThatIsNotHttpIsAnswered400AndClosed) {
  Server server;
  ASSERT_TRUE(server.Start({"127.0.0.1", 0}).ok());
  const int fd = RawConnect(server.port());
  ASSERT_GE(fd, 0);
  const std::string junk = "this is not http\r\n\r\n";
  ASSERT_EQ(send(fd, junk.data(), junk.size(), 0), static_cast<ssize_t>(junk.size()));
  std::string answer;
  char buf[512];
  ssize_t n = 0;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  close(fd);
  EXPECT_EQ(n, 0) << "the server did not close the connection";
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  EXPECT_NE(answer.find(R"("message":"the request is not well-formed HTTP/1.1")"),
            std::string::npos)
      << answer;
}

TEST(HttpTest, GuardedRoutesAnswer401And403AndRunTheHandlerWhenGranted) {
  auto authorizer = auth::Authorizer::FromText(
      "acme-token-0123456789 acme* submit\nadmin-token-0123456789 * admin\n", "tokens");
  ASSERT_TRUE(authorizer.ok()) << authorizer.status().ToString();
  Server server;
  auto ok = [](const httplib::Request&, httplib::Response& res) { res.status = 202; };
  server.routes().Post(R"(/v1/instances/([^/]+)/accounts)",
                       Guarded(*authorizer, {auth::Right::kSubmit, PathInstance}, ok));
  server.routes().Get("/v1/digest", Guarded(*authorizer, {.right = auth::Right::kAdmin}, ok));
  AddOperatorRoutes(server.routes(), std::make_shared<prometheus::Registry>(), {}, *authorizer,
                    *authorizer);
  ASSERT_TRUE(server.Start({"127.0.0.1", 0}).ok());
  httplib::Client client("127.0.0.1", server.port());

  auto missing = client.Post("/v1/instances/acme/accounts", "{}", "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_NE(missing->get_header_value("WWW-Authenticate").find("Bearer"), std::string::npos);
  v1::ErrorBody body;
  ASSERT_TRUE(ParseJson(missing->body, body).ok()) << missing->body;
  EXPECT_EQ(body.error().code(), "unauthenticated");

  client.set_bearer_token_auth("acme-token-0123456789");
  EXPECT_EQ(client.Post("/v1/instances/acme/accounts", "{}", "application/json")->status, 202);
  EXPECT_EQ(client.Post("/v1/instances/beta/accounts", "{}", "application/json")->status, 403);
  EXPECT_EQ(client.Get("/v1/digest")->status, 403);
  EXPECT_EQ(client.Get("/metrics")->status, 403);
  EXPECT_EQ(client.Get("/healthz")->status, 200);  // probes stay open

  client.set_bearer_token_auth("admin-token-0123456789");
  EXPECT_EQ(client.Get("/v1/digest")->status, 202);
  EXPECT_EQ(client.Get("/metrics")->status, 200);
  client.set_bearer_token_auth("wrong-token-0123456789");
  EXPECT_EQ(client.Get("/v1/digest")->status, 401);
}

TEST(HttpTest, AllowAllLeavesRoutesOpen) {
  Server server;
  server.routes().Get("/open", Guarded(auth::Authorizer::AllowAll(), {.right = auth::Right::kAdmin},
                                       [](const httplib::Request&, httplib::Response& res) {
                                         res.set_content("ok", "text/plain");
                                       }));
  ASSERT_TRUE(server.Start({"127.0.0.1", 0}).ok());
  httplib::Client client("127.0.0.1", server.port());
  EXPECT_EQ(client.Get("/open")->status, 200);
}

TEST(HttpTest, RequestsOverTheConcurrencyLimitAre503WithRetryAfter) {
  Server server({.max_concurrent_requests = 1});
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool release = false;
  server.routes().Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    res.set_content("done", "text/plain");
  });
  ASSERT_TRUE(server.Start({"127.0.0.1", 0}).ok());
  auto slow = std::async(std::launch::async, [&] {
    httplib::Client client("127.0.0.1", server.port());
    auto res = client.Get("/slow");
    return res ? res->status : -1;
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return entered; }));
  }
  httplib::Client second("127.0.0.1", server.port());
  auto refused = second.Get("/healthz");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->get_header_value("Retry-After"), "1");
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_EQ(slow.get(), 200);
  // The slot is free again.
  EXPECT_EQ(second.Get("/slow")->status, 200);
}

TEST(HttpTest, AClientThatSendsHalfARequestIsDroppedWithinTheReadTimeout) {
  Server server({.read_timeout_s = 1});
  server.routes().Get("/x", [](const httplib::Request&, httplib::Response& res) {});
  ASSERT_TRUE(server.Start({"127.0.0.1", 0}).ok());
  const int fd = RawConnect(server.port());  // reads bounded at 10 s, well past the server's 1 s
  ASSERT_GE(fd, 0);
  const std::string half = "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  ASSERT_EQ(send(fd, half.data(), half.size(), 0), static_cast<ssize_t>(half.size()));
  const auto start = std::chrono::steady_clock::now();
  char buf[512];
  ssize_t n = 0;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  close(fd);
  EXPECT_EQ(n, 0) << "the server did not close the connection";
  EXPECT_LT(waited, std::chrono::seconds(4));
}

TEST(HttpTest, AnAsynchronousRouteIsAnsweredWhenDoneIsCalledAndHoldsUpNoOtherRequest) {
  Server server;
  std::mutex mu;
  std::condition_variable cv;
  httplib::Response* pending_res = nullptr;
  Done pending_done;
  server.routes().PostAsync(
      "/later", [&](const httplib::Request&, httplib::Response& res, Done done) {
        std::lock_guard lock(mu);  // on the loop: returns at once, the answer still to come
        pending_res = &res;
        pending_done = std::move(done);
        cv.notify_all();
      });
  server.routes().Get("/now", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("now", "text/plain");
  });
  ASSERT_TRUE(server.Start({"127.0.0.1", 0}).ok());
  auto later = std::async(std::launch::async, [&] {
    httplib::Client client("127.0.0.1", server.port());
    auto res = client.Post("/later", "", "text/plain");
    return res ? std::to_string(res->status) + " " + res->body : std::string("no answer");
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(
        cv.wait_for(lock, std::chrono::seconds(10), [&] { return pending_done != nullptr; }));
  }
  // The loop serves others meanwhile.
  httplib::Client other("127.0.0.1", server.port());
  auto now = other.Get("/now");
  ASSERT_TRUE(now);
  EXPECT_EQ(now->body, "now");
  EXPECT_EQ(later.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  std::thread answerer([&] {  // as Kafka's delivery thread answers a command
    std::lock_guard lock(mu);
    pending_res->status = 202;
    pending_res->set_content("accepted", "text/plain");
    pending_done();
    pending_done();  // a second call is ignored
  });
  answerer.join();
  EXPECT_EQ(later.get(), "202 accepted");
}

TEST(HttpTest, AnAnswerThatComesAfterStopGaveUpIsDropped) {
  auto server = std::make_unique<Server>(ServerOptions{.read_timeout_s = 1, .write_timeout_s = 1});
  std::mutex mu;
  std::condition_variable cv;
  httplib::Response* pending_res = nullptr;
  Done pending_done;
  server->routes().PostAsync("/never",
                             [&](const httplib::Request&, httplib::Response& res, Done done) {
                               std::lock_guard lock(mu);
                               pending_res = &res;
                               pending_done = std::move(done);
                               cv.notify_all();
                             });
  ASSERT_TRUE(server->Start({"127.0.0.1", 0}).ok());
  const int port = server->port();
  auto never = std::async(std::launch::async, [port] {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(10, 0);
    return static_cast<bool>(client.Post("/never", "", "text/plain"));
  });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(
        cv.wait_for(lock, std::chrono::seconds(10), [&] { return pending_done != nullptr; }));
  }
  server->Stop();  // waits its 2 s for the answer, then closes the connection
  EXPECT_FALSE(never.get()) << "the connection was closed without an answer";
  server.reset();
  // The handler's owner answers late: nothing is written, nothing kept (ASan's leak check).
  std::lock_guard lock(mu);
  pending_res->status = 202;
  pending_done();
  pending_done = nullptr;
}

// httplib writes an answer's headers and body apart: with Nagle's algorithm on, the body would
// wait for the client's delayed ACK of the headers.
TEST(HttpTest, ConnectionsItAcceptsHaveNagleOff) {
  Server server;
  ASSERT_TRUE(server.Start({"127.0.0.1", 0}).ok());
  testing::TcpConnection client(server.port());
  ASSERT_TRUE(client.connected());
  const std::optional<bool> nodelay =
      testing::AcceptedNoDelayWithin(server.port(), std::chrono::seconds(5));
  ASSERT_TRUE(nodelay.has_value()) << "the server's side of the connection was not found";
  EXPECT_TRUE(*nodelay);
}

// The router skips a route by the literal text its pattern starts and ends with before trying
// its regular expression; that must never skip a route whose expression matches.
TEST(HttpTest, RouterFindsWhatTheRegularExpressionsMatch) {
  Router router;
  const auto ok = [](const httplib::Request&, httplib::Response&) {};
  const std::vector<std::string> patterns = {R"(/v1/instances/([^/]+)/accounts)",
                                             R"(/v1/instances/([^/]+)/accounts/([^/]+)/close)",
                                             R"(/openapi\.json)",
                                             "/ab?c",
                                             "/p|/q",
                                             R"(/n/\d+)",
                                             "/plain"};
  for (const std::string& pattern : patterns) router.Get(pattern, ok);
  const std::vector<std::string> paths = {"/v1/instances/acme/accounts",
                                          "/v1/instances/acme/accounts/a1/close",
                                          "/v1/instances/acme/accounts/a1",
                                          "/v1/instances//accounts",
                                          "/openapi.json",
                                          "/openapiXjson",
                                          "/ac",
                                          "/abc",
                                          "/abbc",
                                          "/p",
                                          "/q",
                                          "/n/42",
                                          "/n/x",
                                          "/plain",
                                          "/plain/",
                                          "/"};
  for (const std::string& path : paths) {
    std::vector<std::regex> regexes;
    for (const std::string& pattern : patterns) regexes.emplace_back(pattern);
    size_t first = regexes.size();
    for (size_t i = 0; i < regexes.size(); ++i) {
      if (std::regex_match(path, regexes[i])) {
        first = i;
        break;
      }
    }
    std::smatch matches;
    const Router::Route* found = router.Find("GET", path, matches);
    if (first == regexes.size()) {
      EXPECT_EQ(found, nullptr) << path;
    } else {
      ASSERT_NE(found, nullptr) << path << " matches " << patterns[first];
      EXPECT_TRUE(std::regex_match(path, found->regex)) << path;
      EXPECT_TRUE(router.Find("HEAD", path, matches) != nullptr) << "HEAD is served by GET";
    }
    EXPECT_EQ(router.Find("POST", path, matches), nullptr) << path;
  }
}

TEST(HttpTest, UnloadableTlsCertificateIsRefusedAtStart) {
  Server server({.tls_cert_file = "/nonexistent/cert.pem", .tls_key_file = "/nonexistent/key.pem"});
  Status s = server.Start({"127.0.0.1", 0});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("/nonexistent/cert.pem"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace kledger::http
