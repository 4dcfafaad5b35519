// The processor behind processor.h: its members and helpers, for processor.cc (lifecycle,
// rebalances, the monitor and the queries) and processor_apply.cc (one poll from poll to commit,
// drawn in README.md). Nothing outside those two files includes this.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "processors/applier.h"
#include "processors/dead_letter.h"
#include "processors/failure.h"
#include "processors/internal/write_thread.h"
#include "processors/outcome_relay.h"
#include "processors/ownership.h"
#include "processors/partition_state.h"
#include "processors/processor.h"
#include "processors/processor_probe.h"

namespace kledger::processors::internal {

class ProcessorImpl final : public Processor, private kafka::RebalanceListener {
 public:
  // The store, producer and probe are ready; Connect() makes the consumer and the relay.
  ProcessorImpl(ProcessorOptions options, std::unique_ptr<projections::ProjectionStore> store,
                std::unique_ptr<kafka::Producer> dlt_producer,
                std::unique_ptr<ProcessorProbe> probe);
  ~ProcessorImpl() override;  // stops
  Status Connect(const kafka::Properties& props, prometheus::Registry& registry);
  // The part of the relay's transactional id that tells this processor from the others: its
  // host and data directory.
  std::string RelayIdentity() const;

  Status Start(const std::string& query_url) override;
  void Stop() override;
  projections::ProjectionStore& store() override { return *store_; }
  std::string NotReadyReason() const override;
  std::map<int32_t, PartitionProgress> Progress() const override;
  Status WaitForOffset(int32_t partition, int64_t offset,
                       std::chrono::milliseconds timeout) override;
  InstanceRoute Route(std::string_view instance) const override;
  Result<v1::Stats> Stats() const override;
  const kafka::Properties& props() const override { return props_; }
  const ProcessorOptions& options() const override { return options_; }
  std::map<int32_t, RelayProgress> RelayProgressSnapshot() const override {
    return relay_ ? relay_->Progress() : std::map<int32_t, RelayProgress>{};
  }
  std::string Failure() const override;
  void Hold(bool hold) override { hold_ = hold; }

 private:
  // One poll's records, by partition, each in log order.
  using Polled = std::map<int32_t, std::vector<kafka::ConsumedRecord>>;
  // A partition's records applied to a batch not yet committed.
  struct Staged {
    int32_t partition;
    std::unique_ptr<projections::ProjectionStore::Batch> batch;
    ApplyRun run;
    std::vector<kafka::ConsumedRecord> records;  // what was applied, for a retry one by one
  };
  // A partition whose records go one per commit: it is retrying, or its batch failed (`failed`,
  // kept so that a single record's failure is not tried twice).
  struct Careful {
    int32_t partition;
    std::vector<kafka::ConsumedRecord> records;
    std::optional<TypedStatus<ApplyFailure>> failed;
  };
  // One poll, staged.
  struct StagedPoll {
    std::vector<Staged> staged;    // batches to commit together
    std::vector<Careful> careful;  // partitions to apply one record at a time
  };
  // A poll's commit being written on the write thread (apply thread only).
  struct InFlight {
    std::vector<Staged> staged;
    std::unique_ptr<projections::ProjectionStore::PreparedCommit> prepared;
    std::vector<kafka::TopicPartition> offsets;  // set by the write thread once written
  };

  // --- processor.cc: rebalances (called on the apply thread inside Poll()), monitor, failure.
  void OnAssigned(std::vector<kafka::TopicPartition>& partitions) override;
  void OnRevoked(const std::vector<kafka::TopicPartition>& partitions, bool lost) override;
  // For a newly assigned partition: Ok, or why its log no longer holds what the store expects.
  // May move `start_offset` to where the log starts, so that a halted partition's fetch does not
  // fail the whole consumer.
  std::string CheckLogStart(int32_t partition, int64_t next_offset, int64_t& start_offset);
  void MonitorLoop();
  int HaltedCountLocked() const;  // requires mu_
  void Fail(const std::string& why);

  // --- processor_apply.cc, in the order one poll meets them.
  void ApplyLoop();
  // Applies one poll's records; see README.md, "One poll, from poll to commit".
  void ApplyPoll(Polled& polled);
  // Stages every partition of `polled` that is owned and neither halted nor backing off: a
  // flowing one into a batch of its own (stacked on its in-flight batch when `on_in_flight`),
  // others into `careful`. Takes the records it stages out of `polled`.
  StagedPoll StagePoll(Polled& polled, bool on_in_flight);
  // Puts a staged poll's records back into `polled`, to be staged again the careful way.
  static void Unstage(StagedPoll& poll, Polled& polled);
  // Applies `records` (one partition, log order) from `next_offset` into a new batch, stacked on
  // `below` (the in-flight batch of the partition) when set.
  TypedResult<Staged, ApplyFailure> Stage(
      int32_t partition, int64_t next_offset, const std::vector<kafka::ConsumedRecord>& records,
      const projections::ProjectionStore::Batch* below = nullptr);
  // Commit strategy "pipelined": prepares one commit of every staged batch and writes it on the
  // write thread; FinishInFlight() settles it.
  void WriteBehind(std::vector<Staged> staged);
  // Commit strategy "now": one commit of every staged batch, written before it returns.
  void CommitNow(std::vector<Staged>& staged);
  // Waits for the in-flight commit and settles it; when its write failed, applies its records
  // again one partition and one record at a time, and returns the failure.
  Status FinishInFlight();
  // After a failed commit of `staged`: each partition's records again, one by one.
  void RetryEachAlone(std::vector<Staged>& staged, const Status& why);
  // Applies `records` one per commit, settling an exhausted record as a dead letter; stops at the
  // first that fails (OnApplyFailure).
  void ApplyOneByOne(int32_t partition, const std::vector<kafka::ConsumedRecord>& records);
  // Applies `record` in one WriteBatch committed with the partition's next offset.
  TypedStatus<ApplyFailure> ApplyAndCommit(int32_t partition, const kafka::ConsumedRecord& record);
  // `record` failed: the partition's state machine decides — back off, dead-letter or halt.
  void OnApplyFailure(int32_t partition, const kafka::ConsumedRecord& record,
                      const TypedStatus<ApplyFailure>& failed);
  // The settle path of a record that is never applied, poison and exhausted alike: writes its
  // dead letter unless this process already did (its commit failed since), and remembers it
  // until a commit past it.
  Status WriteLetterOnce(int32_t partition, const kafka::ConsumedRecord& record,
                         const DeadLetterReason& why);
  // Dead-letters the exhausted `record` (as retries_exhausted, from `state`'s attempts) and
  // commits its outcome past it.
  Status DeadLetterExhausted(int32_t partition, const kafka::ConsumedRecord& record,
                             const PartitionState& state);
  // Seeks `partition` back to `offset` and pauses it until its state's backoff is due.
  void BackOff(int32_t partition, int64_t offset);
  // The consumer has moved past records that were not applied: read again from `offset`. False
  // (and the partition halted) when the seek fails.
  bool SeekBack(int32_t partition, int64_t offset);
  // Records a commit: metrics, the partition's progress (waiters wake) and the relay's due
  // outcomes. Runs on the write thread for a pipelined commit. Returns the group offset.
  kafka::TopicPartition RecordCommitted(int32_t partition, const ApplyRun& run);
  // After commits are recorded (apply thread): dead letters below them settled, and the
  // consumer group's offsets, one request for all partitions; advisory only.
  void AfterCommit(const std::vector<kafka::TopicPartition>& offsets);
  void ResumeDueRetries();
  // Pauses (hold) or resumes every owned partition that is neither halted nor backing off.
  void FollowHold(bool hold);
  void Halt(int32_t partition, const std::string& why);
  // Copies `partition`'s state into its published progress (Progress(), the monitor, metrics).
  void Publish(int32_t partition);
  // The dead letter this process wrote for `offset` and has not committed past; null if none.
  const DeadLetterReason* UnsettledLetter(int32_t partition, int64_t offset) const;
  int64_t CommittedOffset(int32_t partition) const;

  ProcessorOptions options_;
  RetryPolicy retry_;  // from options_
  kafka::Properties props_;
  std::unique_ptr<projections::ProjectionStore> store_;
  std::unique_ptr<kafka::Producer> dlt_producer_;
  std::unique_ptr<ProcessorProbe> probe_;
  std::unique_ptr<DeadLetterWriter> dead_letters_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::unique_ptr<OwnershipDirectory> owners_;
  std::unique_ptr<OutcomeRelay> relay_;  // null when options_.outcomes_topic is empty
  int32_t partition_count_ = 0;          // set by Start()
  std::string query_url_;                // set by Start()

  mutable std::mutex mu_;
  std::condition_variable progressed_;
  std::map<int32_t, PartitionProgress> owned_;  // guarded by mu_
  bool joined_ = false;                         // guarded by mu_
  std::string failure_;                         // guarded by mu_

  // Apply thread only: each owned partition's phase (partition_state.h).
  std::map<int32_t, PartitionState> states_;
  // Records this process dead-lettered whose commit past them has not been seen yet, by
  // partition and offset (apply thread only). A batch applied again after a failed commit does
  // not write them twice, and a record dead-lettered for exhausted retries is never applied:
  // only its outcome is left to commit.
  std::map<int32_t, std::map<int64_t, DeadLetterReason>> unsettled_letters_;
  std::unique_ptr<InFlight> in_flight_;  // apply thread only
  WriteThread writer_;
  std::mt19937_64 jitter_{std::random_device{}()};  // backoff jitter only; never decides outcomes

  std::atomic<bool> stopping_{false};
  std::atomic<bool> hold_{false};
  bool holding_ = false;  // what FollowHold last did (apply thread only)
  std::thread apply_thread_;
  std::thread monitor_thread_;
};

}  // namespace kledger::processors::internal
