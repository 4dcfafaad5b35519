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
  for (auto* add :
       {RegisterDev, RegisterBroker, RegisterCommand, RegisterProcessor, RegisterRebuild,
        RegisterBenchmark, RegisterDlt, RegisterTopics, RegisterOutcomes}) {
    add(app, run);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message and has a code per kind of error (105, 106, ...); scripts are
    // told one thing, bad usage, by 2 (--help and --version still exit 0).
    return app.exit(e) == 0 ? 0 : 2;
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
