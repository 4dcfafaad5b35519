#include "app/flags.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

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
                 "topics are PREFIX.events, PREFIX.events.dlt, PREFIX.owners and PREFIX.outcomes")
      ->envname("KLEDGER_TOPIC_PREFIX")
      ->capture_default_str();
}

void AddStoreFlags(CLI::App& cmd, StoreFlags& flags, bool with_sync) {
  cmd.add_option("--store-write-buffer-mb", flags.write_buffer_mb,
                 "RocksDB memtable size in MiB: smaller inserts faster but flushes and compacts "
                 "more often (docs/performance.md)")
      ->envname("KLEDGER_STORE_WRITE_BUFFER_MB")
      ->check(CLI::Range(size_t{1}, size_t{4096}))
      ->capture_default_str();
  cmd.add_option("--store-compaction", flags.compaction,
                 "RocksDB compaction style: leveled (steady space and memory) or universal (less "
                 "CPU; may need twice the disk while it rewrites); choose before the first start")
      ->envname("KLEDGER_STORE_COMPACTION")
      ->check(CLI::IsMember({"leveled", "universal"}))
      ->capture_default_str();
  cmd.add_option("--store-compaction-priority", flags.compaction_priority,
                 "CPU priority of RocksDB's compactions: normal, or idle (they run only on CPU "
                 "nothing else wants: lower tail latency, compaction caught up later)")
      ->envname("KLEDGER_STORE_COMPACTION_PRIORITY")
      ->check(CLI::IsMember({"normal", "idle"}))
      ->capture_default_str();
  cmd.add_flag("--store-wal", flags.wal,
               "write RocksDB's write-ahead log at every commit (off: a crash loses the commits "
               "since the last memtable flush, and those events are applied again from Kafka)")
      ->envname("KLEDGER_STORE_WAL");
  if (with_sync) {
    cmd.add_flag("--store-sync", flags.sync,
                 "fsync RocksDB's write-ahead log at every commit (implies --store-wal), so that "
                 "a machine crash loses no applied events (off: they are applied again after the "
                 "crash)")
        ->envname("KLEDGER_STORE_SYNC");
  }
}

Result<projections::StoreOptions> ToStoreOptions(const StoreFlags& flags,
                                                 projections::StoreOptions base) {
  ASSIGN_OR_RETURN(base.compaction, projections::ParseCompaction(flags.compaction));
  ASSIGN_OR_RETURN(base.compaction_priority,
                   projections::ParseCompactionPriority(flags.compaction_priority));
  base.write_buffer_mb = flags.write_buffer_mb;
  base.write_ahead_log = flags.wal;
  base.sync = flags.sync;
  return base;
}

void AddHttpSecurityFlags(CLI::App& cmd, HttpSecurityFlags& flags, bool auth_required) {
  auto* tokens = cmd.add_option("--auth-tokens", flags.auth_tokens,
                                "bearer token file, one 'TOKEN INSTANCE_PATTERN RIGHTS' per line "
                                "(docs/security.md); turns authentication on")
                     ->envname("KLEDGER_AUTH_TOKENS");
  if (auth_required) {
    cmd.add_flag("--insecure-no-auth", flags.insecure_no_auth,
                 "serve the API without authentication (anyone reaching the port may read and "
                 "write every instance); required when --auth-tokens is not given")
        ->envname("KLEDGER_INSECURE_NO_AUTH")
        ->excludes(tokens);
  }
  cmd.add_flag("--metrics-auth", flags.metrics_auth,
               "require an admin token on /metrics too (default: open for Prometheus)")
      ->envname("KLEDGER_METRICS_AUTH");
  auto* cert = cmd.add_option("--tls-cert", flags.tls_cert,
                              "PEM certificate (chain) file: serve HTTPS only (needs --tls-key)")
                   ->envname("KLEDGER_TLS_CERT")
                   ->check(CLI::ExistingFile);
  auto* key = cmd.add_option("--tls-key", flags.tls_key, "PEM private key file of --tls-cert")
                  ->envname("KLEDGER_TLS_KEY")
                  ->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  cmd.add_option("--max-concurrent-requests", flags.max_concurrent_requests,
                 "requests handled at once; more are answered 503 with Retry-After")
      ->envname("KLEDGER_MAX_CONCURRENT_REQUESTS")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
}

Result<std::shared_ptr<const auth::Authorizer>> MakeAuthorizer(const HttpSecurityFlags& flags,
                                                               bool auth_required,
                                                               std::string_view what) {
  if (!flags.auth_tokens.empty()) {
    ASSIGN_OR_RETURN(auto authorizer, auth::Authorizer::FromFile(flags.auth_tokens));
    spdlog::info("authentication on: {} token grants from {}", authorizer->size(),
                 flags.auth_tokens);
    return authorizer;
  }
  if (auth_required && !flags.insecure_no_auth) {
    return Status::InvalidArgument(
        "no --auth-tokens FILE (KLEDGER_AUTH_TOKENS) given: refusing to serve " +
        std::string(what) +
        " without authentication; pass a token file (docs/security.md), or --insecure-no-auth to "
        "serve it open on purpose");
  }
  spdlog::warn(
      "*** AUTHENTICATION IS OFF: anyone who can reach this port may read and write "
      "every ledger instance through the {}; pass --auth-tokens FILE to turn it on ***",
      what);
  return auth::Authorizer::AllowAll();
}

http::ServerOptions ToServerOptions(const HttpSecurityFlags& flags, http::ServerOptions base) {
  base.tls_cert_file = flags.tls_cert;
  base.tls_key_file = flags.tls_key;
  base.max_concurrent_requests = flags.max_concurrent_requests;
  return base;
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

void AddShutdownTimeoutFlag(CLI::App& cmd, int& shutdown_timeout_ms) {
  cmd.add_option("--shutdown-timeout-ms", shutdown_timeout_ms,
                 "after SIGTERM/SIGINT, exit within this long whatever state Kafka is in "
                 "(exit code 1 when the orderly shutdown did not finish in time)")
      ->envname("KLEDGER_SHUTDOWN_TIMEOUT_MS")
      ->check(CLI::Range(100, 3600000))
      ->capture_default_str();
}

void AddReadYourWritesTimeoutFlag(CLI::App& cmd, int& timeout_ms) {
  cmd.add_option("--read-your-writes-timeout-ms", timeout_ms,
                 "how long a query with ?min_offset= waits for that offset to be applied before "
                 "answering 503 timeout")
      ->envname("KLEDGER_READ_YOUR_WRITES_TIMEOUT_MS")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
}

void ArmShutdownDeadline(std::chrono::milliseconds bound) {
  std::thread([bound] {
    pthread_setname_np(pthread_self(), "kl-shutdown");
    std::this_thread::sleep_for(bound);
    spdlog::error(
        "shutdown did not finish within {} ms (--shutdown-timeout-ms), most likely waiting on "
        "Kafka brokers that do not answer: exiting now",
        bound.count());
    spdlog::default_logger()->flush();
    _exit(1);
  }).detach();
}

bool LogFirstError(std::initializer_list<Status> statuses) {
  for (const Status& s : statuses) {
    if (!s.ok()) {
      spdlog::error("{}", s.message());
      return true;
    }
  }
  return false;
}

}  // namespace kledger::app
