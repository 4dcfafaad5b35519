// Tests for the producer: configuration errors, delivery failures, shutdown answering every
// callback exactly once (reports served by its own thread or by the caller's polls), and
// transactions against the embedded broker.
#include "common/kafka/producer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "common/http.h"
#include "common/kafka/embedded_broker.h"
#include "common/kafka/internal/rdkafka_util.h"

namespace kledger::kafka {
namespace {

using namespace std::chrono_literals;

// Port 1 on loopback: nothing listens there, connections are refused at once.
constexpr const char* kDeadBroker = "127.0.0.1:1";

// Counts callback invocations per record, to check "exactly once".
class CallbackLog {
 public:
  DeliveryCallback For(int index) {
    return [this, index](Result<DeliveryReport> result) {
      std::lock_guard lock(mu_);
      calls_[index]++;
      statuses_[index] = result.ok() ? Status::Ok() : result.status();
    };
  }
  void Expect(int n) {
    std::lock_guard lock(mu_);
    calls_.assign(n, 0);
    statuses_.assign(n, Status::Ok());
  }
  std::vector<int> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<Status> statuses() {
    std::lock_guard lock(mu_);
    return statuses_;
  }

 private:
  std::mutex mu_;
  std::vector<int> calls_;
  std::vector<Status> statuses_;
};

ProducerRecord Record(std::string topic, std::string key, std::string value) {
  return ProducerRecord{std::move(topic), std::move(key), std::move(value), {}, std::nullopt};
}

TEST(KafkaErrorsTest, AFatalClientErrorIsFatalAndABugIsInternal) {
  // Fatal: the client must be recreated (the command client does; HTTP answers 503).
  for (rd_kafka_resp_err_t fatal :
       {RD_KAFKA_RESP_ERR__FATAL, RD_KAFKA_RESP_ERR__GAPLESS_GUARANTEE}) {
    Status s = internal::ErrorToStatus(fatal, "produce");
    EXPECT_EQ(s.code(), StatusCode::kFatal) << s.ToString();
    EXPECT_EQ(http::HttpStatusFor(s), 503);
  }
  EXPECT_EQ(internal::ErrorToStatus(RD_KAFKA_RESP_ERR__INCONSISTENT, "x").code(),
            StatusCode::kInternal);
  EXPECT_EQ(internal::ErrorToStatus(RD_KAFKA_RESP_ERR__TRANSPORT, "x").code(),
            StatusCode::kUnavailable);
  const Status transport = internal::ErrorToStatus(RD_KAFKA_RESP_ERR__TRANSPORT, "fetch", "gone");
  EXPECT_EQ(transport.message(), "fetch: gone (_TRANSPORT)");
}

TEST(ProducerTest, CreateRejectsUnknownPropertyNamingIt) {
  auto producer = Producer::Create({{"bootstrap.servers", kDeadBroker}, {"no.such.property", "1"}});
  ASSERT_FALSE(producer.ok());
  EXPECT_EQ(producer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(producer.status().message().find("no.such.property"), std::string::npos)
      << producer.status().ToString();
}

TEST(ProducerTest, CreateRejectsBadValueNamingPropertyAndRedactingSecrets) {
  auto producer = Producer::Create({{"bootstrap.servers", kDeadBroker}, {"acks", "banana"}});
  ASSERT_FALSE(producer.ok());
  EXPECT_EQ(producer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(producer.status().message().find("acks"), std::string::npos);

  auto secret =
      Producer::Create({{"bootstrap.servers", kDeadBroker}, {"ssl.key.password.bogus", "hunter2"}});
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().message().find("hunter2"), std::string::npos)
      << secret.status().ToString();
}

TEST(ProducerTest, UnreachableBrokerFailsDeliveryExactlyOnce) {
  auto producer =
      Producer::Create({{"bootstrap.servers", kDeadBroker}, {"message.timeout.ms", "500"}});
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  CallbackLog log;
  log.Expect(1);
  std::atomic<std::thread::id> callback_thread;
  ASSERT_TRUE((*producer)
                  ->Produce(Record("t", "k", "v"),
                            [&, cb = log.For(0)](Result<DeliveryReport> r) {
                              callback_thread = std::this_thread::get_id();
                              cb(std::move(r));
                            })
                  .ok());
  EXPECT_TRUE((*producer)->Flush(5s).ok());
  EXPECT_EQ(log.calls(), std::vector<int>{1});
  EXPECT_EQ(log.statuses()[0].code(), StatusCode::kTimeout) << log.statuses()[0].ToString();
  EXPECT_NE(callback_thread.load(), std::this_thread::get_id());  // the delivery thread
  EXPECT_EQ((*producer)->OutQueueLength(), 0);
  producer->reset();
  EXPECT_EQ(log.calls(), std::vector<int>{1});
}

// Shutdown answers every outstanding callback once, whichever thread serves the reports.
class ProducerShutdownTest : public ::testing::TestWithParam<DeliveryThread> {};

TEST_P(ProducerShutdownTest, CloseAnswersEveryOutstandingCallbackOnce) {
  auto producer = Producer::Create(
      {{"bootstrap.servers", kDeadBroker}, {"message.timeout.ms", "60000"}}, GetParam());
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  constexpr int kRecords = 50;
  CallbackLog log;
  log.Expect(kRecords);
  for (int i = 0; i < kRecords; ++i) {
    ASSERT_TRUE((*producer)->Produce(Record("t", "k" + std::to_string(i), "v"), log.For(i)).ok());
  }
  EXPECT_EQ((*producer)->OutQueueLength(), kRecords);
  EXPECT_EQ((*producer)->Poll(20ms), 0);
  EXPECT_EQ((*producer)->Flush(50ms).code(), StatusCode::kTimeout);

  Status closed = (*producer)->Close(100ms);
  EXPECT_EQ(closed.code(), StatusCode::kTimeout) << closed.ToString();
  EXPECT_EQ(log.calls(), std::vector<int>(kRecords, 1));
  for (const Status& s : log.statuses())
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_TRUE((*producer)->Close(100ms).ok());  // idempotent

  std::future<Result<DeliveryReport>> after = (*producer)->Produce(Record("t", "k", "v"));
  ASSERT_EQ(after.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(after.get().status().code(), StatusCode::kFailedPrecondition);
  producer->reset();
  EXPECT_EQ(log.calls(), std::vector<int>(kRecords, 1));
}

TEST_P(ProducerShutdownTest, DestructorAnswersEveryOutstandingCallbackOnce) {
  constexpr int kRecords = 20;
  CallbackLog log;
  log.Expect(kRecords);
  {
    auto producer = Producer::Create(
        {{"bootstrap.servers", kDeadBroker}, {"message.timeout.ms", "800"}}, GetParam());
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    for (int i = 0; i < kRecords; ++i) {
      ASSERT_TRUE((*producer)->Produce(Record("t", "k", "v"), log.For(i)).ok());
    }
  }
  EXPECT_EQ(log.calls(), std::vector<int>(kRecords, 1));
  for (const Status& s : log.statuses()) EXPECT_FALSE(s.ok());
}

INSTANTIATE_TEST_SUITE_P(DeliveryThreads, ProducerShutdownTest,
                         ::testing::Values(DeliveryThread::kOwn, DeliveryThread::kCaller),
                         [](const auto& info) {
                           return info.param == DeliveryThread::kOwn ? "own" : "caller";
                         });

TEST(ProducerTest, EnqueueErrorDoesNotCallTheCallback) {
  auto producer =
      Producer::Create({{"bootstrap.servers", kDeadBroker}, {"message.max.bytes", "1000"}});
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  std::atomic<int> calls{0};
  Status status = (*producer)->Produce(Record("t", "k", std::string(5000, 'x')),
                                       [&](Result<DeliveryReport>) { calls++; });
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
  EXPECT_EQ((*producer)->OutQueueLength(), 0);
  producer->reset();
  EXPECT_EQ(calls.load(), 0);
}

// DeliveryThread::kCaller: reports are served only inside the owner's calls, on its thread, each
// record's callback once, in offset order per partition.
TEST(ProducerTest, CallerPollServesEveryReportOnceOnTheCallingThread) {
  auto broker = EmbeddedBroker::Start({.brokers = 1, .topics = {{"polled", 3, 1}}});
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  auto producer =
      Producer::Create(Merge(DevClientDefaults(), {{"bootstrap.servers", (*broker)->bootstrap()}}),
                       DeliveryThread::kCaller);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  constexpr int kRecords = 2000;
  std::vector<int> calls(kRecords, 0);
  std::vector<int64_t> offsets(kRecords, -1);
  std::vector<int32_t> partitions(kRecords, -1);
  std::atomic<int> off_thread{0};
  const std::thread::id owner = std::this_thread::get_id();
  for (int i = 0; i < kRecords; ++i) {
    ASSERT_TRUE((*producer)
                    ->Produce(Record("polled", "k" + std::to_string(i % 7), "v"),
                              [&, i](Result<DeliveryReport> report) {
                                if (std::this_thread::get_id() != owner) off_thread++;
                                calls[i]++;
                                ASSERT_TRUE(report.ok()) << report.status().ToString();
                                partitions[i] = report->partition;
                                offsets[i] = report->offset;
                              })
                    .ok());
  }
  // Nobody polls: the records are acknowledged by the broker, but no callback runs.
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(std::count(calls.begin(), calls.end(), 0), kRecords);
  EXPECT_EQ((*producer)->OutQueueLength(), kRecords);

  int served = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (served < kRecords && std::chrono::steady_clock::now() < deadline) {
    served += (*producer)->Poll(100ms);
  }
  EXPECT_EQ(served, kRecords);
  EXPECT_EQ(calls, std::vector<int>(kRecords, 1));
  EXPECT_EQ(off_thread.load(), 0);
  EXPECT_EQ((*producer)->OutQueueLength(), 0);
  // Per partition, records of one key were produced in order and must be acknowledged so.
  std::map<int32_t, int64_t> last;
  for (int i = 0; i < kRecords; ++i) {
    ASSERT_GE(partitions[i], 0);
    auto [it, fresh] = last.try_emplace(partitions[i], offsets[i]);
    if (!fresh) {
      EXPECT_GT(offsets[i], it->second) << "record " << i;
      it->second = offsets[i];
    }
  }
  // Nothing is served twice.
  EXPECT_EQ((*producer)->Poll(50ms), 0);
  producer->reset();
  EXPECT_EQ(calls, std::vector<int>(kRecords, 1));
}

TEST(ProducerTest, CallerFlushServesTheReportsItWaitsFor) {
  auto broker = EmbeddedBroker::Start({.brokers = 1, .topics = {{"flushed", 1, 1}}});
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  auto producer =
      Producer::Create(Merge(DevClientDefaults(), {{"bootstrap.servers", (*broker)->bootstrap()}}),
                       DeliveryThread::kCaller);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  constexpr int kRecords = 100;
  CallbackLog log;
  log.Expect(kRecords);
  for (int i = 0; i < kRecords; ++i) {
    ASSERT_TRUE((*producer)->Produce(Record("flushed", "k", "v"), log.For(i)).ok());
  }
  Status flushed = (*producer)->Flush(10s);
  ASSERT_TRUE(flushed.ok()) << flushed.ToString();
  EXPECT_EQ(log.calls(), std::vector<int>(kRecords, 1));
  for (const Status& s : log.statuses()) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ((*producer)->Poll(0ms), 0);
}

TEST(ProducerTest, PollOfAnOwnThreadProducerServesNothing) {
  auto producer = Producer::Create({{"bootstrap.servers", kDeadBroker}});
  ASSERT_TRUE(producer.ok());
  EXPECT_EQ((*producer)->Poll(0ms), 0);
}

TEST(ProducerTest, TransactionCommitDeliversOnEmbeddedBroker) {
  auto broker = EmbeddedBroker::Start({.brokers = 1, .topics = {{"txn", 1, 1}}});
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  auto producer =
      Producer::Create(Merge(DevClientDefaults(), {{"bootstrap.servers", (*broker)->bootstrap()},
                                                   {"transactional.id", "producer-test-txn"}}));
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  ASSERT_TRUE((*producer)->InitTransactions(10s).ok());
  ASSERT_TRUE((*producer)->BeginTransaction().ok());
  auto first = (*producer)->Produce(Record("txn", "k", "v1"));
  auto second = (*producer)->Produce(Record("txn", "k", "v2"));
  Status committed = (*producer)->CommitTransaction(10s);
  ASSERT_TRUE(committed.ok()) << committed.ToString();
  ASSERT_EQ(first.wait_for(0s), std::future_status::ready);  // commit waits for deliveries
  auto r1 = first.get();
  auto r2 = second.get();
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r1->topic, "txn");
  EXPECT_EQ(r1->partition, 0);
  EXPECT_EQ(r2->offset, r1->offset + 1);

  // Outside a transaction, a transactional producer refuses records.
  Status outside = (*producer)->Produce(Record("txn", "k", "v3"), [](Result<DeliveryReport>) {});
  EXPECT_FALSE(outside.ok());
  ASSERT_TRUE((*producer)->BeginTransaction().ok());
  EXPECT_TRUE((*producer)->AbortTransaction(5s).ok());
}

TEST(ProducerTest, TransactionsNeedTransactionalId) {
  auto producer = Producer::Create({{"bootstrap.servers", kDeadBroker}});
  ASSERT_TRUE(producer.ok());
  Status status = (*producer)->InitTransactions(100ms);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status.ToString();
}

}  // namespace
}  // namespace kledger::kafka
