// Records and headers as kledger's code sees them, independent of librdkafka's C structs.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct rd_kafka_consumer_group_metadata_s;  // librdkafka's, opaque here

namespace kledger::kafka {

// A group consumer's membership as it stands (group, member id, generation): what a
// transactional producer sends with its offsets (Producer::SendOffsetsToTransaction) so that the
// group coordinator refuses them, and fails the transaction, once that generation is past
// (KIP-447). From Consumer::CurrentGroupMetadata(); immutable, safe to share.
using GroupMetadata = std::shared_ptr<const rd_kafka_consumer_group_metadata_s>;

struct Header {
  std::string key;
  std::string value;  // may hold binary bytes
  bool operator==(const Header&) const = default;
};
using Headers = std::vector<Header>;

// The value of the first header named `key`, if any.
std::optional<std::string_view> FindHeader(const Headers& headers, std::string_view key);

struct ProducerRecord {
  std::string topic;
  std::string key;
  std::string value;
  Headers headers;
  std::optional<int32_t> partition;  // unset: the configured partitioner picks it from the key
};

struct DeliveryReport {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
};

struct ConsumedRecord {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp_ms = -1;  // -1 when the record carries none
  std::string key;
  std::string value;
  Headers headers;
};

struct TopicPartition {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;  // meaning depends on use: a start offset, or an offset to commit
  bool operator==(const TopicPartition&) const = default;
};

}  // namespace kledger::kafka
