// The command line: parses, then runs the chosen subcommand.
#pragma once

#include <CLI/CLI.hpp>

#include "app/flags.h"

namespace kledger::app {

int Main(int argc, char** argv);

// Each subcommand adds itself to `app` and, when chosen by the parse, sets `run` to its body.
void RegisterDev(CLI::App& app, Runner& run);
void RegisterBroker(CLI::App& app, Runner& run);
void RegisterCommand(CLI::App& app, Runner& run);
void RegisterProcessor(CLI::App& app, Runner& run);
void RegisterRebuild(CLI::App& app, Runner& run);
void RegisterBenchmark(CLI::App& app, Runner& run);
void RegisterDlt(CLI::App& app, Runner& run);
void RegisterTopics(CLI::App& app, Runner& run);
void RegisterOutcomes(CLI::App& app, Runner& run);

}  // namespace kledger::app
