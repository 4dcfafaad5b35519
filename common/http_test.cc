#include "common/http.h"

#include <gtest/gtest.h>

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
  ASSERT_TRUE(ParseJson(R"({"account":"cash","direction":"debit","amount":"5","currency":"USD"})",
                        entry)
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
  AddOperatorRoutes(server.routes(), registry, [&] { return not_ready; });
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

}  // namespace
}  // namespace kledger::http
