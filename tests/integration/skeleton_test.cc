// The walking skeleton end to end, across separate processes on loopback: HTTP command ->
// Kafka event -> processor -> RocksDB -> HTTP query; and a third-party client (kcat) reading the
// appended events with the spec's headers.
#include <gtest/gtest.h>

#include "common/http.h"
#include "kledger/v1/api.pb.h"
#include "kledger/v1/events.pb.h"
#include "tests/support/cluster_suite.h"

namespace kledger::testing {
namespace {

constexpr char kJson[] = "application/json";

class SkeletonTest : public ClusterSuite<SkeletonTest> {
 public:
  static ClusterOptions Options() { return {.partitions = 4, .processors = 1}; }

 protected:
  static std::string OpenAccount(const std::string& address, const std::string& type) {
    return R"({"address":")" + address + R"(","type":")" + type + R"(","currency":"USD"})";
  }

  static std::string Posted(const std::string& key, const std::string& debit,
                            const std::string& credit, int64_t amount) {
    const std::string a = std::to_string(amount);
    return R"({"source":"shop","source_idempk":")" + key +
           R"(","status":"posted","entries":[)"
           R"({"account":")" +
           debit + R"(","direction":"debit","amount":)" + a + R"(,"currency":"USD"},{"account":")" +
           credit + R"(","direction":"credit","amount":)" + a + R"(,"currency":"USD"}]})";
  }

  // Polls the processor until `address` shows `posted_debit` (the last write of the test
  // sequence), then returns its view.
  static v1::AccountView WaitForAccount(const std::string& instance, const std::string& address,
                                        const std::function<bool(const v1::AccountView&)>& done) {
    v1::AccountView view;
    auto client = cluster().ProcessorClient(0);
    const std::string path = "/v1/instances/" + instance + "/accounts/" + address;
    WaitUntil(std::chrono::seconds(20), [&] {
      auto res = client->Get(path.c_str());
      if (!res || res->status != 200) return false;
      view.Clear();
      return http::ParseJson(res->body, view).ok() && done(view);
    });
    return view;
  }
};

TEST_F(SkeletonTest, AcceptedCommandsBecomeBalancesReadBackOverHttp) {
  Accept("/v1/instances/acme/accounts", OpenAccount("assets:cash", "asset"));
  Accept("/v1/instances/acme/accounts", OpenAccount("revenue:sales", "revenue"));
  Accept("/v1/instances/beta/accounts", OpenAccount("assets:cash", "asset"));
  Accept("/v1/instances/beta/accounts", OpenAccount("equity:capital", "equity"));

  const v1::Ack first = Accept("/v1/instances/acme/transactions",
                               Posted("order-1", "assets:cash", "revenue:sales", 1000));
  Accept("/v1/instances/acme/transactions", Posted("order-2", "assets:cash", "revenue:sales", 500));
  Accept("/v1/instances/beta/transactions",
         Posted("seed-1", "assets:cash", "equity:capital", 7000));
  EXPECT_EQ(first.event_id().size(), 32u);
  EXPECT_GE(first.partition(), 0);
  EXPECT_GE(first.offset(), 0);

  // The same idempotency key answers the same event id, whatever else the body says.
  const v1::Ack again = Accept("/v1/instances/acme/transactions",
                               Posted("order-1", "assets:cash", "revenue:sales", 999));
  EXPECT_EQ(again.event_id(), first.event_id());

  const v1::AccountView cash = WaitForAccount(
      "acme", "assets:cash", [](const auto& v) { return v.balances().posted().debit() == 1500; });
  EXPECT_EQ(cash.balances().posted().debit(), 1500);
  EXPECT_EQ(cash.balances().posted().credit(), 0);
  EXPECT_EQ(cash.balances().posted().amount(), 1500);
  EXPECT_EQ(cash.normal_balance(), v1::DEBIT);

  const v1::AccountView sales = WaitForAccount("acme", "revenue:sales", [](const auto& v) {
    return v.balances().posted().credit() == 1500;
  });
  EXPECT_EQ(sales.balances().posted().credit(), 1500);
  EXPECT_EQ(sales.balances().posted().debit(), 0);
  EXPECT_EQ(sales.balances().posted().amount(), 1500);  // signed in its normal (credit) direction

  const v1::AccountView beta_cash = WaitForAccount(
      "beta", "assets:cash", [](const auto& v) { return v.balances().posted().debit() == 7000; });
  EXPECT_EQ(beta_cash.balances().posted().amount(), 7000);

  // The resubmitted order-1 was a duplicate: it did not change the balance (1500, not 2499).
  auto outcome =
      cluster().ProcessorClient(0)->Get(("/v1/instances/acme/events/" + first.event_id()).c_str());
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->status, 200) << outcome->body;
  v1::EventOutcomeView view;
  ASSERT_TRUE(http::ParseJson(outcome->body, view).ok());
  EXPECT_EQ(view.outcome(), v1::APPLIED);
}

TEST_F(SkeletonTest, InvalidCommandsAreRefusedWithFieldDetails) {
  auto res = cluster().CommandClient()->Post(
      "/v1/instances/acme/transactions",
      R"({"source":"shop","source_idempk":"bad-1","status":"posted","entries":[)"
      R"({"account":"assets:cash","direction":"debit","amount":100,"currency":"USD"},)"
      R"({"account":"revenue:sales","direction":"credit","amount":99,"currency":"USD"}]})",
      kJson);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  v1::ErrorBody body;
  ASSERT_TRUE(http::ParseJson(res->body, body).ok()) << res->body;
  EXPECT_EQ(body.error().code(), "invalid_argument");
  ASSERT_GE(body.error().details_size(), 1);
  EXPECT_EQ(body.error().details(0).code(), "unbalanced");

  auto not_json = cluster().CommandClient()->Post("/v1/instances/acme/accounts", "{", kJson);
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  auto bad_instance = cluster().CommandClient()->Post("/v1/instances/bad%20name/accounts",
                                                      OpenAccount("assets:cash", "asset"), kJson);
  ASSERT_TRUE(bad_instance);
  EXPECT_EQ(bad_instance->status, 400) << bad_instance->body;
}

TEST_F(SkeletonTest, KcatReadsTheEventsWithTheSpecHeaders) {
  const v1::Ack ack = Accept("/v1/instances/kcat/accounts", OpenAccount("assets:cash", "asset"));
  // Headers of every record, as a third-party client sees them.
  auto kcat =
      ChildProcess::Spawn({"/usr/bin/kcat", "-C", "-b", cluster().bootstrap(), "-t",
                           cluster().events_topic(), "-p", std::to_string(ack.partition()), "-o",
                           std::to_string(ack.offset()), "-c", "1", "-e", "-f", "%k\\n%h\\n"},
                          cluster().log_dir() + "/kcat.log");
  ASSERT_TRUE(kcat.ok()) << kcat.status().ToString();
  const std::string out = kcat->ReadAll(std::chrono::seconds(20));
  EXPECT_EQ(kcat->Wait(std::chrono::seconds(5)), 0);
  EXPECT_NE(out.find("kcat\n"), std::string::npos) << out;  // the key is the instance
  for (const std::string& header :
       {"kledger-event-id=" + ack.event_id(), std::string("kledger-event-type=account_opened"),
        std::string("kledger-schema-version=1"), std::string("kledger-correlation-id="),
        std::string("content-type=application/x-protobuf")}) {
    EXPECT_NE(out.find(header), std::string::npos) << header << " missing in: " << out;
  }

  // The value, byte for byte, decodes as the envelope the command side meant.
  auto raw = ChildProcess::Spawn({"/usr/bin/kcat", "-C", "-b", cluster().bootstrap(), "-t",
                                  cluster().events_topic(), "-p", std::to_string(ack.partition()),
                                  "-o", std::to_string(ack.offset()), "-c", "1", "-e", "-f", "%s"},
                                 cluster().log_dir() + "/kcat.log");
  ASSERT_TRUE(raw.ok());
  const std::string value = raw->ReadAll(std::chrono::seconds(20));
  v1::EventEnvelope envelope;
  ASSERT_TRUE(envelope.ParseFromString(value)) << value.size() << " bytes";
  EXPECT_EQ(envelope.event_id(), ack.event_id());
  EXPECT_EQ(envelope.instance_id(), "kcat");
  EXPECT_EQ(envelope.schema_version(), 1u);
  ASSERT_TRUE(envelope.has_account_opened());
  EXPECT_EQ(envelope.account_opened().address(), "assets:cash");
  EXPECT_EQ(envelope.account_opened().type(), v1::ASSET);
}

}  // namespace
}  // namespace kledger::testing
