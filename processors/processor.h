// A processor: one member of the consumer group that applies kledger.events to its RocksDB
// projections, exactly once in effect. Threads: one apply thread (Kafka poll, state machine), one
// write thread (each poll's RocksDB write, while the apply thread applies the next poll), one
// monitor thread (watermarks, lag); HTTP query threads only read.
#pragma once

#include <prometheus/registry.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/kafka/properties.h"
#include "common/status.h"
#include "kledger/v1/api.pb.h"
#include "processors/outcome_relay.h"
#include "projections/projection.h"
#include "projections/store.h"

namespace kledger::processors {

struct ProcessorOptions {
  std::string events_topic = "kledger.events";   // the log; default "kledger.events"
  std::string dlt_topic = "kledger.events.dlt";  // dead letters; default "kledger.events.dlt"
  // The outcome stream (outcome_relay.h), one record per record applied; "" publishes none.
  // Default "kledger.outcomes".
  std::string outcomes_topic = "kledger.outcomes";
  // How long a partition's outcomes may wait for more before the relay publishes them, unless a
  // full transaction's worth waits (OutcomeRelayOptions::interval, whose default it is: 500 ms).
  std::chrono::milliseconds outcomes_interval = OutcomeRelayOptions().interval;
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

// What callers use of a processor; the implementation (the apply path's state, threads and
// helpers) is ProcessorImpl, in internal/processor_impl.h.
class Processor {
 public:
  // Opens the store in options.data_dir and connects to Kafka (props: bootstrap.servers and any
  // -X overrides). Nothing is consumed until Start().
  static Result<std::unique_ptr<Processor>> Create(const kafka::Properties& props,
                                                   ProcessorOptions options,
                                                   prometheus::Registry& registry);
  virtual ~Processor() = default;  // stops

  // Joins the group and starts the apply and monitor threads. `query_url` is where this
  // processor's query API answers, announced to the other processors for 421 answers.
  // NotFound when the events topic does not exist.
  virtual Status Start(const std::string& query_url) = 0;
  // Leaves the group cleanly and joins the threads. Idempotent.
  virtual void Stop() = 0;

  virtual projections::ProjectionStore& store() = 0;

  // Empty when ready to serve (joined the group, every owned partition caught up to the
  // high watermark it saw, none halted); otherwise why not.
  virtual std::string NotReadyReason() const = 0;

  // A snapshot of the partitions this processor owns.
  virtual std::map<int32_t, PartitionProgress> Progress() const = 0;

  // Waits until `partition`'s next offset is above `offset` (the record is applied) or `timeout`
  // passes. Otherwise FailedPrecondition (not owned), InvalidArgument (`offset` is at or past the
  // log's end, so no 202 gave it) or Timeout.
  virtual Status WaitForOffset(int32_t partition, int64_t offset,
                               std::chrono::milliseconds timeout) = 0;

  // The partition of `instance` (murmur2, as the command side's producer) and its owner.
  virtual InstanceRoute Route(std::string_view instance) const = 0;

  // GET /v1/stats: every partition's owner, the owned ones' offsets, lag and state, the
  // dead-letter topic's depth (asked of Kafka now) and this processor's outcome counts.
  // Unavailable before Start() or when Kafka does not answer.
  virtual Result<v1::Stats> Stats() const = 0;

  // The Kafka client properties it was made with (bootstrap.servers and -X overrides), for the
  // dead-letter routes' own readers and producers.
  virtual const kafka::Properties& props() const = 0;

  virtual const ProcessorOptions& options() const = 0;

  // The outcome relay's view of each owned partition; empty when it publishes no outcomes.
  virtual std::map<int32_t, RelayProgress> RelayProgressSnapshot() const = 0;

  // A fatal stop of the whole processor (e.g. the consumer failed); empty while running.
  virtual std::string Failure() const = 0;

  // While held, the processor stays in the group and answers queries but fetches and applies
  // nothing (every owned partition is paused at the consumer); Hold(false) carries on. For
  // `kledger benchmark`, which measures the command path and the apply path each on its own.
  virtual void Hold(bool hold) = 0;
};

}  // namespace kledger::processors
