#include "common/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <vector>

namespace kledger {
namespace {

// The fields of the LogFields scopes alive on this thread, outermost first.
thread_local std::vector<std::pair<std::string, std::string>> tls_fields;

// "%&" in the text pattern: the thread's fields as " key=value".
class FieldsFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (const auto& [key, value] : tls_fields) {
      dest.push_back(' ');
      dest.append(key.data(), key.data() + key.size());
      dest.push_back('=');
      dest.append(value.data(), value.data() + value.size());
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<FieldsFlag>();
  }
};

// One JSON object per line, built with nlohmann-json so that quotes, control characters and
// invalid UTF-8 in messages are escaped (spdlog patterns do not escape).
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::json line;
    line["ts"] = Timestamp(msg.time);
    const auto level = spdlog::level::to_string_view(msg.level);
    line["level"] = std::string(level.data(), level.size());
    line["thread"] = msg.thread_id;
    line["msg"] = std::string(msg.payload.data(), msg.payload.size());
    for (const auto& [key, value] : tls_fields) line[key] = value;
    const std::string text =
        line.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }

 private:
  // RFC 3339 in UTC with milliseconds, as log shippers expect.
  static std::string Timestamp(spdlog::log_clock::time_point time) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buf[32];
    const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
    return std::string(buf, n) + fmt::format(".{:03d}Z", static_cast<int>(ms % 1000));
  }
};

}  // namespace

Status InitLogging(const LogOptions& options) {
  spdlog::level::level_enum level = spdlog::level::from_str(options.level);
  // from_str answers "off" for anything it does not know; only "off" itself may mean off.
  if (level == spdlog::level::off && options.level != "off") {
    return Status::InvalidArgument("unknown log level '" + options.level +
                                   "'; use trace, debug, info, warn, error or off");
  }
  std::shared_ptr<spdlog::logger> logger;
  if (options.format == "json") {
    logger = std::make_shared<spdlog::logger>("kledger",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else if (options.format == "text") {
    logger = std::make_shared<spdlog::logger>(
        "kledger", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<FieldsFlag>('&').set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v%&");
    logger->set_formatter(std::move(formatter));
  } else {
    return Status::InvalidArgument("unknown log format '" + options.format + "'; use text or json");
  }
  logger->set_level(level);
  spdlog::set_default_logger(std::move(logger));
  return Status::Ok();
}

LogFields::LogFields(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  for (const auto& [key, value] : fields) {
    if (value.empty()) continue;
    tls_fields.emplace_back(key, value);
    ++added_;
  }
}

LogFields::~LogFields() { tls_fields.resize(tls_fields.size() - added_); }

}  // namespace kledger
