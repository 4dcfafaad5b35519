// Flags shared by the subcommands (Kafka connection, HTTP address, logging) and process plumbing
// (shutdown signals). Every flag is mirrored by a KLEDGER_* environment variable.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/kafka/properties.h"
#include "common/status.h"

namespace kledger::app {

struct KafkaFlags {
  std::string bootstrap;                 // bootstrap.servers; required unless embedded
  std::vector<std::string> properties;   // -X key=value, passed to librdkafka as given
  std::string profile = "production";    // "dev": fast-failover timeouts (EMBEDDED-BROKER.md)
  std::string topic_prefix = "kledger";  // topics are <prefix>.events and <prefix>.events.dlt

  std::string events_topic() const { return topic_prefix + ".events"; }
  std::string dlt_topic() const { return topic_prefix + ".events.dlt"; }
};

// Adds --bootstrap, -X, --profile and --topic-prefix. `need_bootstrap`: --bootstrap is required.
void AddKafkaFlags(CLI::App& cmd, KafkaFlags& flags, bool need_bootstrap);

// librdkafka properties from the flags: profile defaults, then bootstrap.servers, then -X.
Result<kafka::Properties> ToProperties(const KafkaFlags& flags);

// Adds --log-level to the top-level app.
void AddLogFlags(CLI::App& app, std::string& level);

// Blocks SIGINT and SIGTERM in this thread and every thread started after it, so that
// WaitForShutdown can take them synchronously. Call first thing in main.
void BlockShutdownSignals();

// Waits until SIGINT/SIGTERM arrives (returns true) or `done` returns true (returns false);
// `done` is checked every 200 ms.
bool WaitForShutdown(const std::function<bool()>& done = {});

// A subcommand's body, chosen by the parse: returns the process exit code.
using Runner = std::function<int()>;

}  // namespace kledger::app
