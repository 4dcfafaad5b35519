#include "command-side/command_probe.h"

#include <spdlog/spdlog.h>

#include "common/log.h"
#include "common/metrics.h"

namespace kledger::command {

CommandProbe::CommandProbe(prometheus::Registry& registry)
    : commands_(prometheus::BuildCounter()
                    .Name("kledger_commands_total")
                    .Help("Commands handled by the command side, by event type and result")
                    .Register(registry)),
      commands_by_label_(commands_, "type",
                         {"instance_created", "account_opened", "account_updated", "account_closed",
                          "transaction_created", "transaction_updated", "invalid", "unknown"},
                         "result", {"accepted", "invalid", "unavailable", "error"}),
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
  commands_by_label_.Get(type, result).Increment();
  duration_.Observe(seconds);
  if (spdlog::should_log(spdlog::level::debug)) {
    LogFields fields{{"event_id", event_id}, {"correlation_id", correlation_id}};
    spdlog::debug("command {} {} in {:.3f} ms", type, result, seconds * 1000);
  }
}

void CommandProbe::ProduceError() { produce_errors_.Increment(); }

}  // namespace kledger::command
