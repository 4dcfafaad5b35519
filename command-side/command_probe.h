// Metrics of the command side (SPEC §7), kept out of the business code.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <string>
#include <string_view>

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
  // The counter of (type, result), found in the family once and then cached: Family::Add hashes
  // the labels under a lock, too slow for every command.
  prometheus::Counter& Commands(std::string_view type, std::string_view result);

  static constexpr std::array<std::string_view, 8> kTypes = {
      "instance_created",    "account_opened",      "account_updated", "account_closed",
      "transaction_created", "transaction_updated", "invalid",         "unknown"};
  static constexpr std::array<std::string_view, 4> kResults = {"accepted", "invalid",
                                                               "unavailable", "error"};

  prometheus::Family<prometheus::Counter>& commands_;
  std::array<std::array<std::atomic<prometheus::Counter*>, kResults.size()>, kTypes.size()>
      cached_{};
  prometheus::Histogram& duration_;
  prometheus::Counter& produce_errors_;
};

}  // namespace kledger::command
