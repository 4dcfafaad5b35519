// The command API over loopback against `kledger broker` and `kledger command` processes: every
// endpoint's happy path, every validation rule refused with 400 and nothing appended (the topic's
// high watermarks do not move), idempotent resubmission, what kcat reads back, 413 past the body
// limit, and 503 + Retry-After with every broker down, then recovery — in both producer modes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/event_id.h"
#include "common/http.h"
#include "common/kafka/consumer.h"
#include "common/kafka/properties.h"
#include "kledger/v1/api.pb.h"
#include "kledger/v1/events.pb.h"
#include "tests/support/cluster.h"

namespace kledger::testing {
namespace {

constexpr char kJson[] = "application/json";
constexpr int kPartitions = 4;
constexpr int kAckTimeoutMs = 2000;
constexpr size_t kMaxBodyBytes = 8192;

std::string Entry(const std::string& account, const std::string& direction, int64_t amount,
                  const std::string& currency = "USD") {
  return R"({"account":")" + account + R"(","direction":")" + direction + R"(","amount":)" +
         std::to_string(amount) + R"(,"currency":")" + currency + R"("})";
}

std::string Transaction(const std::string& key, const std::string& status, int64_t amount) {
  return R"({"source":"shop","source_idempk":")" + key + R"(","status":")" + status +
         R"(","entries":[)" + Entry("assets:cash", "debit", amount) + "," +
         Entry("revenue:sales", "credit", amount) + "]}";
}

// The watcher never subscribes, so no partition is ever assigned to it.
class NoRebalance : public kafka::RebalanceListener {
 public:
  void OnAssigned(std::vector<kafka::TopicPartition>&) override {}
  void OnRevoked(const std::vector<kafka::TopicPartition>&, bool) override {}
};

class CommandApiTest : public ::testing::Test {
 protected:
  // Starts broker and command side (no processor: this is about what gets appended).
  void StartCluster(std::vector<std::string> extra_flags = {}) {
    std::vector<std::string> flags = {"--ack-timeout-ms", std::to_string(kAckTimeoutMs),
                                      "--max-body-bytes", std::to_string(kMaxBodyBytes)};
    flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
    cluster_ = std::make_unique<Cluster>(
        ClusterOptions{.partitions = kPartitions, .processors = 0, .command_flags = flags});
    Status started = cluster_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
    auto watcher = kafka::Consumer::Create(
        kafka::Merge(kafka::DevClientDefaults(), {{"bootstrap.servers", cluster_->bootstrap()},
                                                  {"group.id", "command-api-test-watcher"}}),
        &no_rebalance_);
    ASSERT_TRUE(watcher.ok()) << watcher.status().ToString();
    watcher_ = std::move(watcher).value();
  }

  // Records in the events topic, all partitions together (sum of high watermarks).
  int64_t Appended() {
    int64_t total = 0;
    for (int p = 0; p < kPartitions; ++p) {
      auto marks = watcher_->QueryWatermarks(cluster_->events_topic(), p, std::chrono::seconds(10));
      EXPECT_TRUE(marks.ok()) << marks.status().ToString();
      if (marks.ok()) total += marks->second;
    }
    return total;
  }

  httplib::Result Post(const std::string& path, const std::string& body,
                       const httplib::Headers& headers = {}) {
    return cluster_->CommandClient()->Post(path.c_str(), headers, body, kJson);
  }

  // POSTs `body`; the 202's Ack, failing the test otherwise.
  v1::Ack Accept(const std::string& path, const std::string& body) {
    auto ack = cluster_->Submit(path, body);
    EXPECT_TRUE(ack.ok()) << ack.status().ToString();
    return ack.ok() ? *ack : v1::Ack();
  }

  // The record at the ack's position as kcat prints it: its headers line, then its value.
  struct KcatRecord {
    std::string headers;
    v1::EventEnvelope envelope;
  };
  KcatRecord ReadWithKcat(const v1::Ack& ack) {
    KcatRecord out;
    auto kcat =
        ChildProcess::Spawn({"/usr/bin/kcat", "-C", "-b", cluster_->bootstrap(), "-t",
                             cluster_->events_topic(), "-p", std::to_string(ack.partition()), "-o",
                             std::to_string(ack.offset()), "-c", "1", "-e", "-f", "%h\\n%s"},
                            cluster_->log_dir() + "/kcat.log");
    EXPECT_TRUE(kcat.ok()) << kcat.status().ToString();
    if (!kcat.ok()) return out;
    const std::string printed = kcat->ReadAll(std::chrono::seconds(20));
    EXPECT_EQ(kcat->Wait(std::chrono::seconds(5)), 0);
    const size_t newline = printed.find('\n');  // headers hold no newline; the value may
    EXPECT_NE(newline, std::string::npos) << printed;
    if (newline == std::string::npos) return out;
    out.headers = printed.substr(0, newline);
    EXPECT_TRUE(out.envelope.ParseFromString(printed.substr(newline + 1)));
    EXPECT_EQ(out.envelope.event_id(), ack.event_id());
    return out;
  }

  // Every record's headers, one line each, as kcat prints them from every partition.
  std::string AllHeaders() {
    auto kcat =
        ChildProcess::Spawn({"/usr/bin/kcat", "-C", "-b", cluster_->bootstrap(), "-t",
                             cluster_->events_topic(), "-o", "beginning", "-e", "-f", "%h\\n"},
                            cluster_->log_dir() + "/kcat.log");
    EXPECT_TRUE(kcat.ok()) << kcat.status().ToString();
    if (!kcat.ok()) return "";
    std::string out = kcat->ReadAll(std::chrono::seconds(20));
    EXPECT_EQ(kcat->Wait(std::chrono::seconds(5)), 0);
    return out;
  }

  static std::string TransactionEventId(const std::string& instance, const std::string& key) {
    v1::EventEnvelope envelope;
    envelope.set_instance_id(instance);
    envelope.mutable_transaction_created()->set_source("shop");
    envelope.mutable_transaction_created()->set_source_idempk(key);
    return domain::DeriveEventId(envelope);
  }

  std::unique_ptr<Cluster> cluster_;
  NoRebalance no_rebalance_;
  std::unique_ptr<kafka::Consumer> watcher_;
};

TEST_F(CommandApiTest, EveryEndpointAcceptsAndKcatDecodesWhatWasAppended) {
  StartCluster();
  const v1::Ack cash = Accept("/v1/instances/acme/accounts",
                              R"({"address":"assets:cash","type":"ASSET","currency":"USD",
                                  "credit_limit":"500","metadata":{"desk":"front"}})");
  Accept("/v1/instances/acme/accounts",
         R"({"address":"revenue:sales","type":"revenue","currency":"USD"})");
  const v1::Ack posted =
      Accept("/v1/instances/acme/transactions", Transaction("o-1", "posted", 10));
  Accept("/v1/instances/acme/transactions", Transaction("p-1", "pending", 20));
  Accept("/v1/instances/acme/transactions", Transaction("p-2", "pending", 30));
  Accept("/v1/instances/acme/transactions", Transaction("p-3", "pending", 40));
  const v1::Ack post = Accept("/v1/instances/acme/transactions/shop/p-1/updates",
                              R"({"update_idempk":"u-1","action":"post"})");
  Accept("/v1/instances/acme/transactions/shop/p-2/updates",
         R"({"update_idempk":"u-1","action":"archive"})");
  const v1::Ack edit = Accept("/v1/instances/acme/transactions/shop/p-3/updates",
                              R"({"update_idempk":"u-1","action":"edit","entries":[)" +
                                  Entry("assets:cash", "debit", 45) + "," +
                                  Entry("revenue:sales", "credit", 45) + "]}");
  // One instance's events share a partition, in submission order.
  EXPECT_EQ(edit.partition(), cash.partition());
  EXPECT_GT(edit.offset(), post.offset());

  // What a third party reads back: the key's events with the spec's headers and a decodable
  // protobuf value, the correlation id from X-Correlation-Id or, without one, the event id.
  const KcatRecord account = ReadWithKcat(cash);
  EXPECT_THAT(account.headers, ::testing::HasSubstr("kledger-event-type=account_opened"));
  EXPECT_EQ(account.envelope.account_opened().credit_limit(), 500);
  EXPECT_EQ(account.envelope.account_opened().metadata().at("desk"), "front");
  EXPECT_EQ(account.envelope.correlation_id(), cash.event_id());
  const KcatRecord transaction = ReadWithKcat(posted);
  EXPECT_THAT(transaction.headers, ::testing::HasSubstr("kledger-event-type=transaction_created"));
  EXPECT_EQ(transaction.envelope.transaction_created().status(), v1::POSTED);
  EXPECT_EQ(transaction.envelope.transaction_created().entries(0).amount(), 10);
  const KcatRecord edited = ReadWithKcat(edit);
  EXPECT_THAT(edited.headers, ::testing::HasSubstr("kledger-event-type=transaction_updated"));
  EXPECT_EQ(edited.envelope.transaction_updated().action(), v1::EDIT);
  EXPECT_EQ(edited.envelope.transaction_updated().source_idempk(), "p-3");  // from the path
  EXPECT_EQ(edited.envelope.transaction_updated().entries(1).amount(), 45);

  // /v1/batch: per-item results in order; the invalid item alone is refused.
  const int64_t before_batch = Appended();
  auto res = Post("/v1/batch", R"({"commands":[
      {"instance_id":"beta","open_account":{"address":"assets:cash","type":"asset","currency":"EUR"}},
      {"instance_id":"beta","create_transaction":{"source":"shop","source_idempk":"x",
        "status":"posted","entries":[]}},
      {"instance_id":"bad instance","close_account":{"address":"assets:cash"}},
      {"instance_id":"beta","update_account":{"address":"assets:cash","update_idempk":"u-1",
        "allow_negative":true}},
      {"instance_id":"beta","close_account":{"address":"assets:cash"}},
      {"instance_id":"beta","create_instance":{"description":"second tenant"}}]})",
                  {{"X-Correlation-Id", "batch-7"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  v1::BatchResponse batch;
  ASSERT_TRUE(http::ParseJson(res->body, batch).ok()) << res->body;
  ASSERT_EQ(batch.results_size(), 6);
  const std::vector<int> expected_status = {202, 400, 400, 202, 202, 202};
  for (int i = 0; i < batch.results_size(); ++i) {
    EXPECT_EQ(batch.results(i).status(), expected_status[i]) << i << ": " << res->body;
  }
  EXPECT_EQ(batch.results(1).error().details(0).field(), "create_transaction.entries");
  EXPECT_EQ(batch.results(1).error().details(0).code(), "required");
  EXPECT_EQ(batch.results(2).error().details(0).field(), "instance_id");
  EXPECT_EQ(Appended() - before_batch, 4);
  const KcatRecord closed = ReadWithKcat(batch.results(4).ack());
  EXPECT_TRUE(closed.envelope.has_account_closed());
  EXPECT_EQ(closed.envelope.correlation_id(), "batch-7");
  EXPECT_THAT(closed.headers, ::testing::HasSubstr("kledger-correlation-id=batch-7"));
}

struct Refusal {
  std::string path;
  std::string body;
  std::string field;  // expected in details ("" when the body is not even parsed)
  std::string code;
};

TEST_F(CommandApiTest, EveryValidationRuleIsRefusedWith400AndNothingAppended) {
  StartCluster();
  Accept("/v1/instances/acme/accounts",
         R"({"address":"assets:cash","type":"asset","currency":"USD"})");  // topic is live
  const int64_t before = Appended();

  const std::string kAccounts = "/v1/instances/acme/accounts";
  const std::string kTransactions = "/v1/instances/acme/transactions";
  const std::string kUpdates = "/v1/instances/acme/transactions/shop/p-1/updates";
  auto account = [](const std::string& fields) {
    return R"({"address":"assets:cash","type":"asset","currency":"USD")" + fields + "}";
  };
  auto tx = [](const std::string& header, const std::string& entries) {
    return R"({"source":"shop","source_idempk":"k-1","status":"posted")" + header +
           R"(,"entries":[)" + entries + "]}";
  };
  const std::string balanced =
      Entry("assets:cash", "debit", 5) + "," + Entry("revenue:sales", "credit", 5);
  const std::string many_keys = [] {
    std::string m = R"(,"metadata":{)";
    for (int i = 0; i < 65; ++i) m += (i ? "," : "") + ("\"k" + std::to_string(i) + "\":\"v\"");
    return m + "}";
  }();
  const std::string many_entries = [] {
    std::string e;
    for (int i = 0; i < 101; ++i) e += (i ? "," : "") + Entry("assets:cash", "debit", 1);
    return e;
  }();

  const std::vector<Refusal> refusals = {
      // identifiers
      {"/v1/instances/bad%20name/accounts", account(""), "instance_id", "invalid_format"},
      {"/v1/instances/" + std::string(129, 'i') + "/accounts", account(""), "instance_id",
       "invalid_format"},
      {kAccounts, R"({"type":"asset","currency":"USD"})", "address", "required"},
      {kAccounts, R"({"address":"assets::cash","type":"asset","currency":"USD"})", "address",
       "invalid_format"},
      {kAccounts, R"({"address":"assets:cash","currency":"USD"})", "type", "required"},
      {kAccounts, R"({"address":"assets:cash","type":7,"currency":"USD"})", "type",
       "invalid_value"},
      {kAccounts, R"({"address":"assets:cash","type":"asset","currency":"usd"})", "currency",
       "invalid_format"},
      {kAccounts, R"({"address":"assets:cash","type":"asset","currency":"US"})", "currency",
       "invalid_format"},
      {kAccounts, account(R"(,"credit_limit":"-1")"), "credit_limit", "invalid_value"},
      {kAccounts, account(R"(,"credit_limit":"1","allow_negative":true)"), "allow_negative",
       "invalid_value"},
      {kAccounts, account(R"(,"normal_balance":9)"), "normal_balance", "invalid_value"},
      // sizes
      {kAccounts, account(many_keys), "metadata", "too_many"},
      {kAccounts, account(R"(,"metadata":{")" + std::string(129, 'k') + R"(":"v"})"), "metadata",
       "too_long"},
      {kAccounts, account(R"(,"metadata":{"k":")" + std::string(1025, 'v') + R"("})"), "metadata",
       "too_long"},
      {kAccounts, account(R"(,"metadata":{"":"v"})"), "metadata", "required"},
      {kTransactions, tx(R"(,"description":")" + std::string(1025, 'd') + "\"", balanced),
       "description", "too_long"},
      {kTransactions, tx("", many_entries), "entries", "too_many"},
      // transactions
      {kTransactions, R"({"source_idempk":"k","status":"posted","entries":[)" + balanced + "]}",
       "source", "required"},
      {kTransactions,
       R"({"source":"sh op","source_idempk":"k","status":"posted","entries":[)" + balanced + "]}",
       "source", "invalid_format"},
      {kTransactions, R"({"source":"shop","status":"posted","entries":[)" + balanced + "]}",
       "source_idempk", "required"},
      {kTransactions, R"({"source":"shop","source_idempk":"k","entries":[)" + balanced + "]}",
       "status", "required"},
      {kTransactions,
       R"({"source":"shop","source_idempk":"k","status":"archived","entries":[)" + balanced + "]}",
       "status", "invalid_value"},
      {kTransactions, tx("", Entry("assets:cash", "debit", 5)), "entries", "required"},
      {kTransactions,
       tx("", Entry("assets:cash", "debit", 0) + "," + Entry("revenue:sales", "credit", 0)),
       "entries[0].amount", "not_positive"},
      {kTransactions,
       tx("", Entry("assets:cash", "debit", -5) + "," + Entry("revenue:sales", "credit", -5)),
       "entries[1].amount", "not_positive"},
      {kTransactions,
       tx("", Entry("assets:cash", "debit", 5) + "," + Entry("revenue:sales", "credit", 4)),
       "entries", "unbalanced"},
      // balanced in total, not per currency
      {kTransactions,
       tx("", Entry("assets:cash", "debit", 5, "USD") + "," +
                  Entry("revenue:sales", "credit", 5, "EUR")),
       "entries", "unbalanced"},
      {kTransactions,
       tx("", Entry("a", "debit", 9223372036854775807) + "," + Entry("b", "debit", 1) + "," +
                  Entry("c", "credit", 9223372036854775807)),
       "entries", "overflow"},
      {kTransactions,
       tx("", Entry("assets:cash", "debit", 5, "$$$") + "," +
                  Entry("revenue:sales", "credit", 5, "$$$")),
       "entries[0].currency", "invalid_format"},
      {kTransactions,
       tx("", R"({"account":"assets:cash","amount":5,"currency":"USD"},)" +
                  Entry("revenue:sales", "credit", 5)),
       "entries[0].direction", "required"},
      {kTransactions, tx("", Entry("", "debit", 5) + "," + Entry("revenue:sales", "credit", 5)),
       "entries[0].account", "required"},
      {kTransactions, tx(R"(,"effective_at":"2024-02-30T00:00:00Z")", balanced), "effective_at",
       "invalid_format"},
      // updates
      {kUpdates, R"({"action":"post"})", "update_idempk", "required"},
      {kUpdates, R"({"update_idempk":"u-1"})", "action", "required"},
      {kUpdates, R"({"update_idempk":"u-1","action":"edit"})", "entries", "required"},
      {kUpdates, R"({"update_idempk":"u-1","action":"archive","entries":[)" + balanced + "]}",
       "entries", "invalid_value"},
      {kUpdates,
       R"({"update_idempk":"u-1","action":"edit","entries":[)" + Entry("assets:cash", "debit", 5) +
           "," + Entry("revenue:sales", "credit", 6) + "]}",
       "entries", "unbalanced"},
      {kUpdates, R"({"source":"other","update_idempk":"u-1","action":"post"})", "source",
       "mismatch"},
      {"/v1/instances/acme/transactions/shop/bad%20key/updates",
       R"({"update_idempk":"u-1","action":"post"})", "source_idempk", "invalid_format"},
      // bodies that are not the message at all
      {kAccounts, "{", "", ""},
      {kAccounts, R"({"address":"assets:cash","unknown_field":1})", "", ""},
      {kAccounts, R"({"address":"assets:cash","type":"bank"})", "", ""},
      {kTransactions,
       tx("", Entry("a", "debit", 1) +
                  R"(,{"account":"b","direction":"credit","amount":0.5,"currency":"USD"})"),
       "", ""},
      {"/v1/batch", R"({"commands":"no"})", "", ""},
  };
  for (const Refusal& r : refusals) {
    SCOPED_TRACE(r.path + " " + r.body.substr(0, 200));
    auto res = Post(r.path, r.body);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
    v1::ErrorBody error;
    ASSERT_TRUE(http::ParseJson(res->body, error).ok()) << res->body;
    EXPECT_EQ(error.error().code(), "invalid_argument");
    EXPECT_FALSE(error.error().message().empty());
    if (r.field.empty()) continue;
    bool found = false;
    for (const auto& d : error.error().details())
      found |= d.field() == r.field && d.code() == r.code;
    EXPECT_TRUE(found) << "expected " << r.field << "/" << r.code << " in " << res->body;
  }
  // A correlation id that cannot travel in a header line.
  auto res = Post(kAccounts, account(""), {{"X-Correlation-Id", std::string(300, 'c')}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_THAT(res->body, ::testing::HasSubstr("correlation_id"));

  EXPECT_EQ(Appended(), before) << "a refused command was appended";
}

TEST_F(CommandApiTest, ResubmissionReturnsTheSameEventId) {
  StartCluster();
  const std::string account = R"({"address":"assets:cash","type":"asset","currency":"USD"})";
  EXPECT_EQ(Accept("/v1/instances/acme/accounts", account).event_id(),
            Accept("/v1/instances/acme/accounts", account).event_id());
  const v1::Ack first = Accept("/v1/instances/acme/transactions", Transaction("o-1", "pending", 5));
  // Only the idempotency key counts: another amount is still the same command.
  EXPECT_EQ(Accept("/v1/instances/acme/transactions", Transaction("o-1", "pending", 6)).event_id(),
            first.event_id());
  EXPECT_NE(Accept("/v1/instances/acme/transactions", Transaction("o-2", "pending", 5)).event_id(),
            first.event_id());
  EXPECT_NE(Accept("/v1/instances/beta/transactions", Transaction("o-1", "pending", 5)).event_id(),
            first.event_id());
  const std::string update = R"({"update_idempk":"u-1","action":"post"})";
  const std::string path = "/v1/instances/acme/transactions/shop/o-1/updates";
  EXPECT_EQ(Accept(path, update).event_id(), Accept(path, update).event_id());

  // The same command inside a batch has the same id as alone.
  auto res = Post("/v1/batch", R"({"commands":[{"instance_id":"acme","create_transaction":)" +
                                   Transaction("o-1", "pending", 5) + "}]}");
  ASSERT_TRUE(res);
  v1::BatchResponse batch;
  ASSERT_TRUE(http::ParseJson(res->body, batch).ok()) << res->body;
  ASSERT_EQ(batch.results_size(), 1);
  EXPECT_EQ(batch.results(0).ack().event_id(), first.event_id());
}

TEST_F(CommandApiTest, BodyOverTheLimitIs413) {
  StartCluster();
  const int64_t before = Appended();
  const std::string big = R"({"address":"assets:cash","type":"asset","currency":"USD",)"
                          R"("metadata":{"k":")" +
                          std::string(kMaxBodyBytes, 'v') + R"("}})";
  auto res = Post("/v1/instances/acme/accounts", big);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413) << res->body;
  EXPECT_THAT(res->body, ::testing::HasSubstr("payload_too_large"));
  EXPECT_EQ(Appended(), before);
}

// With every broker down: 503 + Retry-After within the acknowledgement timeout, nothing appended
// (not even part of a batch), and 202 again once the brokers are back.
class BrokerDownTest : public CommandApiTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(BrokerDownTest, Answers503ThenRecovers) {
  StartCluster({"--producer-mode", GetParam()});
  Accept("/v1/instances/acme/accounts",
         R"({"address":"assets:cash","type":"asset","currency":"USD"})");
  const int64_t before = Appended();
  for (const char* id : {"1", "2", "3"}) {
    auto down = cluster_->Fault(std::string("broker-down ") + id);
    ASSERT_TRUE(down.ok()) << down.status().ToString();
  }

  const auto start = std::chrono::steady_clock::now();
  auto res = Post("/v1/instances/acme/transactions", Transaction("down-1", "posted", 5));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503) << res->body;
  EXPECT_TRUE(res->has_header("Retry-After"));
  EXPECT_THAT(res->body, ::testing::HasSubstr("resubmit"));
  // The gateway's bound: the acknowledgement timeout plus its one-second margin.
  EXPECT_LT(waited, std::chrono::milliseconds(kAckTimeoutMs + 1500));

  auto batch = Post("/v1/batch", R"({"commands":[
      {"instance_id":"acme","create_transaction":)" +
                                     Transaction("down-2", "posted", 5) + R"(},
      {"instance_id":"zeta","create_transaction":)" +
                                     Transaction("down-3", "posted", 5) + "}]}");
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->status, 200) << batch->body;
  EXPECT_TRUE(batch->has_header("Retry-After"));
  v1::BatchResponse items;
  ASSERT_TRUE(http::ParseJson(batch->body, items).ok()) << batch->body;
  ASSERT_EQ(items.results_size(), 2);
  for (const auto& item : items.results()) EXPECT_EQ(item.status(), 503) << batch->body;

  ASSERT_TRUE(cluster_->Fault("clear").ok());
  // Recovery: within a few reconnect backoffs a new submission is acknowledged.
  int attempts = 0;
  const bool recovered = WaitUntil(std::chrono::seconds(30), [&] {
    auto again = Post("/v1/instances/acme/transactions",
                      Transaction("after-" + std::to_string(attempts++), "posted", 5));
    return again && again->status == 202;
  });
  EXPECT_TRUE(recovered) << "no 202 after the brokers returned; see " << cluster_->log_dir();
  EXPECT_GE(Appended() - before, 1);
  // Nothing of the refused commands was appended, however late: the log holds no event of theirs.
  const std::string headers = AllHeaders();
  for (const auto& [instance, key] :
       {std::pair{"acme", "down-1"}, {"acme", "down-2"}, {"zeta", "down-3"}}) {
    EXPECT_THAT(headers, ::testing::Not(::testing::HasSubstr(TransactionEventId(instance, key))))
        << key << " was appended although it was answered 503";
  }
  EXPECT_THAT(headers, ::testing::HasSubstr(
                           TransactionEventId("acme", "after-" + std::to_string(attempts - 1))));
}

INSTANTIATE_TEST_SUITE_P(ProducerModes, BrokerDownTest,
                         ::testing::Values("idempotent", "transactional"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace kledger::testing
