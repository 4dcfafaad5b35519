// Chaos: a long random workload while processors are SIGKILLed and restarted, brokers go down
// and come back, and poison is written to the log. Afterwards nothing acknowledged is lost,
// nothing is applied twice, every event has one outcome and every trial balance is zero; the
// outcome stream has one outcome per record of the log, none missing, none twice, in log order.
// Two runs share the workload and the verdict (ChaosRun) and differ in their faults:
// - ChaosTest, on the embedded broker: broker outages and injected request errors through its
//   fault orders; the log is capped (~5 MiB per partition), so is the workload.
// - KafkaChaosTest, on a 3-node Apache Kafka cluster (replication factor 3,
//   min.insync.replicas 2): broker JVMs SIGKILLed, the active KRaft controller among them, and
//   restarted while traffic flows; sized by time, not capped.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "common/http.h"
#include "common/kafka/consumer.h"
#include "kledger/v1/api.pb.h"
#include "tests/support/cluster.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/outcome_stream.h"

namespace kledger::testing {
namespace {

constexpr int kInstances = 6;
constexpr int kAccounts = 4;  // per instance, all may go negative: no business rejections
constexpr auto kChaosFor = std::chrono::seconds(45);
constexpr int kBatch = 25;
// The embedded broker keeps about 5 MiB per partition (EMBEDDED-BROKER.md); a processor taking
// over a partition must replay it from offset 0, so the log must not outgrow that. ~400-byte
// records, six instances over six partitions: 15,000 transfers stay well inside it.
constexpr int64_t kMockMaxTransfers = 15'000;
// Real Kafka keeps everything: the run lasts until its kills are done, at a steady pace.
constexpr int kKafkaProcessorKills = 20;
constexpr int kKafkaBrokerKills = 10;
constexpr int kKafkaTransfersPerSecond = 400;

std::string Instance(int i) { return "chaos-" + std::to_string(i); }

// Records in the dead-letter topic, over every partition.
int64_t DeadLetters(const Cluster& cluster) {
  kafka::NoRebalanceListener none;
  auto consumer = kafka::Consumer::Create(
      {{"bootstrap.servers", cluster.bootstrap()}, {"group.id", "chaos-dlt-count"}}, &none);
  EXPECT_TRUE(consumer.ok());
  if (!consumer.ok()) return -1;
  auto partitions = (*consumer)->PartitionCount(cluster.dlt_topic(), std::chrono::seconds(10));
  EXPECT_TRUE(partitions.ok());
  int64_t total = 0;
  for (int32_t p = 0; partitions.ok() && p < *partitions; ++p) {
    auto marks = (*consumer)->QueryWatermarks(cluster.dlt_topic(), p, std::chrono::seconds(10));
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
                               " -t " + cluster.events_topic() + " -k " + Instance(instance)},
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

// What the faults did, for the figures line.
struct FaultFigures {
  int64_t processor_kills = 0;
  int64_t broker_faults = 0;  // embedded: outages; Kafka: broker JVMs SIGKILLed
  int64_t controller_kills = 0;
  int64_t request_errors = 0;
  int64_t poison = 0;
};

// The workload and the verdict of a chaos run: books of accounts that may go negative (so every
// transfer is applied and sums are exact), batches of transfers submitted over HTTP, whatever
// was not acknowledged resubmitted with its idempotency key, and at the end an account of every
// acknowledged event.
class ChaosRun {
 public:
  explicit ChaosRun(Cluster& cluster) : cluster_(cluster), command_(cluster.CommandClient()) {}

  void OpenBooks() {
    for (int i = 0; i < kInstances; ++i) {
      for (int a = 0; a < kAccounts; ++a) {
        const std::string body = R"({"address":")" + Account(a) +
                                 R"(","type":"asset","currency":"EUR","allow_negative":true})";
        ASSERT_TRUE(WaitUntil(std::chrono::seconds(30), [&] {
          auto res = command_->Post(("/v1/instances/" + Instance(i) + "/accounts").c_str(), body,
                                    "application/json");
          return res && res->status == 202;
        }));
      }
    }
  }

  // One batch: resubmissions first, then new transfers while fewer than `max_transfers` were
  // made. False when there was nothing to send.
  bool SubmitBatch(int64_t max_transfers) {
    std::vector<v1::Command> batch;
    const size_t retry = std::min<size_t>(unacknowledged_.size(), kBatch);
    batch.assign(unacknowledged_.begin(), unacknowledged_.begin() + retry);
    unacknowledged_.erase(unacknowledged_.begin(), unacknowledged_.begin() + retry);
    resubmissions_ += static_cast<int64_t>(retry);
    while (submitted_ < max_transfers && batch.size() < static_cast<size_t>(kBatch)) {
      const int instance = static_cast<int>(rng_() % kInstances);
      batch.push_back(
          MakeTransfer(rng_, instance, "t" + std::to_string(next_key_++), 1 + rng_() % 10'000));
      ++submitted_;
    }
    if (batch.empty()) return false;
    Submit(std::move(batch));
    return true;
  }

  // Resubmits until everything was acknowledged: nothing the client sent is lost.
  void ResubmitAll() {
    ASSERT_TRUE(WaitUntil(std::chrono::seconds(90),
                          [&] {
                            SubmitBatch(submitted_);
                            return unacknowledged_.empty();
                          }))
        << unacknowledged_.size() << " commands never acknowledged";
    EXPECT_EQ(accepted_.size(), static_cast<size_t>(submitted_));
  }

  int64_t submitted() const { return submitted_; }

  // Processor 0 alone catches up; then every acknowledged event must have exactly one outcome,
  // APPLIED, and each instance's books must hold exactly what was accepted. Prints the figures.
  void Verify(const char* name, const FaultFigures& faults,
              std::chrono::steady_clock::time_point start) {
    cluster_.processor(1).Signal(SIGTERM);
    cluster_.processor(1).Wait(std::chrono::seconds(20));
    auto p0 = cluster_.ProcessorClient(0);
    ASSERT_TRUE(WaitUntil(std::chrono::seconds(120),
                          [&] {
                            for (int i = 0; i < kInstances; ++i) {
                              auto res = p0->Get(
                                  ("/v1/instances/" + Instance(i) + "/trial-balance").c_str());
                              if (!res || res->status != 200) return false;
                            }
                            return Answers200(*p0, "/readyz");
                          }))
        << "processor 0 did not catch up; logs in " << cluster_.log_dir();

    // Lost: an acknowledged event without an outcome. Twice: books above what was accepted.
    int64_t lost = 0, applied = 0;
    for (const auto& [key, id] : event_ids_) {
      const int instance = accepted_.at(key).first;
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
    for (const auto& [key, value] : accepted_) expected[value.first] += value.second;
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
    // Every poison record is dead-lettered; a kill between the DLT's acknowledgement and the
    // offset commit may dead-letter one again (at least once — the ledger's effects stay
    // exactly once).
    const int64_t dead_lettered = DeadLetters(cluster_);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "chaos (%s): events submitted=%lld resubmissions=%lld processor kills=%lld broker "
        "faults=%lld (controller=%lld) request errors=%lld records dead-lettered=%lld (poison "
        "written=%lld) lost=%lld applied twice=%lld trial balance zero=%s elapsed=%.0fs\n",
        name, static_cast<long long>(submitted_), static_cast<long long>(resubmissions_),
        static_cast<long long>(faults.processor_kills),
        static_cast<long long>(faults.broker_faults),
        static_cast<long long>(faults.controller_kills),
        static_cast<long long>(faults.request_errors), static_cast<long long>(dead_lettered),
        static_cast<long long>(faults.poison), static_cast<long long>(lost),
        static_cast<long long>(twice), balanced ? "yes" : "NO", seconds);
    // The outcome stream: every record of the log (poison included) once, in log order.
    auto stream = AwaitOutcomeStream(cluster_.bootstrap(), cluster_.events_topic(),
                                     cluster_.outcomes_topic(), std::chrono::seconds(120));
    ASSERT_TRUE(stream.ok()) << stream.status().ToString();
    std::printf("chaos (%s): outcome stream %s\n", name, Describe(*stream).c_str());
    EXPECT_EQ(stream->missing, 0) << stream->problems;
    EXPECT_EQ(stream->out_of_order, 0) << stream->problems;
    EXPECT_EQ(stream->strays, 0) << stream->problems;
    if (cluster_.kafka() != nullptr) {
      EXPECT_EQ(stream->duplicates, 0) << stream->problems;
    }  // the embedded broker shows aborted transactions (EMBEDDED-BROKER.md): not judged there
    EXPECT_GE(dead_lettered, faults.poison);
    EXPECT_EQ(lost, 0);
    EXPECT_EQ(twice, 0);
    EXPECT_TRUE(balanced);
    EXPECT_EQ(applied, static_cast<int64_t>(event_ids_.size()));
  }

 private:
  void Submit(std::vector<v1::Command> commands) {
    v1::BatchRequest request;
    for (auto& c : commands) *request.add_commands() = c;
    auto res = command_->Post("/v1/batch", http::ToJson(request), "application/json");
    if (!res || res->status != 200) {
      unacknowledged_.insert(unacknowledged_.end(), commands.begin(), commands.end());
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
        accepted_[key] = {std::stoi(c.instance_id().substr(6)),
                          c.create_transaction().entries(0).amount()};
        // A resubmission answers the same event id (SPEC §6).
        auto [it, fresh] = event_ids_.emplace(key, result.ack().event_id());
        EXPECT_EQ(it->second, result.ack().event_id()) << key;
      } else {
        ASSERT_EQ(result.status(), 503) << result.error().message();
        unacknowledged_.push_back(c);
      }
    }
  }

  Cluster& cluster_;
  std::unique_ptr<httplib::Client> command_;
  std::mt19937_64 rng_{20261123};
  std::map<std::string, std::pair<int, int64_t>> accepted_;  // key -> instance, amount
  std::map<std::string, std::string> event_ids_;             // key -> event id
  std::vector<v1::Command> unacknowledged_;                  // resubmitted until accepted
  int64_t submitted_ = 0, resubmissions_ = 0, next_key_ = 0;
};

// SIGKILLs processor `victim` and starts it again at once.
void KillProcessor(Cluster& cluster, int victim, FaultFigures& faults) {
  cluster.processor(victim).Signal(SIGKILL);
  cluster.processor(victim).Wait(std::chrono::seconds(10));
  ASSERT_TRUE(cluster.StartProcessor(victim).ok());
  ++faults.processor_kills;
}

TEST(ChaosTest, NothingLostNothingTwiceBooksBalanceUnderFaults) {
  Cluster cluster(
      {.partitions = 6,
       .processors = 2,
       .group = "chaos",
       // Exact under injected Produce faults on the embedded broker (EMBEDDED-BROKER.md).
       .command_flags = {"--producer-mode", "transactional", "--ack-timeout-ms", "4000"},
       .kafka = nullptr});
  Status started = cluster.Start();
  ASSERT_TRUE(started.ok()) << started.ToString() << " (logs in " << cluster.log_dir() << ")";
  ChaosRun run(cluster);
  ASSERT_NO_FATAL_FAILURE(run.OpenBooks());

  std::mt19937_64 rng(20261123);
  FaultFigures faults;
  const auto start = std::chrono::steady_clock::now();
  auto next_fault = start + std::chrono::seconds(3);
  int fault_step = 0;
  while (std::chrono::steady_clock::now() - start < kChaosFor) {
    if (!run.SubmitBatch(kMockMaxTransfers)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // faults go on; traffic is done
    }
    ASSERT_FALSE(::testing::Test::HasFatalFailure());

    if (std::chrono::steady_clock::now() < next_fault) continue;
    next_fault = std::chrono::steady_clock::now() + std::chrono::seconds(4);
    switch (fault_step++ % 4) {
      case 0:  // a processor dies mid-stream and comes back
        ASSERT_NO_FATAL_FAILURE(
            KillProcessor(cluster, static_cast<int>(faults.processor_kills % 2), faults));
        break;
      case 1: {  // a broker goes down for a moment
        const int broker = 1 + static_cast<int>(rng() % 3);
        ASSERT_TRUE(cluster.Fault("broker-down " + std::to_string(broker)).ok());
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        ASSERT_TRUE(cluster.Fault("broker-up " + std::to_string(broker)).ok());
        ++faults.broker_faults;
        break;
      }
      case 2:  // produce and fetch requests fail for a while
        ASSERT_TRUE(cluster.Fault("request-errors Produce 5 NOT_ENOUGH_REPLICAS").ok());
        ASSERT_TRUE(cluster.Fault("request-errors Fetch 5 NOT_LEADER_OR_FOLLOWER").ok());
        faults.request_errors += 10;
        break;
      case 3:  // group coordination fails for a while, and a broken client writes garbage
        ASSERT_TRUE(WritePoison(cluster, static_cast<int>(rng() % kInstances)));
        ++faults.poison;
        ASSERT_TRUE(cluster.Fault("request-errors OffsetCommit 5 COORDINATOR_NOT_AVAILABLE").ok());
        ASSERT_TRUE(cluster.Fault("request-errors Heartbeat 3 COORDINATOR_NOT_AVAILABLE").ok());
        faults.request_errors += 8;
        break;
    }
  }
  ASSERT_TRUE(cluster.Fault("clear").ok());
  ASSERT_NO_FATAL_FAILURE(run.ResubmitAll());
  ASSERT_NO_FATAL_FAILURE(run.Verify("embedded broker", faults, start));
  EXPECT_GT(faults.processor_kills, 0);
  EXPECT_GT(faults.broker_faults, 0);
}

// Kills a broker every kBrokerEvery (the active controller every third time, another node
// otherwise) and restarts it in the background while traffic flows; the next one dies only once
// the previous one is back. Processors are killed every kProcessorEvery, and poison is written
// now and then.
TEST(KafkaChaosTest, NothingLostNothingTwiceBooksBalanceWhileBrokersAndProcessorsDie) {
  constexpr auto kProcessorEvery = std::chrono::milliseconds(3000);
  constexpr auto kBrokerEvery = std::chrono::seconds(8);
  constexpr auto kMaxRun = std::chrono::seconds(300);
  auto kafka = KafkaCluster::Start({.nodes = 3, .tool_flags = {}});
  ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
  Cluster cluster({.partitions = 6,
                   .processors = 2,
                   .group = "chaos",
                   .command_flags = {"--ack-timeout-ms", "4000"},
                   .kafka = kafka->get()});
  Status started = cluster.Start();
  ASSERT_TRUE(started.ok()) << started.ToString() << " (logs in " << cluster.log_dir() << ")";
  ChaosRun run(cluster);
  ASSERT_NO_FATAL_FAILURE(run.OpenBooks());

  std::mt19937_64 rng(20261204);
  FaultFigures faults;
  const auto start = std::chrono::steady_clock::now();
  auto next_processor_kill = start + kProcessorEvery;
  auto next_broker_kill = start + kBrokerEvery;
  std::future<Status> restarting;  // the last killed broker coming back
  int down = 0;
  while (faults.processor_kills < kKafkaProcessorKills ||
         faults.broker_faults < kKafkaBrokerKills || restarting.valid()) {
    ASSERT_LT(std::chrono::steady_clock::now() - start, kMaxRun)
        << "the kills did not finish in time; logs in " << cluster.log_dir() << " and "
        << (*kafka)->dir();
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (run.submitted() < static_cast<int64_t>(elapsed * kKafkaTransfersPerSecond)) {
      run.SubmitBatch(run.submitted() + kBatch);
      ASSERT_FALSE(::testing::Test::HasFatalFailure());
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const auto now = std::chrono::steady_clock::now();
    if (restarting.valid() &&
        restarting.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      Status back = restarting.get();
      ASSERT_TRUE(back.ok()) << "broker " << down << " did not come back: " << back.ToString();
      next_broker_kill = std::max(next_broker_kill, now + std::chrono::seconds(3));
    }
    if (faults.processor_kills < kKafkaProcessorKills && now >= next_processor_kill) {
      next_processor_kill = now + kProcessorEvery;
      ASSERT_NO_FATAL_FAILURE(
          KillProcessor(cluster, static_cast<int>(faults.processor_kills % 2), faults));
      if (faults.processor_kills % 4 == 0) {
        ASSERT_TRUE(WritePoison(cluster, static_cast<int>(rng() % kInstances)));
        ++faults.poison;
      }
    }
    if (faults.broker_faults < kKafkaBrokerKills && !restarting.valid() &&
        now >= next_broker_kill) {
      next_broker_kill = now + kBrokerEvery;
      auto controller = (*kafka)->ActiveController();
      ASSERT_TRUE(controller.ok()) << controller.status().ToString();
      down = *controller;
      if (faults.broker_faults % 3 != 0) down = 1 + (*controller + rng() % 2) % 3;
      faults.controller_kills += down == *controller;
      ASSERT_TRUE((*kafka)->Kill(down).ok());
      ++faults.broker_faults;
      std::fprintf(stderr, "[chaos] SIGKILL broker %d%s after %lld transfers\n", down,
                   down == *controller ? " (the active controller)" : "",
                   static_cast<long long>(run.submitted()));
      restarting = std::async(std::launch::async, [&kafka, down] {
        std::this_thread::sleep_for(std::chrono::seconds(2));
        return (*kafka)->StartNode(down);
      });
    }
  }
  ASSERT_NO_FATAL_FAILURE(run.ResubmitAll());
  ASSERT_NO_FATAL_FAILURE(run.Verify("Kafka, 3 brokers", faults, start));
  EXPECT_GE(faults.processor_kills, kKafkaProcessorKills);
  EXPECT_GE(faults.broker_faults, kKafkaBrokerKills);
  EXPECT_GE(faults.controller_kills, 1);
}

}  // namespace
}  // namespace kledger::testing
