// Metrics of a processor (SPEC §7), kept out of the apply loop's code.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "common/metrics.h"
#include "projections/store.h"

namespace kledger::processors {

class ProcessorProbe {
 public:
  explicit ProcessorProbe(prometheus::Registry& registry);

  // An event got its outcome ("applied", "rejected", "duplicate", "dead_lettered"). Also logs it
  // at debug level with the event and correlation ids (empty ones are left out).
  void EventProcessed(std::string_view type, std::string_view outcome, double apply_seconds,
                      double end_to_end_seconds, std::string_view event_id = {},
                      std::string_view correlation_id = {});
  void Retry(std::string_view error_code);
  void DeadLetter(std::string_view reason);
  void Rebalance();
  void AssignedPartitions(int count);
  // Partitions stopped on purpose (log gap, unreadable offset): an operator must look.
  void HaltedPartitions(int count);
  void ConsumerLag(int32_t partition, int64_t lag);
  void ForgetPartition(int32_t partition);
  // How many events got each outcome since the probe was made ("applied" -> N, ...).
  std::map<std::string, int64_t> OutcomeCounts() const;

 private:
  static constexpr std::array<std::string_view, 4> kOutcomes = {"applied", "rejected", "duplicate",
                                                                "dead_lettered"};
  std::array<std::atomic<int64_t>, kOutcomes.size()> outcome_counts_{};
  prometheus::Family<prometheus::Counter>& events_;
  CounterGrid events_by_label_;  // (type, outcome)
  prometheus::Histogram& apply_duration_;
  prometheus::Histogram& end_to_end_;
  prometheus::Family<prometheus::Gauge>& lag_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Counter>& dead_letters_;
  prometheus::Counter& rebalances_;
  prometheus::Gauge& assigned_;
  prometheus::Gauge& halted_;
};

// RocksDB properties of a processor's projection store as gauges, sampled every `interval`
// (and once at construction) on its own thread:
//   kledger_rocksdb_live_data_bytes          rocksdb.estimate-live-data-size
//   kledger_rocksdb_pending_compaction_bytes rocksdb.estimate-pending-compaction-bytes
//   kledger_rocksdb_memtable_bytes           rocksdb.cur-size-all-mem-tables
// `store` must outlive the probe.
class StoreProbe {
 public:
  StoreProbe(prometheus::Registry& registry, projections::ProjectionStore& store,
             std::chrono::milliseconds interval = std::chrono::seconds(5));

 private:
  void Sample();

  projections::ProjectionStore& store_;
  prometheus::Gauge& live_data_;
  prometheus::Gauge& pending_compaction_;
  prometheus::Gauge& memtables_;
  PeriodicSampler sampler_;  // last: stops before the gauges go
};

}  // namespace kledger::processors
