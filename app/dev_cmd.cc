// `kledger dev`: everything in one process — command API, one processor, query API and metrics
// on one HTTP address — on the embedded broker, or with --bootstrap on a Kafka cluster (whose log
// outlives the process, so --data-dir's projections are kept across runs); `--demo` pushes a
// workload through it.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include "app/cli.h"
#include "app/demo.h"
#include "app/service.h"
#include "app/topic_layout.h"
#include "command-side/command_client.h"
#include "command-side/gateway/routes.h"
#include "common/http.h"
#include "common/kafka/embedded_broker.h"
#include "common/kafka/statistics.h"
#include "console/console_routes.h"
#include "processors/processor.h"
#include "processors/processor_probe.h"
#include "processors/query/routes.h"

namespace kledger::app {
namespace {

namespace fs = std::filesystem;

struct DevFlags {
  std::string http = "127.0.0.1:8080";
  int partitions = 12;
  std::string data_dir;  // empty: a fresh temporary directory, removed at exit
  bool reset = false;
  bool demo = false;
  bool exit_after_demo = false;
  DemoOptions demo_options;
  std::vector<std::string> properties;
  std::string bootstrap;  // empty: the embedded broker
  std::string topic_prefix = "kledger";
  int shutdown_timeout_ms = 10000;
  int read_your_writes_timeout_ms =
      static_cast<int>(processors::ProcessorOptions().read_your_writes_timeout.count());
  HttpSecurityFlags security;

  bool embedded() const { return bootstrap.empty(); }
};

// A directory removed with everything in it when this goes; none while `path` is empty.
struct TemporaryDir {
  std::string path;
  ~TemporaryDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

// The embedded broker's log lives in memory and starts empty at every run, so projections left
// by an earlier run describe a log that no longer exists: refuse them rather than mix the two.
// Without --data-dir, a fresh directory that `temporary` removes at exit.
Result<std::string> PrepareDataDir(const DevFlags& flags, TemporaryDir& temporary) {
  if (flags.data_dir.empty()) {
    std::string pattern = (fs::temp_directory_path() / "kledger-dev-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return Status::IoError("cannot create a temporary data directory under " +
                             fs::temp_directory_path().string());
    }
    temporary.path = pattern;
    return pattern;
  }
  std::error_code ec;
  if (!flags.embedded()) {
    // The log lives in Kafka: projections from an earlier run continue where they stopped.
    if (flags.reset) fs::remove_all(flags.data_dir, ec);
    if (ec) return Status::IoError("cannot wipe " + flags.data_dir + ": " + ec.message());
    fs::create_directories(flags.data_dir, ec);
    if (ec) return Status::IoError("cannot create " + flags.data_dir + ": " + ec.message());
    return flags.data_dir;
  }
  if (fs::exists(flags.data_dir, ec) && !fs::is_empty(flags.data_dir, ec)) {
    if (!flags.reset) {
      return Status::FailedPrecondition(
          "--data-dir " + flags.data_dir +
          " holds projections from an earlier run, but the embedded broker starts with an empty "
          "log; pass --reset to wipe them, or leave out --data-dir for a fresh temporary one");
    }
    fs::remove_all(flags.data_dir, ec);
    if (ec) return Status::IoError("cannot wipe " + flags.data_dir + ": " + ec.message());
  }
  // RocksDB makes the store's own directory, not its parents.
  fs::create_directories(flags.data_dir, ec);
  if (ec) return Status::IoError("cannot create " + flags.data_dir + ": " + ec.message());
  return flags.data_dir;
}

// The clients' properties: to the embedded broker, started into `broker`, or to --bootstrap's
// cluster, whose missing topics are created first.
Result<kafka::Properties> ConnectKafka(const DevFlags& flags, const kafka::Properties& overrides,
                                       std::unique_ptr<kafka::EmbeddedBroker>& broker) {
  kafka::Properties props = kafka::DevClientDefaults();
  if (flags.embedded()) {
    kafka::EmbeddedBrokerOptions broker_options;
    broker_options.topics = KledgerTopics(flags.topic_prefix, {.partitions = flags.partitions});
    auto started = kafka::EmbeddedBroker::Start(broker_options);
    if (!started.ok()) return started.status().WithContext("cannot start the embedded broker");
    broker = std::move(started).value();
    props["bootstrap.servers"] = broker->bootstrap();
  } else {
    props["bootstrap.servers"] = flags.bootstrap;
  }
  props["statistics.interval.ms"] = std::to_string(kafka::kDefaultStatisticsIntervalMs);
  props = kafka::Merge(std::move(props), overrides);
  if (!flags.embedded()) {
    // Replication factor 1: a local playground. A real cluster gets its topics from `kledger
    // topics create` first; topics that exist are left as they are.
    auto created = CreateMissingTopics(
        props,
        KledgerTopics(flags.topic_prefix,
                      {.partitions = flags.partitions, .replication_factor = 1}),
        std::chrono::seconds(30));
    if (!created.ok()) {
      return created.status().WithContext("cannot make the topics on " + flags.bootstrap);
    }
    for (const std::string& name : *created) {
      spdlog::info("created topic {} (replication factor 1)", name);
    }
  }
  return props;
}

// The command client and the processor of `kledger dev`, on `props`, kept by `svc`.
struct DevParts {
  command::CommandClient& client;
  processors::Processor& processor;
};
Result<DevParts> MakeParts(const DevFlags& flags, const kafka::Properties& props,
                           const std::string& data_dir, Service& svc) {
  command::CommandClientOptions command_options;
  command_options.events_topic = flags.topic_prefix + ".events";
  auto client = command::CommandClient::Create(props, command_options, svc.registry());
  if (!client.ok()) return client.status().WithContext("cannot start the command side");
  processors::ProcessorOptions processor_options;
  processor_options.group = "kledger-dev";
  processor_options.events_topic = flags.topic_prefix + ".events";
  processor_options.dlt_topic = flags.topic_prefix + ".events.dlt";
  processor_options.owners_topic = flags.topic_prefix + ".owners";
  processor_options.outcomes_topic = flags.topic_prefix + ".outcomes";
  processor_options.data_dir = data_dir + "/processor";
  processor_options.read_your_writes_timeout =
      std::chrono::milliseconds(flags.read_your_writes_timeout_ms);
  auto processor = processors::Processor::Create(props, processor_options, svc.registry());
  if (!processor.ok()) return processor.status().WithContext("cannot start the processor");
  DevParts parts{svc.Keep(std::move(*client)), svc.Keep(std::move(*processor))};
  svc.Keep(std::make_unique<processors::StoreProbe>(svc.registry(), parts.processor.store()));
  return parts;
}

// `--demo`: once the processor owns its partitions (the demo waits on its progress, and the
// first group join takes a few seconds), the demo's workload. Returns the exit code.
int RunDemoWhenReady(const DevFlags& flags, const DevParts& parts) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!parts.processor.NotReadyReason().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Status demo = RunDemo(parts.client, parts.processor, flags.demo_options);
  if (demo.ok()) return 0;
  spdlog::error("demo failed: {}", demo.ToString());
  return 1;
}

int RunDev(const DevFlags& flags) {
  auto address = http::ParseHostPort(flags.http);
  auto overrides = kafka::ParseProperties(flags.properties);
  if (LogFirstError({address.status(), overrides.status()})) return 2;
  // Both outlive the service and the clients it keeps: the broker they talk to, and the
  // temporary directory the processor's store lives in.
  std::unique_ptr<kafka::EmbeddedBroker> broker;
  TemporaryDir temporary;
  // Auth is off by default here (a laptop playground), and said loudly when it is.
  auto service =
      Service::Create({.security = flags.security,
                       .auth_required = false,
                       .what = "command and query API",
                       .server = {},
                       .shutdown_timeout = std::chrono::milliseconds(flags.shutdown_timeout_ms)});
  if (LogFirstError({service.status()})) return 2;
  Service& svc = **service;
  auto data_dir = PrepareDataDir(flags, temporary);
  if (LogFirstError({data_dir.status()})) return 2;
  auto props = ConnectKafka(flags, *overrides, broker);
  if (LogFirstError({props.status()})) return 1;
  auto parts = MakeParts(flags, *props, *data_dir, svc);
  if (LogFirstError({parts.status()})) return 1;
  processors::Processor& p = parts->processor;
  command::RegisterCommandRoutes(svc.routes(), parts->client, svc.authorizer(),
                                 svc.route_metrics());
  processors::RegisterQueryRoutes(svc.routes(), p, svc.authorizer(), svc.route_metrics());
  console::RegisterConsoleRoutes(svc.routes());
  svc.AddOperatorRoutes(*props, /*require_statistics=*/false, [&p] { return p.NotReadyReason(); });
  svc.OnShutdown([&p](std::chrono::milliseconds) { p.Stop(); });
  if (Status s = svc.Listen(*address); !s.ok()) {
    spdlog::error("{} (choose another with --http HOST:PORT)", s.message());
    return 1;
  }
  if (Status s = p.Start(svc.url()); !s.ok()) {
    spdlog::error("cannot start the processor: {}", s.ToString());
    return 1;
  }
  std::printf("kledger dev: http=%s bootstrap=%s data=%s%s\n", svc.url().c_str(),
              props->at("bootstrap.servers").c_str(), data_dir->c_str(),
              temporary.path.empty() ? "" : " (temporary)");
  std::fflush(stdout);
  const int exit_code = flags.demo ? RunDemoWhenReady(flags, *parts) : 0;
  if (!flags.exit_after_demo) {
    std::printf(
        "kledger dev: serving on %s — open %s/console/ or try: curl "
        "%s/v1/instances/demo/trial-balance (Ctrl-C stops; %s)\n",
        svc.url().c_str(), svc.url().c_str(), svc.url().c_str(),
        flags.embedded()          ? "the embedded log is in memory"
        : !temporary.path.empty() ? "the log stays in Kafka; the projections go (keep them with "
                                    "--data-dir)"
                                  : "the log stays in Kafka and the projections in --data-dir");
    std::fflush(stdout);
    svc.WaitForShutdown([&p] { return !p.Failure().empty(); });
  }
  svc.Shutdown();
  return exit_code;
}

}  // namespace

void RegisterDev(CLI::App& app, Runner& run) {
  auto flags = std::make_shared<DevFlags>();
  auto* cmd = app.add_subcommand(
      "dev",
      "all in one process on the embedded broker (or a Kafka cluster: --bootstrap): "
      "command API, a processor, query API and metrics on one HTTP address");
  cmd->add_option("--http", flags->http, "HOST:PORT for every HTTP route")
      ->envname("KLEDGER_HTTP")
      ->capture_default_str();
  AddHttpSecurityFlags(*cmd, flags->security, /*auth_required=*/false);
  cmd->add_option("--partitions", flags->partitions, "partitions of the events topic")
      ->envname("KLEDGER_PARTITIONS")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--bootstrap", flags->bootstrap,
                  "a Kafka cluster to run on instead of the embedded broker (missing topics are "
                  "created with replication factor 1); its log outlives the process, so a "
                  "--data-dir is kept across runs (scripts/dev.sh --kafka DIR does both)")
      ->envname("KLEDGER_BOOTSTRAP");
  cmd->add_option("--topic-prefix", flags->topic_prefix,
                  "topics are PREFIX.events, PREFIX.events.dlt, PREFIX.owners and PREFIX.outcomes")
      ->envname("KLEDGER_TOPIC_PREFIX")
      ->capture_default_str();
  cmd->add_option("--data-dir", flags->data_dir,
                  "where projections live (default: a fresh temporary directory, removed at exit)")
      ->envname("KLEDGER_DATA_DIR");
  cmd->add_flag("--reset", flags->reset,
                "wipe --data-dir first (on the embedded broker its "
                "projections describe an earlier run's log)")
      ->envname("KLEDGER_RESET");
  AddShutdownTimeoutFlag(*cmd, flags->shutdown_timeout_ms);
  AddReadYourWritesTimeoutFlag(*cmd, flags->read_your_writes_timeout_ms);
  cmd->add_option("-X,--kafka-property", flags->properties, "librdkafka property key=value")
      ->envname("KLEDGER_KAFKA_PROPERTIES")
      ->delimiter(';');
  cmd->add_flag("--demo", flags->demo, "submit a generated workload and print a summary")
      ->envname("KLEDGER_DEMO");
  cmd->add_flag("--exit-after-demo", flags->exit_after_demo, "stop after the demo's summary");
  cmd->add_option("--demo-transactions", flags->demo_options.transactions,
                  "transactions the demo submits")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  cmd->callback([&run, flags] { run = [flags] { return RunDev(*flags); }; });
}

}  // namespace kledger::app
