// Tests for the group consumer against an in-process embedded broker: round trip with headers,
// start offsets chosen by the rebalance listener, seeking, and loud failure on a lost position.
#include "common/kafka/consumer.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <thread>

#include "common/kafka/embedded_broker.h"
#include "common/kafka/producer.h"
#include "common/log_capture_for_testing.h"

namespace kledger::kafka {
namespace {

using namespace std::chrono_literals;

// Records what the consumer handed over and answers OnAssigned with `start_offset`.
class RecordingListener : public RebalanceListener {
 public:
  std::function<int64_t(const TopicPartition&)> start_offset = [](const TopicPartition&) {
    return kOffsetBeginning;
  };
  std::vector<TopicPartition> assigned;
  std::vector<TopicPartition> revoked;
  int assign_calls = 0;

  void OnAssigned(std::vector<TopicPartition>& partitions) override {
    ++assign_calls;
    for (TopicPartition& tp : partitions) {
      tp.offset = start_offset(tp);
      assigned.push_back(tp);
    }
  }
  void OnRevoked(const std::vector<TopicPartition>& partitions, bool lost) override {
    revoked.insert(revoked.end(), partitions.begin(), partitions.end());
  }
};

class ConsumerTest : public ::testing::Test {
 protected:
  // One broker for the suite (stopping a mock cluster takes a second); each test has its own
  // topic and group.
  static void SetUpTestSuite() {
    auto broker = EmbeddedBroker::Start(
        {.brokers = 3,
         .topics = {{"events", 3, 3}, {"one", 1, 1}, {"two", 1, 1}, {"three", 2, 1}}});
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
  }
  static void TearDownTestSuite() { broker_.reset(); }

  Properties ClientProps(Properties extra = {}) {
    Properties props = Merge(DevClientDefaults(), {{"bootstrap.servers", broker_->bootstrap()},
                                                   {"session.timeout.ms", "6000"},
                                                   {"heartbeat.interval.ms", "500"},
                                                   {"fetch.wait.max.ms", "10"}});
    return Merge(props, extra);
  }

  std::vector<DeliveryReport> ProduceAll(const std::vector<ProducerRecord>& records) {
    auto producer = Producer::Create(ClientProps());
    EXPECT_TRUE(producer.ok()) << producer.status().ToString();
    std::vector<std::future<Result<DeliveryReport>>> futures;
    for (const ProducerRecord& r : records) futures.push_back((*producer)->Produce(r));
    std::vector<DeliveryReport> reports;
    for (auto& f : futures) {
      Result<DeliveryReport> r = f.get();
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      reports.push_back(r.ok() ? *r : DeliveryReport{});
    }
    return reports;
  }

  std::unique_ptr<Consumer> Subscribed(const std::string& topic, const std::string& group,
                                       RecordingListener* listener, Properties extra = {}) {
    auto consumer = Consumer::Create(ClientProps(Merge({{"group.id", group}}, extra)), listener);
    EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
    if (!consumer.ok()) return nullptr;
    EXPECT_TRUE((*consumer)->Subscribe({topic}).ok());
    return std::move(consumer).value();
  }

  // Polls until `n` records arrived or `deadline` passed; stops at the first error.
  Result<std::vector<ConsumedRecord>> PollUntil(Consumer& consumer, size_t n,
                                                std::chrono::milliseconds deadline = 15s) {
    std::vector<ConsumedRecord> all;
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (all.size() < n && std::chrono::steady_clock::now() < end) {
      ASSIGN_OR_RETURN(std::vector<ConsumedRecord> batch, consumer.Poll(200ms, 100));
      all.insert(all.end(), batch.begin(), batch.end());
    }
    return all;
  }

  static std::unique_ptr<EmbeddedBroker> broker_;
};

std::unique_ptr<EmbeddedBroker> ConsumerTest::broker_;

TEST_F(ConsumerTest, RoundTripKeysValuesHeadersPartitionsOffsets) {
  constexpr int kRecords = 30;
  std::vector<ProducerRecord> records;
  for (int i = 0; i < kRecords; ++i) {
    std::string binary("\x00\xff\x01", 3);
    binary += std::to_string(i);
    records.push_back(
        ProducerRecord{"events",
                       "instance-" + std::to_string(i % 7),
                       "value-" + std::to_string(i),
                       {{"kledger-event-id", "e" + std::to_string(i)}, {"bin", binary}},
                       std::nullopt});
  }
  std::vector<DeliveryReport> reports = ProduceAll(records);
  ASSERT_EQ(reports.size(), static_cast<size_t>(kRecords));

  RecordingListener listener;
  std::unique_ptr<Consumer> consumer = Subscribed("events", "round-trip", &listener);
  ASSERT_NE(consumer, nullptr);
  auto consumed = PollUntil(*consumer, kRecords);
  ASSERT_TRUE(consumed.ok()) << consumed.status().ToString();
  ASSERT_EQ(consumed->size(), static_cast<size_t>(kRecords));

  std::map<std::string, ConsumedRecord> by_value;
  for (const ConsumedRecord& r : *consumed) by_value[r.value] = r;
  ASSERT_EQ(by_value.size(), static_cast<size_t>(kRecords));
  for (int i = 0; i < kRecords; ++i) {
    const ConsumedRecord& got = by_value.at(records[i].value);
    EXPECT_EQ(got.topic, "events");
    EXPECT_EQ(got.key, records[i].key);
    EXPECT_EQ(got.headers, records[i].headers);
    EXPECT_EQ(got.partition, reports[i].partition);
    EXPECT_EQ(got.offset, reports[i].offset);
    EXPECT_GT(got.timestamp_ms, 0);
  }
  // One instance, one partition (the key decides).
  std::map<std::string, int32_t> partition_of_key;
  for (const ConsumedRecord& r : *consumed) {
    auto [it, inserted] = partition_of_key.emplace(r.key, r.partition);
    EXPECT_EQ(it->second, r.partition) << r.key;
  }

  EXPECT_EQ(listener.assigned.size(), 3u);
  auto assignment = consumer->Assignment();
  ASSERT_TRUE(assignment.ok());
  EXPECT_EQ(assignment->size(), 3u);
  EXPECT_FALSE(consumer->MemberId().empty());

  int64_t total = 0;
  for (int32_t p = 0; p < 3; ++p) {
    auto marks = consumer->QueryWatermarks("events", p, 5s);
    ASSERT_TRUE(marks.ok()) << marks.status().ToString();
    EXPECT_EQ(marks->first, 0);
    total += marks->second;
    // Every record of the partition was fetched, so the last fetch response knew its end.
    EXPECT_EQ(consumer->FetchedHighWatermark("events", p), marks->second) << "partition " << p;
  }
  EXPECT_EQ(total, kRecords);
  EXPECT_EQ(consumer->FetchedHighWatermark("one", 0), std::nullopt);  // never fetched
  EXPECT_TRUE(consumer->CommitAsync({{"events", 0, 1}}).ok());

  EXPECT_TRUE(consumer->Close().ok());
  EXPECT_TRUE(consumer->Close().ok());  // idempotent
  EXPECT_EQ(listener.revoked.size(), 3u);
  EXPECT_EQ(consumer->Poll(0ms, 1).status().code(), StatusCode::kFailedPrecondition);
}

// A topic just created, or a leader that moved, answers "not leader" for a moment: the
// watermarks are asked for again rather than reported as an error.
TEST_F(ConsumerTest, WatermarksOfAPartitionWhoseLeaderIsMovingAreAskedForAgain) {
  NoRebalanceListener none;
  auto consumer = Consumer::Create(ClientProps({{"group.id", "watermarks"}}), &none);
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  ASSERT_TRUE((*consumer)->QueryWatermarks("events", 0, 5s).ok());  // metadata known
  ASSERT_TRUE(broker_->PushRequestErrors("ListOffsets", 2, "NOT_LEADER_OR_FOLLOWER").ok());
  auto marks = (*consumer)->QueryWatermarks("events", 0, 5s);
  EXPECT_TRUE(marks.ok()) << marks.status().ToString();
  ASSERT_TRUE(broker_->PushRequestErrors("ListOffsets", 1000, "NOT_LEADER_OR_FOLLOWER").ok());
  const auto start = std::chrono::steady_clock::now();
  auto refused = (*consumer)->QueryWatermarks("events", 0, 500ms);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s) << "the timeout bounds the asking";
  ASSERT_TRUE(broker_->ClearFaults().ok());
}

TEST_F(ConsumerTest, StartOffsetChosenByListenerIsHonoredAndSeekRereads) {
  std::vector<ProducerRecord> records;
  for (int i = 0; i < 10; ++i) {
    records.push_back(ProducerRecord{"one", "k", "v" + std::to_string(i), {}, 0});
  }
  ProduceAll(records);

  RecordingListener listener;
  listener.start_offset = [](const TopicPartition&) { return int64_t{5}; };
  std::unique_ptr<Consumer> consumer = Subscribed("one", "start-offset", &listener);
  ASSERT_NE(consumer, nullptr);
  auto consumed = PollUntil(*consumer, 5);
  ASSERT_TRUE(consumed.ok()) << consumed.status().ToString();
  ASSERT_EQ(consumed->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ((*consumed)[i].offset, 5 + i);
    EXPECT_EQ((*consumed)[i].value, "v" + std::to_string(5 + i));
  }
  ASSERT_EQ(listener.assigned.size(), 1u);
  EXPECT_EQ(listener.assigned[0], (TopicPartition{"one", 0, 5}));

  ASSERT_TRUE(consumer->Seek({"one", 0, 2}, 5s).ok());
  auto again = PollUntil(*consumer, 1, 5s);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_FALSE(again->empty());
  EXPECT_EQ(again->front().offset, 2);

  // Paused partitions deliver nothing until resumed.
  ASSERT_TRUE(consumer->Pause({{"one", 0, -1}}).ok());
  ProduceAll({ProducerRecord{"one", "k", "late", {}, 0}});
  auto paused = consumer->Poll(300ms, 100);
  ASSERT_TRUE(paused.ok());
  for (const ConsumedRecord& r : *paused) EXPECT_NE(r.value, "late");  // fetched before pause
  ASSERT_TRUE(consumer->Resume({{"one", 0, -1}}).ok());
  bool late_seen = false;
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (!late_seen && std::chrono::steady_clock::now() < end) {
    auto batch = consumer->Poll(200ms, 100);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    for (const ConsumedRecord& r : *batch) late_seen |= r.value == "late";
  }
  EXPECT_TRUE(late_seen);
}

TEST_F(ConsumerTest, OutOfRangeStartOffsetIsAnErrorNotASkip) {
  ProduceAll({ProducerRecord{"two", "k", "a", {}, 0}, ProducerRecord{"two", "k", "b", {}, 0}});
  RecordingListener listener;
  listener.start_offset = [](const TopicPartition&) { return int64_t{100}; };
  std::unique_ptr<Consumer> consumer = Subscribed("two", "out-of-range", &listener);
  ASSERT_NE(consumer, nullptr);
  auto consumed = PollUntil(*consumer, 1);
  ASSERT_FALSE(consumed.ok()) << "expected an error, got " << consumed->size() << " records";
  EXPECT_EQ(consumed.status().code(), StatusCode::kOutOfRange) << consumed.status().ToString();
  EXPECT_NE(consumed.status().message().find("two/0"), std::string::npos)
      << consumed.status().ToString();
  EXPECT_NE(consumed.status().message().find("100"), std::string::npos)
      << consumed.status().ToString();
}

TEST_F(ConsumerTest, EagerProtocolAssignsWithListenerOffsetsAndRevokesOnClose) {
  std::vector<ProducerRecord> records;
  for (int p = 0; p < 2; ++p) {
    for (int i = 0; i < 3; ++i) {
      records.push_back(
          ProducerRecord{"three", "k", std::to_string(p) + "-" + std::to_string(i), {}, p});
    }
  }
  ProduceAll(records);
  RecordingListener listener;
  // Partition 0 from offset 1; partition 1 left at -1, which means the beginning.
  listener.start_offset = [](const TopicPartition& tp) {
    return tp.partition == 0 ? int64_t{1} : int64_t{-1};
  };
  std::unique_ptr<Consumer> consumer =
      Subscribed("three", "eager", &listener, {{"partition.assignment.strategy", "range"}});
  ASSERT_NE(consumer, nullptr);
  auto consumed = PollUntil(*consumer, 5);
  ASSERT_TRUE(consumed.ok()) << consumed.status().ToString();
  ASSERT_EQ(consumed->size(), 5u);
  std::map<int32_t, std::vector<int64_t>> offsets;
  for (const ConsumedRecord& r : *consumed) offsets[r.partition].push_back(r.offset);
  EXPECT_EQ(offsets[0], (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(offsets[1], (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(listener.assign_calls, 1);
  EXPECT_TRUE(consumer->Close().ok());
  EXPECT_EQ(listener.revoked.size(), 2u);
}

// librdkafka 2.0.2 aborts when it destroys a cooperative-sticky consumer that joined its group
// but never received an assignment (confluentinc/librdkafka#4312): a process stopped during a
// rebalance must still shut down cleanly. Failing every SyncGroup keeps the consumer there.
// The handle is then kept, and its threads outlive it: they must stay silent when the brokers
// go away, or a process exiting at that moment has them log into a logger being destroyed.
TEST_F(ConsumerTest, ConsumerStoppedBetweenJoinAndAssignmentShutsDownCleanlyAndQuietly) {
  auto own_broker = EmbeddedBroker::Start({.brokers = 1, .topics = {{"one", 1, 1}}});
  ASSERT_TRUE(own_broker.ok()) << own_broker.status().ToString();
  ASSERT_TRUE((*own_broker)->PushRequestErrors("SyncGroup", 1000, "REBALANCE_IN_PROGRESS").ok());
  RecordingListener listener;
  std::unique_ptr<Consumer> consumer =
      Subscribed("one", "never-synced", &listener,
                 {{"bootstrap.servers", (*own_broker)->bootstrap()},
                  {"client.id", "never-synced-consumer"},
                  {"reconnect.backoff.ms", "10"}});
  ASSERT_NE(consumer, nullptr);
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (consumer->RebalanceProtocol() == "NONE" && std::chrono::steady_clock::now() < end) {
    ASSERT_TRUE(consumer->Poll(100ms, 10).ok());
  }
  EXPECT_EQ(consumer->RebalanceProtocol(), "COOPERATIVE");
  EXPECT_EQ(listener.assign_calls, 0);
  EXPECT_TRUE(consumer->Close().ok());
  consumer.reset();  // aborted here before the work-around

  // Every line logged from here on, at every level.
  std::vector<std::string> lines;
  {
    kledger::testing::LogCapture log;
    own_broker->reset();  // the kept consumer's connections fail from here on
    std::this_thread::sleep_for(500ms);
    lines = log.Lines();
  }
  for (const std::string& line : lines) {
    EXPECT_EQ(line.find("never-synced-consumer#"), std::string::npos) << line;
  }
}

TEST(ConsumerCreateTest, RequiresGroupIdAndListener) {
  RecordingListener listener;
  auto no_group = Consumer::Create({{"bootstrap.servers", "127.0.0.1:1"}}, &listener);
  ASSERT_FALSE(no_group.ok());
  EXPECT_EQ(no_group.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_group.status().message().find("group.id"), std::string::npos);

  auto no_listener =
      Consumer::Create({{"bootstrap.servers", "127.0.0.1:1"}, {"group.id", "g"}}, nullptr);
  EXPECT_EQ(no_listener.status().code(), StatusCode::kInvalidArgument);

  auto bad = Consumer::Create(
      {{"bootstrap.servers", "127.0.0.1:1"}, {"group.id", "g"}, {"auto.offset.reset", "sideways"}},
      &listener);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("auto.offset.reset"), std::string::npos);
}

}  // namespace
}  // namespace kledger::kafka
