// Shared librdkafka plumbing: configuration, log forwarding and error mapping.
#include "common/kafka/internal/rdkafka_util.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <climits>

#include "common/kafka/statistics.h"

namespace kledger::kafka::internal {
namespace {

// librdkafka logs with syslog levels. Its INFO (6) is chatty connection bookkeeping, so it goes
// to debug; NOTICE (5) and above are things an operator may want to see.
spdlog::level::level_enum SpdlogLevel(int syslog_level) {
  if (syslog_level <= 2) return spdlog::level::critical;
  if (syslog_level == 3) return spdlog::level::err;
  if (syslog_level == 4) return spdlog::level::warn;
  if (syslog_level == 5) return spdlog::level::info;
  return spdlog::level::debug;
}

// Lines that repeat what the error callback already reports, or that warn about a shared
// property set (DevClientDefaults mixes producer and consumer keys) — not worth an operator's eye.
bool IsNoise(std::string_view facility, std::string_view message) {
  if (facility == "FAIL") return true;  // connection failures: the error callback logs them
  return facility == "CONFWARN" && message.find("will be ignored by this") != message.npos;
}

// Runs on librdkafka's own threads; spdlog's default logger is thread-safe.
void LogCallback(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  try {
    if (facility && message && IsNoise(facility, message)) level = std::max(level, 7);
    spdlog::log(SpdlogLevel(level), "rdkafka {} {}: {}", rk ? rd_kafka_name(rk) : "-",
                facility ? facility : "", message ? message : "");
  } catch (...) {
    // A log line is not worth an exception crossing into C.
  }
}

// Runs on the client's polling thread when statistics.interval.ms > 0. Returning 0 lets
// librdkafka free `json`.
int StatsCallback(rd_kafka_t*, char* json, size_t json_len, void*) {
  DispatchStatistics(std::string_view(json, json_len));
  return 0;
}

}  // namespace

Result<ConfPtr> MakeConf(const Properties& props) {
  ConfPtr conf(rd_kafka_conf_new());
  const Properties redacted = Redacted(props);
  for (const auto& [key, value] : props) {
    char errstr[512] = {0};
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      return Status::InvalidArgument("invalid Kafka property '" + key + "=" + redacted.at(key) +
                                     "': " + errstr);
    }
  }
  rd_kafka_conf_set_log_cb(conf.get(), &LogCallback);
  rd_kafka_conf_set_stats_cb(conf.get(), &StatsCallback);
  return conf;
}

StatusCode CodeFor(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return StatusCode::kOk;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return StatusCode::kTimeout;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__CONFLICT:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
      return StatusCode::kInvalidArgument;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_GROUP:
    case RD_KAFKA_RESP_ERR__NOENT:
    case RD_KAFKA_RESP_ERR__UNKNOWN_BROKER:
      return StatusCode::kNotFound;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
    case RD_KAFKA_RESP_ERR__EXISTING_SUBSCRIPTION:
      return StatusCode::kAlreadyExists;
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR__NOT_CONFIGURED:
    case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_INVALID_TXN_STATE:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__SSL:
      return StatusCode::kFailedPrecondition;
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
      return StatusCode::kOutOfRange;
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR__BAD_COMPRESSION:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
      return StatusCode::kCorruption;
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__GAPLESS_GUARANTEE:
      return StatusCode::kFatal;  // the instance cannot go on: it must be recreated
    case RD_KAFKA_RESP_ERR__FAIL:
    case RD_KAFKA_RESP_ERR__INCONSISTENT:
      return StatusCode::kInternal;
    default:
      // Transport, all brokers down, queue full, purged, leader moves, coordinator churn and
      // the rest of the broker-side errors: a dependency that may answer on a retry.
      return StatusCode::kUnavailable;
  }
}

namespace {

std::string Describe(std::string_view context, std::string_view description,
                     rd_kafka_resp_err_t err) {
  std::string out(context);
  out += ": ";
  out += description;
  out += " (";
  out += rd_kafka_err2name(err);
  out += ")";
  return out;
}

}  // namespace

Status ErrorToStatus(rd_kafka_resp_err_t err, std::string_view context, std::string_view detail) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  std::string_view description = detail.empty() ? rd_kafka_err2str(err) : detail;
  return Status(CodeFor(err), Describe(context, description, err));
}

Status ErrorObjectToStatus(rd_kafka_error_t* error, std::string_view context) {
  ErrorPtr owned(error);
  if (!owned) return Status::Ok();
  const rd_kafka_resp_err_t err = rd_kafka_error_code(owned.get());
  std::string message = Describe(context, rd_kafka_error_string(owned.get()), err);
  if (rd_kafka_error_is_fatal(owned.get())) {
    return Status::Fatal(message + "; the error is fatal: recreate the producer or consumer");
  }
  if (rd_kafka_error_txn_requires_abort(owned.get())) {
    return Status::FailedPrecondition(message + "; abort the transaction and start it again");
  }
  StatusCode code = CodeFor(err);
  if (rd_kafka_error_is_retriable(owned.get())) {
    if (code != StatusCode::kTimeout) code = StatusCode::kUnavailable;
    message += "; retriable";
  }
  return Status(code, std::move(message));
}

TopicPartitionListPtr ToPartitionList(const std::vector<TopicPartition>& partitions) {
  TopicPartitionListPtr list(
      rd_kafka_topic_partition_list_new(static_cast<int>(std::max<size_t>(1, partitions.size()))));
  for (const TopicPartition& tp : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset =
        tp.offset;
  }
  return list;
}

std::vector<TopicPartition> FromPartitionList(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  out.reserve(list->cnt);
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = list->elems[i];
    out.push_back(TopicPartition{tp.topic, tp.partition, tp.offset});
  }
  return out;
}

Status FirstPartitionError(const rd_kafka_topic_partition_list_t* list, std::string_view context) {
  if (list == nullptr) return Status::Ok();
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = list->elems[i];
    if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return ErrorToStatus(
          tp.err, std::string(context) + " " + tp.topic + "/" + std::to_string(tp.partition));
    }
  }
  return Status::Ok();
}

int ToTimeoutMs(std::chrono::milliseconds timeout) {
  return static_cast<int>(std::clamp<int64_t>(timeout.count(), 0, INT_MAX));
}

}  // namespace kledger::kafka::internal
