#include "processors/processor.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>

#include "common/domain/validation.h"
#include "common/kafka/partitioner.h"
#include "common/wall_clock.h"
#include "processors/applier.h"
#include "processors/outcome_record.h"

namespace kledger::processors {
namespace {

using Clock = std::chrono::steady_clock;

// Moves the records at or after `next_offset` out of `records` (those before were applied).
std::vector<kafka::ConsumedRecord> TakeUnapplied(std::vector<kafka::ConsumedRecord>& records,
                                                 int64_t next_offset) {
  std::vector<kafka::ConsumedRecord> pending;
  pending.reserve(records.size());
  for (auto& record : records) {
    if (record.offset >= next_offset) pending.push_back(std::move(record));
  }
  return pending;
}

}  // namespace

Result<std::unique_ptr<Processor>> Processor::Create(const kafka::Properties& props,
                                                     ProcessorOptions options,
                                                     prometheus::Registry& registry) {
  projections::StoreOptions store_options = options.store;
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
  if (!processor->options_.outcomes_topic.empty()) {
    OutcomeRelayOptions relay;
    relay.topic = processor->options_.outcomes_topic;
    relay.transactional_id_prefix = processor->options_.group + "." + relay.topic;
    processor->relay_ =
        std::make_unique<OutcomeRelay>(props, std::move(relay), *processor->store_, registry);
  }
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
  if (relay_) {
    auto outcomes = consumer_->PartitionCount(options_.outcomes_topic, std::chrono::seconds(15));
    if (!outcomes.ok()) {
      return outcomes.status().WithContext("the outcomes topic " + options_.outcomes_topic +
                                           " is not usable (create it with `kledger topics "
                                           "create`, or run without an outcome stream)");
    }
    if (*outcomes != partition_count_) {
      return Status::FailedPrecondition(
          "the outcomes topic " + options_.outcomes_topic + " has " + std::to_string(*outcomes) +
          " partitions and the events topic " + std::to_string(partition_count_) +
          ": each events partition publishes to the outcomes partition of the same number");
    }
    relay_->Start();
  }
  query_url_ = query_url;
  ASSIGN_OR_RETURN(owners_, OwnershipDirectory::Create(props_, options_.owners_topic,
                                                       options_.group, query_url, *dlt_producer_));
  RETURN_IF_ERROR(owners_->Start());
  RETURN_IF_ERROR(consumer_->Subscribe({options_.events_topic}));
  apply_thread_ = std::thread([this] {
    // Named so `top -H` and perf tell the processor's threads apart from librdkafka's.
    pthread_setname_np(pthread_self(), "kl-apply");
    ApplyLoop();
  });
  monitor_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kl-monitor");
    MonitorLoop();
  });
  return Status::Ok();
}

void Processor::Stop() {
  if (stopping_.exchange(true)) return;
  if (apply_thread_.joinable()) apply_thread_.join();
  if (monitor_thread_.joinable()) monitor_thread_.join();
  if (relay_) relay_->Stop();
  if (owners_) owners_->Stop();
  progressed_.notify_all();
}

Processor::WriteThread::WriteThread() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kl-write");
    std::unique_lock lock(mu_);
    for (;;) {
      changed_.wait(lock, [&] { return stop_ || job_; });
      if (!job_) return;  // stopping, nothing left to run
      std::function<Status()> job = job_;
      lock.unlock();
      Status result = job();
      lock.lock();
      result_ = std::move(result);
      job_ = nullptr;
      changed_.notify_all();
    }
  });
}

Processor::WriteThread::~WriteThread() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void Processor::WriteThread::Start(std::function<Status()> job) {
  std::lock_guard lock(mu_);
  assert(!job_);
  job_ = std::move(job);
  result_ = Status::Ok();
  changed_.notify_all();
}

Status Processor::WriteThread::Wait() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return !job_; });
  return result_;
}

void Processor::OnAssigned(std::vector<kafka::TopicPartition>& partitions) {
  // Offsets are read from the store next: the in-flight commit goes first.
  (void)FinishInFlight();
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
      if (progress.halted.empty() && tp.offset > progress.next_offset) {
        // A gap accepted (--allow-log-gaps): the log start is next, and is stored as such, so
        // that a restart without the flag does not halt on the same gap again.
        auto batch = store_->BeginBatch(tp.partition);
        if (Status s = store_->Commit(*batch, tp.offset); !s.ok()) {
          spdlog::warn("partition {}: cannot store the accepted gap's new offset {}: {}",
                       tp.partition, tp.offset, s.ToString());
        }
        progress.next_offset = tp.offset;
      }
    }
    spdlog::info("partition {} assigned, applying from offset {}", tp.partition,
                 progress.next_offset);
    if (relay_) relay_->Own(tp.partition, progress.next_offset);
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
  (void)FinishInFlight();  // while the partitions are still ours
  probe_->Rebalance();
  std::lock_guard lock(mu_);
  for (const auto& tp : partitions) {
    spdlog::info("partition {} {}", tp.partition, lost ? "lost" : "revoked");
    owned_.erase(tp.partition);
    if (relay_) relay_->Disown(tp.partition);
    retries_.erase(tp.partition);  // the next owner starts its own attempts
    unsettled_letters_.erase(tp.partition);
    probe_->ForgetPartition(tp.partition);
  }
  probe_->AssignedPartitions(static_cast<int>(owned_.size()));
  probe_->HaltedPartitions(HaltedCountLocked());
}

void Processor::ApplyLoop() {
  while (!stopping_) {
    ResumeDueRetries();
    // Held: partitions assigned since are paused too, so this repeats while the hold lasts.
    if (hold_ || holding_) FollowHold(hold_);
    auto polled = consumer_->Poll(options_.poll_timeout, options_.max_batch_records);
    if (!polled.ok()) {
      // Offset resets and fatal consumer errors: never continue past them silently.
      Fail("the consumer stopped: " + polled.status().ToString());
      break;
    }
    // Records arrive in log order per partition; keep that order, group by partition.
    if (polled->empty()) {
      (void)FinishInFlight();  // idle: settle now rather than with the next records
      continue;
    }
    std::map<int32_t, std::vector<kafka::ConsumedRecord>> by_partition;
    for (auto& record : *polled) by_partition[record.partition].push_back(std::move(record));
    ApplyPolled(by_partition);
  }
  (void)FinishInFlight();
  Status closed = consumer_->Close();
  if (!closed.ok()) spdlog::warn("leaving the consumer group: {}", closed.ToString());
}

void Processor::FollowHold(bool hold) {
  std::vector<kafka::TopicPartition> partitions;
  {
    std::lock_guard lock(mu_);
    for (const auto& [p, progress] : owned_) {
      auto retry = retries_.find(p);
      if (progress.halted.empty() && (retry == retries_.end() || !retry->second.paused)) {
        partitions.push_back({options_.events_topic, p, -1});
      }
    }
  }
  Status changed = hold ? consumer_->Pause(partitions) : consumer_->Resume(partitions);
  if (!changed.ok())
    spdlog::warn("{} for a hold: {}", hold ? "pause" : "resume", changed.ToString());
  if (!hold) {
    // librdkafka (2.0) does not wake a resumed partition's fetcher: without a seek the first
    // record arrives 0.3-1.1 s later. The seek goes where the consumer stands anyway; one that
    // has read nothing yet has no position and starts fetching on its own.
    auto positions = consumer_->Positions(partitions);
    if (!positions.ok()) spdlog::warn("positions after a hold: {}", positions.status().ToString());
    for (const auto& position : positions.ok() ? *positions : partitions) {
      if (position.offset < 0) continue;
      Status seek = consumer_->Seek(position, std::chrono::seconds(5));
      if (!seek.ok()) {
        spdlog::warn("partition {}: seek after a hold: {}", position.partition, seek.ToString());
      }
    }
  }
  holding_ = hold;
}

void Processor::ApplyPolled(std::map<int32_t, std::vector<kafka::ConsumedRecord>>& polled) {
  if (!options_.pipelined_writes || !retries_.empty()) {
    (void)FinishInFlight();
    return ApplyPolledNow(polled);
  }
  // Every flowing partition's records go into a batch of its own, stacked on the partition's
  // in-flight batch: it reads that batch's writes as committed. Anything unusual (a batch that
  // fails, a write below that failed) sends the whole poll down the careful path instead, once
  // the write below has ended.
  auto careful = [&](std::vector<Staged>& staged) {
    for (auto& s : staged) polled[s.partition] = std::move(s.records);
    (void)FinishInFlight();
    ApplyPolledNow(polled);
  };
  std::vector<Staged> staged;
  for (auto& [partition, records] : polled) {
    int64_t next_offset;
    if (!Flowing(partition, next_offset)) continue;
    const Staged* below = nullptr;
    if (in_flight_) {
      for (const auto& s : in_flight_->staged) {
        if (s.partition == partition) below = &s;
      }
    }
    if (below != nullptr) next_offset = below->run.next_offset;
    std::vector<kafka::ConsumedRecord> pending = TakeUnapplied(records, next_offset);
    if (pending.empty()) continue;
    auto applied = Stage(partition, next_offset, pending, below ? below->batch.get() : nullptr);
    if (!applied.ok()) {
      records = std::move(pending);
      return careful(staged);
    }
    if (applied->run.next_offset == next_offset) {  // nothing new
      records = std::move(pending);
      continue;
    }
    applied->records = std::move(pending);
    staged.push_back(std::move(*applied));
  }
  if (!FinishInFlight().ok()) return careful(staged);  // staged on a write that failed
  if (staged.empty()) return;

  for (auto& s : staged) projections::ProjectionStore::DetachBelow(*s.batch);
  auto prepared = store_->PrepareCommit(CommitsOf(staged));
  if (!prepared.ok()) {
    spdlog::warn("preparing a commit of {} partition(s) failed: {}", staged.size(),
                 prepared.status().ToString());
    return RetryEachAlone(staged, prepared.status());
  }
  in_flight_ = std::make_unique<InFlight>();
  in_flight_->staged = std::move(staged);
  in_flight_->prepared = std::move(*prepared);
  writer_.Start([this, flight = in_flight_.get()] {
    Status written = store_->WritePrepared(*flight->prepared);
    // Visible at once (progress, ?min_offset= waiters, metrics); the cache and the group's
    // advisory offsets are settled on the apply thread.
    if (written.ok()) {
      for (const auto& s : flight->staged) flight->offsets.push_back(Committed(s.partition, s.run));
    }
    return written;
  });
}

Status Processor::FinishInFlight() {
  if (!in_flight_) return Status::Ok();
  Status written = writer_.Wait();
  std::unique_ptr<InFlight> flight = std::move(in_flight_);
  store_->FinishCommit(*flight->prepared, written.ok());
  if (written.ok()) {
    CommitAdvisory(flight->offsets);
    return Status::Ok();
  }
  RetryEachAlone(flight->staged, written);
  return written;
}

std::vector<projections::ProjectionStore::PartitionCommit> Processor::CommitsOf(
    std::vector<Staged>& staged) {
  std::vector<projections::ProjectionStore::PartitionCommit> commits;
  for (auto& s : staged) commits.push_back({s.batch.get(), s.run.next_offset});
  return commits;
}

void Processor::RetryEachAlone(std::vector<Staged>& staged, const Status& why) {
  spdlog::warn("committing {} partition(s) together failed, retrying each alone: {}", staged.size(),
               why.ToString());
  for (auto& s : staged) {
    if (s.records.size() == 1) {
      OnApplyFailure(s.partition, s.records[0], {ApplyFailure::kStorage, why});
    } else {
      ApplyOneByOne(s.partition, s.records);
    }
  }
}

void Processor::ApplyPolledNow(std::map<int32_t, std::vector<kafka::ConsumedRecord>>& polled) {
  // Every flowing partition's records go into a batch of its own, and all the batches into one
  // write; a partition that is retrying, or whose batch fails, takes the careful path alone.
  std::vector<Staged> staged;
  for (auto& [partition, records] : polled) {
    int64_t next_offset;
    if (!Flowing(partition, next_offset)) continue;
    std::vector<kafka::ConsumedRecord> pending = TakeUnapplied(records, next_offset);
    if (pending.empty()) continue;
    if (retries_.count(partition) > 0) {
      ApplyOneByOne(partition, pending);
      continue;
    }
    auto applied = Stage(partition, next_offset, pending);
    if (!applied.ok()) {
      if (pending.size() == 1) {
        OnApplyFailure(partition, pending[0], applied.error());
      } else {
        ApplyOneByOne(partition, pending);  // finds the failing record
      }
      continue;
    }
    if (applied->run.next_offset == next_offset) continue;  // nothing new
    applied->records = std::move(pending);
    staged.push_back(std::move(*applied));
  }
  if (staged.empty()) return;

  Status committed = store_->Commit(CommitsOf(staged));
  if (committed.ok()) {
    std::vector<kafka::TopicPartition> offsets;
    for (auto& s : staged) offsets.push_back(Committed(s.partition, s.run));
    CommitAdvisory(offsets);
    return;
  }
  RetryEachAlone(staged, committed);
}

bool Processor::Flowing(int32_t partition, int64_t& next_offset) {
  {
    std::lock_guard lock(mu_);
    auto it = owned_.find(partition);
    if (it == owned_.end()) return false;
    if (!it->second.halted.empty()) {
      Status paused = consumer_->Pause({{options_.events_topic, partition, -1}});
      if (!paused.ok()) spdlog::warn("partition {}: pause: {}", partition, paused.ToString());
      return false;
    }
    next_offset = it->second.next_offset;
  }
  // Committed past them: those dead letters are settled.
  if (auto letters = unsettled_letters_.find(partition); letters != unsettled_letters_.end()) {
    letters->second.erase(letters->second.begin(), letters->second.lower_bound(next_offset));
  }
  // Fetched before a retry paused the partition: they come again after the seek.
  auto retry = retries_.find(partition);
  return retry == retries_.end() || !retry->second.paused;
}

void Processor::ApplyOneByOne(int32_t partition,
                              const std::vector<kafka::ConsumedRecord>& records) {
  for (const auto& record : records) {
    const DeadLetterReason* letter = UnsettledLetter(partition, record.offset);
    if (letter != nullptr && letter->kind() == DeadLetterKind::kRetriesExhausted) {
      // Its dead letter is written: what is left is to commit its outcome, never to apply it.
      Status settled =
          DeadLetterExhausted(partition, record, Status::Ok(), std::get<ApplyFailure>(letter->code),
                              retries_[partition]);
      if (!settled.ok()) {
        return OnApplyFailure(partition, record, {ApplyFailure::kStorage, settled});
      }
      retries_.erase(partition);
      continue;
    }
    TypedStatus<ApplyFailure> applied = ApplyAndCommit(partition, {record});
    if (!applied.ok()) return OnApplyFailure(partition, record, applied);
    if (retries_.count(partition) > 0 && retries_[partition].attempts > 0) {
      spdlog::info("partition {} offset {}: applied after {} failed attempt(s)", partition,
                   record.offset, retries_[partition].attempts);
    }
    retries_.erase(partition);
  }
}

TypedResult<Processor::Staged, ApplyFailure> Processor::Stage(
    int32_t partition, int64_t next_offset, const std::vector<kafka::ConsumedRecord>& records,
    const projections::ProjectionStore::Batch* below) {
  ApplyFailure failure = ApplyFailure::kStorage;  // unless a dead letter is not acknowledged
  auto dead_letter = [&](const kafka::ConsumedRecord& record, const DeadLetterReason& why) {
    if (UnsettledLetter(partition, record.offset) != nullptr) {
      spdlog::info(
          "partition {} offset {}: already in the dead-letter topic (its first commit "
          "failed); not written again",
          partition, record.offset);
      return Status::Ok();
    }
    Status written = dead_letters_->Write(record, why, options_.dlt_timeout);
    if (!written.ok()) {
      failure = ApplyFailure::kDeadLetterWrite;
      return written;
    }
    unsettled_letters_[partition].emplace(record.offset, why);
    spdlog::error("partition {} offset {}: dead-lettered as {} ({}): {}", partition, record.offset,
                  Name(why.kind()), why.code_name(), why.error_message);
    probe_->DeadLetter(Name(why.kind()));
    return Status::Ok();
  };
  Staged staged{partition, store_->BeginBatch(partition, below), {}, {}};
  const OutboxOptions outbox{relay_ != nullptr, relay_ ? relay_->OutboxFrom(partition) : 0};
  Result<ApplyRun> run =
      ApplyRecords(*staged.batch, next_offset, records, dead_letter, options_.projections, outbox);
  if (!run.ok()) return {failure, run.status()};
  staged.run = *std::move(run);
  return staged;
}

kafka::TopicPartition Processor::Committed(int32_t partition, const ApplyRun& run) {
  for (const auto& r : run.records) {
    probe_->EventProcessed(r.event_type, r.outcome, r.apply_seconds, r.end_to_end_seconds,
                           r.event_id, r.correlation_id);
  }
  {
    std::lock_guard lock(mu_);
    auto it = owned_.find(partition);
    if (it != owned_.end()) it->second.next_offset = run.next_offset;
  }
  progressed_.notify_all();
  if (relay_) relay_->Applied(partition, run.next_offset);
  return {options_.events_topic, partition, run.next_offset};
}

void Processor::CommitAdvisory(const std::vector<kafka::TopicPartition>& offsets) {
  // Advisory only: the truth is the offset committed with the state.
  Status advisory = consumer_->CommitAsync(offsets);
  if (!advisory.ok()) spdlog::debug("advisory offset commit: {}", advisory.ToString());
}

TypedStatus<ApplyFailure> Processor::ApplyAndCommit(
    int32_t partition, const std::vector<kafka::ConsumedRecord>& records) {
  int64_t next_offset;
  {
    std::lock_guard lock(mu_);
    next_offset = owned_.at(partition).next_offset;
  }
  auto staged = Stage(partition, next_offset, records);
  if (!staged.ok()) return staged.error();
  if (staged->run.next_offset == next_offset) return {};
  Status committed = store_->Commit(*staged->batch, staged->run.next_offset);
  if (!committed.ok()) return {ApplyFailure::kStorage, committed};
  CommitAdvisory({Committed(partition, staged->run)});
  return {};
}

std::chrono::milliseconds Processor::Backoff(int attempts) {
  const int64_t base = options_.retry_base.count();
  const int64_t cap = options_.retry_cap.count();
  int64_t backoff = base;
  for (int i = 1; i < attempts && backoff < cap; ++i) backoff *= 2;
  backoff = std::min(backoff, cap);
  // Equal jitter: processors retrying the same broken dependency do not retry in lockstep.
  const int64_t half = backoff / 2;
  return std::chrono::milliseconds(half + static_cast<int64_t>(jitter_() % (half + 1)));
}

void Processor::OnApplyFailure(int32_t partition, const kafka::ConsumedRecord& record,
                               const TypedStatus<ApplyFailure>& failed) {
  const Status& why = failed.status();
  RetryState& retry = retries_[partition];
  if (retry.attempts++ == 0) retry.first_failure_ms = WallClockMs();
  probe_->Retry(Name(failed.kind()));
  int64_t resume_from = record.offset;
  if (retry.attempts >= options_.retry_max_attempts) {
    if (options_.on_exhausted == ProcessorOptions::OnExhausted::kHalt) {
      Halt(partition, "offset " + std::to_string(record.offset) + " failed " +
                          std::to_string(retry.attempts) + " times: " + why.ToString());
      retries_.erase(partition);
      return;
    }
    Status dead = DeadLetterExhausted(partition, record, why, failed.kind(), retry);
    if (dead.ok()) {
      retries_.erase(partition);
      resume_from = record.offset + 1;
    } else {
      spdlog::error("partition {} offset {}: cannot dead-letter it yet: {}", partition,
                    record.offset, dead.ToString());
    }
  }
  // The consumer has moved past records that were not applied: read again from the failed one
  // (or the one after it), after a backoff that pauses this partition only.
  Status seek =
      consumer_->Seek({options_.events_topic, partition, resume_from}, std::chrono::seconds(5));
  if (!seek.ok()) {
    Halt(partition, "cannot seek back after a failure: " + seek.ToString());
    return;
  }
  if (retries_.count(partition) == 0) return;  // dead-lettered: carry on at once
  const auto backoff = Backoff(retry.attempts);
  spdlog::warn("partition {} offset {}: attempt {} of {} failed ({}), retrying in {} ms: {}",
               partition, record.offset, retry.attempts, options_.retry_max_attempts,
               Name(failed.kind()), backoff.count(), why.ToString());
  Status paused = consumer_->Pause({{options_.events_topic, partition, -1}});
  if (!paused.ok()) spdlog::warn("partition {}: pause: {}", partition, paused.ToString());
  retry.paused = true;
  retry.resume_at = std::chrono::steady_clock::now() + backoff;
  SetBackingOff(partition, true);
}

const DeadLetterReason* Processor::UnsettledLetter(int32_t partition, int64_t offset) const {
  auto letters = unsettled_letters_.find(partition);
  if (letters == unsettled_letters_.end()) return nullptr;
  auto letter = letters->second.find(offset);
  return letter == letters->second.end() ? nullptr : &letter->second;
}

void Processor::SetBackingOff(int32_t partition, bool backing_off) {
  std::lock_guard lock(mu_);
  auto it = owned_.find(partition);
  if (it != owned_.end()) it->second.backing_off = backing_off;
}

Status Processor::DeadLetterExhausted(int32_t partition, const kafka::ConsumedRecord& record,
                                      const Status& why, ApplyFailure failure,
                                      const RetryState& retry) {
  // Written once: when the outcome's commit fails, later attempts only commit the outcome.
  const DeadLetterReason* letter = UnsettledLetter(partition, record.offset);
  if (letter == nullptr) {
    const DeadLetterReason reason{failure, why.message(), retry.attempts, retry.first_failure_ms};
    RETURN_IF_ERROR(dead_letters_->Write(record, reason, options_.dlt_timeout));
    probe_->DeadLetter(Name(DeadLetterKind::kRetriesExhausted));
    letter = &unsettled_letters_[partition].emplace(record.offset, reason).first->second;
  }
  const DeadLetterReason& written = *letter;
  // The event's one outcome is "dead_lettered" until a redrive applies it, unless its id has
  // one already: the record is then a copy (a resubmission) of an event processed before, and
  // that outcome stays, as a duplicate's does.
  auto batch = store_->BeginBatch(partition);
  auto envelope = DecodeEvent(record);
  std::optional<v1::EventOutcomeView> original;
  if (envelope.ok()) {
    ASSIGN_OR_RETURN(original, batch->FindOutcome(envelope->instance_id(), envelope->event_id()));
  }
  if (envelope.ok() && (!original || original->outcome() == v1::DEAD_LETTERED)) {
    v1::EventOutcomeView outcome;
    outcome.set_event_id(envelope->event_id());
    outcome.set_instance_id(envelope->instance_id());
    outcome.set_outcome(v1::DEAD_LETTERED);
    outcome.set_reason(std::string(written.code_name()));
    outcome.set_message(written.error_message);
    outcome.set_partition(partition);
    outcome.set_offset(record.offset);
    outcome.set_event_type(std::string(domain::EventTypeName(*envelope)));
    RETURN_IF_ERROR(batch->PutOutcome(outcome));
  }
  if (relay_ && record.offset >= relay_->OutboxFrom(partition)) {
    batch->PutOutbox(record.offset, DeadLetteredOutcome(record, written).SerializeAsString());
  }
  RETURN_IF_ERROR(store_->Commit(*batch, record.offset + 1));
  spdlog::error("partition {} offset {}: dead-lettered after {} attempts ({}): {}", partition,
                record.offset, written.attempts, written.code_name(), written.error_message);
  {
    std::lock_guard lock(mu_);
    auto it = owned_.find(partition);
    if (it != owned_.end()) it->second.next_offset = record.offset + 1;
  }
  progressed_.notify_all();
  if (relay_) relay_->Applied(partition, record.offset + 1);
  return Status::Ok();
}

void Processor::ResumeDueRetries() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [partition, retry] : retries_) {
    if (!retry.paused || now < retry.resume_at) continue;
    Status resumed = consumer_->Resume({{options_.events_topic, partition, -1}});
    if (!resumed.ok()) spdlog::warn("partition {}: resume: {}", partition, resumed.ToString());
    retry.paused = false;
    SetBackingOff(partition, false);
  }
}

void Processor::MonitorLoop() {
  while (!stopping_) {
    // A partition being fetched learns its high watermark from every fetch response; the
    // broker is asked only for the first look and for partitions not fetched (halted, backing
    // off, held). Asking it for every partition every interval stalled the apply path for tens
    // of milliseconds each time (docs/performance.md, "Fifth pass").
    std::vector<int32_t> ask;
    {
      std::lock_guard lock(mu_);
      for (auto& [p, progress] : owned_) {
        const bool fetched = progress.high_watermark >= 0 && progress.halted.empty() &&
                             !progress.backing_off && !hold_;
        std::optional<int64_t> high;
        if (fetched) high = consumer_->FetchedHighWatermark(options_.events_topic, p);
        if (!high) {
          ask.push_back(p);
          continue;
        }
        progress.high_watermark = std::max(progress.high_watermark, *high);
        probe_->ConsumerLag(p, progress.Lag());
      }
    }
    for (int32_t p : ask) {
      auto marks =
          consumer_->QueryWatermarks(options_.events_topic, p, std::chrono::milliseconds(500));
      if (!marks.ok()) continue;
      std::lock_guard lock(mu_);
      auto it = owned_.find(p);
      if (it == owned_.end()) continue;
      it->second.high_watermark = marks->second;
      probe_->ConsumerLag(p, it->second.Lag());
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

Result<v1::Stats> Processor::Stats() const {
  if (partition_count_ <= 0) return Status::Unavailable("the processor has not started yet");
  v1::Stats stats;
  stats.set_processor(query_url_);
  const std::map<int32_t, PartitionProgress> owned = Progress();
  const std::map<int32_t, RelayProgress> relayed_by = RelayProgressSnapshot();
  int64_t total_lag = 0;
  for (int32_t p = 0; p < partition_count_; ++p) {
    v1::PartitionStats& partition = *stats.add_partitions();
    partition.set_partition(p);
    auto it = owned.find(p);
    if (it == owned.end()) {
      partition.set_owner(owners_ ? owners_->OwnerOf(p).value_or("") : "");
      partition.set_next_offset(-1);
      partition.set_high_watermark(-1);
      partition.set_lag(-1);
      continue;
    }
    const PartitionProgress& progress = it->second;
    partition.set_owner(query_url_);
    partition.set_owned(true);
    partition.set_next_offset(progress.next_offset);
    partition.set_high_watermark(progress.high_watermark);
    partition.set_lag(progress.Lag());
    total_lag += progress.Lag();
    partition.set_halted(progress.halted);
    partition.set_backing_off(progress.backing_off);
    partition.set_outcomes_published_through(-1);
    if (auto relayed = relayed_by.find(p); relayed != relayed_by.end()) {
      partition.set_outcomes_published_through(relayed->second.published_through);
      partition.set_outcomes_lag(relayed->second.Lag());
      partition.set_outcome_relay_failure(relayed->second.failure);
    }
  }
  stats.set_lag(total_lag);
  auto dlt_partitions = consumer_->PartitionCount(options_.dlt_topic, std::chrono::seconds(5));
  if (!dlt_partitions.ok()) {
    return dlt_partitions.status().WithContext("the dead-letter topic " + options_.dlt_topic);
  }
  int64_t depth = 0;
  for (int32_t p = 0; p < *dlt_partitions; ++p) {
    auto marks = consumer_->QueryWatermarks(options_.dlt_topic, p, std::chrono::seconds(5));
    if (!marks.ok()) {
      return marks.status().WithContext("the dead-letter topic " + options_.dlt_topic +
                                        " partition " + std::to_string(p));
    }
    depth += marks->second - marks->first;
  }
  stats.set_dead_letter_depth(depth);
  for (const auto& [outcome, count] : probe_->OutcomeCounts()) {
    (*stats.mutable_outcomes())[outcome] = count;
  }
  return stats;
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
  if (reached && it->second.next_offset > offset) return Status::Ok();
  lock.unlock();
  // Every 202's offset lies below the log's end (acks=all), so an offset at or past it came from
  // no 202: say so rather than let the caller retry a wait that cannot end.
  auto marks =
      consumer_->QueryWatermarks(options_.events_topic, partition, std::chrono::seconds(2));
  if (marks.ok() && offset >= marks->second) {
    return Status::InvalidArgument("min_offset " + std::to_string(offset) +
                                   " is beyond the end of partition " + std::to_string(partition) +
                                   "'s log (next offset " + std::to_string(marks->second) +
                                   "): pass the offset of a 202");
  }
  return Status::Timeout("offset " + std::to_string(offset) + " of partition " +
                         std::to_string(partition) + " is not applied yet");
}

}  // namespace kledger::processors
