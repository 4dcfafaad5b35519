// `kledger benchmark`: the canonical workload on the embedded broker or a Kafka cluster
// (--bootstrap), with the raw Kafka and RocksDB ceilings measured in the same run
// (app/benchmark/, docs/performance.md).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "app/benchmark/run.h"
#include "app/cli.h"

namespace kledger::app {
namespace {

struct BenchmarkFlags {
  bench::BenchmarkOptions options;
  std::string distribution = "uniform";
  std::vector<std::string> properties;
  std::string json_path;
  StoreFlags store;
};

int RunBenchmarkCmd(BenchmarkFlags flags) {
  auto distribution = bench::ParseDistribution(flags.distribution);
  auto overrides = kafka::ParseProperties(flags.properties);
  if (!distribution.ok() || !overrides.ok()) {
    spdlog::error("{}",
                  (!distribution.ok() ? distribution.status() : overrides.status()).message());
    return 2;
  }
  auto store = ToStoreOptions(flags.store);
  if (!store.ok()) {
    spdlog::error("{}", store.status().message());
    return 2;
  }
  flags.options.store = *store;
  flags.options.workload.distribution = *distribution;
  flags.options.overrides = *overrides;
  auto report = bench::RunBenchmark(flags.options);
  if (!report.ok()) {
    spdlog::error("benchmark failed: {}", report.status().ToString());
    return 1;
  }
  bench::PrintReport(*report, stdout);
  if (!flags.json_path.empty()) {
    std::ofstream out(flags.json_path);
    out << report->json.dump(2) << "\n";
    if (!out) {
      spdlog::error("cannot write {}", flags.json_path);
      return 1;
    }
  }
  // A run that lost or doubled records is a failed run, however fast it was.
  return report->verified ? 0 : 1;
}

}  // namespace

void RegisterBenchmark(CLI::App& app, Runner& run) {
  auto flags = std::make_shared<BenchmarkFlags>();
  auto& o = flags->options;
  auto* cmd = app.add_subcommand(
      "benchmark",
      "the canonical workload with same-run Kafka/RocksDB ceilings; verifies every "
      "transfer was applied exactly once (exit 1 when not)");
  cmd->add_option("--accounts", o.workload.accounts, "accounts over all instances")
      ->check(CLI::Range(int64_t{2}, int64_t{10'000'000}))
      ->capture_default_str();
  cmd->add_option("--transfers", o.workload.transfers, "transactions created")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000'000}))
      ->capture_default_str();
  cmd->add_option("--distribution", flags->distribution, "which accounts transfers pick")
      ->check(CLI::IsMember({"uniform", "zipfian"}))
      ->capture_default_str();
  cmd->add_option("--batch-size", o.batch_size,
                  "records per RocksDB WriteBatch (processors' max_batch_records, and the ceiling)")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  cmd->add_option("--processors", o.processors, "processors in the consumer group, in-process")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--pending-ratio", o.workload.pending_ratio,
                  "share of transfers created pending and posted by a later update")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--partitions", o.workload.partitions,
                  "partitions of the events topic (one ledger instance each)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--bootstrap", o.bootstrap,
                  "a Kafka cluster to run on instead of the embedded broker (e.g. "
                  "scripts/kafka/cluster.py's); the run creates topics kledger-bench-<time>.* "
                  "there, ceilings included")
      ->envname("KLEDGER_BOOTSTRAP");
  cmd->add_option("--replication-factor", o.replication_factor,
                  "with --bootstrap: replicas of the run's topics")
      ->check(CLI::Range(1, 32))
      ->capture_default_str();
  cmd->add_option("--in-flight", o.in_flight, "unacknowledged commands at most")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000}))
      ->capture_default_str();
  cmd->add_option("--command-api", o.command_api,
                  "how the command path submits: async (SubmitAsync, a callback per command) or "
                  "future (Submit, a future per command)")
      ->check(CLI::IsMember({"async", "future"}))
      ->capture_default_str();
  cmd->add_option("--apply-writes", o.apply_writes,
                  "how processors write each poll's commit: pipelined (on a write thread while "
                  "the next poll is applied) or inline (the apply thread writes and waits)")
      ->check(CLI::IsMember({"pipelined", "inline"}))
      ->capture_default_str();
  cmd->add_flag(
      "--no-outcomes", [&o](int64_t) { o.outcomes = false; },
      "processors publish no outcome stream (no outbox, no relay), to measure its cost");
  cmd->add_option("--http-batch", o.http_batch,
                  "commands per POST /v1/batch in the HTTP phase of the command path")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--http-clients", o.http_clients,
                  "connections posting /v1/batch at once in the HTTP phase")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--http-single-clients", o.http_single_clients,
                  "keep-alive connections posting one transfer a request at once in the "
                  "single-transfer HTTP phase (beyond the gateway's 64 requests at once, some are "
                  "refused 503 and sent again, and counted)")
      ->check(CLI::Range(1, 512))
      ->capture_default_str();
  AddStoreFlags(*cmd, flags->store, /*with_sync=*/false);
  cmd->add_option("--latency-seconds", o.latency_seconds, "length of the paced latency phase")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  cmd->add_option("--latency-rate", o.latency_rate,
                  "transfers per second of the paced latency phase (0: half the sustained rate; "
                  "issue 21's latency target is set at 10000)")
      ->check(CLI::Range(0.0, 1'000'000.0))
      ->capture_default_str();
  cmd->add_option("--seed", o.workload.seed, "the workload's random seed")->capture_default_str();
  cmd->add_option("-X,--kafka-property", flags->properties,
                  "librdkafka property key=value, on top of the dev client defaults")
      ->envname("KLEDGER_KAFKA_PROPERTIES")
      ->delimiter(';');
  cmd->add_option("--json", flags->json_path, "also write the figures as JSON to this file");
  cmd->callback([&run, flags] { run = [flags] { return RunBenchmarkCmd(*flags); }; });
}

}  // namespace kledger::app
