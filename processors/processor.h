// A processor: one member of the consumer group that applies kledger.events to its RocksDB
// projections, exactly once in effect. Threads: one apply thread (Kafka poll, state machine), one
// write thread (each poll's RocksDB write, while the apply thread applies the next poll), one
// monitor thread (watermarks, lag); HTTP query threads only read.
#pragma once

#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "common/kafka/properties.h"
#include "common/status.h"
#include "processors/applier.h"
#include "processors/dead_letter.h"
#include "processors/failure.h"
#include "processors/outcome_relay.h"
#include "processors/ownership.h"
#include "processors/processor_probe.h"
#include "projections/projection.h"
#include "projections/store.h"

namespace kledger::processors {

struct ProcessorOptions {
  std::string events_topic = "kledger.events";   // the log; default "kledger.events"
  std::string dlt_topic = "kledger.events.dlt";  // dead letters; default "kledger.events.dlt"
  // The outcome stream (outcome_relay.h), one record per record applied; "" publishes none.
  // Default "kledger.outcomes".
  std::string outcomes_topic = "kledger.outcomes";
  std::string group = "kledger-processors";    // consumer group; default "kledger-processors"
  std::string data_dir = "data/processor";     // RocksDB directory; default "data/processor"
  projections::StoreOptions store;             // RocksDB settings; its path is data_dir
  size_t max_batch_records = 2000;             // records applied per WriteBatch; default 2000
  std::chrono::milliseconds poll_timeout{50};  // wait for records per poll; default 50 ms
  // Transient failures (storage) are retried in place, pausing only the failing partition, with
  // exponential backoff and jitter: base * 2^(attempt-1), at most the cap, then between half of
  // that and all of it.
  std::chrono::milliseconds retry_base{100};   // first backoff; default 100 ms
  std::chrono::milliseconds retry_cap{10000};  // longest backoff; default 10 s
  int retry_max_attempts = 5;                  // attempts before giving up; default 5
  // When a record's attempts are exhausted: dead-letter it and go on, or halt the partition.
  enum class OnExhausted { kDeadLetter, kHalt };
  OnExhausted on_exhausted = OnExhausted::kDeadLetter;  // default dead_letter
  // Read models beyond the ledger's own (projection.h); `kledger rebuild` needs the same list
  // for equal digests. Default none.
  projections::Projections projections;
  std::chrono::milliseconds dlt_timeout{10000};      // DLT acknowledgement wait; default 10 s
  std::chrono::milliseconds monitor_interval{1000};  // watermark/lag refresh; default 1 s
  std::string owners_topic = "kledger.owners";       // who owns what; default "kledger.owners"
  std::chrono::milliseconds read_your_writes_timeout{10000};  // ?min_offset= wait; default 10 s
  // Apply a partition even when its log starts above the stored offset (records were deleted by
  // retention or truncation) — the projections then miss those events. Default false: halt.
  bool allow_log_gaps = false;
  // Write each poll's commit to RocksDB on a second thread while the next poll is applied on top
  // of it (read through, never committed before it). Off: the apply thread writes and waits.
  // Default true.
  bool pipelined_writes = true;
};

// Where an instance's events live and whether this processor serves them.
struct InstanceRoute {
  int32_t partition = -1;
  bool owned = false;
  std::string owner_url;  // when not owned: the owner's query URL if announced, else empty
};

// What a processor knows about one partition it owns.
struct PartitionProgress {
  int64_t next_offset = 0;      // the next offset to apply (everything below is applied)
  int64_t high_watermark = -1;  // the log's end as last seen; -1 before the first look
  std::string halted;           // why this partition stopped, empty while it flows
  bool backing_off = false;     // paused until a failed record's retry is due
  // Records in the log not yet applied; 0 before the first look at the log's end.
  int64_t Lag() const {
    return high_watermark < 0 ? 0 : std::max<int64_t>(0, high_watermark - next_offset);
  }
};

class Processor : private kafka::RebalanceListener {
 public:
  // Opens the store in options.data_dir and connects to Kafka (props: bootstrap.servers and any
  // -X overrides). Nothing is consumed until Start().
  static Result<std::unique_ptr<Processor>> Create(const kafka::Properties& props,
                                                   ProcessorOptions options,
                                                   prometheus::Registry& registry);
  ~Processor() override;  // stops

  // Joins the group and starts the apply and monitor threads. `query_url` is where this
  // processor's query API answers, announced to the other processors for 421 answers.
  // NotFound when the events topic does not exist.
  Status Start(const std::string& query_url);
  // Leaves the group cleanly and joins the threads. Idempotent.
  void Stop();

  projections::ProjectionStore& store() { return *store_; }

  // Empty when ready to serve (joined the group, every owned partition caught up to the
  // high watermark it saw, none halted); otherwise why not.
  std::string NotReadyReason() const;

  // A snapshot of the partitions this processor owns.
  std::map<int32_t, PartitionProgress> Progress() const;

  // Waits until `partition`'s next offset is above `offset` (the record is applied) or `timeout`
  // passes. Otherwise FailedPrecondition (not owned), InvalidArgument (`offset` is at or past the
  // log's end, so no 202 gave it) or Timeout.
  Status WaitForOffset(int32_t partition, int64_t offset, std::chrono::milliseconds timeout);

  // The partition of `instance` (murmur2, as the command side's producer) and its owner.
  InstanceRoute Route(std::string_view instance) const;

  // GET /v1/stats: every partition's owner, the owned ones' offsets, lag and state, the
  // dead-letter topic's depth (asked of Kafka now) and this processor's outcome counts.
  // Unavailable before Start() or when Kafka does not answer.
  Result<v1::Stats> Stats() const;

  // The Kafka client properties it was made with (bootstrap.servers and -X overrides), for the
  // dead-letter routes' own readers and producers.
  const kafka::Properties& props() const { return props_; }

  const ProcessorOptions& options() const { return options_; }

  // The outcome relay's view of each owned partition; empty when it publishes no outcomes.
  std::map<int32_t, RelayProgress> RelayProgressSnapshot() const {
    return relay_ ? relay_->Progress() : std::map<int32_t, RelayProgress>{};
  }

  // A fatal stop of the whole processor (e.g. the consumer failed); empty while running.
  std::string Failure() const;

  // While held, the processor stays in the group and answers queries but fetches and applies
  // nothing (every owned partition is paused at the consumer); Hold(false) carries on. For
  // `kledger benchmark`, which measures the command path and the apply path each on its own.
  void Hold(bool hold) { hold_ = hold; }

 private:
  Processor(ProcessorOptions options, std::unique_ptr<projections::ProjectionStore> store,
            std::unique_ptr<kafka::Producer> dlt_producer, std::unique_ptr<ProcessorProbe> probe);

  // kafka::RebalanceListener, called on the apply thread inside Poll().
  void OnAssigned(std::vector<kafka::TopicPartition>& partitions) override;
  void OnRevoked(const std::vector<kafka::TopicPartition>& partitions, bool lost) override;

  // A record of one partition that keeps failing to apply (apply thread only).
  struct RetryState {
    int attempts = 0;
    int64_t first_failure_ms = 0;
    bool paused = false;
    std::chrono::steady_clock::time_point resume_at;
  };

  void ApplyLoop();
  // Pauses (hold) or resumes every owned partition that is neither halted nor backing off.
  void FollowHold(bool hold);
  void MonitorLoop();
  // The dead letter this process wrote for `offset` and has not committed past; null if none.
  const DeadLetterReason* UnsettledLetter(int32_t partition, int64_t offset) const;
  // Records (for the monitor) that `partition` is paused for a retry's backoff, or no longer.
  void SetBackingOff(int32_t partition, bool backing_off);
  // A partition's records applied to a batch not yet committed.
  struct Staged {
    int32_t partition;
    std::unique_ptr<projections::ProjectionStore::Batch> batch;
    ApplyRun run;
    std::vector<kafka::ConsumedRecord> records;  // what was applied, for a retry one by one
  };
  // Runs one job at a time on its own thread (kl-write): the in-flight commit's write.
  class WriteThread {
   public:
    WriteThread();
    ~WriteThread();
    void Start(std::function<Status()> job);  // requires no job running
    Status Wait();                            // the last job's result; Ok when none ran
   private:
    std::mutex mu_;
    std::condition_variable changed_;
    std::function<Status()> job_;  // guarded by mu_; set while a job waits or runs
    Status result_;                // guarded by mu_
    bool stop_ = false;            // guarded by mu_
    std::thread thread_;
  };
  // A poll's commit being written on the write thread (apply thread only).
  struct InFlight {
    std::vector<Staged> staged;
    std::unique_ptr<projections::ProjectionStore::PreparedCommit> prepared;
    std::vector<kafka::TopicPartition> offsets;  // set by the write thread once written
  };

  // Applies one poll's records: the flowing partitions' batches in one commit, written while the
  // next poll is applied (pipelined_writes); a partition that is retrying, or whose batch failed,
  // one record per commit so the failing one is retried. Takes the records out of `polled`.
  void ApplyPolled(std::map<int32_t, std::vector<kafka::ConsumedRecord>>& polled);
  // The same, committing before it returns.
  void ApplyPolledNow(std::map<int32_t, std::vector<kafka::ConsumedRecord>>& polled);
  // Waits for the in-flight commit and settles it; when its write failed, applies its records
  // again one partition and one record at a time, and returns the failure.
  Status FinishInFlight();
  // The commit of `staged`: each batch with its partition's next offset.
  static std::vector<projections::ProjectionStore::PartitionCommit> CommitsOf(
      std::vector<Staged>& staged);
  // After a failed commit of `staged`: each partition's records again, one by one.
  void RetryEachAlone(std::vector<Staged>& staged, const Status& why);
  // Whether `partition` is owned, not halted and not backing off; then sets its next offset.
  bool Flowing(int32_t partition, int64_t& next_offset);
  void ApplyOneByOne(int32_t partition, const std::vector<kafka::ConsumedRecord>& records);
  // Applies `records` (one partition, log order) from `next_offset` into a new batch, stacked on
  // `below` (the in-flight batch of the partition) when set.
  TypedResult<Staged, ApplyFailure> Stage(
      int32_t partition, int64_t next_offset, const std::vector<kafka::ConsumedRecord>& records,
      const projections::ProjectionStore::Batch* below = nullptr);
  // After a commit: metrics and the partition's progress. Returns the offset to commit to the
  // consumer group.
  kafka::TopicPartition Committed(int32_t partition, const ApplyRun& run);
  // The consumer group's offsets, one request for all partitions; advisory only.
  void CommitAdvisory(const std::vector<kafka::TopicPartition>& offsets);
  // Applies `records` in one WriteBatch committed with the partition's next offset.
  TypedStatus<ApplyFailure> ApplyAndCommit(int32_t partition,
                                           const std::vector<kafka::ConsumedRecord>& records);
  // `record` failed: back off (partition paused, re-read from it later), or when its attempts
  // are exhausted, dead-letter it or halt.
  void OnApplyFailure(int32_t partition, const kafka::ConsumedRecord& record,
                      const TypedStatus<ApplyFailure>& failed);
  // Dead-letters `record` as retries_exhausted, records its outcome and moves past it.
  Status DeadLetterExhausted(int32_t partition, const kafka::ConsumedRecord& record,
                             const Status& why, ApplyFailure failure, const RetryState& retry);
  void ResumeDueRetries();
  std::chrono::milliseconds Backoff(int attempts);
  void Halt(int32_t partition, const std::string& why);
  // For a newly assigned partition: Ok, or why its log no longer holds what the store expects.
  // May move `start_offset` to where the log starts, so that a halted partition's fetch does not
  // fail the whole consumer.
  std::string CheckLogStart(int32_t partition, int64_t next_offset, int64_t& start_offset);
  int HaltedCountLocked() const;  // requires mu_
  void Fail(const std::string& why);

  ProcessorOptions options_;
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

  std::map<int32_t, RetryState> retries_;  // apply thread only
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

}  // namespace kledger::processors
