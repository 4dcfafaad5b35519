// `kledger processor`: a consumer-group member serving projections, the query API and metrics.
#include <spdlog/spdlog.h>

#include <memory>

#include "app/cli.h"
#include "app/service.h"
#include "common/http.h"
#include "console/console_routes.h"
#include "processors/processor.h"
#include "processors/processor_probe.h"
#include "processors/query/routes.h"

namespace kledger::app {
namespace {

struct ProcessorFlags {
  KafkaFlags kafka;
  std::string http = "127.0.0.1:8082";
  std::string group = "kledger-processors";
  std::string data_dir = "data/processor";
  std::string advertised_url;  // empty: the --http address
  bool allow_log_gaps = false;
  bool no_outcomes = false;
  int outcomes_interval_ms =
      static_cast<int>(processors::ProcessorOptions().outcomes_interval.count());
  int retry_base_ms = 100;
  int retry_cap_ms = 10000;
  int retry_max_attempts = 5;
  std::string on_exhausted = "dead_letter";
  StoreFlags store;
  HttpSecurityFlags security;
  int shutdown_timeout_ms = 10000;
  int read_your_writes_timeout_ms =
      static_cast<int>(processors::ProcessorOptions().read_your_writes_timeout.count());
};

// The processor's options from the flags; InvalidArgument for unusable store settings.
Result<processors::ProcessorOptions> ToProcessorOptions(const ProcessorFlags& flags) {
  processors::ProcessorOptions options;
  options.events_topic = flags.kafka.events_topic();
  options.dlt_topic = flags.kafka.dlt_topic();
  options.group = flags.group;
  options.data_dir = flags.data_dir;
  options.owners_topic = flags.kafka.owners_topic();
  options.outcomes_topic = flags.no_outcomes ? "" : flags.kafka.outcomes_topic();
  options.allow_log_gaps = flags.allow_log_gaps;
  options.read_your_writes_timeout = std::chrono::milliseconds(flags.read_your_writes_timeout_ms);
  options.outcomes_interval = std::chrono::milliseconds(flags.outcomes_interval_ms);
  options.retry_base = std::chrono::milliseconds(flags.retry_base_ms);
  options.retry_cap = std::chrono::milliseconds(flags.retry_cap_ms);
  options.retry_max_attempts = flags.retry_max_attempts;
  options.on_exhausted = flags.on_exhausted == "halt"
                             ? processors::ProcessorOptions::OnExhausted::kHalt
                             : processors::ProcessorOptions::OnExhausted::kDeadLetter;
  ASSIGN_OR_RETURN(options.store, ToStoreOptions(flags.store));
  return options;
}

int RunProcessor(const ProcessorFlags& flags) {
  auto props = ToProperties(flags.kafka);
  auto address = http::ParseHostPort(flags.http);
  auto options = ToProcessorOptions(flags);
  if (LogFirstError({props.status(), address.status(), options.status()})) return 2;
  auto service =
      Service::Create({.security = flags.security,
                       .auth_required = true,
                       .what = "query API",
                       .server = {},
                       .shutdown_timeout = std::chrono::milliseconds(flags.shutdown_timeout_ms)});
  if (LogFirstError({service.status()})) return 2;
  Service& svc = **service;
  auto processor = processors::Processor::Create(*props, *options, svc.registry());
  if (!processor.ok()) {
    spdlog::error("cannot start the processor: {}", processor.status().ToString());
    return 2;
  }
  processors::Processor& p = svc.Keep(std::move(*processor));
  svc.Keep(std::make_unique<processors::StoreProbe>(svc.registry(), p.store()));
  processors::RegisterQueryRoutes(svc.routes(), p, svc.authorizer(), svc.route_metrics());
  console::RegisterConsoleRoutes(svc.routes());
  // Caught-up partitions prove the broker answered; the statistics add a broker known down.
  svc.AddOperatorRoutes(*props, /*require_statistics=*/false, [&p] { return p.NotReadyReason(); });
  svc.OnShutdown([&p](std::chrono::milliseconds) { p.Stop(); });
  if (Status s = svc.Listen(*address); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  const std::string query_url = flags.advertised_url.empty() ? svc.url() : flags.advertised_url;
  if (Status s = p.Start(query_url); !s.ok()) {
    spdlog::error("cannot join the consumer group: {}", s.ToString());
    return 1;
  }
  spdlog::info("processor in group {} on {}, data in {}", flags.group, svc.url(), flags.data_dir);
  const bool signalled = svc.WaitForShutdown([&p] { return !p.Failure().empty(); });
  svc.Shutdown();
  // A failed processor exits non-zero so that its supervisor restarts it and operators notice.
  return signalled ? 0 : 1;
}

}  // namespace

void RegisterProcessor(CLI::App& app, Runner& run) {
  auto flags = std::make_shared<ProcessorFlags>();
  auto* cmd = app.add_subcommand(
      "processor", "a consumer-group member: applies events to its projections, serves queries");
  AddKafkaFlags(*cmd, flags->kafka, /*need_bootstrap=*/true);
  cmd->add_option("--http", flags->http, "HOST:PORT to serve the query API and metrics on")
      ->envname("KLEDGER_HTTP")
      ->capture_default_str();
  AddHttpSecurityFlags(*cmd, flags->security, /*auth_required=*/true);
  cmd->add_option("--group", flags->group, "consumer group id")
      ->envname("KLEDGER_GROUP")
      ->capture_default_str();
  cmd->add_option("--data-dir", flags->data_dir, "RocksDB directory of this processor")
      ->envname("KLEDGER_DATA_DIR")
      ->capture_default_str();
  cmd->add_option("--advertised-url", flags->advertised_url,
                  "URL other processors name in 421 answers for partitions this one owns "
                  "(default: http://HOST:PORT of --http)")
      ->envname("KLEDGER_ADVERTISED_URL");
  cmd->add_flag("--allow-log-gaps", flags->allow_log_gaps,
                "apply a partition whose log starts above the stored offset (events lost to "
                "retention) instead of halting it")
      ->envname("KLEDGER_ALLOW_LOG_GAPS");
  cmd->add_flag("--no-outcomes", flags->no_outcomes,
                "publish no outcome stream (<prefix>.outcomes): for deployments nothing reads "
                "it from")
      ->envname("KLEDGER_NO_OUTCOMES");
  cmd->add_option("--outcomes-interval-ms", flags->outcomes_interval_ms,
                  "longest a partition's outcomes wait for more before they are published, "
                  "unless 2000 wait (every partition with outcomes waiting joins the same "
                  "transaction); 0: after every commit")
      ->envname("KLEDGER_OUTCOMES_INTERVAL_MS")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  cmd->add_option("--retry-base-ms", flags->retry_base_ms,
                  "first backoff after a transient failure; doubles per attempt")
      ->envname("KLEDGER_RETRY_BASE_MS")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  cmd->add_option("--retry-cap-ms", flags->retry_cap_ms, "longest backoff between attempts")
      ->envname("KLEDGER_RETRY_CAP_MS")
      ->check(CLI::Range(1, 3600000))
      ->capture_default_str();
  cmd->add_option("--retry-max-attempts", flags->retry_max_attempts,
                  "attempts at a failing record before --on-exhausted applies")
      ->envname("KLEDGER_RETRY_MAX_ATTEMPTS")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--on-exhausted", flags->on_exhausted,
                  "dead_letter: write the record to the dead-letter topic and go on; halt: stop "
                  "the partition until an operator acts")
      ->envname("KLEDGER_ON_EXHAUSTED")
      ->check(CLI::IsMember({"dead_letter", "halt"}))
      ->capture_default_str();
  AddStoreFlags(*cmd, flags->store, /*with_sync=*/true);
  AddShutdownTimeoutFlag(*cmd, flags->shutdown_timeout_ms);
  AddReadYourWritesTimeoutFlag(*cmd, flags->read_your_writes_timeout_ms);
  cmd->callback([&run, flags] { run = [flags] { return RunProcessor(*flags); }; });
}

}  // namespace kledger::app
