// A fenced zombie on real Apache Kafka (the embedded broker neither fences nor hides aborted
// transactions). Relay A publishes for a member of the processors' group; it stops inside a
// transaction of outcomes, its records delivered, and its member leaves the group. Relay B, of the
// member that owns the partition now, waits for A's open transaction before it reads where the
// topic ends. A wakes: the group coordinator refuses its offsets (its generation is past), so its
// transaction is aborted, and B publishes everything. (A third relay, stopped while it waits for
// A's transaction, gives the wait up.) A read_committed consumer sees each outcome
// once, in log order, and none of A's; a read_uncommitted one shows that A did write them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/kafka/admin.h"
#include "common/kafka/consumer.h"
#include "kledger/v1/outcomes.pb.h"
#include "processors/outcome_relay.h"
#include "processors/test_records.h"
#include "processors/topic_scan.h"
#include "projections/store.h"
#include "tests/support/cluster.h"

namespace kledger::testing {
namespace {

using namespace std::chrono_literals;

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

// A member of `group` on `topic`, polled on its own thread until it is destroyed.
class GroupMember : public kafka::RebalanceListener {
 public:
  GroupMember(const std::string& bootstrap, const std::string& group, const std::string& topic) {
    auto consumer = kafka::Consumer::Create(
        {{"bootstrap.servers", bootstrap}, {"group.id", group}, {"session.timeout.ms", "6000"}},
        this);
    EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
    consumer_ = std::move(*consumer);
    EXPECT_TRUE(consumer_->Subscribe({topic}).ok());
    thread_ = std::thread([this] {
      while (!stop_) (void)consumer_->Poll(50ms, 100);
    });
  }
  ~GroupMember() override {
    stop_ = true;
    thread_.join();
    consumer_.reset();  // leaves the group
  }
  void OnAssigned(std::vector<kafka::TopicPartition>& partitions) override {
    assigned_ += static_cast<int>(partitions.size());
  }
  void OnRevoked(const std::vector<kafka::TopicPartition>& partitions, bool) override {
    assigned_ -= static_cast<int>(partitions.size());
  }
  bool Assigned() const { return assigned_ > 0; }
  Result<kafka::GroupMetadata> Metadata() const { return consumer_->CurrentGroupMetadata(); }

 private:
  std::unique_ptr<kafka::Consumer> consumer_;
  std::atomic<int> assigned_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(OutcomeFencingTest, AZombieRelaysTransactionIsRefusedAndTheNextOwnerWaitsForIt) {
  KafkaCluster* kafka = SharedKafka();
  ASSERT_NE(kafka, nullptr) << "runs on the real-Kafka label's cluster (KLEDGER_TEST_KAFKA_DIR)";
  const std::string bootstrap = kafka->bootstrap();
  const std::string tag = "fence-" + std::to_string(::getpid());
  const std::string topic = tag + ".outcomes";
  const std::string events = tag + ".events";  // what the group's members subscribe to
  const std::string group = tag + ".processors";
  auto admin = kafka::Admin::Create({{"bootstrap.servers", bootstrap}});
  ASSERT_TRUE(admin.ok());
  auto made = (*admin)->CreateTopics({{.name = topic, .partitions = 1, .replication_factor = 1},
                                      {.name = events, .partitions = 1, .replication_factor = 1}},
                                     20s);
  ASSERT_TRUE(made.ok() && (*made)[0].ok() && (*made)[1].ok());

  const auto dir = std::filesystem::temp_directory_path() / tag;
  // Real owners write the same bytes; tagged to tell the relays apart.
  auto store_a = processors::testutil::StoreWithOutbox((dir / "a").string(), 10, "fence", "zombie");
  auto store_b = processors::testutil::StoreWithOutbox((dir / "b").string(), 15, "fence", "owner");

  // A's member joins the group and owns the partition; the membership A's relay sends is what
  // it was then, as a zombie's would be.
  auto member_a = std::make_unique<GroupMember>(bootstrap, group, events);
  ASSERT_TRUE(WaitFor(60s, [&] { return member_a->Assigned(); })) << "member A never joined";
  auto a_membership = member_a->Metadata();
  ASSERT_TRUE(a_membership.ok()) << a_membership.status().ToString();

  // A stops between its transaction's records and its offsets until released.
  std::mutex mu;
  std::condition_variable changed;
  bool a_in_transaction = false, a_released = false;
  processors::OutcomeRelayOptions a_options;
  a_options.topic = topic;
  a_options.transactional_id = tag + ".a";
  a_options.group_metadata = [&]() -> Result<kafka::GroupMetadata> { return *a_membership; };
  a_options.retry_base = 60s;  // once failed, A stays down for the rest of the test
  a_options.before_commit = [&](const std::vector<int32_t>&) {
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

  // A's member leaves (its processor stopped, or was put out of the group, without its relay
  // knowing); B's member gets the partition in a later generation.
  member_a.reset();
  GroupMember member_b(bootstrap, group, events);
  ASSERT_TRUE(WaitFor(60s, [&] { return member_b.Assigned(); })) << "member B never joined";
  processors::OutcomeRelayOptions b_options;
  b_options.topic = topic;
  b_options.transactional_id = tag + ".b";
  b_options.group_metadata = [&] { return member_b.Metadata(); };
  b_options.kafka_timeout = 60s;  // B's recovery waits that long for A's open transaction
  processors::OutcomeRelay b({{"bootstrap.servers", bootstrap}}, b_options, *store_b, registry_b);
  b.Own(0, 15);
  b.Start();
  // A's records hold the partition's last stable offset: B cannot know where the topic ends.
  std::this_thread::sleep_for(3s);
  EXPECT_FALSE(b.Progress()[0].ready) << "B recovered with A's transaction open";
  EXPECT_EQ(b.Progress()[0].published_through, -1);
  {
    // A relay that stops while it waits gives up the wait rather than wait out A's transaction.
    auto store_c =
        processors::testutil::StoreWithOutbox((dir / "c").string(), 1, "fence", "stopping");
    processors::OutcomeRelayOptions c_options = b_options;
    c_options.transactional_id = tag + ".c";
    prometheus::Registry registry_c;
    processors::OutcomeRelay c({{"bootstrap.servers", bootstrap}}, c_options, *store_c, registry_c);
    c.Own(0, 1);
    c.Start();
    std::this_thread::sleep_for(1s);
    EXPECT_FALSE(c.Progress()[0].ready);
    const auto stop_began = std::chrono::steady_clock::now();
    c.Stop();
    EXPECT_LT(std::chrono::steady_clock::now() - stop_began, 5s)
        << "Stop() waited for a transaction it no longer needs to see end";
  }

  // A wakes: its offsets are refused, its transaction aborted.
  {
    std::lock_guard lock(mu);
    a_released = true;
  }
  changed.notify_all();
  ASSERT_TRUE(WaitFor(60s, [&] { return !a.Progress()[0].failure.empty(); }))
      << "the zombie's transaction was not refused";
  const std::string refusal = a.Progress()[0].failure;
  std::printf("zombie relay A: %s\n", refusal.c_str());
  EXPECT_NE(refusal.find("offsets"), std::string::npos) << refusal;
  EXPECT_EQ(a.Progress()[0].published_through, -1);
  ASSERT_TRUE(WaitFor(60s, [&] { return b.Progress()[0].published_through >= 14; }))
      << "relay B did not publish; failure: " << b.Progress()[0].failure;
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
