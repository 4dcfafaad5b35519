#include "processors/processor_probe.h"

#include <spdlog/spdlog.h>

#include <string>
#include <utility>

#include "common/log.h"
#include "common/metrics.h"
#include "processors/failure.h"

namespace kledger::processors {

ProcessorProbe::ProcessorProbe(prometheus::Registry& registry)
    : events_(prometheus::BuildCounter()
                  .Name("kledger_events_processed_total")
                  .Help("Events given an outcome, by event type and outcome")
                  .Register(registry)),
      events_by_label_(events_, "type",
                       {"instance_created", "account_opened", "account_updated", "account_closed",
                        "transaction_created", "transaction_updated", "unknown"},
                       "outcome", {kOutcomes.begin(), kOutcomes.end()}),
      apply_duration_(prometheus::BuildHistogram()
                          .Name("kledger_event_apply_duration_seconds")
                          .Help("Time to apply one event to the projections (before commit)")
                          .Register(registry)
                          .Add({}, LatencyBuckets())),
      end_to_end_(prometheus::BuildHistogram()
                      .Name("kledger_end_to_end_latency_seconds")
                      .Help("From the event's Kafka timestamp to its outcome being committed")
                      .Register(registry)
                      .Add({}, LatencyBuckets())),
      lag_(prometheus::BuildGauge()
               .Name("kledger_consumer_lag")
               .Help("Records in the log not yet applied, per assigned partition")
               .Register(registry)),
      retries_(prometheus::BuildCounter()
                   .Name("kledger_retries_total")
                   .Help("Attempts repeated after a transient failure, by error code")
                   .Register(registry)),
      dead_letters_(prometheus::BuildCounter()
                        .Name("kledger_dead_letters_total")
                        .Help("Records written to the dead-letter topic, by reason")
                        .Register(registry)),
      rebalances_(prometheus::BuildCounter()
                      .Name("kledger_rebalances_total")
                      .Help("Consumer-group rebalances this processor took part in")
                      .Register(registry)
                      .Add({})),
      assigned_(prometheus::BuildGauge()
                    .Name("kledger_assigned_partitions")
                    .Help("Partitions of the events topic assigned to this processor")
                    .Register(registry)
                    .Add({})),
      halted_(prometheus::BuildGauge()
                  .Name("kledger_halted_partitions")
                  .Help("Assigned partitions stopped until an operator acts (log gap, bad offset)")
                  .Register(registry)
                  .Add({})) {
  // Alerts and panels on these families should return 0, not "no data", before the first one.
  for (DeadLetterKind kind : kDeadLetterKinds)
    dead_letters_.Add({{"reason", std::string(Name(kind))}});
  for (ApplyFailure failure : kApplyFailures)
    retries_.Add({{"error_code", std::string(Name(failure))}});
}

void ProcessorProbe::EventProcessed(std::string_view type, std::string_view outcome,
                                    double apply_seconds, double end_to_end_seconds,
                                    std::string_view event_id, std::string_view correlation_id) {
  events_by_label_.Get(type, outcome).Increment();
  for (size_t i = 0; i < kOutcomes.size(); ++i) {
    if (kOutcomes[i] == outcome) outcome_counts_[i].fetch_add(1, std::memory_order_relaxed);
  }
  if (spdlog::should_log(spdlog::level::debug)) {
    LogFields fields{{"event_id", event_id}, {"correlation_id", correlation_id}};
    spdlog::debug("event {} {}", type, outcome);
  }
  apply_duration_.Observe(apply_seconds);
  if (end_to_end_seconds >= 0) end_to_end_.Observe(end_to_end_seconds);
}

std::map<std::string, int64_t> ProcessorProbe::OutcomeCounts() const {
  std::map<std::string, int64_t> counts;
  for (size_t i = 0; i < kOutcomes.size(); ++i) {
    counts.emplace(kOutcomes[i], outcome_counts_[i].load(std::memory_order_relaxed));
  }
  return counts;
}

void ProcessorProbe::Retry(std::string_view error_code) {
  retries_.Add({{"error_code", std::string(error_code)}}).Increment();
}

void ProcessorProbe::DeadLetter(std::string_view reason) {
  dead_letters_.Add({{"reason", std::string(reason)}}).Increment();
}

void ProcessorProbe::Rebalance() { rebalances_.Increment(); }

void ProcessorProbe::AssignedPartitions(int count) { assigned_.Set(count); }

void ProcessorProbe::HaltedPartitions(int count) { halted_.Set(count); }

void ProcessorProbe::ConsumerLag(int32_t partition, int64_t lag) {
  lag_.Add({{"partition", std::to_string(partition)}}).Set(static_cast<double>(lag));
}

void ProcessorProbe::ForgetPartition(int32_t partition) {
  auto& gauge = lag_.Add({{"partition", std::to_string(partition)}});
  lag_.Remove(&gauge);
}

StoreProbe::StoreProbe(prometheus::Registry& registry, projections::ProjectionStore& store,
                       std::chrono::milliseconds interval)
    : store_(store),
      live_data_(prometheus::BuildGauge()
                     .Name("kledger_rocksdb_live_data_bytes")
                     .Help("Estimated live data in the projection store (RocksDB)")
                     .Register(registry)
                     .Add({})),
      pending_compaction_(prometheus::BuildGauge()
                              .Name("kledger_rocksdb_pending_compaction_bytes")
                              .Help("Estimated bytes RocksDB compaction still has to rewrite")
                              .Register(registry)
                              .Add({})),
      memtables_(prometheus::BuildGauge()
                     .Name("kledger_rocksdb_memtable_bytes")
                     .Help("Bytes held in the projection store's memtables")
                     .Register(registry)
                     .Add({})),
      sampler_(interval, [this] { Sample(); }) {}

void StoreProbe::Sample() {
  const std::pair<const char*, prometheus::Gauge*> properties[] = {
      {"rocksdb.estimate-live-data-size", &live_data_},
      {"rocksdb.estimate-pending-compaction-bytes", &pending_compaction_},
      {"rocksdb.cur-size-all-mem-tables", &memtables_},
  };
  for (const auto& [name, gauge] : properties) {
    auto value = store_.IntProperty(name);
    if (value.ok()) {
      gauge->Set(static_cast<double>(*value));
    } else {
      spdlog::debug("metrics: {}", value.status().ToString());
    }
  }
}

}  // namespace kledger::processors
