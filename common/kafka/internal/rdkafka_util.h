// Helpers shared by the producer, consumer and embedded broker: building a configuration from
// Properties, forwarding librdkafka's logs to spdlog, and turning librdkafka errors into Status.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/kafka/internal/rdkafka_handle.h"
#include "common/kafka/properties.h"
#include "common/kafka/record.h"
#include "common/status.h"

namespace kledger::kafka::internal {

// A configuration holding `props`, with librdkafka's log lines routed to spdlog. InvalidArgument
// naming the property (value redacted when secret) and librdkafka's reason on a bad one.
Result<ConfPtr> MakeConf(const Properties& props);

// The StatusCode kledger uses for a librdkafka error code.
StatusCode CodeFor(rd_kafka_resp_err_t err);

// "<context>: <librdkafka's description> (<error name>)" with CodeFor(err). OK for NO_ERROR.
Status ErrorToStatus(rd_kafka_resp_err_t err, std::string_view context,
                     std::string_view detail = {});

// Takes ownership of `error` (may be null: OK). Fatal errors become kFatal, errors that
// require aborting a transaction kFailedPrecondition, the rest follow CodeFor().
Status ErrorObjectToStatus(rd_kafka_error_t* error, std::string_view context);

// Conversions between kledger's TopicPartition and librdkafka's lists (offsets carried as is).
TopicPartitionListPtr ToPartitionList(const std::vector<TopicPartition>& partitions);
std::vector<TopicPartition> FromPartitionList(const rd_kafka_topic_partition_list_t* list);

// The first per-partition error in `list`, as a Status naming the partition; OK when none.
Status FirstPartitionError(const rd_kafka_topic_partition_list_t* list, std::string_view context);

// Milliseconds for librdkafka's int timeouts, clamped to [0, INT_MAX].
int ToTimeoutMs(std::chrono::milliseconds timeout);

}  // namespace kledger::kafka::internal
