// The group consumer: librdkafka's C consumer behind RAII, with a rebalance callback that lets
// the owner pick start offsets (eager and cooperative protocols) and errors that never skip data.
#include "common/kafka/consumer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "common/kafka/internal/rdkafka_handle.h"
#include "common/kafka/internal/rdkafka_util.h"

namespace kledger::kafka {
namespace {

using internal::ErrorObjectToStatus;
using internal::ErrorToStatus;
using internal::FirstPartitionError;
using internal::FromPartitionList;
using internal::MessagePtr;
using internal::RdKafkaPtr;
using internal::ToPartitionList;
using internal::TopicPartitionListPtr;
using internal::ToTimeoutMs;

std::string Where(std::string_view topic, int32_t partition) {
  return std::string(topic) + "/" + std::to_string(partition);
}

ConsumedRecord ToRecord(const rd_kafka_message_t& message) {
  ConsumedRecord record;
  record.topic = message.rkt ? rd_kafka_topic_name(message.rkt) : "";
  record.partition = message.partition;
  record.offset = message.offset;
  rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const int64_t ts = rd_kafka_message_timestamp(&message, &type);
  record.timestamp_ms = type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
  if (message.key) record.key.assign(static_cast<const char*>(message.key), message.key_len);
  if (message.payload) {
    record.value.assign(static_cast<const char*>(message.payload), message.len);
  }
  rd_kafka_headers_t* headers = nullptr;  // owned by the message
  if (rd_kafka_message_headers(&message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    record.headers.reserve(rd_kafka_header_cnt(headers));
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    for (size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      record.headers.push_back(
          Header{name, value ? std::string(static_cast<const char*>(value), size) : std::string()});
    }
  }
  return record;
}

}  // namespace

struct Consumer::Impl {
  RdKafkaPtr rk;
  RebalanceListener* listener = nullptr;
  bool closed = false;
  bool ever_assigned = false;        // the rebalance callback has handed over an assignment
  bool destroy_would_abort = false;  // found by Close(); see DestroyWouldAbort()
  // An error to report from the next Poll(): raised while records were already collected (they
  // are returned first), or inside a rebalance callback (which cannot return one).
  std::optional<Status> pending_error;
  // Set by the error callback on a fatal consumer error.
  std::optional<Status> fatal_error;

  // rk goes first, while the fields its last callbacks may touch still exist.
  ~Impl() { rk.reset(); }

  void SetPending(Status status) {
    if (!pending_error) pending_error = std::move(status);
  }

  // Classifies an errored message: OK means "log and carry on".
  Status MessageError(const rd_kafka_message_t& message) {
    const char* topic = message.rkt ? rd_kafka_topic_name(message.rkt) : "";
    const std::string detail = rd_kafka_message_errstr(&message);
    const std::string where = Where(topic, message.partition);
    switch (message.err) {
      case RD_KAFKA_RESP_ERR__PARTITION_EOF:
        return Status::Ok();
      case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
      case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
        return Status::OutOfRange(
            "position " + std::to_string(message.offset) + " of " + where + " is not in the log (" +
            detail + ", " + rd_kafka_err2name(message.err) +
            "): records may have been deleted by retention; refusing to skip them — rebuild "
            "the partition's state or set its start offset explicitly");
      case RD_KAFKA_RESP_ERR__FATAL: {
        char fatal[512] = {0};
        rd_kafka_fatal_error(rk.get(), fatal, sizeof(fatal));
        return Status::Fatal("fatal consumer error (" + std::string(fatal) +
                             "); recreate the consumer");
      }
      case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
      case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        return Status::NotFound("topic or partition " + (topic[0] ? where : std::string("?")) +
                                " does not exist: " + detail + "; create it or fix the name");
      case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        return Status::FailedPrecondition("not authorized to consume " +
                                          (topic[0] ? where : std::string("the group")) + ": " +
                                          detail);
      default:
        spdlog::warn("kafka consumer {}: {}{}{} ({})", rd_kafka_name(rk.get()),
                     topic[0] ? where : "", topic[0] ? ": " : "", detail,
                     rd_kafka_err2name(message.err));
        return Status::Ok();
    }
  }

  void Assign(rd_kafka_topic_partition_list_t* offered, bool cooperative) {
    std::vector<TopicPartition> partitions = FromPartitionList(offered);
    for (TopicPartition& tp : partitions) tp.offset = -1;
    bool listener_failed = false;
    try {
      listener->OnAssigned(partitions);
    } catch (const std::exception& e) {
      listener_failed = true;
      SetPending(Status::Internal(std::string("rebalance listener OnAssigned threw: ") + e.what()));
    } catch (...) {
      listener_failed = true;
      SetPending(Status::Internal("rebalance listener OnAssigned threw"));
    }
    for (TopicPartition& tp : partitions) {
      // Any negative offset the owner left means "no state": start from the beginning, never
      // from a committed or reset position.
      if (tp.offset < 0) tp.offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    TopicPartitionListPtr list = ToPartitionList(partitions);
    Status status;
    if (cooperative) {
      status = ErrorObjectToStatus(rd_kafka_incremental_assign(rk.get(), list.get()),
                                   "incremental assign");
    } else {
      status = ErrorToStatus(rd_kafka_assign(rk.get(), list.get()), "assign");
    }
    if (!status.ok()) {
      spdlog::error("kafka consumer {}: {}", rd_kafka_name(rk.get()), status.ToString());
      SetPending(status);
      return;
    }
    if (listener_failed) {
      // The owner could not say where to start: hold the partitions rather than guess.
      rd_kafka_pause_partitions(rk.get(), list.get());
    }
  }

  void Revoke(rd_kafka_topic_partition_list_t* taken, bool cooperative) {
    const bool lost = rd_kafka_assignment_lost(rk.get()) != 0;
    try {
      listener->OnRevoked(FromPartitionList(taken), lost);
    } catch (const std::exception& e) {
      SetPending(Status::Internal(std::string("rebalance listener OnRevoked threw: ") + e.what()));
    } catch (...) {
      SetPending(Status::Internal("rebalance listener OnRevoked threw"));
    }
    Status status = cooperative
                        ? ErrorObjectToStatus(rd_kafka_incremental_unassign(rk.get(), taken),
                                              "incremental unassign")
                        : ErrorToStatus(rd_kafka_assign(rk.get(), nullptr), "unassign");
    if (!status.ok()) {
      spdlog::error("kafka consumer {}: {}", rd_kafka_name(rk.get()), status.ToString());
    }
  }

  // Runs inside rd_kafka_consumer_poll() / rd_kafka_consumer_close() on the owner's thread.
  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* impl = static_cast<Impl*>(opaque);
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    try {
      if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        spdlog::info("kafka consumer {}: assigned {} partitions ({})", rd_kafka_name(rk),
                     partitions->cnt, cooperative ? "cooperative" : "eager");
        impl->ever_assigned = true;
        impl->Assign(partitions, cooperative);
      } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        spdlog::info("kafka consumer {}: revoked {} partitions{}", rd_kafka_name(rk),
                     partitions->cnt, rd_kafka_assignment_lost(rk) ? " (lost)" : "");
        impl->Revoke(partitions, cooperative);
      } else {
        spdlog::error("kafka consumer {}: rebalance failed: {}", rd_kafka_name(rk),
                      rd_kafka_err2str(err));
        // librdkafka's documented answer to a failed rebalance: drop the whole assignment.
        if (cooperative) {
          impl->Revoke(partitions, true);
        } else {
          rd_kafka_assign(rk, nullptr);
        }
      }
    } catch (...) {
      // Logging itself failed; nothing may unwind into librdkafka.
    }
  }

  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    try {
      auto* impl = static_cast<Impl*>(opaque);
      const auto code = static_cast<rd_kafka_resp_err_t>(err);
      if (code == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512] = {0};
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        spdlog::critical("kafka consumer {}: fatal error: {}", rd_kafka_name(rk), fatal);
        // Callbacks run inside consumer_poll on the owner's thread, so no lock is needed.
        if (!impl->fatal_error) {
          impl->fatal_error = Status::Fatal("fatal consumer error (" + std::string(fatal) +
                                            "); recreate the consumer");
        }
      } else if (code == RD_KAFKA_RESP_ERR__TRANSPORT ||
                 code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        spdlog::warn("kafka consumer {}: {}", rd_kafka_name(rk), reason);
      } else {
        spdlog::error("kafka consumer {}: {} ({})", rd_kafka_name(rk), reason,
                      rd_kafka_err2name(code));
      }
    } catch (...) {
    }
  }

  static void OnCommit(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t* offsets, void* opaque) {
    // Commits are advisory (offsets live in RocksDB), so a failure is only worth a log line.
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    try {
      spdlog::warn("kafka consumer {}: offset commit failed: {}", rd_kafka_name(rk),
                   rd_kafka_err2str(err));
    } catch (...) {
    }
  }
};

Consumer::Consumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

// librdkafka before 2.3.0 aborts in rd_kafka_destroy() when a cooperative-sticky consumer joined
// its group (the assignor is chosen) but never completed a SyncGroup (so the assignor has no
// state): confluentinc/librdkafka#4312. That happens to a process stopped during a rebalance.
// The assignor state is created just before the first assignment reaches the rebalance callback.
// Asked before rd_kafka_consumer_close(), which hides the protocol; a JoinGroup answered after
// that is discarded by the closing group, so none can choose the assignor later.
bool Consumer::DestroyWouldAbort() const {
  if (rd_kafka_version() >= 0x020300ff || impl_->ever_assigned) return false;
  return RebalanceProtocol() == "COOPERATIVE";
}

Consumer::~Consumer() {
  if (!impl_ || !impl_->rk) return;
  Status status = Close();
  if (!status.ok()) spdlog::warn("kafka consumer: close: {}", status.ToString());
  if (impl_->destroy_would_abort) {
    // The consumer has left the group; its handle (and the callbacks' state) is kept, idle,
    // until the process exits rather than destroyed into librdkafka's assertion. Its threads
    // live on, so it is silenced: a broker going away would otherwise make them log while the
    // process exits and the logger is being destroyed (a use after free).
    spdlog::warn(
        "kafka consumer {}: stopped before its first assignment; keeping the handle, "
        "silenced, until exit (librdkafka {} cannot destroy it: "
        "confluentinc/librdkafka#4312)",
        rd_kafka_name(impl_->rk.get()), rd_kafka_version_str());
    constexpr int kSyslogEmergency = 0;  // only librdkafka's fatal errors are logged at this level
    rd_kafka_set_log_level(impl_->rk.get(), kSyslogEmergency);
    KeepUntilExit(std::move(impl_));
  }
}

void Consumer::KeepUntilExit(std::unique_ptr<Impl> impl) {
  // Never destroyed, and reachable from here, so leak checkers count the handles as kept.
  static std::mutex mutex;
  static auto* kept = new std::vector<std::unique_ptr<Impl>>();
  std::lock_guard<std::mutex> lock(mutex);
  kept->push_back(std::move(impl));
}

Result<std::unique_ptr<Consumer>> Consumer::Create(const Properties& props,
                                                   RebalanceListener* listener) {
  if (listener == nullptr) return Status::InvalidArgument("consumer needs a rebalance listener");
  const Properties merged = Merge(ConsumerDefaults(), props);
  if (merged.count("group.id") == 0 || merged.at("group.id").empty()) {
    return Status::InvalidArgument("consumer property group.id is required");
  }
  ASSIGN_OR_RETURN(internal::ConfPtr conf, internal::MakeConf(merged));
  auto impl = std::make_unique<Impl>();
  impl->listener = listener;
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::OnRebalance);
  rd_kafka_conf_set_error_cb(conf.get(), &Impl::OnError);
  rd_kafka_conf_set_offset_commit_cb(conf.get(), &Impl::OnCommit);
  rd_kafka_conf_set_opaque(conf.get(), impl.get());
  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    return Status::InvalidArgument(std::string("cannot create Kafka consumer: ") + errstr);
  }
  conf.release();  // rd_kafka_new owns it now
  impl->rk.reset(rk);
  // One queue for everything, so rebalances, errors and commits are served by consumer_poll.
  RETURN_IF_ERROR(ErrorToStatus(rd_kafka_poll_set_consumer(rk), "poll_set_consumer"));
  return std::unique_ptr<Consumer>(new Consumer(std::move(impl)));
}

Status Consumer::Subscribe(const std::vector<std::string>& topics) {
  if (topics.empty()) return Status::InvalidArgument("subscribe: no topics given");
  TopicPartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (const std::string& topic : topics) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  return ErrorToStatus(rd_kafka_subscribe(impl_->rk.get(), list.get()), "subscribe");
}

Result<std::vector<ConsumedRecord>> Consumer::Poll(std::chrono::milliseconds timeout,
                                                   size_t max_records) {
  if (impl_->closed) return Status::FailedPrecondition("poll: the consumer is closed");
  if (impl_->fatal_error) return *impl_->fatal_error;
  auto take_pending = [&]() -> std::optional<Status> {
    std::optional<Status> out;
    out.swap(impl_->pending_error);
    return out;
  };
  if (auto pending = take_pending()) return *pending;

  std::vector<ConsumedRecord> records;
  if (max_records == 0) return records;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (records.size() < max_records) {
    int wait_ms = 0;
    if (records.empty()) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      wait_ms = ToTimeoutMs(left);
    }
    MessagePtr message(rd_kafka_consumer_poll(impl_->rk.get(), wait_ms));
    if (impl_->fatal_error) {
      impl_->SetPending(*impl_->fatal_error);
      break;
    }
    if (impl_->pending_error) break;  // raised by a rebalance callback
    if (!message) {
      if (!records.empty() || wait_ms == 0) break;
      continue;  // woke early (a callback ran); wait out the rest of the timeout
    }
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Status status = impl_->MessageError(*message);
      if (status.ok()) continue;
      // Records already collected are handed out first; the error follows on the next call.
      // librdkafka stops fetching the failed partition, so nothing after it is lost.
      impl_->SetPending(std::move(status));
      break;
    }
    records.push_back(ToRecord(*message));
  }
  if (records.empty()) {
    if (auto pending = take_pending()) return *pending;
  }
  return records;
}

Status Consumer::Assign(const std::vector<TopicPartition>& partitions) {
  std::vector<TopicPartition> from = partitions;
  for (auto& tp : from) {
    if (tp.offset < 0) tp.offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  TopicPartitionListPtr list = ToPartitionList(from);
  RETURN_IF_ERROR(ErrorToStatus(rd_kafka_assign(impl_->rk.get(), list.get()), "assign"));
  return Status::Ok();
}

Result<int32_t> Consumer::PartitionCount(const std::string& topic,
                                         std::chrono::milliseconds timeout) {
  // A topic handle limits the metadata request to this topic.
  std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> handle(
      rd_kafka_topic_new(impl_->rk.get(), topic.c_str(), nullptr), &rd_kafka_topic_destroy);
  const rd_kafka_metadata_t* metadata = nullptr;
  RETURN_IF_ERROR(ErrorToStatus(
      rd_kafka_metadata(impl_->rk.get(), 0, handle.get(), &metadata, ToTimeoutMs(timeout)),
      "metadata of topic " + topic));
  internal::MetadataPtr owned(metadata);
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = metadata->topics[i];
    if (topic != t.topic) continue;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return ErrorToStatus(t.err, "metadata of topic " + topic);
    }
    return t.partition_cnt;
  }
  return Status::NotFound("topic " + topic + " is not in the cluster's metadata");
}

Result<std::vector<TopicPartition>> Consumer::Positions(
    const std::vector<TopicPartition>& partitions) {
  TopicPartitionListPtr list = ToPartitionList(partitions);
  RETURN_IF_ERROR(ErrorToStatus(rd_kafka_position(impl_->rk.get(), list.get()), "position"));
  return FromPartitionList(list.get());
}

Status Consumer::Pause(const std::vector<TopicPartition>& partitions) {
  TopicPartitionListPtr list = ToPartitionList(partitions);
  RETURN_IF_ERROR(ErrorToStatus(rd_kafka_pause_partitions(impl_->rk.get(), list.get()), "pause"));
  return FirstPartitionError(list.get(), "pause");
}

Status Consumer::Resume(const std::vector<TopicPartition>& partitions) {
  TopicPartitionListPtr list = ToPartitionList(partitions);
  RETURN_IF_ERROR(ErrorToStatus(rd_kafka_resume_partitions(impl_->rk.get(), list.get()), "resume"));
  return FirstPartitionError(list.get(), "resume");
}

Status Consumer::Seek(const TopicPartition& position, std::chrono::milliseconds timeout) {
  TopicPartitionListPtr list = ToPartitionList({position});
  const std::string context = "seek " + Where(position.topic, position.partition) + " to " +
                              std::to_string(position.offset);
  RETURN_IF_ERROR(ErrorObjectToStatus(
      rd_kafka_seek_partitions(impl_->rk.get(), list.get(), ToTimeoutMs(timeout)), context));
  return FirstPartitionError(list.get(), "seek");
}

Status Consumer::CommitAsync(const std::vector<TopicPartition>& offsets) {
  // An empty list would make librdkafka commit the whole assignment's stored offsets instead.
  if (offsets.empty()) return Status::Ok();
  TopicPartitionListPtr list = ToPartitionList(offsets);
  return ErrorToStatus(rd_kafka_commit(impl_->rk.get(), list.get(), 1), "commit");
}

Result<std::vector<TopicPartition>> Consumer::Assignment() const {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  RETURN_IF_ERROR(ErrorToStatus(rd_kafka_assignment(impl_->rk.get(), &raw), "assignment"));
  TopicPartitionListPtr list(raw);
  return FromPartitionList(list.get());
}

Result<GroupMetadata> Consumer::CurrentGroupMetadata() const {
  rd_kafka_consumer_group_metadata_t* raw = rd_kafka_consumer_group_metadata(impl_->rk.get());
  if (raw == nullptr) {
    return Status::FailedPrecondition(
        "group metadata: not a member of a group (not subscribed, not joined yet, or closed)");
  }
  return GroupMetadata(raw, rd_kafka_consumer_group_metadata_destroy);
}

Result<std::pair<int64_t, int64_t>> Consumer::QueryWatermarks(const std::string& topic,
                                                              int32_t partition,
                                                              std::chrono::milliseconds timeout) {
  int64_t low = -1;
  int64_t high = -1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(impl_->rk.get(), topic.c_str(), partition, &low, &high,
                                         ToTimeoutMs(std::max(left, std::chrono::milliseconds(1))));
    // A partition whose leader just moved, or of a topic just created, answers "not leader" for
    // a moment (the request went by the metadata cached before): asked again once librdkafka
    // has refreshed it, it answers.
    const bool leader_moving = err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                               err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE;
    if (!leader_moving || left <= std::chrono::milliseconds(100)) {
      RETURN_IF_ERROR(ErrorToStatus(err, "query watermarks of " + Where(topic, partition)));
      return std::make_pair(low, high);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::optional<int64_t> Consumer::FetchedHighWatermark(const std::string& topic,
                                                      int32_t partition) const {
  int64_t low = RD_KAFKA_OFFSET_INVALID;
  int64_t high = RD_KAFKA_OFFSET_INVALID;
  if (rd_kafka_get_watermark_offsets(impl_->rk.get(), topic.c_str(), partition, &low, &high) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      high < 0) {
    return std::nullopt;
  }
  return high;
}

Status Consumer::Close() {
  if (impl_->closed) return Status::Ok();
  impl_->closed = true;
  impl_->destroy_would_abort = DestroyWouldAbort();
  // Serves the final revoke through the rebalance callback, then leaves the group.
  return ErrorToStatus(rd_kafka_consumer_close(impl_->rk.get()), "close consumer");
}

std::string Consumer::RebalanceProtocol() const {
  const char* protocol = rd_kafka_rebalance_protocol(impl_->rk.get());
  return protocol ? protocol : "NONE";
}

std::string Consumer::MemberId() const {
  internal::RdKafkaStringPtr id(rd_kafka_memberid(impl_->rk.get()));
  return id ? std::string(id.get()) : std::string();
}

}  // namespace kledger::kafka
