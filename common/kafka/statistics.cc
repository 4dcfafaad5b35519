// The process-wide statistics handler behind SetStatisticsHandler.
#include "common/kafka/statistics.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>

namespace kledger::kafka {
namespace {

std::mutex handler_mu;
// Shared so a dispatch in flight keeps its copy while another thread replaces the handler.
std::shared_ptr<const StatisticsHandler> installed;  // guarded by handler_mu

}  // namespace

void SetStatisticsHandler(StatisticsHandler handler) {
  std::lock_guard lock(handler_mu);
  installed = handler ? std::make_shared<const StatisticsHandler>(std::move(handler)) : nullptr;
}

namespace internal {

void DispatchStatistics(std::string_view json) {
  std::shared_ptr<const StatisticsHandler> handler;
  {
    std::lock_guard lock(handler_mu);
    handler = installed;
  }
  if (!handler) return;
  try {
    (*handler)(json);
  } catch (const std::exception& e) {
    // Called from librdkafka's C callback: nothing may escape into C.
    spdlog::warn("Kafka statistics handler failed: {}", e.what());
  }
}

}  // namespace internal
}  // namespace kledger::kafka
