// Flags shared by the subcommands (Kafka connection, HTTP address, logging) and process plumbing
// (shutdown signals). Every flag is mirrored by a KLEDGER_* environment variable.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "common/auth.h"
#include "common/http.h"
#include "common/kafka/properties.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status.h"
#include "projections/store.h"

namespace kledger::app {

struct KafkaFlags {
  std::string bootstrap;                 // bootstrap.servers; required unless embedded
  std::vector<std::string> properties;   // -X key=value, passed to librdkafka as given
  std::string profile = "production";    // "dev": fast-failover timeouts (EMBEDDED-BROKER.md)
  std::string topic_prefix = "kledger";  // topics are <prefix>.events and <prefix>.events.dlt

  std::string events_topic() const { return topic_prefix + ".events"; }
  std::string dlt_topic() const { return topic_prefix + ".events.dlt"; }
  std::string owners_topic() const { return topic_prefix + ".owners"; }
  std::string outcomes_topic() const { return topic_prefix + ".outcomes"; }
};

// Who may use an HTTP listener and how it is reached: bearer tokens, TLS, the concurrency limit.
struct HttpSecurityFlags {
  std::string auth_tokens;        // token file (common/auth.h); empty: see insecure_no_auth
  bool insecure_no_auth = false;  // command/processor: serve without auth (must be explicit)
  bool metrics_auth = false;      // /metrics needs an admin token too
  std::string tls_cert;           // PEM certificate; with tls_key, HTTPS only
  std::string tls_key;            // PEM private key
  int max_concurrent_requests = 64;
};

// Adds --auth-tokens, --metrics-auth, --tls-cert, --tls-key, --max-concurrent-requests and,
// when `auth_required` (command, processor), --insecure-no-auth.
void AddHttpSecurityFlags(CLI::App& cmd, HttpSecurityFlags& flags, bool auth_required);

// The authorizer the flags ask for. Without --auth-tokens: InvalidArgument when `auth_required`
// and --insecure-no-auth is absent, else AllowAll() after a loud warning that `what` is open.
Result<std::shared_ptr<const auth::Authorizer>> MakeAuthorizer(const HttpSecurityFlags& flags,
                                                               bool auth_required,
                                                               std::string_view what);

// `base` with the flags' TLS files and concurrency limit.
http::ServerOptions ToServerOptions(const HttpSecurityFlags& flags, http::ServerOptions base = {});

// A processor's RocksDB settings (projections::StoreOptions); docs/operations.md, "Storage".
struct StoreFlags {
  size_t write_buffer_mb = projections::StoreOptions().write_buffer_mb;
  std::string compaction = "leveled";
  std::string compaction_priority = "normal";
  bool wal = false;
  bool sync = false;
};

// Adds --store-write-buffer-mb, --store-compaction, --store-compaction-priority, --store-wal
// and, with `with_sync`, --store-sync.
void AddStoreFlags(CLI::App& cmd, StoreFlags& flags, bool with_sync);

// `base` with the flags' settings. InvalidArgument for an unknown compaction style or priority.
Result<projections::StoreOptions> ToStoreOptions(const StoreFlags& flags,
                                                 projections::StoreOptions base = {});

// Adds --bootstrap, -X, --profile and --topic-prefix. `need_bootstrap`: --bootstrap is required.
void AddKafkaFlags(CLI::App& cmd, KafkaFlags& flags, bool need_bootstrap);

// librdkafka properties from the flags: profile defaults, then bootstrap.servers, then -X.
Result<kafka::Properties> ToProperties(const KafkaFlags& flags);

// A /readyz reason function: `first`'s reason when it has one (may be empty: none), else the
// Kafka half — empty while `stats` shows a broker connection UP in statistics at most three
// emissions old (statistics.interval.ms in `props`). With `require_statistics`, no statistics
// yet means not ready; without, only a known-down cluster does. Statistics off (interval 0):
// the Kafka half is always empty, as nothing can be told. `stats` must outlive the function.
std::function<std::string()> KafkaReadiness(const KafkaStatisticsProbe& stats,
                                            const kafka::Properties& props, bool require_statistics,
                                            std::function<std::string()> first = {});

// Adds --log-level and --log-format to the top-level app.
void AddLogFlags(CLI::App& app, LogOptions& options);

// Blocks SIGINT and SIGTERM in this thread and every thread started after it, so that
// WaitForShutdown can take them synchronously. Call first thing in main.
void BlockShutdownSignals();

// Waits until SIGINT/SIGTERM arrives (returns true) or `done` returns true (returns false);
// `done` is checked every 200 ms.
bool WaitForShutdown(const std::function<bool()>& done = {});

// Adds --shutdown-timeout-ms: how long an orderly shutdown may take after SIGINT/SIGTERM.
void AddShutdownTimeoutFlag(CLI::App& cmd, int& shutdown_timeout_ms);

// Adds --read-your-writes-timeout-ms: how long a query's ?min_offset= may wait
// (processors::ProcessorOptions::read_your_writes_timeout).
void AddReadYourWritesTimeoutFlag(CLI::App& cmd, int& timeout_ms);

// Starts the shutdown's clock: unless the process has ended `bound` from now, it says so in the
// log and exits at once with code 1, whatever state Kafka is in — a client waiting on brokers
// that are gone cannot hold it. Call it once, when shutdown begins. What a processor applied is
// in its store already (state and offsets commit together), so nothing applied is lost by it.
void ArmShutdownDeadline(std::chrono::milliseconds bound);

// Logs the first error among `statuses` (flags that did not parse, a service that cannot be
// made); returns whether there was one, for the subcommand to exit with its code.
bool LogFirstError(std::initializer_list<Status> statuses);

// A subcommand's body, chosen by the parse: returns the process exit code.
using Runner = std::function<int()>;

}  // namespace kledger::app
