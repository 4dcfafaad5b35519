#include "app/flags.h"

#include <signal.h>

#include <cstdlib>

#include "common/kafka/statistics.h"

namespace kledger::app {

void AddKafkaFlags(CLI::App& cmd, KafkaFlags& flags, bool need_bootstrap) {
  auto* bootstrap = cmd.add_option("--bootstrap", flags.bootstrap,
                                   "Kafka bootstrap servers, HOST:PORT[,HOST:PORT...]")
                        ->envname("KLEDGER_BOOTSTRAP");
  if (need_bootstrap) bootstrap->required();
  cmd.add_option("-X,--kafka-property", flags.properties,
                 "librdkafka property key=value, repeatable (e.g. -X security.protocol=ssl)")
      ->envname("KLEDGER_KAFKA_PROPERTIES")
      ->delimiter(';');
  cmd.add_option("--profile", flags.profile,
                 "client timeouts: production (librdkafka defaults) or dev (fast failover, "
                 "for the embedded broker and tests)")
      ->envname("KLEDGER_PROFILE")
      ->check(CLI::IsMember({"production", "dev"}))
      ->capture_default_str();
  cmd.add_option("--topic-prefix", flags.topic_prefix,
                 "topics are PREFIX.events and PREFIX.events.dlt")
      ->envname("KLEDGER_TOPIC_PREFIX")
      ->capture_default_str();
}

Result<kafka::Properties> ToProperties(const KafkaFlags& flags) {
  kafka::Properties props;
  if (flags.profile == "dev") props = kafka::DevClientDefaults();
  if (!flags.bootstrap.empty()) props["bootstrap.servers"] = flags.bootstrap;
  props["statistics.interval.ms"] = std::to_string(kafka::kDefaultStatisticsIntervalMs);
  ASSIGN_OR_RETURN(kafka::Properties overrides, kafka::ParseProperties(flags.properties));
  return kafka::Merge(std::move(props), overrides);
}

std::function<std::string()> KafkaReadiness(const KafkaStatisticsProbe& stats,
                                            const kafka::Properties& props, bool require_statistics,
                                            std::function<std::string()> first) {
  int interval_ms = kafka::kDefaultStatisticsIntervalMs;
  if (auto it = props.find("statistics.interval.ms"); it != props.end()) {
    interval_ms = std::atoi(it->second.c_str());
  }
  const auto max_age = std::chrono::milliseconds(3 * int64_t{interval_ms} + 1000);
  return [&stats, max_age, require_statistics, interval_ms, first = std::move(first)] {
    std::string reason = first ? first() : std::string();
    if (reason.empty() && interval_ms > 0) {
      reason = stats.BrokerNotReadyReason(max_age, require_statistics);
    }
    return reason;
  };
}

void AddLogFlags(CLI::App& app, LogOptions& options) {
  app.add_option("--log-level", options.level, "trace, debug, info, warn, error or off")
      ->envname("KLEDGER_LOG_LEVEL")
      ->capture_default_str();
  app.add_option("--log-format", options.format,
                 "text, or json: one JSON object per line (ts, level, thread, msg, fields)")
      ->envname("KLEDGER_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
}

void BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

bool WaitForShutdown(const std::function<bool()>& done) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  const timespec tick{0, 200'000'000};
  while (true) {
    if (sigtimedwait(&set, nullptr, &tick) > 0) return true;
    if (done && done()) return false;
  }
}

}  // namespace kledger::app
