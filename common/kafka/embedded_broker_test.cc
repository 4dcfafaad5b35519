// Tests for the embedded broker: start-up, topic creation, the text fault orders, and faults
// that a producer can observe deterministically.
#include "common/kafka/embedded_broker.h"

#include <gtest/gtest.h>

#include "common/kafka/producer.h"
#include "common/socket_for_testing.h"

namespace kledger::kafka {
namespace {

using namespace std::chrono_literals;

TEST(EmbeddedBrokerTest, StartsWithBootstrapPerBroker) {
  auto broker = EmbeddedBroker::Start({.brokers = 3, .topics = {{"a", 2, 3}}});
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  EXPECT_EQ((*broker)->broker_count(), 3);
  const std::string& bootstrap = (*broker)->bootstrap();
  EXPECT_EQ(std::count(bootstrap.begin(), bootstrap.end(), ','), 2) << bootstrap;
  EXPECT_EQ(bootstrap.rfind("127.0.0.1:", 0), 0u) << bootstrap;

  EXPECT_EQ((*broker)->CreateTopic({"b", 0, 1}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE((*broker)->CreateTopic({"b", 4, 5}).ok());  // replication clamped to 3
  EXPECT_EQ(EmbeddedBroker::Start({.brokers = 0, .topics = {}}).status().code(),
            StatusCode::kInvalidArgument);
}

// As on a Kafka broker, answers go out at once: without TCP_NODELAY an answer written right behind
// another waits for the client's delayed ACK (~40 ms a burst).
TEST(EmbeddedBrokerTest, ConnectionsItAcceptsHaveNagleOff) {
  auto broker = EmbeddedBroker::Start({.brokers = 1, .topics = {}});
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  const std::string& bootstrap = (*broker)->bootstrap();
  const int port = std::stoi(bootstrap.substr(bootstrap.rfind(':') + 1));
  testing::TcpConnection client(port);
  ASSERT_TRUE(client.connected()) << bootstrap;
  const std::optional<bool> nodelay = testing::AcceptedNoDelayWithin(port, 5s);
  ASSERT_TRUE(nodelay.has_value()) << "the broker's side of the connection was not found";
  EXPECT_TRUE(*nodelay);
}

TEST(EmbeddedBrokerTest, ExecuteAcceptsGoodOrders) {
  auto broker = EmbeddedBroker::Start({.brokers = 3, .topics = {{"t", 2, 1}}});
  ASSERT_TRUE(broker.ok());
  EmbeddedBroker& b = **broker;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"broker-down 2", "ok broker 2 down"},
      {"broker-up 2", "ok broker 2 up"},
      {"  rtt 1   50 ", "ok broker 1 rtt 50 ms"},
      {"request-errors Produce 2 NOT_LEADER_OR_FOLLOWER",
       "ok next 2 Produce requests fail with NOT_LEADER_FOR_PARTITION"},
      {"request-errors fetch 1 _transport", "ok next 1 fetch requests fail with _TRANSPORT"},
      {"request-errors JoinGroup 1 rd_kafka_resp_err_rebalance_in_progress",
       "ok next 1 JoinGroup requests fail with REBALANCE_IN_PROGRESS"},
      {"leader t 1 3", "ok leader of t/1 is broker 3"},
      {"clear", "ok faults cleared"},
  };
  for (const auto& [order, answer] : cases) {
    Result<std::string> got = b.Execute(order);
    ASSERT_TRUE(got.ok()) << order << ": " << got.status().ToString();
    EXPECT_EQ(*got, answer) << order;
  }
}

TEST(EmbeddedBrokerTest, ExecuteRejectsBadOrders) {
  auto broker = EmbeddedBroker::Start({.brokers = 2, .topics = {}});
  ASSERT_TRUE(broker.ok());
  for (const char* order :
       {"", "explode", "broker-down", "broker-down x", "broker-down 1 2", "rtt 1", "rtt 1 fast",
        "request-errors Produce 1", "request-errors Produce many REQUEST_TIMED_OUT", "leader t 0",
        "leader t x 1", "clear now"}) {
    Result<std::string> got = (*broker)->Execute(order);
    ASSERT_FALSE(got.ok()) << order;
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << order;
    EXPECT_NE(got.status().message().find("accepted: broker-down ID"), std::string::npos)
        << got.status().ToString();
  }
  // Well-formed orders with bad values name what is wrong.
  for (const auto& [order, needle] : std::vector<std::pair<const char*, const char*>>{
           {"broker-down 3", "broker ids are 1..2"},
           {"broker-up 0", "broker ids are 1..2"},
           {"rtt 1 -5", "rtt must be >= 0"},
           {"request-errors Bogus 1 REQUEST_TIMED_OUT", "unknown Kafka API 'Bogus'"},
           {"request-errors Produce 1 NO_SUCH_ERROR", "unknown Kafka error 'NO_SUCH_ERROR'"},
           {"request-errors Produce 0 REQUEST_TIMED_OUT", "COUNT must be >= 1"},
           {"leader t 0 7", "broker ids are 1..2"}}) {
    Result<std::string> got = (*broker)->Execute(order);
    ASSERT_FALSE(got.ok()) << order;
    EXPECT_EQ(got.status().code(), StatusCode::kInvalidArgument) << order;
    EXPECT_NE(got.status().message().find(needle), std::string::npos) << got.status().ToString();
  }
}

class EmbeddedBrokerFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = EmbeddedBroker::Start({.brokers = 1, .topics = {{"f", 1, 1}}});
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
  }
  std::unique_ptr<Producer> MakeProducer(Properties extra) {
    auto producer = Producer::Create(
        Merge(Merge(DevClientDefaults(), {{"bootstrap.servers", broker_->bootstrap()},
                                          {"reconnect.backoff.ms", "20"},
                                          {"reconnect.backoff.max.ms", "200"}}),
              extra));
    EXPECT_TRUE(producer.ok()) << producer.status().ToString();
    return producer.ok() ? std::move(producer).value() : nullptr;
  }
  static Result<DeliveryReport> Send(Producer& producer, const std::string& value) {
    auto future = producer.Produce(ProducerRecord{"f", "k", value, {}, 0});
    if (future.wait_for(15s) != std::future_status::ready) {
      return Status::Internal("no delivery report within 15 s");
    }
    return future.get();
  }
  // The idempotent producer's first record waits for a producer id, which on the mock can take
  // longer than a short message.timeout.ms; what matters is that a record gets through.
  static Result<DeliveryReport> SendUntilOk(Producer& producer, const std::string& value) {
    Result<DeliveryReport> result = Status::Internal("not sent");
    for (int attempt = 0; attempt < 10 && !result.ok(); ++attempt) {
      result = Send(producer, value);
    }
    return result;
  }
  std::unique_ptr<EmbeddedBroker> broker_;
};

TEST_F(EmbeddedBrokerFaultTest, BrokerDownFailsProduceAndUpRecovers) {
  std::unique_ptr<Producer> producer = MakeProducer({{"message.timeout.ms", "1000"}});
  ASSERT_NE(producer, nullptr);
  auto before = SendUntilOk(*producer, "before");
  ASSERT_TRUE(before.ok()) << before.status().ToString();

  ASSERT_TRUE(broker_->Execute("broker-down 1").ok());
  auto during = Send(*producer, "during");
  ASSERT_FALSE(during.ok());
  EXPECT_EQ(during.status().code(), StatusCode::kTimeout) << during.status().ToString();

  ASSERT_TRUE(broker_->Execute("broker-up 1").ok());
  // The first records after the broker returns may race the reconnect and the producer id
  // bump that follows a timed-out idempotent record.
  auto after = SendUntilOk(*producer, "after");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_GT(after->offset, before->offset);
}

TEST_F(EmbeddedBrokerFaultTest, InjectedProduceErrorReachesTheDeliveryCallback) {
  // Not idempotent and no retries, so the one injected error is the record's outcome.
  std::unique_ptr<Producer> producer =
      MakeProducer({{"enable.idempotence", "false"}, {"retries", "0"}, {"acks", "all"}});
  ASSERT_NE(producer, nullptr);
  ASSERT_TRUE(SendUntilOk(*producer, "warm-up").ok());  // metadata and connection in place

  // Leader errors would not do: librdkafka retries them without counting against `retries`.
  ASSERT_TRUE(broker_->Execute("request-errors Produce 1 not_enough_replicas").ok());
  auto failed = Send(*producer, "fails");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable) << failed.status().ToString();
  EXPECT_NE(failed.status().message().find("NOT_ENOUGH_REPLICAS"), std::string::npos)
      << failed.status().ToString();

  auto next = Send(*producer, "succeeds");
  EXPECT_TRUE(next.ok()) << next.status().ToString();
}

TEST_F(EmbeddedBrokerFaultTest, RttDelaysButDelivers) {
  std::unique_ptr<Producer> producer = MakeProducer({});
  ASSERT_NE(producer, nullptr);
  ASSERT_TRUE(SendUntilOk(*producer, "warm-up").ok());
  ASSERT_TRUE(broker_->SetBrokerRtt(1, 300).ok());
  const auto start = std::chrono::steady_clock::now();
  auto slow = Send(*producer, "slow");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(slow.ok()) << slow.status().ToString();
  EXPECT_GE(took, 250ms);
  ASSERT_TRUE(broker_->ClearFaults().ok());
}

}  // namespace
}  // namespace kledger::kafka
