// Metrics of the command side (SPEC §7), kept out of the business code.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <mutex>
#include <string>
#include <string_view>

namespace kledger::command {

class CommandProbe {
 public:
  explicit CommandProbe(prometheus::Registry& registry);

  // One command finished: `type` is the event type ("transaction_created"), `result` one of
  // accepted | invalid | unavailable | error.
  void CommandDone(std::string_view type, std::string_view result, double seconds);
  void ProduceError();

 private:
  prometheus::Family<prometheus::Counter>& commands_;
  prometheus::Histogram& duration_;
  prometheus::Counter& produce_errors_;
};

}  // namespace kledger::command
