// `kledger rebuild`: rebuilds the projections from offset 0 into a fresh directory, with
// progress, and prints the state digest a live processor's GET /v1/digest must match.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <optional>

#include "app/cli.h"
#include "common/progress.h"
#include "processors/rebuild.h"

namespace kledger::app {
namespace {

struct RebuildFlags {
  KafkaFlags kafka;
  std::string data_dir;
  StoreFlags store;
  bool no_outcomes = false;
};

int RunRebuild(const RebuildFlags& flags) {
  auto props = ToProperties(flags.kafka);
  if (!props.ok()) {
    spdlog::error("{}", props.status().message());
    return 2;
  }
  auto store = ToStoreOptions(flags.store);
  if (!store.ok()) {
    spdlog::error("{}", store.status().message());
    return 2;
  }
  processors::RebuildOptions options;
  options.store = *store;
  options.events_topic = flags.kafka.events_topic();
  options.outcomes_topic = flags.no_outcomes ? "" : flags.kafka.outcomes_topic();
  options.data_dir = flags.data_dir;
  std::optional<ProgressBar> bar;
  auto result = processors::Rebuild(*props, options, [&](int64_t done, int64_t total) {
    if (!bar) bar.emplace("rebuild", total);
    bar->Update(done);
  });
  if (bar) bar->Finish();
  if (!result.ok()) {
    spdlog::error("rebuild failed: {}", result.status().ToString());
    return 1;
  }
  std::printf(
      "rebuilt %d partitions of %s: %lld records (%lld poison, skipped) in %.2f s into %s\n",
      result->partitions, options.events_topic.c_str(), static_cast<long long>(result->records),
      static_cast<long long>(result->poison), result->seconds, options.data_dir.c_str());
  std::printf("digest=%s\n", result->digest.c_str());
  return 0;
}

}  // namespace

void RegisterRebuild(CLI::App& app, Runner& run) {
  auto flags = std::make_shared<RebuildFlags>();
  auto* cmd = app.add_subcommand(
      "rebuild",
      "rebuild projections from offset 0 into a fresh directory and print the state "
      "digest (compare with a processor's GET /v1/digest)");
  AddKafkaFlags(*cmd, flags->kafka, /*need_bootstrap=*/true);
  cmd->add_option("--data-dir", flags->data_dir, "an empty or new directory for the rebuilt store")
      ->envname("KLEDGER_DATA_DIR")
      ->required();
  // The processor that will serve the rebuilt store should be started with the same settings.
  AddStoreFlags(*cmd, flags->store, /*with_sync=*/false);
  cmd->add_flag("--no-outcomes", flags->no_outcomes,
                "for processors that publish no outcome stream: write no outbox (otherwise the "
                "outcomes the topic lacks are left for the processor to publish)");
  cmd->callback([&run, flags] { run = [flags] { return RunRebuild(*flags); }; });
}

}  // namespace kledger::app
