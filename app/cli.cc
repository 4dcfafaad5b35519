#include "app/cli.h"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "common/log.h"

namespace kledger::app {

int Main(int argc, char** argv) {
  BlockShutdownSignals();
  CLI::App app{"kledger: an event-sourced double-entry ledger on Apache Kafka"};
  app.set_version_flag("--version", std::string("kledger 0.1.0"));
  app.require_subcommand(1);
  LogOptions log_options;
  AddLogFlags(app, log_options);

  Runner run;
  for (auto* add : {RegisterDev, RegisterBroker, RegisterCommand, RegisterProcessor,
                    RegisterRebuild, RegisterBenchmark, RegisterDlt, RegisterTopics}) {
    add(app, run);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (Status s = InitLogging(log_options); !s.ok()) {
    std::fprintf(stderr, "kledger: %s\n", s.message().c_str());
    return 2;
  }
  try {
    return run ? run() : 2;
  } catch (const std::exception& e) {
    spdlog::critical("kledger stopped on an unexpected error: {}", e.what());
    return 70;
  }
}

}  // namespace kledger::app
