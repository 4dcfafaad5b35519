#include "processors/processor.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/domain/validation.h"
#include "common/kafka/partitioner.h"
#include "processors/applier.h"

namespace kledger::processors {
namespace {

using Clock = std::chrono::steady_clock;

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
  processor->props_ = props;
  return processor;
}

Processor::Processor(ProcessorOptions options, std::unique_ptr<projections::ProjectionStore> store,
                     std::unique_ptr<kafka::Producer> dlt_producer,
                     std::unique_ptr<ProcessorProbe> probe)
    : options_(std::move(options)),
      store_(std::move(store)),
      dlt_producer_(std::move(dlt_producer)),
      probe_(std::move(probe)),
      dead_letters_(
          std::make_unique<DeadLetterWriter>(*dlt_producer_, options_.dlt_topic, options_.group)) {}

Processor::~Processor() { Stop(); }

Status Processor::Start(const std::string& query_url) {
  auto partitions = consumer_->PartitionCount(options_.events_topic, std::chrono::seconds(15));
  if (!partitions.ok()) {
    return partitions.status().WithContext("the events topic " + options_.events_topic +
                                           " is not usable (on a real cluster, create the topics "
                                           "first: see deploy/README.md)");
  }
  partition_count_ = *partitions;
  ASSIGN_OR_RETURN(owners_, OwnershipDirectory::Create(props_, options_.owners_topic,
                                                       options_.group, query_url, *dlt_producer_));
  RETURN_IF_ERROR(owners_->Start());
  RETURN_IF_ERROR(consumer_->Subscribe({options_.events_topic}));
  apply_thread_ = std::thread([this] { ApplyLoop(); });
  monitor_thread_ = std::thread([this] { MonitorLoop(); });
  return Status::Ok();
}

void Processor::Stop() {
  if (stopping_.exchange(true)) return;
  if (apply_thread_.joinable()) apply_thread_.join();
  if (monitor_thread_.joinable()) monitor_thread_.join();
  if (owners_) owners_->Stop();
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
    } else {
      progress.next_offset = stored->value_or(0);
      // No state yet: rebuild from the start of the log.
      tp.offset = stored->has_value() ? **stored : kafka::kOffsetBeginning;
      progress.halted = CheckLogStart(tp.partition, progress.next_offset, tp.offset);
    }
    spdlog::info("partition {} assigned, applying from offset {}", tp.partition,
                 progress.next_offset);
    owned_[tp.partition] = progress;
  }
  probe_->AssignedPartitions(static_cast<int>(owned_.size()));
  probe_->HaltedPartitions(HaltedCountLocked());
  std::vector<int32_t> announced;
  for (const auto& tp : partitions) announced.push_back(tp.partition);
  if (owners_) owners_->Announce(announced);
}

std::string Processor::CheckLogStart(int32_t partition, int64_t next_offset,
                                     int64_t& start_offset) {
  auto marks =
      consumer_->QueryWatermarks(options_.events_topic, partition, std::chrono::seconds(2));
  if (!marks.ok()) {
    // Not knowing is no reason to stop; an offset reset still stops the consumer loudly.
    spdlog::warn("partition {}: cannot check where its log starts: {}", partition,
                 marks.status().ToString());
    return "";
  }
  if (marks->first <= next_offset) return "";
  const std::string why = "the log of partition " + std::to_string(partition) +
                          " starts at offset " + std::to_string(marks->first) +
                          ", above the next offset to apply (" + std::to_string(next_offset) +
                          "): events were deleted (retention, truncation) before this processor "
                          "applied them";
  // Reading below the log start would stop the whole consumer (auto.offset.reset=error); the
  // log start is readable, and a halted partition applies nothing anyway.
  start_offset = marks->first;
  if (options_.allow_log_gaps) {
    spdlog::error("{}; applying from {} anyway because gaps are allowed", why, marks->first);
    return "";
  }
  spdlog::error("partition {} HALTED: {} (restart with --allow-log-gaps to accept the loss)",
                partition, why);
  return why;
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
  probe_->HaltedPartitions(HaltedCountLocked());
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
    if (it == owned_.end()) return;
    if (!it->second.halted.empty()) {
      Status paused = consumer_->Pause({{options_.events_topic, partition, -1}});
      if (!paused.ok()) spdlog::warn("partition {}: pause: {}", partition, paused.ToString());
      return;
    }
    next_offset = it->second.next_offset;
  }
  auto retry_later = [&](const Status& why, std::string_view error_code) {
    spdlog::warn("partition {}: applying from offset {} failed, retrying: {}", partition,
                 next_offset, why.ToString());
    probe_->Retry(error_code);
    Status seek =
        consumer_->Seek({options_.events_topic, partition, next_offset}, std::chrono::seconds(5));
    if (!seek.ok()) Halt(partition, "cannot seek back after a failure: " + seek.ToString());
    std::this_thread::sleep_for(options_.retry_backoff);
  };
  auto dead_letter = [&](const kafka::ConsumedRecord& record, const DeadLetterReason& why) {
    RETURN_IF_ERROR(dead_letters_->Write(record, why, options_.dlt_timeout));
    spdlog::error("partition {} offset {}: dead-lettered as {} ({}): {}", partition, record.offset,
                  why.reason, why.error_code, why.error_message);
    probe_->DeadLetter(why.reason);
    return Status::Ok();
  };

  auto batch = store_->BeginBatch(partition);
  auto run = ApplyRecords(*batch, next_offset, records, dead_letter);
  if (!run.ok()) return retry_later(run.status(), "storage");
  if (run->next_offset == next_offset) return;
  Status committed = store_->Commit(*batch, run->next_offset);
  if (!committed.ok()) return retry_later(committed, "storage");

  for (const auto& r : run->records) {
    probe_->EventProcessed(r.event_type, r.outcome, r.apply_seconds, r.end_to_end_seconds,
                           r.event_id, r.correlation_id);
  }
  {
    std::lock_guard lock(mu_);
    auto it = owned_.find(partition);
    if (it != owned_.end()) it->second.next_offset = run->next_offset;
  }
  progressed_.notify_all();
  // Advisory only: the truth is the offset committed with the state above.
  Status advisory = consumer_->CommitAsync({{options_.events_topic, partition, run->next_offset}});
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
      auto marks =
          consumer_->QueryWatermarks(options_.events_topic, p, std::chrono::milliseconds(500));
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
  probe_->HaltedPartitions(HaltedCountLocked());
}

int Processor::HaltedCountLocked() const {
  int halted = 0;
  for (const auto& [p, progress] : owned_) halted += progress.halted.empty() ? 0 : 1;
  return halted;
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

InstanceRoute Processor::Route(std::string_view instance) const {
  InstanceRoute route;
  if (partition_count_ <= 0) return route;
  route.partition = kafka::PartitionForKey(instance, partition_count_);
  std::lock_guard lock(mu_);
  route.owned = owned_.count(route.partition) > 0;
  if (!route.owned && owners_) route.owner_url = owners_->OwnerOf(route.partition).value_or("");
  return route;
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
