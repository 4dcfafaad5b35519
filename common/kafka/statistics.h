// librdkafka's statistics (the JSON emitted every `statistics.interval.ms`) handed to one
// process-wide handler, so that the metrics layer sees every client — including those that
// other modules create internally — without each module threading a callback through.
#pragma once

#include <functional>
#include <string_view>

namespace kledger::kafka {

// Default statistics.interval.ms the kledger binary sets on its clients (-X overrides it; 0
// turns statistics off).
inline constexpr int kDefaultStatisticsIntervalMs = 5000;

// Receives one client's statistics JSON; called on that client's polling thread, possibly from
// several threads at once.
using StatisticsHandler = std::function<void(std::string_view json)>;

// Installs `handler` for every client created afterwards (and every client already created, from
// its next emission on); nullptr removes it. The caller keeps whatever the handler refers to
// alive until every client is destroyed or the handler is removed.
void SetStatisticsHandler(StatisticsHandler handler);

namespace internal {
// Forwards `json` to the installed handler, if any (used by the configuration's stats_cb).
void DispatchStatistics(std::string_view json);
}  // namespace internal

}  // namespace kledger::kafka
