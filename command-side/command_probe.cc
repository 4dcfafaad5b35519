#include "command-side/command_probe.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/log.h"
#include "common/metrics.h"

namespace kledger::command {

CommandProbe::CommandProbe(prometheus::Registry& registry)
    : commands_(prometheus::BuildCounter()
                    .Name("kledger_commands_total")
                    .Help("Commands handled by the command side, by event type and result")
                    .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("kledger_command_duration_seconds")
                    .Help("Time from receiving a command to its Kafka acknowledgement or refusal")
                    .Register(registry)
                    .Add({}, LatencyBuckets())),
      produce_errors_(prometheus::BuildCounter()
                          .Name("kledger_produce_errors_total")
                          .Help("Records Kafka did not acknowledge (timeouts, broker errors)")
                          .Register(registry)
                          .Add({})) {}

void CommandProbe::CommandDone(std::string_view type, std::string_view result, double seconds,
                               std::string_view event_id, std::string_view correlation_id) {
  Commands(type, result).Increment();
  duration_.Observe(seconds);
  if (spdlog::should_log(spdlog::level::debug)) {
    LogFields fields{{"event_id", event_id}, {"correlation_id", correlation_id}};
    spdlog::debug("command {} {} in {:.3f} ms", type, result, seconds * 1000);
  }
}

prometheus::Counter& CommandProbe::Commands(std::string_view type, std::string_view result) {
  const auto t = std::find(kTypes.begin(), kTypes.end(), type);
  const auto r = std::find(kResults.begin(), kResults.end(), result);
  if (t == kTypes.end() || r == kResults.end()) {
    return commands_.Add({{"type", std::string(type)}, {"result", std::string(result)}});
  }
  std::atomic<prometheus::Counter*>& slot =
      cached_[static_cast<size_t>(t - kTypes.begin())][static_cast<size_t>(r - kResults.begin())];
  prometheus::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Family::Add returns the one child of these labels, so racing callers store the same one.
    counter = &commands_.Add({{"type", std::string(type)}, {"result", std::string(result)}});
    slot.store(counter, std::memory_order_release);
  }
  return *counter;
}

void CommandProbe::ProduceError() { produce_errors_.Increment(); }

}  // namespace kledger::command
