// Kafka's admin API in RAII form: which topics exist, their configs, and creating topics. For
// operators' tools
// (`kledger topics create`); kledger's data path never creates topics.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/kafka/properties.h"
#include "common/kafka/topic_spec.h"
#include "common/status.h"

namespace kledger::kafka {

// A topic as the cluster's metadata shows it.
struct TopicDescription {
  std::string name;
  int32_t partitions = 0;              // partitions the metadata lists
  int32_t replication_factor = 0;      // replicas of partition 0 (0 when it has no partitions)
  int32_t partitions_with_leader = 0;  // partitions whose metadata names a leader
};

// A topic's configs as the cluster reports them, by key (defaults included).
using TopicConfigs = std::map<std::string, std::string>;

class Admin {
 public:
  // An admin client with `props` (bootstrap.servers, TLS/SASL settings, ...) as given, without
  // kledger's producer defaults. Nothing is sent yet. InvalidArgument naming a bad property.
  static Result<std::unique_ptr<Admin>> Create(const Properties& props);

  ~Admin();
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // Every topic in the cluster's metadata (internal ones included), by name. It asks for all
  // topics rather than naming some, because a metadata request naming an unknown topic creates it
  // on brokers with auto.create.topics.enable — and always on the embedded broker. On error:
  // Timeout or Unavailable when no broker answered within `timeout`, FailedPrecondition when
  // authentication failed.
  Result<std::map<std::string, TopicDescription>> ListTopics(std::chrono::milliseconds timeout);

  // Asks the cluster's controller to create `topics` (partitions, replication factor, configs)
  // and waits up to `timeout` for its answer. On success, one Status per topic in the order
  // given: OK when created, AlreadyExists when the topic was there, else the broker's error
  // naming the topic (InvalidArgument for a bad replication factor or config, ...). The call
  // fails as a whole, sending nothing, on a spec with partitions or replication factor below 1
  // (InvalidArgument); and when the request got no answer: Timeout naming the topics and saying
  // why when it can tell — librdkafka's mock cluster (the embedded broker) never answers
  // CreateTopics.
  Result<std::vector<Status>> CreateTopics(const std::vector<TopicSpec>& topics,
                                           std::chrono::milliseconds timeout);

  // The configs of `topics` (DescribeConfigs), by topic name; waits up to `timeout`. Fails as a
  // whole when the request got no answer (Timeout), when the cluster does not support
  // DescribeConfigs (Unavailable, saying so; at once for the embedded broker, known by the
  // cluster id of metadata read before), or with the first topic's error.
  Result<std::map<std::string, TopicConfigs>> DescribeTopicConfigs(
      const std::vector<std::string>& topics, std::chrono::milliseconds timeout);

 private:
  struct Impl;
  explicit Admin(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kledger::kafka
