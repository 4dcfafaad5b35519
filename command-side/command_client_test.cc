// Tests of the C++ producer API against an in-process embedded broker, in both producer modes:
// acks with partition and offset, the record as a third party reads it (headers, protobuf value),
// Java-compatible murmur2 partitioning, refusals with nothing produced, batch order, and 503-like
// Unavailable while every broker is down, followed by recovery. Just over 600 lines: most of its
// tests run in both producer modes over one fixture and its LogReader, kept in one file.
#include "command-side/command_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "common/event_id.h"
#include "common/kafka/embedded_broker.h"
#include "common/log_capture_for_testing.h"

namespace kledger::command {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Field;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr char kTopic[] = "kledger.events";
constexpr int kPartitions = 12;

// Kafka's Java client murmur2 (org.apache.kafka.common.utils.Utils.murmur2), written from the Java
// source independently of librdkafka, so that the partitioner is checked against the reference.
int32_t JavaMurmur2(std::string_view data) {
  const uint32_t seed = 0x9747b28c;
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  const size_t length = data.size();
  uint32_t h = seed ^ static_cast<uint32_t>(length);
  const size_t length4 = length / 4;
  auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(data[i])); };
  for (size_t i = 0; i < length4; ++i) {
    const size_t i4 = i * 4;
    uint32_t k = byte(i4) | (byte(i4 + 1) << 8) | (byte(i4 + 2) << 16) | (byte(i4 + 3) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (length % 4) {
    case 3:
      h ^= byte((length & ~size_t{3}) + 2) << 16;
      [[fallthrough]];
    case 2:
      h ^= byte((length & ~size_t{3}) + 1) << 8;
      [[fallthrough]];
    case 1:
      h ^= byte(length & ~size_t{3});
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

// DefaultPartitioner: Utils.toPositive(murmur2(key)) % numPartitions.
int32_t JavaPartition(std::string_view key, int partitions) {
  return static_cast<int32_t>(static_cast<uint32_t>(JavaMurmur2(key)) & 0x7fffffff) % partitions;
}

TEST(JavaMurmur2Test, MatchesKafkaUtilsTestVectors) {
  // The expected values are those of Kafka's own UtilsTest.testMurmur2.
  EXPECT_EQ(JavaMurmur2("21"), -973932308);
  EXPECT_EQ(JavaMurmur2("foobar"), -790332482);
  EXPECT_EQ(JavaMurmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(JavaMurmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(JavaMurmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(JavaMurmur2("abc"), 479470107);
}

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* rk) const {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};
using RdKafkaPtr = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;

// A plain librdkafka consumer outside any group: a third party reading the log.
class LogReader {
 public:
  explicit LogReader(const std::string& bootstrap) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "command-client-test-reader", err, sizeof(err));
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof(err));
    // The broker-down test makes every client complain; the producer's log says it already.
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
    rk_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err)));
  }

  // Sum of the high watermarks of every partition: what the log holds in all.
  int64_t TotalRecords() {
    int64_t total = 0;
    for (int p = 0; p < kPartitions; ++p) {
      int64_t low = 0, high = 0;
      EXPECT_EQ(rd_kafka_query_watermark_offsets(rk_.get(), kTopic, p, &low, &high, 5000),
                RD_KAFKA_RESP_ERR_NO_ERROR);
      total += high;
    }
    return total;
  }

  // The record at (partition, offset): its value and headers.
  struct Record {
    std::string value;
    kafka::Headers headers;
  };
  std::optional<Record> Read(int32_t partition, int64_t offset) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, kTopic, partition)->offset = offset;
    rd_kafka_assign(rk_.get(), list);
    rd_kafka_topic_partition_list_destroy(list);
    for (int i = 0; i < 100; ++i) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 100);
      if (m == nullptr) continue;
      std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> owned(
          m, rd_kafka_message_destroy);
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR || m->offset != offset) continue;
      Record record;
      record.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* value;
        size_t size;
        for (size_t h = 0; !rd_kafka_header_get_all(headers, h, &name, &value, &size); ++h) {
          record.headers.push_back({name, std::string(static_cast<const char*>(value), size)});
        }
      }
      return record;
    }
    return std::nullopt;
  }

  // The event id of every record in `partition`, in log order.
  std::vector<std::string> EventIds(int32_t partition) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, kTopic, partition)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk_.get(), list);
    rd_kafka_topic_partition_list_destroy(list);
    std::vector<std::string> ids;
    for (int i = 0; i < 200; ++i) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 100);
      if (m == nullptr) continue;
      std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> owned(
          m, rd_kafka_message_destroy);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return ids;
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
      v1::EventEnvelope envelope;
      EXPECT_TRUE(envelope.ParseFromArray(m->payload, static_cast<int>(m->len)));
      ids.push_back(envelope.event_id());
    }
    ADD_FAILURE() << "the end of partition " << partition << " was not reached";
    return ids;
  }

 private:
  RdKafkaPtr rk_;
};

v1::Command OpenAccount(const std::string& instance, const std::string& address) {
  v1::Command c;
  c.set_instance_id(instance);
  v1::AccountOpened& a = *c.mutable_open_account();
  a.set_address(address);
  a.set_type(v1::ASSET);
  a.set_currency("USD");
  return c;
}

v1::Command Transfer(const std::string& instance, const std::string& key, int64_t amount) {
  v1::Command c;
  c.set_instance_id(instance);
  v1::TransactionCreated& t = *c.mutable_create_transaction();
  t.set_source("shop");
  t.set_source_idempk(key);
  t.set_status(v1::POSTED);
  for (auto [account, side] :
       {std::pair{"assets:cash", v1::DEBIT}, {"revenue:sales", v1::CREDIT}}) {
    v1::Entry& e = *t.add_entries();
    e.set_account(account);
    e.set_direction(side);
    e.set_amount(amount);
    e.set_currency("USD");
  }
  return c;
}

Result<Ack> Get(std::future<Result<Ack>> future) {
  if (future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    return Status::Timeout("the future did not resolve in 20 s");
  }
  return future.get();
}

class CommandClientTest : public ::testing::TestWithParam<ProducerMode> {
 protected:
  void SetUp() override {
    auto broker = kafka::EmbeddedBroker::Start({.topics = {{kTopic, kPartitions, 3}}});
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
    CommandClientOptions options;
    options.ack_timeout = std::chrono::milliseconds(1500);
    options.producer_mode = GetParam();
    options.transactional_id = "command-client-test";
    auto client = CommandClient::Create(
        kafka::Merge(kafka::DevClientDefaults(), {{"bootstrap.servers", broker_->bootstrap()},
                                                  {"reconnect.backoff.max.ms", "200"}}),
        options, registry_);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(client).value();
    reader_ = std::make_unique<LogReader>(broker_->bootstrap());
  }

  void TearDown() override {
    client_.reset();
    reader_.reset();
    broker_.reset();
  }

  Ack Accept(const v1::Command& command) {
    auto ack = Get(client_->Submit(command));
    EXPECT_TRUE(ack.ok()) << ack.status().ToString();
    return ack.ok() ? *ack : Ack{};
  }

  prometheus::Registry registry_;
  std::unique_ptr<kafka::EmbeddedBroker> broker_;
  std::unique_ptr<CommandClient> client_;
  std::unique_ptr<LogReader> reader_;
};

TEST_P(CommandClientTest, SubmitAcksWhereTheEventLiesWithTheSpecHeaders) {
  v1::Command command = Transfer("acme", "order-1", 1000);
  command.set_correlation_id("req-42");
  const Ack ack = Accept(command);
  ASSERT_EQ(ack.event_id.size(), domain::kEventIdHexChars);
  EXPECT_EQ(ack.partition, JavaPartition("acme", kPartitions));
  EXPECT_GE(ack.offset, 0);

  auto record = reader_->Read(ack.partition, ack.offset);
  ASSERT_TRUE(record.has_value());
  v1::EventEnvelope envelope;
  ASSERT_TRUE(envelope.ParseFromString(record->value));
  EXPECT_EQ(envelope.event_id(), ack.event_id);
  EXPECT_EQ(envelope.instance_id(), "acme");
  EXPECT_EQ(envelope.schema_version(), 1u);
  EXPECT_EQ(envelope.correlation_id(), "req-42");
  ASSERT_TRUE(envelope.has_transaction_created());
  EXPECT_EQ(envelope.transaction_created().entries(1).amount(), 1000);
  EXPECT_EQ(envelope.event_id(), domain::DeriveEventId(envelope));

  const kafka::Headers expected = {
      {"kledger-event-id", ack.event_id},
      {"kledger-event-type", "transaction_created"},
      {"kledger-schema-version", "1"},
      {"kledger-correlation-id", "req-42"},
      {"content-type", "application/x-protobuf"},
  };
  EXPECT_EQ(record->headers, expected);
}

TEST_P(CommandClientTest, PartitionsByInstanceLikeTheJavaClient) {
  // Twenty instances cover most of the 12 partitions; each lands where Java would put it.
  for (int i = 0; i < 20; ++i) {
    const std::string instance = "tenant-" + std::to_string(i);
    const Ack first = Accept(OpenAccount(instance, "assets:cash"));
    const Ack second = Accept(OpenAccount(instance, "revenue:sales"));
    EXPECT_EQ(first.partition, JavaPartition(instance, kPartitions)) << instance;
    EXPECT_EQ(second.partition, first.partition) << instance;
    EXPECT_GT(second.offset, first.offset) << instance;  // in order within the instance
  }
}

TEST_P(CommandClientTest, ResubmissionGetsTheSameEventId) {
  const Ack first = Accept(Transfer("acme", "order-7", 100));
  const Ack again = Accept(Transfer("acme", "order-7", 999));  // same key, other payload
  EXPECT_EQ(again.event_id, first.event_id);
  EXPECT_NE(Accept(Transfer("acme", "order-8", 100)).event_id, first.event_id);
}

TEST_P(CommandClientTest, InvalidCommandIsRefusedWithFieldErrorsAndNothingProduced) {
  Accept(OpenAccount("acme", "assets:cash"));  // the topic's metadata is known from here on
  const int64_t before = reader_->TotalRecords();

  v1::Command bad = Transfer("acme", "order-1", 100);
  bad.mutable_create_transaction()->mutable_entries(1)->set_amount(99);
  bad.mutable_create_transaction()->mutable_entries(0)->set_currency("usd");
  domain::FieldErrors errors;
  auto prepared = client_->Prepare(bad, errors);
  EXPECT_EQ(prepared.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(
      errors,
      Contains(AllOf(Field(&domain::FieldError::field, "create_transaction.entries[0].currency"),
                     Field(&domain::FieldError::code, "invalid_format"))));

  auto refused = Get(client_->Submit(bad));
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("entries[0].currency"));
  EXPECT_EQ(Get(client_->Submit(v1::Command())).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(client_->Flush(std::chrono::seconds(5)).ok());
  EXPECT_EQ(reader_->TotalRecords(), before);
}

TEST_P(CommandClientTest, SubmitBatchAnswersInOrder) {
  v1::Command invalid = Transfer("acme", "", 5);
  auto futures = client_->SubmitBatch({OpenAccount("acme", "assets:cash"), invalid,
                                       Transfer("acme", "b-1", 5), Transfer("acme", "b-2", 6)});
  ASSERT_EQ(futures.size(), 4u);
  auto a = Get(std::move(futures[0]));
  auto b = Get(std::move(futures[1]));
  auto c = Get(std::move(futures[2]));
  auto d = Get(std::move(futures[3]));
  ASSERT_TRUE(a.ok() && c.ok() && d.ok()) << a.status().ToString() << c.status().ToString();
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
  EXPECT_LT(a->offset, c->offset);
  EXPECT_LT(c->offset, d->offset);
  EXPECT_EQ(c->event_id, Accept(Transfer("acme", "b-1", 5)).event_id);
}

TEST_P(CommandClientTest, UnavailableWhileBrokersAreDownThenRecovers) {
  Accept(OpenAccount("acme", "assets:cash"));
  const int64_t before = reader_->TotalRecords();
  for (int id = 1; id <= broker_->broker_count(); ++id)
    ASSERT_TRUE(broker_->SetBrokerDown(id).ok());

  const auto start = std::chrono::steady_clock::now();
  auto down = Get(client_->Submit(Transfer("acme", "while-down", 10)));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(down.ok());
  EXPECT_TRUE(down.status().code() == StatusCode::kUnavailable ||
              down.status().code() == StatusCode::kTimeout)
      << down.status().ToString();
  // Bounded by the acknowledgement timeout (1.5 s), with room for a slow machine.
  EXPECT_LT(waited, std::chrono::seconds(5));

  ASSERT_TRUE(broker_->ClearFaults().ok());
  // Recovery: a later submission is acknowledged once the client has reconnected.
  bool recovered = false;
  for (int attempt = 0; attempt < 20 && !recovered; ++attempt) {
    recovered = Get(client_->Submit(Transfer("acme", "after-" + std::to_string(attempt), 10))).ok();
  }
  EXPECT_TRUE(recovered);
  // Nothing of the refused command reached the log: only the acknowledged ones did.
  const int64_t acknowledged_after = reader_->TotalRecords() - before;
  EXPECT_GE(acknowledged_after, 1);
}

// Transactional mode only: how a round recovers from the one before it.
class TransactionalRoundTest : public CommandClientTest {
 protected:
  std::string EventId(const v1::Command& command) {
    domain::FieldErrors errors;
    auto prepared = PrepareEvent(command, {}, errors);
    EXPECT_TRUE(prepared.ok()) << prepared.status().ToString();
    return prepared.ok() ? prepared->envelope.event_id() : "";
  }

  bool Recovers() {
    for (int attempt = 0; attempt < 20; ++attempt) {
      if (Get(client_->Submit(Transfer("acme", "after-" + std::to_string(attempt), 10))).ok()) {
        return true;
      }
    }
    return false;
  }
};

// A command that waits while the previous round's abort cannot finish is answered Unavailable
// once its timeout passes, and is not appended when the abort does finish (before: the brokers
// recovering in the middle of that abort appended it, after its caller had been told to resubmit).
TEST_P(TransactionalRoundTest, CommandThatOutwaitsAnUnfinishedAbortIsNotAppendedLate) {
  Accept(OpenAccount("acme", "assets:cash"));
  // Records are never acknowledged and the abort cannot reach its end.
  ASSERT_TRUE(broker_->PushRequestErrors("Produce", 100000, "NOT_ENOUGH_REPLICAS").ok());
  ASSERT_TRUE(broker_->PushRequestErrors("EndTxn", 100000, "CONCURRENT_TRANSACTIONS").ok());
  ASSERT_TRUE(broker_->PushRequestErrors("InitProducerId", 100000, "CONCURRENT_TRANSACTIONS").ok());
  // Refused after the timeout (1.5 s); its abort then waits up to 1.5 s more.
  const v1::Command first = Transfer("acme", "first", 10);
  EXPECT_FALSE(Get(client_->Submit(first)).ok());
  std::this_thread::sleep_for(500ms);
  const v1::Command late = Transfer("acme", "late", 10);
  auto late_ack = client_->Submit(late);
  // Its round starts when that abort gives up, about 1 s from now; the faults end after `late`'s
  // timeout but before a second try at the abort with a full timeout would have given up.
  std::this_thread::sleep_for(1700ms);
  kledger::testing::LogCapture log(spdlog::level::info);
  ASSERT_TRUE(broker_->ClearFaults().ok());
  EXPECT_FALSE(Get(std::move(late_ack)).ok()) << "acknowledged after its timeout";
  // The open transaction is aborted once the brokers answer, with no command to trigger it.
  EXPECT_TRUE(log.WaitFor("the failed transaction's abort completed", 10s));
  EXPECT_TRUE(Recovers());
  const std::vector<std::string> ids = reader_->EventIds(JavaPartition("acme", kPartitions));
  EXPECT_THAT(ids, Not(Contains(EventId(late))));
  EXPECT_THAT(ids, Not(Contains(EventId(first))));
}

// A commit whose EndTxn cannot complete in time goes on in librdkafka; it refuses an abort while
// it does. The next round resumes that commit instead of failing on the abort forever.
TEST_P(TransactionalRoundTest, CommitThatTimedOutIsResumedAndLaterRoundsSucceed) {
  Accept(OpenAccount("acme", "assets:cash"));
  ASSERT_TRUE(broker_->PushRequestErrors("EndTxn", 1000, "CONCURRENT_TRANSACTIONS").ok());
  const v1::Command unfinished = Transfer("acme", "unfinished", 10);
  auto refused = Get(client_->Submit(unfinished));
  EXPECT_FALSE(refused.ok());
  kledger::testing::LogCapture log(spdlog::level::info);
  ASSERT_TRUE(broker_->ClearFaults().ok());
  // Finished once the brokers answer, with no command to trigger it.
  EXPECT_TRUE(log.WaitFor("the unfinished transaction commit completed", 10s));
  EXPECT_TRUE(Recovers());
  // Its records were delivered before the commit began: the resumed commit keeps them (a
  // refusal says "maybe appended"), and once.
  const std::vector<std::string> ids = reader_->EventIds(JavaPartition("acme", kPartitions));
  EXPECT_EQ(std::count(ids.begin(), ids.end(), EventId(unfinished)), 1);
}

INSTANTIATE_TEST_SUITE_P(Transactional, TransactionalRoundTest,
                         ::testing::Values(ProducerMode::kTransactional), [](const auto& info) {
                           return std::string(ProducerModeName(info.param));
                         });

// Collects SubmitAsync's acks by tag.
class CollectingHandler : public AckHandler {
 public:
  void OnAck(uint64_t tag, Result<Ack> ack) override {
    std::lock_guard lock(mu_);
    acks_.emplace(tag, std::move(ack));
    cv_.notify_all();
  }
  // The acks once `n` arrived (or whatever arrived within 20 s).
  std::map<uint64_t, Result<Ack>> WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return acks_.size() >= n; });
    return acks_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Result<Ack>> acks_;
};

TEST_P(CommandClientTest, SubmitAsyncCallsTheHandlerOncePerCommandWithItsTag) {
  CollectingHandler handler;
  v1::Command invalid = Transfer("acme", "", 5);
  client_->SubmitAsync(OpenAccount("acme", "assets:cash"), handler, 10);
  client_->SubmitAsync(invalid, handler, 11);  // refused at once, on this thread
  client_->SubmitAsync(Transfer("acme", "async-1", 5), handler, 12);
  domain::FieldErrors errors;
  auto prepared = client_->Prepare(Transfer("acme", "async-2", 6), errors);
  ASSERT_TRUE(prepared.ok());
  client_->AppendAsync(std::move(prepared).value(), handler, 13);
  auto acks = handler.WaitFor(4);
  ASSERT_EQ(acks.size(), 4u);
  ASSERT_TRUE(acks.at(10).ok() && acks.at(12).ok() && acks.at(13).ok())
      << acks.at(12).status().ToString();
  EXPECT_EQ(acks.at(11).status().code(), StatusCode::kInvalidArgument);
  EXPECT_LT(acks.at(10)->offset, acks.at(12)->offset);
  EXPECT_LT(acks.at(12)->offset, acks.at(13)->offset);
  // The same event as the future form makes, read back from the log.
  EXPECT_EQ(acks.at(12)->event_id, Accept(Transfer("acme", "async-1", 5)).event_id);
  auto record = reader_->Read(acks.at(13)->partition, acks.at(13)->offset);
  ASSERT_TRUE(record.has_value());
  v1::EventEnvelope envelope;
  ASSERT_TRUE(envelope.ParseFromString(record->value));
  EXPECT_EQ(envelope.event_id(), acks.at(13)->event_id);
  EXPECT_EQ(envelope.transaction_created().source_idempk(), "async-2");
  EXPECT_EQ(kafka::FindHeader(record->headers, "kledger-event-id"), acks.at(13)->event_id);
}

TEST_P(CommandClientTest, SubmitBatchAsyncCallsTheHandlerOncePerCommandByItsIndex) {
  CollectingHandler handler;
  std::vector<domain::FieldErrors> errors;
  client_->SubmitBatchAsync({OpenAccount("acme", "assets:cash"), Transfer("acme", "", 5),
                             Transfer("acme", "ab-1", 5), Transfer("acme", "ab-2", 6)},
                            handler, &errors);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_TRUE(errors[0].empty());
  EXPECT_FALSE(errors[1].empty()) << "the invalid command's field errors";
  EXPECT_EQ(handler.WaitFor(0).count(1), 1u) << "the invalid command is answered at once";
  auto acks = handler.WaitFor(4);
  ASSERT_EQ(acks.size(), 4u);
  ASSERT_TRUE(acks.at(0).ok() && acks.at(2).ok() && acks.at(3).ok())
      << acks.at(2).status().ToString();
  EXPECT_EQ(acks.at(1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_LT(acks.at(0)->offset, acks.at(2)->offset);
  EXPECT_LT(acks.at(2)->offset, acks.at(3)->offset);
  EXPECT_EQ(acks.at(3)->event_id, Accept(Transfer("acme", "ab-2", 6)).event_id);
}

INSTANTIATE_TEST_SUITE_P(Modes, CommandClientTest,
                         ::testing::Values(ProducerMode::kIdempotent, ProducerMode::kTransactional),
                         [](const auto& info) {
                           return std::string(ProducerModeName(info.param));
                         });

// ack_thread kCaller: appends resolve only inside Poll/Flush, on the polling thread, each once.
TEST(CallerPolledAcksTest, ResolveOnlyInsidePollOncePerCommandInOffsetOrder) {
  auto broker = kafka::EmbeddedBroker::Start({.topics = {{kTopic, kPartitions, 3}}});
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  prometheus::Registry registry;
  CommandClientOptions options;
  options.ack_thread = kafka::DeliveryThread::kCaller;
  auto client = CommandClient::Create(
      kafka::Merge(kafka::DevClientDefaults(), {{"bootstrap.servers", (*broker)->bootstrap()}}),
      options, registry);
  ASSERT_TRUE(client.ok()) << client.status().ToString();

  // Counts every OnAck per tag and the thread it ran on.
  struct Handler : AckHandler {
    std::thread::id owner = std::this_thread::get_id();
    std::vector<int> calls;
    std::vector<Ack> acks;
    int off_thread = 0;
    void OnAck(uint64_t tag, Result<Ack> ack) override {
      if (std::this_thread::get_id() != owner) ++off_thread;
      ++calls.at(tag);
      if (ack.ok()) acks.at(tag) = *ack;
    }
  } handler;
  constexpr int kCommands = 600;
  handler.calls.assign(kCommands + 1, 0);
  handler.acks.resize(kCommands + 1);
  for (int i = 0; i < kCommands; ++i) {
    (*client)->SubmitAsync(Transfer("inst-" + std::to_string(i % 5), "k" + std::to_string(i), 1),
                           handler, static_cast<uint64_t>(i));
  }
  (*client)->SubmitAsync(Transfer("acme", "", 5), handler, kCommands);  // invalid: answered now
  EXPECT_EQ(handler.calls[kCommands], 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(std::accumulate(handler.calls.begin(), handler.calls.end(), 0), 1)
      << "acks must wait for the caller's Poll";

  int resolved = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (resolved < kCommands && std::chrono::steady_clock::now() < deadline) {
    resolved += (*client)->Poll(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(resolved, kCommands);
  EXPECT_EQ(handler.calls, std::vector<int>(kCommands + 1, 1));
  EXPECT_EQ(handler.off_thread, 0);
  // Commands of one instance were submitted in order, so their offsets rise.
  std::map<std::string, int64_t> last;
  for (int i = 0; i < kCommands; ++i) {
    ASSERT_GE(handler.acks[i].offset, 0) << "command " << i;
    const std::string instance = "inst-" + std::to_string(i % 5);
    auto [it, fresh] = last.try_emplace(instance, handler.acks[i].offset);
    if (!fresh) {
      EXPECT_GT(handler.acks[i].offset, it->second) << "command " << i;
      it->second = handler.acks[i].offset;
    }
  }
  EXPECT_EQ((*client)->Poll(std::chrono::milliseconds(50)), 0);

  // Flush resolves what is outstanding on the flushing thread.
  (*client)->SubmitAsync(Transfer("acme", "after", 1), handler, 0);
  ASSERT_TRUE((*client)->Flush(std::chrono::seconds(10)).ok());
  EXPECT_EQ(handler.calls[0], 2);
  client->reset();
  EXPECT_EQ(handler.off_thread, 0);
}

TEST(CallerPolledAcksTest, TransactionalModeRefusesThem) {
  prometheus::Registry registry;
  CommandClientOptions options;
  options.producer_mode = ProducerMode::kTransactional;
  options.ack_thread = kafka::DeliveryThread::kCaller;
  auto client = CommandClient::Create({{"bootstrap.servers", "127.0.0.1:1"}}, options, registry);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(client.status().message(), ::testing::HasSubstr("ack_thread"));
}

TEST(PrepareEventTest, ValidatesWithoutKafka) {
  domain::FieldErrors errors;
  v1::Command command = Transfer("acme", "order-1", 100);
  command.set_correlation_id(std::string(300, 'c'));
  EXPECT_FALSE(PrepareEvent(command, {}, errors).ok());
  EXPECT_THAT(errors, Contains(Field(&domain::FieldError::field, "correlation_id")));

  v1::Command empty;
  EXPECT_FALSE(PrepareEvent(empty, {}, errors).ok());
  EXPECT_THAT(errors, Contains(AllOf(Field(&domain::FieldError::field, "command"),
                                     Field(&domain::FieldError::code, "required"))));
  EXPECT_THAT(errors, Contains(Field(&domain::FieldError::field, "instance_id")));

  command.clear_correlation_id();
  auto prepared = PrepareEvent(command, {}, errors);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(prepared->event_type, "transaction_created");
  // Without a correlation id from the caller, the event id stands in.
  EXPECT_EQ(prepared->envelope.correlation_id(), prepared->envelope.event_id());

  CommandClientOptions tight;
  tight.limits.max_entries = 1;
  EXPECT_FALSE(PrepareEvent(command, tight, errors).ok());
  EXPECT_THAT(errors,
              Contains(AllOf(Field(&domain::FieldError::field, "create_transaction.entries"),
                             Field(&domain::FieldError::code, "too_many"))));
}

// Moving a command in makes the same event as copying it, with or without a correlation id.
TEST(PrepareEventTest, AMovedCommandMakesTheEventACopiedOneMakes) {
  domain::FieldErrors errors;
  for (const std::string& correlation_id : {std::string(), std::string("trace-42")}) {
    v1::Command command = Transfer("acme", "order-1", 100);
    command.set_correlation_id(correlation_id);
    auto copied = PrepareEvent(command, {}, errors);
    ASSERT_TRUE(copied.ok()) << copied.status().ToString();
    auto moved = PrepareEvent(std::move(command), {}, errors);
    ASSERT_TRUE(moved.ok()) << moved.status().ToString();
    EXPECT_EQ(moved->envelope.instance_id(), "acme");
    EXPECT_EQ(moved->envelope.correlation_id(),
              correlation_id.empty() ? moved->envelope.event_id() : correlation_id);
    // submitted_at_ms is the clock's: everything else is the same, byte for byte.
    moved->envelope.set_submitted_at_ms(copied->envelope.submitted_at_ms());
    EXPECT_EQ(moved->envelope.SerializeAsString(), copied->envelope.SerializeAsString());
    EXPECT_EQ(moved->event_type, copied->event_type);
  }
}

TEST(ProducerModeTest, ParsesItsNames) {
  EXPECT_EQ(*ParseProducerMode("idempotent"), ProducerMode::kIdempotent);
  EXPECT_EQ(*ParseProducerMode("transactional"), ProducerMode::kTransactional);
  EXPECT_EQ(ParseProducerMode("exactly-once").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kledger::command
