// `kledger command`: the command side — the HTTP/JSON producer API.
#include <spdlog/spdlog.h>

#include <memory>

#include "app/cli.h"
#include "command-side/command_client.h"
#include "command-side/gateway/routes.h"
#include "common/http.h"

namespace kledger::app {
namespace {

struct CommandFlags {
  KafkaFlags kafka;
  std::string http = "127.0.0.1:8081";
  int ack_timeout_ms = 5000;
};

int RunCommand(const CommandFlags& flags) {
  auto props = ToProperties(flags.kafka);
  auto address = http::ParseHostPort(flags.http);
  if (!props.ok() || !address.ok()) {
    spdlog::error("{}", (!props.ok() ? props.status() : address.status()).message());
    return 2;
  }
  auto registry = std::make_shared<prometheus::Registry>();
  KafkaStatisticsProbe kafka_stats(*registry);  // before the producer, to see its statistics
  command::CommandClientOptions options;
  options.events_topic = flags.kafka.events_topic();
  options.ack_timeout = std::chrono::milliseconds(flags.ack_timeout_ms);
  auto client = command::CommandClient::Create(*props, options, *registry);
  if (!client.ok()) {
    spdlog::error("cannot start the command side: {}", client.status().ToString());
    return 2;
  }
  http::Server server;
  command::RegisterCommandRoutes(server.routes(), **client);
  http::AddOperatorRoutes(server.routes(), registry,
                          KafkaReadiness(kafka_stats, *props, /*require_statistics=*/true));
  if (Status s = server.Start(*address); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  spdlog::info("command API on {} appending to {} via {}", server.url(), options.events_topic,
               flags.kafka.bootstrap);
  WaitForShutdown();
  server.Stop();
  if (Status s = (*client)->Flush(std::chrono::seconds(10)); !s.ok()) {
    spdlog::warn("unacknowledged events at shutdown: {}", s.ToString());
  }
  return 0;
}

}  // namespace

void RegisterCommand(CLI::App& app, Runner& run) {
  auto flags = std::make_shared<CommandFlags>();
  auto* cmd = app.add_subcommand("command", "the command side: producer API over HTTP/JSON");
  AddKafkaFlags(*cmd, flags->kafka, /*need_bootstrap=*/true);
  cmd->add_option("--http", flags->http, "HOST:PORT to serve the command API on")
      ->envname("KLEDGER_HTTP")->capture_default_str();
  cmd->add_option("--ack-timeout-ms", flags->ack_timeout_ms,
                  "how long Kafka may take to acknowledge a command before it is answered 503")
      ->envname("KLEDGER_ACK_TIMEOUT_MS")->check(CLI::Range(100, 600000))->capture_default_str();
  cmd->callback([&run, flags] { run = [flags] { return RunCommand(*flags); }; });
}

}  // namespace kledger::app
