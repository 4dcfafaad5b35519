// `kledger command`: the command side — the HTTP/JSON producer API.
#include <spdlog/spdlog.h>

#include <memory>

#include "app/cli.h"
#include "app/service.h"
#include "command-side/command_client.h"
#include "command-side/gateway/routes.h"
#include "common/http.h"

namespace kledger::app {
namespace {

struct CommandFlags {
  KafkaFlags kafka;
  std::string http = "127.0.0.1:8081";
  int ack_timeout_ms = 5000;
  size_t max_body_bytes = 1 << 20;
  std::string producer_mode = "idempotent";
  std::string transactional_id;
  HttpSecurityFlags security;
  int shutdown_timeout_ms = 10000;
};

int RunCommand(const CommandFlags& flags) {
  auto props = ToProperties(flags.kafka);
  auto address = http::ParseHostPort(flags.http);
  auto mode = command::ParseProducerMode(flags.producer_mode);
  if (LogFirstError({props.status(), address.status(), mode.status()})) return 2;
  auto service =
      Service::Create({.security = flags.security,
                       .auth_required = true,
                       .what = "command API",
                       .server = {.max_body_bytes = flags.max_body_bytes},
                       .shutdown_timeout = std::chrono::milliseconds(flags.shutdown_timeout_ms)});
  if (LogFirstError({service.status()})) return 2;
  Service& svc = **service;
  command::CommandClientOptions options;
  options.events_topic = flags.kafka.events_topic();
  options.ack_timeout = std::chrono::milliseconds(flags.ack_timeout_ms);
  options.producer_mode = *mode;
  options.transactional_id = flags.transactional_id;
  auto client = command::CommandClient::Create(*props, options, svc.registry());
  if (!client.ok()) {
    spdlog::error("cannot start the command side: {}", client.status().ToString());
    return 2;
  }
  command::CommandClient& c = svc.Keep(std::move(*client));
  command::RegisterCommandRoutes(svc.routes(), c, svc.authorizer(), svc.route_metrics());
  svc.AddOperatorRoutes(*props, /*require_statistics=*/true);
  svc.OnShutdown([&c](std::chrono::milliseconds bound) {
    // Leaves a quarter of the bound for the producer's own close.
    if (Status s = c.Flush(bound * 3 / 4); !s.ok()) {
      spdlog::warn("unacknowledged events at shutdown: {}", s.ToString());
    }
  });
  if (Status s = svc.Listen(*address); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;
  }
  spdlog::info("command API on {} appending to {} via {} ({} producer)", svc.url(),
               options.events_topic, flags.kafka.bootstrap,
               command::ProducerModeName(options.producer_mode));
  svc.WaitForShutdown();
  svc.Shutdown();
  return 0;
}

}  // namespace

void RegisterCommand(CLI::App& app, Runner& run) {
  auto flags = std::make_shared<CommandFlags>();
  auto* cmd = app.add_subcommand("command", "the command side: producer API over HTTP/JSON");
  AddKafkaFlags(*cmd, flags->kafka, /*need_bootstrap=*/true);
  cmd->add_option("--http", flags->http, "HOST:PORT to serve the command API on")
      ->envname("KLEDGER_HTTP")
      ->capture_default_str();
  AddHttpSecurityFlags(*cmd, flags->security, /*auth_required=*/true);
  cmd->add_option("--ack-timeout-ms", flags->ack_timeout_ms,
                  "how long Kafka may take to acknowledge a command before it is answered 503")
      ->envname("KLEDGER_ACK_TIMEOUT_MS")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", flags->max_body_bytes,
                  "largest request body accepted; larger ones are answered 413")
      ->envname("KLEDGER_MAX_BODY_BYTES")
      ->check(CLI::Range(size_t{1024}, size_t{64} << 20))
      ->capture_default_str();
  cmd->add_option("--producer-mode", flags->producer_mode,
                  "idempotent: one record per acknowledgement (exact on real Kafka); "
                  "transactional: group commit in Kafka transactions, /v1/batch all-or-nothing "
                  "(exact on the embedded broker under faults too)")
      ->envname("KLEDGER_PRODUCER_MODE")
      ->check(CLI::IsMember({"idempotent", "transactional"}))
      ->capture_default_str();
  cmd->add_option("--transactional-id", flags->transactional_id,
                  "transactional mode: the producer's transactional.id, unique per process and "
                  "stable across its restarts (default: kledger-command-<host>-<pid>)")
      ->envname("KLEDGER_TRANSACTIONAL_ID");
  AddShutdownTimeoutFlag(*cmd, flags->shutdown_timeout_ms);
  cmd->callback([&run, flags] { run = [flags] { return RunCommand(*flags); }; });
}

}  // namespace kledger::app
