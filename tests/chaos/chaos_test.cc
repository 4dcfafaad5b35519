// Chaos: a long random workload while processors are SIGKILLed and restarted, brokers go down
// and come back, and Kafka requests fail on purpose. Afterwards nothing acknowledged is lost,
// nothing is applied twice, every event has one outcome and every trial balance is zero.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "common/http.h"
#include "common/kafka/consumer.h"
#include "kledger/v1/api.pb.h"
#include "tests/support/cluster.h"

namespace kledger::testing {
namespace {

constexpr int kInstances = 6;
constexpr int kAccounts = 4;  // per instance, all may go negative: no business rejections
constexpr auto kChaosFor = std::chrono::seconds(45);
constexpr int kBatch = 25;
// The embedded broker keeps about 5 MiB per partition (EMBEDDED-BROKER.md); a processor taking
// over a partition must replay it from offset 0, so the log must not outgrow that. ~400-byte
// records, six instances over six partitions: 15,000 transfers stay well inside it.
constexpr int64_t kMaxTransfers = 15'000;

std::string Instance(int i) { return "chaos-" + std::to_string(i); }

// Records in the dead-letter topic, over every partition.
int64_t DeadLetters(const std::string& bootstrap) {
  kafka::NoRebalanceListener none;
  auto consumer = kafka::Consumer::Create(
      {{"bootstrap.servers", bootstrap}, {"group.id", "chaos-dlt-count"}}, &none);
  EXPECT_TRUE(consumer.ok());
  if (!consumer.ok()) return -1;
  auto partitions = (*consumer)->PartitionCount("kledger.events.dlt", std::chrono::seconds(10));
  EXPECT_TRUE(partitions.ok());
  int64_t total = 0;
  for (int32_t p = 0; partitions.ok() && p < *partitions; ++p) {
    auto marks = (*consumer)->QueryWatermarks("kledger.events.dlt", p, std::chrono::seconds(10));
    EXPECT_TRUE(marks.ok());
    if (marks.ok()) total += marks->second - marks->first;
  }
  return total;
}

// Writes bytes that are no event straight to the events topic, as a broken client might.
bool WritePoison(const Cluster& cluster, int instance) {
  auto kcat =
      ChildProcess::Spawn({"/bin/sh", "-c",
                           "printf 'not-an-event' | /usr/bin/kcat -P -b " + cluster.bootstrap() +
                               " -t kledger.events -k " + Instance(instance)},
                          cluster.log_dir() + "/kcat.log");
  return kcat.ok() && kcat->Wait(std::chrono::seconds(20)) == 0;
}
std::string Account(int a) { return "acct" + std::to_string(a); }

struct Transfer {
  int instance;
  std::string key;
  int64_t amount;
  std::string body;  // the BatchRequest command, as JSON
};

v1::Command MakeTransfer(std::mt19937_64& rng, int instance, const std::string& key,
                         int64_t amount) {
  v1::Command command;
  command.set_instance_id(Instance(instance));
  auto& txn = *command.mutable_create_transaction();
  txn.set_source("chaos");
  txn.set_source_idempk(key);
  txn.set_status(v1::POSTED);
  const int from = static_cast<int>(rng() % kAccounts);
  const int to = (from + 1 + static_cast<int>(rng() % (kAccounts - 1))) % kAccounts;
  for (auto [account, side] : {std::pair{from, v1::DEBIT}, std::pair{to, v1::CREDIT}}) {
    auto& e = *txn.add_entries();
    e.set_account(Account(account));
    e.set_direction(side);
    e.set_amount(amount);
    e.set_currency("EUR");
  }
  return command;
}

TEST(ChaosTest, NothingLostNothingTwiceBooksBalanceUnderFaults) {
  Cluster cluster(
      {.partitions = 6,
       .processors = 2,
       .group = "chaos",
       // Exact under injected Produce faults on the embedded broker (EMBEDDED-BROKER.md).
       .command_flags = {"--producer-mode", "transactional", "--ack-timeout-ms", "4000"}});
  Status started = cluster.Start();
  ASSERT_TRUE(started.ok()) << started.ToString() << " (logs in " << cluster.log_dir() << ")";
  auto command = cluster.CommandClient();

  // Books: accounts that may go negative, so every transfer is applied and sums are exact.
  for (int i = 0; i < kInstances; ++i) {
    for (int a = 0; a < kAccounts; ++a) {
      const std::string body = R"({"address":")" + Account(a) +
                               R"(","type":"asset","currency":"EUR","allow_negative":true})";
      ASSERT_TRUE(WaitUntil(std::chrono::seconds(30), [&] {
        auto res = command->Post(("/v1/instances/" + Instance(i) + "/accounts").c_str(), body,
                                 "application/json");
        return res && res->status == 202;
      }));
    }
  }

  std::mt19937_64 rng(20261123);
  std::map<std::string, std::pair<int, int64_t>> accepted;  // key -> instance, amount
  std::map<std::string, std::string> event_ids;             // key -> event id
  std::vector<v1::Command> unacknowledged;                  // resubmitted until accepted
  int64_t submitted = 0, resubmissions = 0, kills = 0, broker_faults = 0, request_errors = 0,
          poison = 0;
  int64_t next_key = 0;

  auto submit = [&](std::vector<v1::Command> commands) {
    v1::BatchRequest request;
    for (auto& c : commands) *request.add_commands() = c;
    auto res = command->Post("/v1/batch", http::ToJson(request), "application/json");
    if (!res || res->status != 200) {
      unacknowledged.insert(unacknowledged.end(), commands.begin(), commands.end());
      return;
    }
    v1::BatchResponse response;
    ASSERT_TRUE(http::ParseJson(res->body, response).ok()) << res->body;
    ASSERT_EQ(response.results_size(), static_cast<int>(commands.size()));
    for (int i = 0; i < response.results_size(); ++i) {
      const auto& c = commands[i];
      const auto& result = response.results(i);
      const std::string& key = c.create_transaction().source_idempk();
      if (result.status() == 202) {
        accepted[key] = {std::stoi(c.instance_id().substr(6)),
                         c.create_transaction().entries(0).amount()};
        // A resubmission answers the same event id (SPEC §6).
        auto [it, fresh] = event_ids.emplace(key, result.ack().event_id());
        EXPECT_EQ(it->second, result.ack().event_id()) << key;
      } else {
        ASSERT_EQ(result.status(), 503) << result.error().message();
        unacknowledged.push_back(c);
      }
    }
  };

  const auto start = std::chrono::steady_clock::now();
  auto next_fault = start + std::chrono::seconds(3);
  int fault_step = 0;
  while (std::chrono::steady_clock::now() - start < kChaosFor) {
    std::vector<v1::Command> batch;
    // Retry what Kafka did not acknowledge, with the same idempotency keys, before new work.
    const size_t retry = std::min<size_t>(unacknowledged.size(), kBatch);
    batch.assign(unacknowledged.begin(), unacknowledged.begin() + retry);
    unacknowledged.erase(unacknowledged.begin(), unacknowledged.begin() + retry);
    resubmissions += static_cast<int64_t>(retry);
    if (submitted >= kMaxTransfers) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // faults go on; traffic is done
    }
    while (submitted < kMaxTransfers && batch.size() < static_cast<size_t>(kBatch)) {
      const int instance = static_cast<int>(rng() % kInstances);
      batch.push_back(
          MakeTransfer(rng, instance, "t" + std::to_string(next_key++), 1 + rng() % 10'000));
      ++submitted;
    }
    if (!batch.empty()) submit(std::move(batch));

    if (std::chrono::steady_clock::now() < next_fault) continue;
    next_fault = std::chrono::steady_clock::now() + std::chrono::seconds(4);
    switch (fault_step++ % 4) {
      case 0: {  // a processor dies mid-stream and comes back
        const int victim = kills % 2;
        cluster.processor(victim).Signal(SIGKILL);
        cluster.processor(victim).Wait(std::chrono::seconds(10));
        ASSERT_TRUE(cluster.StartProcessor(victim).ok());
        ++kills;
        break;
      }
      case 1: {  // a broker goes down for a moment
        const int broker = 1 + static_cast<int>(rng() % 3);
        ASSERT_TRUE(cluster.Fault("broker-down " + std::to_string(broker)).ok());
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        ASSERT_TRUE(cluster.Fault("broker-up " + std::to_string(broker)).ok());
        ++broker_faults;
        break;
      }
      case 2:  // produce and fetch requests fail for a while
        ASSERT_TRUE(cluster.Fault("request-errors Produce 5 NOT_ENOUGH_REPLICAS").ok());
        ASSERT_TRUE(cluster.Fault("request-errors Fetch 5 NOT_LEADER_OR_FOLLOWER").ok());
        request_errors += 10;
        break;
      case 3:  // group coordination fails for a while, and a broken client writes garbage
        ASSERT_TRUE(WritePoison(cluster, static_cast<int>(rng() % kInstances)));
        ++poison;
        ASSERT_TRUE(cluster.Fault("request-errors OffsetCommit 5 COORDINATOR_NOT_AVAILABLE").ok());
        ASSERT_TRUE(cluster.Fault("request-errors Heartbeat 3 COORDINATOR_NOT_AVAILABLE").ok());
        request_errors += 8;
        break;
    }
  }
  ASSERT_TRUE(cluster.Fault("clear").ok());
  // Everything not yet acknowledged is resubmitted until it is: nothing the client sent is lost.
  ASSERT_TRUE(WaitUntil(
      std::chrono::seconds(60),
      [&] {
        if (unacknowledged.empty()) return true;
        std::vector<v1::Command> batch(
            unacknowledged.begin(),
            unacknowledged.begin() + std::min<size_t>(unacknowledged.size(), kBatch));
        unacknowledged.erase(unacknowledged.begin(), unacknowledged.begin() + batch.size());
        resubmissions += static_cast<int64_t>(batch.size());
        submit(std::move(batch));
        return unacknowledged.empty();
      }))
      << unacknowledged.size() << " commands never acknowledged";
  EXPECT_EQ(accepted.size(), static_cast<size_t>(submitted));

  // One processor takes every partition and catches up.
  cluster.processor(1).Signal(SIGTERM);
  cluster.processor(1).Wait(std::chrono::seconds(20));
  auto p0 = cluster.ProcessorClient(0);
  ASSERT_TRUE(WaitUntil(std::chrono::seconds(90),
                        [&] {
                          for (int i = 0; i < kInstances; ++i) {
                            auto res = p0->Get(
                                ("/v1/instances/" + Instance(i) + "/trial-balance").c_str());
                            if (!res || res->status != 200) return false;
                          }
                          return Answers200(*p0, "/readyz");
                        }))
      << "processor 0 did not catch up; logs in " << cluster.log_dir();

  // Lost: an acknowledged event without an outcome. Twice: books above what was accepted.
  int64_t lost = 0, applied = 0;
  for (const auto& [key, id] : event_ids) {
    const int instance = accepted.at(key).first;
    auto res = p0->Get(("/v1/instances/" + Instance(instance) + "/events/" + id).c_str());
    ASSERT_TRUE(res);
    if (res->status != 200) {
      ++lost;
      continue;
    }
    v1::EventOutcomeView outcome;
    ASSERT_TRUE(http::ParseJson(res->body, outcome).ok());
    EXPECT_EQ(outcome.outcome(), v1::APPLIED) << key << ": " << outcome.reason();
    applied += outcome.outcome() == v1::APPLIED;
  }
  std::map<int, int64_t> expected;
  for (const auto& [key, value] : accepted) expected[value.first] += value.second;
  int64_t twice = 0;
  bool balanced = true;
  for (int i = 0; i < kInstances; ++i) {
    auto res = p0->Get(("/v1/instances/" + Instance(i) + "/trial-balance").c_str());
    v1::TrialBalance trial;
    ASSERT_TRUE(res && http::ParseJson(res->body, trial).ok());
    int64_t debits = 0;
    for (const auto& c : trial.currencies()) {
      balanced = balanced && c.debits() == c.credits();
      debits += c.debits();
    }
    if (debits > expected[i]) ++twice;
    EXPECT_EQ(debits, expected[i]) << Instance(i);
  }
  // Every poison record is dead-lettered; a kill between the DLT's acknowledgement and the offset
  // commit may dead-letter one again (at least once — the ledger's effects stay exactly once).
  const int64_t dead_lettered = DeadLetters(cluster.bootstrap());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "chaos: events submitted=%lld resubmissions=%lld processor kills=%lld broker faults=%lld "
      "request errors=%lld records dead-lettered=%lld (poison written=%lld) lost=%lld applied "
      "twice=%lld trial balance "
      "zero=%s elapsed=%.0fs\n",
      static_cast<long long>(submitted), static_cast<long long>(resubmissions),
      static_cast<long long>(kills), static_cast<long long>(broker_faults),
      static_cast<long long>(request_errors), static_cast<long long>(dead_lettered),
      static_cast<long long>(poison), static_cast<long long>(lost), static_cast<long long>(twice),
      balanced ? "yes" : "NO", seconds);
  EXPECT_GE(dead_lettered, poison);
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(twice, 0);
  EXPECT_TRUE(balanced);
  EXPECT_EQ(applied, static_cast<int64_t>(event_ids.size()));
  EXPECT_GT(kills, 0);
  EXPECT_GT(broker_faults, 0);
}

}  // namespace
}  // namespace kledger::testing
