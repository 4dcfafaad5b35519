// The fixture of the processor's tests (processor_test.cc, outcome_relay_test.cc): one processor
// against an in-process embedded broker with kledger's topics, a producer appending events, and
// helpers to wait for, read and fault its commits.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <thread>

#include "common/event_id.h"
#include "common/kafka/consumer.h"
#include "common/kafka/embedded_broker.h"
#include "common/kafka/partitioner.h"
#include "common/metrics.h"
#include "processors/processor.h"
#include "projections/test_util.h"

namespace kledger::processors::processor_testing {

using projections::testutil::CreateTx;
using projections::testutil::MakeEntry;
using projections::testutil::OpenAccount;

constexpr int kPartitions = 4;

// The first name "<prefix>N" whose partition satisfies `wanted`.
inline std::string InstanceOn(const std::string& prefix,
                              const std::function<bool(int32_t)>& wanted) {
  for (int n = 0;; ++n) {
    std::string name = prefix + std::to_string(n);
    if (wanted(kafka::PartitionForKey(name, kPartitions))) return name;
  }
}

class ProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = kafka::EmbeddedBroker::Start({.brokers = 1,
                                                .topics = {{"kledger.events", kPartitions, 1},
                                                           {"kledger.events.dlt", kPartitions, 1},
                                                           {"kledger.owners", 1, 1},
                                                           {"kledger.outcomes", kPartitions, 1}}});
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(*broker);
    props_ = kafka::DevClientDefaults();
    props_["bootstrap.servers"] = broker_->bootstrap();
    auto producer = kafka::Producer::Create(props_);
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(*producer);
    dir_ = std::filesystem::temp_directory_path() /
           ("kledger-processor-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }

  void TearDown() override {
    if (processor_) processor_->Stop();
    processor_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A victim instance, a neighbour on its partition and a bystander on another partition.
  struct ThreeInstances {
    std::string victim;
    int32_t victim_partition;
    std::string neighbour;
    std::string bystander;
  };
  ThreeInstances VictimNeighbourBystander() {
    ThreeInstances three;
    three.victim = InstanceOn("victim-", [](int32_t) { return true; });
    three.victim_partition = kafka::PartitionForKey(three.victim, kPartitions);
    three.neighbour =
        InstanceOn("neighbour-", [&](int32_t p) { return p == three.victim_partition; });
    three.bystander =
        InstanceOn("bystander-", [&](int32_t p) { return p != three.victim_partition; });
    return three;
  }

  void StartProcessor(
      std::chrono::milliseconds monitor_interval = std::chrono::seconds(1),
      ProcessorOptions::OnExhausted on_exhausted = ProcessorOptions::OnExhausted::kDeadLetter) {
    ProcessorOptions options;
    options.monitor_interval = monitor_interval;
    options.on_exhausted = on_exhausted;
    options.data_dir = dir_.string();
    options.group = "processor-test";
    // Long enough that other partitions visibly flow while one backs off.
    options.retry_base = std::chrono::milliseconds(400);
    options.retry_cap = std::chrono::milliseconds(1000);
    options.retry_max_attempts = 3;
    options.outcomes_interval = outcomes_interval_;
    auto processor = Processor::Create(props_, options, registry_);
    ASSERT_TRUE(processor.ok()) << processor.status().ToString();
    processor_ = std::move(*processor);
  }

  // Starts the processor and waits until the group gave it every partition.
  void Run() {
    ASSERT_TRUE(processor_->Start("http://test").ok());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (processor_->Progress().size() < kPartitions) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no assignment";
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // Appends an event (event id derived as the command side does); its offset.
  int64_t Append(v1::EventEnvelope event) {
    event.set_event_id(domain::DeriveEventId(event));
    std::string value;
    event.SerializeToString(&value);
    auto report = producer_->Produce({"kledger.events", event.instance_id(), value, {}, {}}).get();
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? report->offset : -1;
  }

  void OpenBooks(const std::string& instance) {
    Append(OpenAccount(instance, "cash", v1::ASSET, "USD"));
    Append(OpenAccount(instance, "equity", v1::EQUITY, "USD"));
  }

  // A posted transfer of `amount` from equity into cash, idempotency key `key`.
  static v1::EventEnvelope Funding(const std::string& instance, const std::string& key,
                                   int64_t amount) {
    return CreateTx(
        instance, key, v1::POSTED,
        {MakeEntry("cash", v1::DEBIT, amount), MakeEntry("equity", v1::CREDIT, amount)});
  }

  int64_t Fund(const std::string& instance, const std::string& key, int64_t amount) {
    return Append(Funding(instance, key, amount));
  }

  // The recorded outcome of the transfer Fund(instance, key, amount) appended.
  Result<v1::EventOutcomeView> FundingOutcome(const std::string& instance, const std::string& key,
                                              int64_t amount) {
    return processor_->store().GetOutcome(instance,
                                          domain::DeriveEventId(Funding(instance, key, amount)));
  }

  // Waits until `instance`'s partition has applied `offset`.
  bool Applied(const std::string& instance, int64_t offset,
               std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    Status s =
        processor_->WaitForOffset(kafka::PartitionForKey(instance, kPartitions), offset, timeout);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return s.ok();
  }

  int64_t Cash(const std::string& instance) {
    auto account = processor_->store().GetAccount(instance, "cash");
    return account.ok() ? account->balances().posted().amount() : -1;
  }

  // The low and high watermarks of `topic`'s `partition`, or (-1, -1) after a failed expectation.
  std::pair<int64_t, int64_t> Watermarks(const std::string& topic, int32_t partition) {
    kafka::NoRebalanceListener none;
    kafka::Properties props = props_;
    props["group.id"] = "watermarks";
    auto consumer = kafka::Consumer::Create(props, &none);
    EXPECT_TRUE(consumer.ok());
    if (!consumer.ok()) return {-1, -1};
    auto marks = (*consumer)->QueryWatermarks(topic, partition, std::chrono::seconds(5));
    EXPECT_TRUE(marks.ok());
    return marks.ok() ? *marks : std::pair<int64_t, int64_t>{-1, -1};
  }

  // Records in the dead-letter topic, over all partitions.
  int64_t DeadLetters() {
    int64_t total = 0;
    for (int p = 0; p < kPartitions; ++p) {
      const auto [low, high] = Watermarks("kledger.events.dlt", p);
      total += high - low;
    }
    return total;
  }

  std::string Metrics() { return RenderMetrics(registry_); }

  // Makes each commit of `partition` whose offsets cover `fault_.offset` fail while `fail(batch)`
  // holds; every other commit goes through. `fault_.offset` is the partition's next offset, so
  // the hook is armed before the record is appended (set once it was, a commit quicker than the
  // test thread went through): the test's next record there must land on it.
  // The store keeps the hook until TearDown, so it holds nothing of the test body.
  void FailCommitsCovering(int32_t partition,
                           std::function<bool(const projections::ProjectionStore::Batch&)> fail) {
    processor_->store().SetWriteFaultForTesting(
        [this, partition, fail = std::move(fail)](const projections::ProjectionStore::Batch& batch,
                                                  int64_t next_offset) {
          if (batch.partition() != partition) return Status::Ok();
          if (fault_.committed_next <= fault_.offset && fault_.offset < next_offset &&
              fail(batch)) {
            ++fault_.failures;
            return Status::IoError("injected: a commit covering offset " +
                                   std::to_string(fault_.offset.load()));
          }
          fault_.committed_next = next_offset;
          return Status::Ok();
        });
    fault_.committed_next = processor_->Progress().at(partition).next_offset;
    fault_.offset = Watermarks("kledger.events", partition).second;
  }
  struct CommitFault {
    std::atomic<int64_t> offset{INT64_MAX};
    std::atomic<int64_t> committed_next{0};
    std::atomic<int> failures{0};
  };
  CommitFault fault_;

  std::unique_ptr<kafka::EmbeddedBroker> broker_;
  kafka::Properties props_;
  std::unique_ptr<kafka::Producer> producer_;
  std::filesystem::path dir_;
  prometheus::Registry registry_;
  std::unique_ptr<Processor> processor_;
  // StartProcessor's; the production default unless a test sets another first.
  std::chrono::milliseconds outcomes_interval_ = ProcessorOptions().outcomes_interval;
};

}  // namespace kledger::processors::processor_testing
