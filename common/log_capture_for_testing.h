// For tests: captures the lines logged through spdlog's default logger while it lives.
#pragma once

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace kledger::testing {

// Installs a capturing default logger and puts the previous one back when it goes. The
// capturing logger is never destroyed: threads that log late (librdkafka's) still find it.
class LogCapture {
 public:
  explicit LogCapture(spdlog::level::level_enum level = spdlog::level::trace)
      : previous_(spdlog::default_logger()),
        sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(10000)) {
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(level);
    static std::mutex mu;
    static auto* kept = new std::vector<std::shared_ptr<spdlog::logger>>();
    {
      std::lock_guard lock(mu);
      kept->push_back(logger);
    }
    spdlog::set_default_logger(std::move(logger));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // The lines captured so far, formatted, oldest first.
  std::vector<std::string> Lines() const { return sink_->last_formatted(); }

  // Whether a line containing `text` was logged within `timeout`.
  bool WaitFor(std::string_view text, std::chrono::milliseconds timeout) const {
    const auto end = std::chrono::steady_clock::now() + timeout;
    do {
      for (const std::string& line : Lines()) {
        if (line.find(text) != std::string::npos) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < end);
    return false;
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

}  // namespace kledger::testing
