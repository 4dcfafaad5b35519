#include "processors/processor.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/domain/validation.h"
#include "projections/ledger.h"

namespace kledger::processors {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view OutcomeName(v1::Outcome outcome) {
  switch (outcome) {
    case v1::APPLIED: return "applied";
    case v1::REJECTED: return "rejected";
    case v1::DUPLICATE: return "duplicate";
    case v1::DEAD_LETTERED: return "dead_lettered";
    default: return "unknown";
  }
}

// Decodes and checks a record; on failure says why it is poison (error code, message).
Result<v1::EventEnvelope> DecodeEvent(const kafka::ConsumedRecord& record, std::string& error_code) {
  v1::EventEnvelope envelope;
  if (!envelope.ParseFromString(record.value)) {
    error_code = "undecodable";
    return Status::Corruption("the record value is not an EventEnvelope");
  }
  if (envelope.schema_version() != domain::kSchemaVersion) {
    error_code = "unsupported_schema_version";
    return Status::Corruption("schema version " + std::to_string(envelope.schema_version()) +
                              " is not supported (this build reads " +
                              std::to_string(domain::kSchemaVersion) + ")");
  }
  if (envelope.event_case() == v1::EventEnvelope::EVENT_NOT_SET) {
    error_code = "unknown_event_type";
    return Status::Corruption("the envelope carries no event type this build knows");
  }
  if (envelope.instance_id() != record.key) {
    error_code = "key_mismatch";
    return Status::Corruption("the record key is not the envelope's instance id");
  }
  domain::FieldErrors errors = domain::ValidateEnvelope(envelope);
  if (!errors.empty()) {
    error_code = "invalid_envelope";
    return domain::FieldErrorsToStatus(errors);
  }
  return envelope;
}

}  // namespace

Result<std::unique_ptr<Processor>> Processor::Create(const kafka::Properties& props,
                                                     ProcessorOptions options,
                                                     prometheus::Registry& registry) {
  projections::StoreOptions store_options;
  store_options.path = options.data_dir;
  ASSIGN_OR_RETURN(auto store, projections::ProjectionStore::Open(store_options));
  ASSIGN_OR_RETURN(auto dlt_producer, kafka::Producer::Create(props));
  auto processor = std::unique_ptr<Processor>(
      new Processor(std::move(options), std::move(store), std::move(dlt_producer),
                    std::make_unique<ProcessorProbe>(registry)));
  kafka::Properties consumer_props = props;
  consumer_props["group.id"] = processor->options_.group;
  ASSIGN_OR_RETURN(processor->consumer_, kafka::Consumer::Create(consumer_props, processor.get()));
  return processor;
}

Processor::Processor(ProcessorOptions options, std::unique_ptr<projections::ProjectionStore> store,
                     std::unique_ptr<kafka::Producer> dlt_producer,
                     std::unique_ptr<ProcessorProbe> probe)
    : options_(std::move(options)),
      store_(std::move(store)),
      dlt_producer_(std::move(dlt_producer)),
      probe_(std::move(probe)),
      dead_letters_(std::make_unique<DeadLetterWriter>(*dlt_producer_, options_.dlt_topic,
                                                       options_.group)) {}

Processor::~Processor() { Stop(); }

Status Processor::Start() {
  RETURN_IF_ERROR(consumer_->Subscribe({options_.events_topic}));
  apply_thread_ = std::thread([this] { ApplyLoop(); });
  monitor_thread_ = std::thread([this] { MonitorLoop(); });
  return Status::Ok();
}

void Processor::Stop() {
  if (stopping_.exchange(true)) return;
  if (apply_thread_.joinable()) apply_thread_.join();
  if (monitor_thread_.joinable()) monitor_thread_.join();
  progressed_.notify_all();
}

void Processor::OnAssigned(std::vector<kafka::TopicPartition>& partitions) {
  probe_->Rebalance();
  std::lock_guard lock(mu_);
  joined_ = true;
  for (auto& tp : partitions) {
    auto stored = store_->NextOffset(tp.partition);
    PartitionProgress progress;
    if (!stored.ok()) {
      // Without its offset the partition cannot be resumed correctly; it stays halted.
      progress.halted = "cannot read the stored offset: " + stored.status().ToString();
      spdlog::error("partition {}: {}", tp.partition, progress.halted);
      tp.offset = kafka::kOffsetBeginning;
    } else if (stored->has_value()) {
      progress.next_offset = **stored;
      tp.offset = **stored;
    } else {
      tp.offset = kafka::kOffsetBeginning;  // no state yet: rebuild from the log
    }
    spdlog::info("partition {} assigned, applying from offset {}", tp.partition,
                 progress.next_offset);
    owned_[tp.partition] = progress;
  }
  probe_->AssignedPartitions(static_cast<int>(owned_.size()));
}

void Processor::OnRevoked(const std::vector<kafka::TopicPartition>& partitions, bool lost) {
  probe_->Rebalance();
  std::lock_guard lock(mu_);
  for (const auto& tp : partitions) {
    spdlog::info("partition {} {}", tp.partition, lost ? "lost" : "revoked");
    owned_.erase(tp.partition);
    probe_->ForgetPartition(tp.partition);
  }
  probe_->AssignedPartitions(static_cast<int>(owned_.size()));
}

void Processor::ApplyLoop() {
  while (!stopping_) {
    auto polled = consumer_->Poll(options_.poll_timeout, options_.max_batch_records);
    if (!polled.ok()) {
      // Offset resets and fatal consumer errors: never continue past them silently.
      Fail("the consumer stopped: " + polled.status().ToString());
      break;
    }
    // Records arrive in log order per partition; keep that order, group by partition.
    std::map<int32_t, std::vector<kafka::ConsumedRecord>> by_partition;
    for (auto& record : *polled) by_partition[record.partition].push_back(std::move(record));
    for (const auto& [partition, records] : by_partition) ApplyPartition(partition, records);
  }
  Status closed = consumer_->Close();
  if (!closed.ok()) spdlog::warn("leaving the consumer group: {}", closed.ToString());
}

void Processor::ApplyPartition(int32_t partition,
                               const std::vector<kafka::ConsumedRecord>& records) {
  int64_t next_offset;
  {
    std::lock_guard lock(mu_);
    auto it = owned_.find(partition);
    if (it == owned_.end() || !it->second.halted.empty()) return;
    next_offset = it->second.next_offset;
  }

  auto batch = store_->BeginBatch(partition);
  struct Done {
    std::string type;
    std::string outcome;
    double apply_seconds;
    double end_to_end_seconds;
  };
  std::vector<Done> done;
  int64_t batch_next = next_offset;
  auto retry_later = [&](const Status& why, std::string_view error_code) {
    spdlog::warn("partition {}: applying from offset {} failed, retrying: {}", partition,
                 next_offset, why.ToString());
    probe_->Retry(error_code);
    Status seek = consumer_->Seek({options_.events_topic, partition, next_offset},
                                  std::chrono::seconds(5));
    if (!seek.ok()) Halt(partition, "cannot seek back after a failure: " + seek.ToString());
    std::this_thread::sleep_for(options_.retry_backoff);
  };

  for (const auto& record : records) {
    if (record.offset < batch_next) continue;  // already applied (re-delivered after a seek)
    const auto start = Clock::now();
    std::string error_code;
    auto envelope = DecodeEvent(record, error_code);
    if (!envelope.ok()) {
      DeadLetterReason why{"poison", error_code, envelope.status().message(), 1, NowMs()};
      Status written = dead_letters_->Write(record, why, options_.dlt_timeout);
      if (!written.ok()) return retry_later(written, "dead_letter_write");
      spdlog::error("partition {} offset {}: dead-lettered as poison ({}): {}", partition,
                    record.offset, error_code, envelope.status().message());
      probe_->DeadLetter("poison");
      done.push_back({"unknown", "dead_lettered", 0, -1});
      batch_next = record.offset + 1;
      continue;
    }
    auto outcome = projections::ApplyEvent(*envelope, partition, record.offset, *batch);
    if (!outcome.ok()) return retry_later(outcome.status(), "storage");
    const double apply_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    done.push_back({std::string(domain::EventTypeName(*envelope)),
                    std::string(OutcomeName(outcome->outcome())), apply_seconds,
                    record.timestamp_ms >= 0 ? (NowMs() - record.timestamp_ms) / 1000.0 : -1});
    batch_next = record.offset + 1;
  }
  if (batch_next == next_offset) return;

  Status committed = store_->Commit(*batch, batch_next);
  if (!committed.ok()) return retry_later(committed, "storage");
  for (const auto& d : done) {
    probe_->EventProcessed(d.type, d.outcome, d.apply_seconds, d.end_to_end_seconds);
  }
  {
    std::lock_guard lock(mu_);
    auto it = owned_.find(partition);
    if (it != owned_.end()) it->second.next_offset = batch_next;
  }
  progressed_.notify_all();
  // Advisory only: the truth is the offset committed with the state above.
  Status advisory = consumer_->CommitAsync({{options_.events_topic, partition, batch_next}});
  if (!advisory.ok()) spdlog::debug("advisory offset commit: {}", advisory.ToString());
}

void Processor::MonitorLoop() {
  while (!stopping_) {
    std::vector<int32_t> partitions;
    {
      std::lock_guard lock(mu_);
      for (const auto& [p, _] : owned_) partitions.push_back(p);
    }
    for (int32_t p : partitions) {
      auto marks = consumer_->QueryWatermarks(options_.events_topic, p,
                                              std::chrono::milliseconds(500));
      if (!marks.ok()) continue;
      std::lock_guard lock(mu_);
      auto it = owned_.find(p);
      if (it == owned_.end()) continue;
      it->second.high_watermark = marks->second;
      probe_->ConsumerLag(p, std::max<int64_t>(0, marks->second - it->second.next_offset));
    }
    const auto until = Clock::now() + options_.monitor_interval;
    while (!stopping_ && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

void Processor::Halt(int32_t partition, const std::string& why) {
  spdlog::error("partition {} HALTED: {}", partition, why);
  Status paused = consumer_->Pause({{options_.events_topic, partition, -1}});
  if (!paused.ok()) spdlog::error("partition {}: pausing failed: {}", partition, paused.ToString());
  std::lock_guard lock(mu_);
  auto it = owned_.find(partition);
  if (it != owned_.end()) it->second.halted = why;
}

void Processor::Fail(const std::string& why) {
  spdlog::critical("processor FAILED: {}", why);
  std::lock_guard lock(mu_);
  failure_ = why;
}

std::string Processor::Failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

std::string Processor::NotReadyReason() const {
  std::lock_guard lock(mu_);
  if (!failure_.empty()) return failure_;
  if (!joined_) return "not yet assigned partitions by the consumer group";
  for (const auto& [p, progress] : owned_) {
    if (!progress.halted.empty()) return "partition " + std::to_string(p) + " halted";
    if (progress.high_watermark < 0) return "partition " + std::to_string(p) + " not yet checked";
    if (progress.next_offset < progress.high_watermark) {
      return "partition " + std::to_string(p) + " catching up (" +
             std::to_string(progress.next_offset) + " of " +
             std::to_string(progress.high_watermark) + ")";
    }
  }
  return "";
}

std::map<int32_t, PartitionProgress> Processor::Progress() const {
  std::lock_guard lock(mu_);
  return owned_;
}

Status Processor::WaitForOffset(int32_t partition, int64_t offset,
                                std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const bool reached = progressed_.wait_for(lock, timeout, [&] {
    auto it = owned_.find(partition);
    return stopping_ || it == owned_.end() || it->second.next_offset > offset;
  });
  auto it = owned_.find(partition);
  if (it == owned_.end()) {
    return Status::FailedPrecondition("partition " + std::to_string(partition) +
                                      " is not owned by this processor");
  }
  if (!reached || it->second.next_offset <= offset) {
    return Status::Timeout("offset " + std::to_string(offset) + " of partition " +
                           std::to_string(partition) + " is not applied yet");
  }
  return Status::Ok();
}

}  // namespace kledger::processors
