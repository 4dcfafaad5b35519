// Metrics of a processor (SPEC §7), kept out of the apply loop's code.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string_view>

namespace kledger::processors {

class ProcessorProbe {
 public:
  explicit ProcessorProbe(prometheus::Registry& registry);

  // An event got its outcome ("applied", "rejected", "duplicate", "dead_lettered").
  void EventProcessed(std::string_view type, std::string_view outcome, double apply_seconds,
                      double end_to_end_seconds);
  void Retry(std::string_view error_code);
  void DeadLetter(std::string_view reason);
  void Rebalance();
  void AssignedPartitions(int count);
  void ConsumerLag(int32_t partition, int64_t lag);
  void ForgetPartition(int32_t partition);

 private:
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Histogram& apply_duration_;
  prometheus::Histogram& end_to_end_;
  prometheus::Family<prometheus::Gauge>& lag_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Counter>& dead_letters_;
  prometheus::Counter& rebalances_;
  prometheus::Gauge& assigned_;
};

}  // namespace kledger::processors
