// The same-run ceilings the benchmark compares kledger against: raw librdkafka produce and
// consume of records shaped like kledger's events, and raw RocksDB WriteBatch writes of the keys
// and values the projections write per event.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "app/benchmark/workload.h"
#include "common/kafka/properties.h"
#include "common/kafka/record.h"
#include "common/status.h"
#include "projections/store.h"

namespace kledger::app::bench {

// Reports progress of a phase: records done so far.
using OnProgress = std::function<void(int64_t done)>;

struct KafkaCeiling {
  double produce_per_s = 0;  // acknowledged records/s over the produce phases of the rounds
  double consume_per_s = 0;  // records/s a lone consumer read over the read phases
  int64_t records = 0;
  int rounds = 0;
  // CPU seconds by thread group (ThreadCpu) over the timed produce phases: the producing
  // thread is "other", as the command path's submitting thread is.
  std::map<std::string, double> produce_cpu_seconds;
};

// Produces `count` records cycled from `pool` (kledger events as the command side makes them:
// same keys, values, headers and partitions) to `topic` with the C API itself (idempotent,
// acks=all, the producer defaults overlaid by `props`), at most `in_flight` unacknowledged, in
// the rounds `budget` cuts: each round is produced and acknowledged with no consumer running,
// then read by one consumer with no producer running (the embedded broker keeps ~5 MiB per
// partition). An untimed warm-up of one record per partition comes first. Fails on any
// delivery error, offset reset or gap in a partition's offsets.
Result<KafkaCeiling> MeasureKafkaCeiling(const kafka::Properties& props, const std::string& topic,
                                         int partitions,
                                         const std::vector<kafka::ProducerRecord>& pool,
                                         int64_t count, int64_t in_flight, RoundBudget budget,
                                         const OnProgress& progress);

// The puts one applied event makes in the projections (history with the accounts' balances,
// trial-balance totals, the event's record with its outcome and transaction, event log and,
// with the outcome stream, the outbox), as (key, value) pairs with the store's key layout.
struct Put {
  std::string key;
  std::string value;
};
// The puts of posted transfer `envelope` (two entries) at `offset` of `partition`; its outbox
// entry (an OutcomeRecord as the applier writes it) when `outbox`.
std::vector<Put> TransferPuts(const v1::EventEnvelope& envelope, int32_t partition, int64_t offset,
                              bool outbox);

struct RocksDbCeiling {
  double events_per_s = 0;  // events whose puts were written per second
  double puts_per_s = 0;
  int64_t events = 0;
  double bytes_per_event = 0;  // keys + values
};

// Writes `events` events' puts, `batch_events` events (plus the partition offset) per
// WriteBatch, into a fresh database at `dir` opened with the projection store's options.
// `make_puts(i)` gives event i's puts; only building the WriteBatch and writing it are timed.
Result<RocksDbCeiling> MeasureRocksDbCeiling(
    const projections::StoreOptions& store_options, int64_t events, int batch_events,
    const std::function<std::vector<Put>(int64_t)>& make_puts, const OnProgress& progress);

}  // namespace kledger::app::bench
