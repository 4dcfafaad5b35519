// Subcommands of SPEC §6 whose issues have not landed yet: listed in --help, and they say so.
#include <cstdio>

#include "app/cli.h"

namespace kledger::app {

void RegisterPending(CLI::App& app, Runner& run) {
  auto not_yet = [&run](const char* what) {
    return [&run, what] {
      run = [what] {
        std::fprintf(stderr, "kledger %s: not yet implemented in this build\n", what);
        return 3;
      };
    };
  };
  auto* topics = app.add_subcommand("topics", "topic administration on a real Kafka cluster");
  topics->require_subcommand(1);
  topics->add_subcommand("create", "create the kledger topics through the admin API")
      ->callback(not_yet("topics create"));
}

}  // namespace kledger::app
