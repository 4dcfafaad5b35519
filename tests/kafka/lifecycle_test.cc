// Process lifecycles on real Apache Kafka, each test on brokers of its own:
// - `kledger dev --bootstrap` keeps its balances across a stop and a start of both kledger and
//   Kafka (the log in Kafka, the projections in --data-dir);
// - SIGTERM to `kledger command`, `processor` and `dev` at the instant their broker is SIGKILLed,
//   with a command still waiting for its acknowledgement: each exits within
//   --shutdown-timeout-ms, and what the processor applied stays applied once.
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "common/http.h"
#include "kledger/v1/api.pb.h"
#include "tests/support/cluster.h"

namespace kledger::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kShutdownBoundMs = 4000;

// `kledger dev` on `bootstrap` with its projections in `data_dir`, serving on `port`.
Result<ChildProcess> StartDev(const std::string& bootstrap, const std::string& data_dir, int port,
                              const std::string& log) {
  return ChildProcess::Spawn(
      {KledgerBinary(), "dev", "--bootstrap", bootstrap, "--data-dir", data_dir, "--http",
       "127.0.0.1:" + std::to_string(port), "--partitions", "2", "--shutdown-timeout-ms",
       std::to_string(kShutdownBoundMs)},
      log);
}

httplib::Client Client(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(15, 0);
  return client;
}

// POSTs `body` to `path`; the 202's Ack, failing the test otherwise.
v1::Ack Accept(httplib::Client& client, const std::string& path, const std::string& body) {
  auto res = client.Post(path.c_str(), body, "application/json");
  EXPECT_TRUE(res && res->status == 202) << path << ": " << (res ? res->body : "no answer");
  v1::Ack ack;
  if (res && res->status == 202) {
    EXPECT_TRUE(http::ParseJson(res->body, ack).ok());
  }
  return ack;
}

// Opens cash (asset) and sales (revenue) in `instance` and books `amount` between them.
v1::Ack BookSale(httplib::Client& client, const std::string& instance, const std::string& key,
                 int64_t amount) {
  const std::string base = "/v1/instances/" + instance;
  for (const char* account : {R"({"address":"cash","type":"asset","currency":"EUR"})",
                              R"({"address":"sales","type":"revenue","currency":"EUR"})"}) {
    auto res = client.Post((base + "/accounts").c_str(), account, "application/json");
    EXPECT_TRUE(res && res->status == 202);
  }
  const std::string a = std::to_string(amount);
  return Accept(client, base + "/transactions",
                R"({"source":"shop","source_idempk":")" + key +
                    R"(","status":"posted","entries":[)"
                    R"({"account":"cash","direction":"debit","amount":)" +
                    a + R"(,"currency":"EUR"},{"account":"sales","direction":"credit","amount":)" +
                    a + R"(,"currency":"EUR"}]})");
}

// The posted balance of `instance`'s cash account once `offset` of its partition is applied, or
// -1 when it is not shown within 30 s.
int64_t CashAfter(httplib::Client& client, const std::string& instance, int64_t offset) {
  int64_t balance = -1;
  WaitUntil(30s, [&] {
    auto res = client.Get(
        ("/v1/instances/" + instance + "/accounts/cash?min_offset=" + std::to_string(offset))
            .c_str());
    v1::AccountView view;
    if (!res || res->status != 200 || !http::ParseJson(res->body, view).ok()) return false;
    balance = view.balances().posted().amount();
    return true;
  });
  return balance;
}

TEST(DevOnKafkaTest, BalancesSurviveAStopAndStartOfDevAndKafka) {
  auto kafka = KafkaCluster::Start();
  ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
  const TempDir scratch("kledger-dev-kafka");
  const std::string& dir = scratch.path();
  const int port = FreePort();
  auto client = Client(port);
  int64_t offset = -1;
  {
    auto dev = StartDev((*kafka)->bootstrap(), dir + "/projections", port, dir + "/dev-1.log");
    ASSERT_TRUE(dev.ok());
    ASSERT_TRUE(WaitUntil(60s, [&] { return Answers200(client, "/readyz"); }))
        << "see " << dir << "/dev-1.log";
    offset = BookSale(client, "shop", "sale-1", 1234).offset();
    ASSERT_EQ(CashAfter(client, "shop", offset), 1234);
    dev->Signal(SIGTERM);
    ASSERT_EQ(dev->Wait(15s), 0) << "see " << dir << "/dev-1.log";
  }
  ASSERT_TRUE((*kafka)->Stop().ok());
  ASSERT_TRUE((*kafka)->Restart().ok());

  auto dev = StartDev((*kafka)->bootstrap(), dir + "/projections", port, dir + "/dev-2.log");
  ASSERT_TRUE(dev.ok());
  ASSERT_TRUE(WaitUntil(60s, [&] { return Answers200(client, "/readyz"); }))
      << "see " << dir << "/dev-2.log";
  // Nothing resubmitted: the balance is the one booked before the stop, applied once.
  EXPECT_EQ(CashAfter(client, "shop", offset), 1234);
  // And the ledger goes on from there.
  const v1::Ack second = BookSale(client, "shop", "sale-2", 100);
  EXPECT_GT(second.offset(), offset);
  EXPECT_EQ(CashAfter(client, "shop", second.offset()), 1334);
}

TEST(ShutdownTest, EveryProcessExitsWithinItsBoundWhenTheBrokerDiesAtTheSameInstant) {
  auto kafka = KafkaCluster::Start();
  ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
  const std::vector<std::string> bound = {"--shutdown-timeout-ms",
                                          std::to_string(kShutdownBoundMs)};
  std::vector<std::string> command_flags = bound;
  command_flags.insert(command_flags.end(), {"--ack-timeout-ms", "60000"});
  Cluster cluster({.partitions = 2,
                   .processors = 1,
                   .group = "shutdown",
                   .command_flags = command_flags,
                   .processor_flags = bound,
                   .kafka = kafka->get()});
  ASSERT_TRUE(cluster.Start().ok()) << "logs in " << cluster.log_dir();
  const int dev_port = FreePort();
  auto dev_client = Client(dev_port);
  auto dev = StartDev((*kafka)->bootstrap(), cluster.log_dir() + "/dev-data", dev_port,
                      cluster.log_dir() + "/dev.log");
  ASSERT_TRUE(dev.ok());
  ASSERT_TRUE(WaitUntil(60s, [&] { return Answers200(dev_client, "/readyz"); }));

  auto command = cluster.CommandClient();
  auto processor = cluster.ProcessorClient(0);
  const v1::Ack booked = BookSale(*command, "acme", "before-1", 500);
  ASSERT_EQ(CashAfter(*processor, "acme", booked.offset()), 500);
  const v1::Ack dev_booked = BookSale(dev_client, "acme", "before-1", 700);
  ASSERT_EQ(CashAfter(dev_client, "acme", dev_booked.offset()), 700);

  // The broker dies, a command is on its way to it (its producer would wait a minute for the
  // acknowledgement, far past the bound), and every kledger process is told to stop.
  ASSERT_TRUE((*kafka)->Kill(1).ok());
  std::thread in_flight([&cluster] {
    cluster.CommandClient()->Post("/v1/instances/acme/transactions",
                                  R"({"source":"shop","source_idempk":"in-flight","status":)"
                                  R"("posted","entries":[{"account":"cash","direction":"debit",)"
                                  R"("amount":1,"currency":"EUR"},{"account":"sales",)"
                                  R"("direction":"credit","amount":1,"currency":"EUR"}]})",
                                  "application/json");
  });
  std::this_thread::sleep_for(500ms);
  const auto signalled = std::chrono::steady_clock::now();
  ChildProcess& processor_process = cluster.processor(0);
  processor_process.Signal(SIGTERM);
  dev->Signal(SIGTERM);
  ChildProcess* command_process = cluster.command_process();
  command_process->Signal(SIGTERM);
  const auto limit = std::chrono::milliseconds(kShutdownBoundMs) + 3s;  // the bound, and margin
  for (auto [name, process] : {std::pair<const char*, ChildProcess*>{"command", command_process},
                               {"processor", &processor_process},
                               {"dev", &*dev}}) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        limit - (std::chrono::steady_clock::now() - signalled));
    EXPECT_TRUE(process->Wait(std::max(left, 0ms)).has_value())
        << name << " still runs " << limit.count() << " ms after SIGTERM; logs in "
        << cluster.log_dir();
  }
  in_flight.join();

  // What the processor applied before it stopped stays applied, once.
  ASSERT_TRUE((*kafka)->StartNode(1).ok());
  ASSERT_TRUE(cluster.StartProcessor(0).ok());
  EXPECT_EQ(CashAfter(*processor, "acme", booked.offset()), 500);
}

}  // namespace
}  // namespace kledger::testing
