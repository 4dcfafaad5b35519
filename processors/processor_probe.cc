#include "processors/processor_probe.h"

#include <string>

#include "common/metrics.h"

namespace kledger::processors {

ProcessorProbe::ProcessorProbe(prometheus::Registry& registry)
    : events_(prometheus::BuildCounter()
                  .Name("kledger_events_processed_total")
                  .Help("Events given an outcome, by event type and outcome")
                  .Register(registry)),
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
                    .Add({})) {}

void ProcessorProbe::EventProcessed(std::string_view type, std::string_view outcome,
                                    double apply_seconds, double end_to_end_seconds) {
  events_.Add({{"type", std::string(type)}, {"outcome", std::string(outcome)}}).Increment();
  apply_duration_.Observe(apply_seconds);
  if (end_to_end_seconds >= 0) end_to_end_.Observe(end_to_end_seconds);
}

void ProcessorProbe::Retry(std::string_view error_code) {
  retries_.Add({{"error_code", std::string(error_code)}}).Increment();
}

void ProcessorProbe::DeadLetter(std::string_view reason) {
  dead_letters_.Add({{"reason", std::string(reason)}}).Increment();
}

void ProcessorProbe::Rebalance() { rebalances_.Increment(); }

void ProcessorProbe::AssignedPartitions(int count) { assigned_.Set(count); }

void ProcessorProbe::ConsumerLag(int32_t partition, int64_t lag) {
  lag_.Add({{"partition", std::to_string(partition)}}).Set(static_cast<double>(lag));
}

void ProcessorProbe::ForgetPartition(int32_t partition) {
  auto& gauge = lag_.Add({{"partition", std::to_string(partition)}});
  lag_.Remove(&gauge);
}

}  // namespace kledger::processors
