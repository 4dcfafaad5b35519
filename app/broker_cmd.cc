// `kledger broker`: the embedded Kafka-compatible broker alone, with a fault-injection endpoint.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

#include "app/cli.h"
#include "app/topic_layout.h"
#include "common/http.h"
#include "common/kafka/embedded_broker.h"

namespace kledger::app {
namespace {

struct BrokerFlags {
  int brokers = 3;
  int partitions = 12;
  std::string topic_prefix = "kledger";
  std::string control = "127.0.0.1:0";
};

int RunBroker(const BrokerFlags& flags) {
  auto control_address = http::ParseHostPort(flags.control);
  if (!control_address.ok()) {
    spdlog::error("--control: {}", control_address.status().message());
    return 2;
  }
  kafka::EmbeddedBrokerOptions options;
  options.brokers = flags.brokers;
  options.topics = KledgerTopics(flags.topic_prefix, {.partitions = flags.partitions});
  auto broker = kafka::EmbeddedBroker::Start(options);
  if (!broker.ok()) {
    spdlog::error("cannot start the embedded broker: {}", broker.status().ToString());
    return 1;
  }

  // Fault orders arrive as plain text: curl -d 'broker-down 1' http://CONTROL/faults
  http::Server control;
  control.routes().Post("/faults", [&](const httplib::Request& req, httplib::Response& res) {
    auto answer = (*broker)->Execute(req.body);
    if (!answer.ok()) {
      res.status = 400;
      res.set_content(answer.status().message() + "\n", "text/plain");
      return;
    }
    spdlog::info("fault order '{}': {}", req.body, *answer);
    res.set_content(*answer + "\n", "text/plain");
  });
  control.routes().Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  if (Status s = control.Start(*control_address); !s.ok()) {
    spdlog::error("control endpoint: {}", s.message());
    return 1;
  }

  // Tests and scripts read these two lines; the bootstrap line must come first.
  std::printf("bootstrap=%s\ncontrol=%s\n", (*broker)->bootstrap().c_str(), control.url().c_str());
  std::fflush(stdout);
  spdlog::info(
      "embedded broker up: {} brokers, topics {}.events and {}.events.dlt with {} "
      "partitions; fault orders: POST {}/faults",
      flags.brokers, flags.topic_prefix, flags.topic_prefix, flags.partitions, control.url());
  WaitForShutdown();
  spdlog::info("embedded broker stopping; its log lived in memory and is gone");
  return 0;
}

}  // namespace

void RegisterBroker(CLI::App& app, Runner& run) {
  auto flags = std::make_shared<BrokerFlags>();
  auto* cmd = app.add_subcommand(
      "broker",
      "the embedded Kafka-compatible broker alone (librdkafka's mock cluster); prints "
      "bootstrap=HOST:PORT,... as its first line");
  cmd->add_option("--brokers", flags->brokers, "brokers in the cluster")
      ->envname("KLEDGER_BROKERS")
      ->check(CLI::Range(1, 9))
      ->capture_default_str();
  cmd->add_option("--partitions", flags->partitions, "partitions of the events and DLT topics")
      ->envname("KLEDGER_PARTITIONS")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--topic-prefix", flags->topic_prefix,
                  "topics are PREFIX.events, .events.dlt, .owners and .outcomes")
      ->envname("KLEDGER_TOPIC_PREFIX")
      ->capture_default_str();
  cmd->add_option("--control", flags->control,
                  "HOST:PORT of the fault-injection endpoint (POST /faults); port 0 picks one")
      ->envname("KLEDGER_CONTROL")
      ->capture_default_str();
  cmd->callback([&run, flags] { run = [flags] { return RunBroker(*flags); }; });
}

}  // namespace kledger::app
