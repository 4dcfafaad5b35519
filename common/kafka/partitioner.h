// The Java client's default partitioner (murmur2 of the key), which librdkafka's
// `partitioner=murmur2_random` reproduces: kledger needs it to know which partition — and so
// which processor — holds an instance without asking Kafka.
#pragma once

#include <cstdint>
#include <string_view>

namespace kledger::kafka {

// Kafka's murmur2 hash of `key` (org.apache.kafka.common.utils.Utils.murmur2).
uint32_t Murmur2(std::string_view key);

// The partition the Java client (and librdkafka's murmur2 partitioners) give a non-empty `key`
// among `partitions` (> 0) partitions.
int32_t PartitionForKey(std::string_view key, int32_t partitions);

}  // namespace kledger::kafka
