// Records and headers as kledger's code sees them, independent of librdkafka's C structs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kledger::kafka {

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
