// A fenced zombie on real Apache Kafka (the embedded broker neither fences nor hides aborted
// transactions): relay A, the partition's old owner, stops inside a transaction of outcomes; the
// partition moves to relay B, whose init fences A and aborts that transaction, and which
// publishes everything; A wakes and its commit fails. A read_committed consumer sees each outcome
// once, in log order, and none of A's; a read_uncommitted one shows that A did write them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/kafka/admin.h"
#include "kledger/v1/outcomes.pb.h"
#include "processors/outcome_relay.h"
#include "processors/topic_scan.h"
#include "projections/store.h"
#include "tests/support/cluster.h"

namespace kledger::testing {
namespace {

using namespace std::chrono_literals;

// A store whose outbox holds the outcomes of `partition` 0's records [0, count), tagged `who`.
std::unique_ptr<projections::ProjectionStore> StoreWithOutbox(const std::string& dir, int count,
                                                              const std::string& who) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  projections::StoreOptions options;
  options.path = dir;
  auto store = projections::ProjectionStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  auto batch = (*store)->BeginBatch(0);
  for (int offset = 0; offset < count; ++offset) {
    v1::OutcomeRecord outcome;
    outcome.set_schema_version(1);
    outcome.set_instance_id("fence");
    outcome.set_event_id("e" + std::to_string(offset));
    outcome.set_source_partition(0);
    outcome.set_source_offset(offset);
    outcome.set_outcome(v1::APPLIED);
    outcome.set_correlation_id(who);  // real owners write the same bytes; tagged to tell apart
    batch->PutOutbox(offset, outcome.SerializeAsString());
  }
  EXPECT_TRUE((*store)->Commit(*batch, count).ok());
  return std::move(*store);
}

// Every record of partition 0 of `topic`, read with `isolation`.
std::vector<v1::OutcomeRecord> ReadOutcomes(const std::string& bootstrap, const std::string& topic,
                                            const std::string& isolation) {
  processors::ScanOptions options;
  options.reader_group = "fence-reader";
  auto scan = processors::TopicScan::Open(
      {{"bootstrap.servers", bootstrap}, {"isolation.level", isolation}}, topic, options);
  EXPECT_TRUE(scan.ok()) << scan.status().ToString();
  std::vector<v1::OutcomeRecord> out;
  while (scan.ok() && !(*scan)->Finished()) {
    auto records = (*scan)->Next(200ms, 500);
    EXPECT_TRUE(records.ok()) << records.status().ToString();
    if (!records.ok()) break;
    for (const auto& r : *records) {
      EXPECT_TRUE(out.emplace_back().ParseFromString(r.value));
    }
  }
  return out;
}

bool WaitFor(std::chrono::seconds timeout, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

TEST(OutcomeFencingTest, AZombieRelayCannotPublishAfterItsPartitionMoved) {
  KafkaCluster* kafka = SharedKafka();
  ASSERT_NE(kafka, nullptr) << "runs on the real-Kafka label's cluster (KLEDGER_TEST_KAFKA_DIR)";
  const std::string bootstrap = kafka->bootstrap();
  const std::string tag = "fence-" + std::to_string(::getpid());
  const std::string topic = tag + ".outcomes";
  auto admin = kafka::Admin::Create({{"bootstrap.servers", bootstrap}});
  ASSERT_TRUE(admin.ok());
  auto made =
      (*admin)->CreateTopics({{.name = topic, .partitions = 1, .replication_factor = 1}}, 20s);
  ASSERT_TRUE(made.ok() && (*made)[0].ok());

  const auto dir = std::filesystem::temp_directory_path() / tag;
  auto store_a = StoreWithOutbox((dir / "a").string(), 10, "zombie");
  auto store_b = StoreWithOutbox((dir / "b").string(), 15, "owner");

  // A stops between its transaction's records and its commit until released.
  std::mutex mu;
  std::condition_variable changed;
  bool a_in_transaction = false, a_released = false;
  processors::OutcomeRelayOptions a_options;
  a_options.topic = topic;
  a_options.transactional_id_prefix = tag;
  a_options.retry_base = 60s;  // once failed, A stays down for the rest of the test
  a_options.before_commit = [&](int32_t) {
    std::unique_lock lock(mu);
    a_in_transaction = true;
    changed.notify_all();
    changed.wait(lock, [&] { return a_released; });
  };
  prometheus::Registry registry_a, registry_b;
  processors::OutcomeRelay a({{"bootstrap.servers", bootstrap}}, a_options, *store_a, registry_a);
  a.Own(0, 10);
  a.Start();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(changed.wait_for(lock, 60s, [&] { return a_in_transaction; }))
        << "relay A never reached its commit";
  }

  // The partition moves: B, with the same transactional id, takes over and publishes.
  processors::OutcomeRelayOptions b_options;
  b_options.topic = topic;
  b_options.transactional_id_prefix = tag;
  processors::OutcomeRelay b({{"bootstrap.servers", bootstrap}}, b_options, *store_b, registry_b);
  b.Own(0, 15);
  b.Start();
  ASSERT_TRUE(WaitFor(60s, [&] { return b.Progress()[0].published_through >= 14; }))
      << "relay B did not publish; failure: " << b.Progress()[0].failure;

  // A wakes: its commit is refused.
  {
    std::lock_guard lock(mu);
    a_released = true;
  }
  changed.notify_all();
  ASSERT_TRUE(WaitFor(60s, [&] { return !a.Progress()[0].failure.empty(); }))
      << "the zombie's commit was not refused";
  const std::string refusal = a.Progress()[0].failure;
  std::printf("zombie relay A: %s\n", refusal.c_str());
  EXPECT_NE(refusal.find("fenced"), std::string::npos) << refusal;
  EXPECT_EQ(a.Progress()[0].published_through, -1);
  a.Disown(0);  // as its processor does once the group tells it
  a.Stop();
  b.Stop();

  const auto committed = ReadOutcomes(bootstrap, topic, "read_committed");
  ASSERT_EQ(committed.size(), 15u) << "each outcome once";
  for (size_t i = 0; i < committed.size(); ++i) {
    EXPECT_EQ(committed[i].source_offset(), static_cast<int64_t>(i)) << "log order";
    EXPECT_EQ(committed[i].correlation_id(), "owner") << "a zombie's outcome is visible";
  }
  // The zombie did write its records: only its aborted transaction hides them.
  int zombies = 0;
  for (const auto& outcome : ReadOutcomes(bootstrap, topic, "read_uncommitted")) {
    zombies += outcome.correlation_id() == "zombie";
  }
  EXPECT_EQ(zombies, 10) << "relay A's records should be in the log, aborted";
  store_a.reset();
  store_b.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kledger::testing
