// The embedded Kafka-compatible broker: librdkafka's mock cluster hosted in this process, reached
// by every client over real TCP. Read shared EMBEDDED-BROKER.md for what it does and does not do.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/kafka/topic_spec.h"
#include "common/status.h"

namespace kledger::kafka {

struct EmbeddedBrokerOptions {
  int brokers = 3;                // mock brokers in the cluster; default 3
  std::vector<TopicSpec> topics;  // created at start; default none
};

class EmbeddedBroker {
 public:
  // Starts the cluster and creates `options.topics`. Unavailable when librdkafka cannot.
  static Result<std::unique_ptr<EmbeddedBroker>> Start(const EmbeddedBrokerOptions& options);

  ~EmbeddedBroker();  // stops the cluster; connected clients see brokers vanish
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // "127.0.0.1:PORT,127.0.0.1:PORT,..." — new ports at every start.
  const std::string& bootstrap() const;
  int broker_count() const;

  Status CreateTopic(const TopicSpec& topic);

  // Fault injection (broker ids are 1..broker_count()).
  Status SetBrokerDown(int32_t broker_id);
  Status SetBrokerUp(int32_t broker_id);
  Status SetBrokerRtt(int32_t broker_id, int rtt_ms);
  // The next `count` requests of API `api` (a Kafka API name such as "Produce", "Fetch",
  // "OffsetCommit", "JoinGroup", "Heartbeat", "Metadata") fail with error `error` (a Kafka error
  // name such as "NOT_LEADER_OR_FOLLOWER", "REQUEST_TIMED_OUT"; case-insensitive).
  Status PushRequestErrors(std::string_view api, int count, std::string_view error);
  Status SetPartitionLeader(std::string_view topic, int32_t partition, int32_t broker_id);
  // Clears every fault injected above (all brokers up, no added latency).
  Status ClearFaults();

  // Executes one fault order in text form, for `kledger broker`'s control endpoint:
  //   broker-down ID | broker-up ID | rtt ID MS | request-errors API COUNT ERROR |
  //   leader TOPIC PARTITION ID | clear
  // Returns a one-line answer on success; InvalidArgument with the accepted forms otherwise.
  Result<std::string> Execute(std::string_view order);

 private:
  struct Impl;
  explicit EmbeddedBroker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kledger::kafka
