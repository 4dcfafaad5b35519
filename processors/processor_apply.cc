// One poll, from poll to commit: the apply thread's path, read top-down (README.md, "One poll,
// from poll to commit", draws it). ApplyPoll stages the poll's records and picks a commit
// strategy; the careful path applies one record per commit; a failure goes to the partition's
// state machine (partition_state.h), whose decision ends here in a backoff, a dead letter or a
// halt.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/wall_clock.h"
#include "processors/internal/processor_impl.h"

namespace kledger::processors::internal {
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

// The commit of staged batches: each with its partition's next offset.
template <typename Staged>
std::vector<projections::ProjectionStore::PartitionCommit> CommitsOf(std::vector<Staged>& staged) {
  std::vector<projections::ProjectionStore::PartitionCommit> commits;
  for (auto& s : staged) commits.push_back({s.batch.get(), s.run.next_offset});
  return commits;
}

}  // namespace

void ProcessorImpl::ApplyLoop() {
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
    if (polled->empty()) {
      (void)FinishInFlight();  // idle: settle now rather than with the next records
      continue;
    }
    // Records arrive in log order per partition; keep that order, group by partition.
    Polled by_partition;
    for (auto& record : *polled) by_partition[record.partition].push_back(std::move(record));
    ApplyPoll(by_partition);
  }
  (void)FinishInFlight();
  Status closed = consumer_->Close();
  if (!closed.ok()) spdlog::warn("leaving the consumer group: {}", closed.ToString());
}

void ProcessorImpl::ApplyPoll(Polled& polled) {
  const bool all_flowing = std::all_of(states_.begin(), states_.end(), [](const auto& state) {
    return state.second.IsFlowing() || state.second.IsHalted();
  });
  if (options_.pipelined_writes && all_flowing) {
    // Every flowing partition's records go into a batch of its own, stacked on the partition's
    // in-flight batch: it reads that batch's writes as committed. Anything unusual (a batch that
    // fails, a write below that failed) sends the whole poll down the careful path instead, once
    // the write below has ended.
    StagedPoll poll = StagePoll(polled, /*on_in_flight=*/true);
    const bool below_written = FinishInFlight().ok();
    if (poll.careful.empty() && below_written) return WriteBehind(std::move(poll.staged));
    Unstage(poll, polled);
  }
  // The careful path: staged on committed state only; a partition that is retrying, or whose
  // batch failed, one record per commit, so that the failing record is found and retried alone.
  (void)FinishInFlight();
  StagedPoll poll = StagePoll(polled, /*on_in_flight=*/false);
  for (Careful& careful : poll.careful) {
    if (careful.failed && careful.records.size() == 1) {
      OnApplyFailure(careful.partition, careful.records[0], *careful.failed);
    } else {
      ApplyOneByOne(careful.partition, careful.records);
    }
  }
  CommitNow(poll.staged);
}

ProcessorImpl::StagedPoll ProcessorImpl::StagePoll(Polled& polled, bool on_in_flight) {
  StagedPoll poll;
  for (auto& [partition, records] : polled) {
    auto state = states_.find(partition);
    if (state == states_.end()) continue;  // revoked since it was fetched
    if (state->second.IsHalted()) {
      // Assigned halted: the pause could not come before the assignment, so it comes now.
      Status paused = consumer_->Pause({{options_.events_topic, partition, -1}});
      if (!paused.ok()) spdlog::warn("partition {}: pause: {}", partition, paused.ToString());
      continue;
    }
    // Fetched before a backoff paused the partition: they come again after its seek.
    if (state->second.IsBackingOff()) continue;
    const Staged* below = nullptr;
    if (on_in_flight && in_flight_) {
      for (const auto& s : in_flight_->staged) {
        if (s.partition == partition) below = &s;
      }
    }
    const int64_t next_offset = below ? below->run.next_offset : CommittedOffset(partition);
    std::vector<kafka::ConsumedRecord> pending = TakeUnapplied(records, next_offset);
    if (pending.empty()) continue;
    if (state->second.AppliesOneByOne()) {
      poll.careful.push_back({partition, std::move(pending), std::nullopt});
      continue;
    }
    auto applied = Stage(partition, next_offset, pending, below ? below->batch.get() : nullptr);
    if (!applied.ok()) {
      poll.careful.push_back({partition, std::move(pending), applied.error()});
      continue;
    }
    if (applied->run.next_offset == next_offset) {  // nothing new
      records = std::move(pending);
      continue;
    }
    applied->records = std::move(pending);
    poll.staged.push_back(std::move(*applied));
  }
  return poll;
}

void ProcessorImpl::Unstage(StagedPoll& poll, Polled& polled) {
  for (auto& s : poll.staged) polled[s.partition] = std::move(s.records);
  for (auto& careful : poll.careful) polled[careful.partition] = std::move(careful.records);
  poll = {};
}

TypedResult<ProcessorImpl::Staged, ApplyFailure> ProcessorImpl::Stage(
    int32_t partition, int64_t next_offset, const std::vector<kafka::ConsumedRecord>& records,
    const projections::ProjectionStore::Batch* below) {
  ApplyFailure failure = ApplyFailure::kStorage;  // unless a dead letter is not acknowledged
  auto poison = [&](const kafka::ConsumedRecord& record, const DeadLetterReason& why) {
    Status written = WriteLetterOnce(partition, record, why);
    if (!written.ok()) failure = ApplyFailure::kDeadLetterWrite;
    return written;
  };
  Staged staged{partition, store_->BeginBatch(partition, below), {}, {}};
  const OutboxOptions outbox{relay_ != nullptr, relay_ ? relay_->OutboxFrom(partition) : 0};
  Result<ApplyRun> run =
      ApplyRecords(*staged.batch, next_offset, records, poison, options_.projections, outbox);
  if (!run.ok()) return {failure, run.status()};
  staged.run = *std::move(run);
  return staged;
}

void ProcessorImpl::WriteBehind(std::vector<Staged> staged) {
  if (staged.empty()) return;
  // The batches below (the previous in-flight commit) are written: read the store from now on.
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
    // Visible at once (progress, ?min_offset= waiters, metrics); the cache, the dead letters and
    // the group's advisory offsets are settled on the apply thread (FinishInFlight).
    if (written.ok()) {
      for (const auto& s : flight->staged) {
        flight->offsets.push_back(RecordCommitted(s.partition, s.run));
      }
    }
    return written;
  });
}

void ProcessorImpl::CommitNow(std::vector<Staged>& staged) {
  if (staged.empty()) return;
  Status committed = store_->Commit(CommitsOf(staged));
  if (!committed.ok()) return RetryEachAlone(staged, committed);
  std::vector<kafka::TopicPartition> offsets;
  for (auto& s : staged) offsets.push_back(RecordCommitted(s.partition, s.run));
  AfterCommit(offsets);
}

Status ProcessorImpl::FinishInFlight() {
  if (!in_flight_) return Status::Ok();
  Status written = writer_.Wait();
  std::unique_ptr<InFlight> flight = std::move(in_flight_);
  store_->FinishCommit(*flight->prepared, written.ok());
  if (written.ok()) {
    AfterCommit(flight->offsets);
    return Status::Ok();
  }
  RetryEachAlone(flight->staged, written);
  return written;
}

void ProcessorImpl::RetryEachAlone(std::vector<Staged>& staged, const Status& why) {
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

void ProcessorImpl::ApplyOneByOne(int32_t partition,
                                  const std::vector<kafka::ConsumedRecord>& records) {
  auto owned = states_.find(partition);
  if (owned == states_.end()) return;  // revoked meanwhile: its next owner applies them
  PartitionState& state = owned->second;
  for (const auto& record : records) {
    if (state.phase() == PartitionState::Phase::kDeadLettering &&
        record.offset == state.failing_offset()) {
      Status settled = DeadLetterExhausted(partition, record, state);
      if (!settled.ok()) {
        spdlog::error("partition {} offset {}: cannot dead-letter it yet: {}", partition,
                      record.offset, settled.ToString());
        state.DeadLetterFailed(retry_, Clock::now(), jitter_);
        return BackOff(partition, record.offset);
      }
      state.DeadLettered();
      continue;
    }
    if (state.phase() == PartitionState::Phase::kDeadLettering &&
        record.offset > state.failing_offset()) {
      // Never applied past the exhausted record: it is dead-lettered first, when read again.
      (void)SeekBack(partition, state.failing_offset());
      return;
    }
    TypedStatus<ApplyFailure> applied = ApplyAndCommit(partition, record);
    if (!applied.ok()) return OnApplyFailure(partition, record, applied);
    if (const int failed = state.Applied(); failed > 0) {
      spdlog::info("partition {} offset {}: applied after {} failed attempt(s)", partition,
                   record.offset, failed);
    }
  }
}

TypedStatus<ApplyFailure> ProcessorImpl::ApplyAndCommit(int32_t partition,
                                                        const kafka::ConsumedRecord& record) {
  const int64_t next_offset = CommittedOffset(partition);
  auto staged = Stage(partition, next_offset, {record});
  if (!staged.ok()) return staged.error();
  if (staged->run.next_offset == next_offset) return {};
  Status committed = store_->Commit(*staged->batch, staged->run.next_offset);
  if (!committed.ok()) return {ApplyFailure::kStorage, committed};
  AfterCommit({RecordCommitted(partition, staged->run)});
  return {};
}

void ProcessorImpl::OnApplyFailure(int32_t partition, const kafka::ConsumedRecord& record,
                                   const TypedStatus<ApplyFailure>& failed) {
  auto owned = states_.find(partition);
  if (owned == states_.end()) return;  // revoked meanwhile: its next owner applies it
  PartitionState& state = owned->second;
  probe_->Retry(Name(failed.kind()));
  switch (state.Failed(record.offset, failed, retry_, Clock::now(), WallClockMs(), jitter_)) {
    case PartitionState::Phase::kHalted:
      return Halt(partition, state.halted_reason());
    case PartitionState::Phase::kDeadLettering:
      // Read again at once: the next poll meets it first, and dead-letters it (ApplyOneByOne).
      spdlog::warn("partition {} offset {}: {} attempts failed ({}), dead-lettering it: {}",
                   partition, record.offset, state.attempts(), Name(failed.kind()),
                   failed.status().ToString());
      (void)SeekBack(partition, record.offset);
      return;
    default:
      spdlog::warn(
          "partition {} offset {}: attempt {} of {} failed ({}), retrying in {} ms: {}", partition,
          record.offset, state.attempts(), retry_.max_attempts, Name(failed.kind()),
          std::chrono::duration_cast<std::chrono::milliseconds>(state.resume_at() - Clock::now())
              .count(),
          failed.status().ToString());
      return BackOff(partition, record.offset);
  }
}

Status ProcessorImpl::WriteLetterOnce(int32_t partition, const kafka::ConsumedRecord& record,
                                      const DeadLetterReason& why) {
  if (UnsettledLetter(partition, record.offset) != nullptr) {
    spdlog::info(
        "partition {} offset {}: already in the dead-letter topic (a commit past it "
        "failed); not written again",
        partition, record.offset);
    return Status::Ok();
  }
  RETURN_IF_ERROR(dead_letters_->Write(record, why, options_.dlt_timeout));
  unsettled_letters_[partition].emplace(record.offset, why);
  spdlog::error("partition {} offset {}: dead-lettered as {} ({}) after {} attempt(s): {}",
                partition, record.offset, Name(why.kind()), why.code_name(), why.attempts,
                why.error_message);
  probe_->DeadLetter(Name(why.kind()));
  return Status::Ok();
}

Status ProcessorImpl::DeadLetterExhausted(int32_t partition, const kafka::ConsumedRecord& record,
                                          const PartitionState& state) {
  RETURN_IF_ERROR(WriteLetterOnce(partition, record,
                                  {state.last_failure(), state.last_error().message(),
                                   state.attempts(), state.first_failure_ms()}));
  // Written once: when the outcome's commit fails, later attempts only commit the outcome.
  const DeadLetterReason& written = *UnsettledLetter(partition, record.offset);
  auto batch = store_->BeginBatch(partition);
  const OutboxOptions outbox{relay_ != nullptr, relay_ ? relay_->OutboxFrom(partition) : 0};
  RETURN_IF_ERROR(RecordDeadLettered(*batch, record, written, outbox));
  RETURN_IF_ERROR(store_->Commit(*batch, record.offset + 1));
  AfterCommit({RecordCommitted(partition, {.next_offset = record.offset + 1, .records = {}})});
  return Status::Ok();
}

void ProcessorImpl::BackOff(int32_t partition, int64_t offset) {
  if (!SeekBack(partition, offset)) return;
  Status paused = consumer_->Pause({{options_.events_topic, partition, -1}});
  if (!paused.ok()) spdlog::warn("partition {}: pause: {}", partition, paused.ToString());
  Publish(partition);
}

bool ProcessorImpl::SeekBack(int32_t partition, int64_t offset) {
  Status seek =
      consumer_->Seek({options_.events_topic, partition, offset}, std::chrono::seconds(5));
  if (seek.ok()) return true;
  Halt(partition, "cannot seek back after a failure: " + seek.ToString());
  return false;
}

kafka::TopicPartition ProcessorImpl::RecordCommitted(int32_t partition, const ApplyRun& run) {
  for (const auto& r : run.records) {
    probe_->EventProcessed(r.event_type, r.outcome, r.apply_seconds, r.end_to_end_seconds,
                           r.event_id, r.correlation_id);
  }
  {
    std::lock_guard lock(mu_);
    auto it = owned_.find(partition);
    if (it != owned_.end()) {
      it->second.next_offset = run.next_offset;
      // The lag falls when the commit lands, not at the monitor's next look: the gauge and
      // Progress() agree (the monitor raises it as the log grows).
      probe_->ConsumerLag(partition, it->second.Lag());
    }
  }
  progressed_.notify_all();
  if (relay_) relay_->Applied(partition, run.next_offset);
  return {options_.events_topic, partition, run.next_offset};
}

void ProcessorImpl::AfterCommit(const std::vector<kafka::TopicPartition>& offsets) {
  for (const auto& committed : offsets) {
    // Committed past them: those dead letters are settled.
    if (auto letters = unsettled_letters_.find(committed.partition);
        letters != unsettled_letters_.end()) {
      letters->second.erase(letters->second.begin(), letters->second.lower_bound(committed.offset));
    }
  }
  // Advisory only: the truth is the offset committed with the state.
  Status advisory = consumer_->CommitAsync(offsets);
  if (!advisory.ok()) spdlog::debug("advisory offset commit: {}", advisory.ToString());
}

void ProcessorImpl::ResumeDueRetries() {
  const auto now = Clock::now();
  for (auto& [partition, state] : states_) {
    if (!state.ResumeIfDue(now)) continue;
    Status resumed = consumer_->Resume({{options_.events_topic, partition, -1}});
    if (!resumed.ok()) spdlog::warn("partition {}: resume: {}", partition, resumed.ToString());
    Publish(partition);
  }
}

void ProcessorImpl::FollowHold(bool hold) {
  std::vector<kafka::TopicPartition> partitions;
  for (const auto& [partition, state] : states_) {
    if (state.IsFetched()) partitions.push_back({options_.events_topic, partition, -1});
  }
  Status changed = hold ? consumer_->Pause(partitions) : consumer_->Resume(partitions);
  if (!changed.ok()) {
    spdlog::warn("{} for a hold: {}", hold ? "pause" : "resume", changed.ToString());
  }
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

void ProcessorImpl::Halt(int32_t partition, const std::string& why) {
  spdlog::error("partition {} HALTED: {}", partition, why);
  Status paused = consumer_->Pause({{options_.events_topic, partition, -1}});
  if (!paused.ok()) spdlog::error("partition {}: pausing failed: {}", partition, paused.ToString());
  if (auto state = states_.find(partition); state != states_.end() && !state->second.IsHalted()) {
    state->second.Halt(why);
  }
  Publish(partition);
}

void ProcessorImpl::Publish(int32_t partition) {
  auto state = states_.find(partition);
  if (state == states_.end()) return;
  std::lock_guard lock(mu_);
  auto it = owned_.find(partition);
  if (it == owned_.end()) return;
  it->second.halted = state->second.IsHalted() ? state->second.halted_reason() : "";
  it->second.backing_off = state->second.IsBackingOff();
  probe_->HaltedPartitions(HaltedCountLocked());
}

const DeadLetterReason* ProcessorImpl::UnsettledLetter(int32_t partition, int64_t offset) const {
  auto letters = unsettled_letters_.find(partition);
  if (letters == unsettled_letters_.end()) return nullptr;
  auto letter = letters->second.find(offset);
  return letter == letters->second.end() ? nullptr : &letter->second;
}

int64_t ProcessorImpl::CommittedOffset(int32_t partition) const {
  std::lock_guard lock(mu_);
  return owned_.at(partition).next_offset;
}

}  // namespace kledger::processors::internal
