// Metrics of the command side (SPEC §7), kept out of the business code.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string_view>

#include "common/metrics.h"

namespace kledger::command {

class CommandProbe {
 public:
  explicit CommandProbe(prometheus::Registry& registry);

  // One command finished: `type` is the event type ("transaction_created"), `result` one of
  // accepted | invalid | unavailable | error. Also logs it at debug level with the event and
  // correlation ids (empty ones are left out).
  void CommandDone(std::string_view type, std::string_view result, double seconds,
                   std::string_view event_id = {}, std::string_view correlation_id = {});
  void ProduceError();

 private:
  prometheus::Family<prometheus::Counter>& commands_;
  CounterGrid commands_by_label_;  // (type, result)
  prometheus::Histogram& duration_;
  prometheus::Counter& produce_errors_;
};

}  // namespace kledger::command
