// `kledger benchmark` as a list of phases (app/benchmark/phases.h), and its report as a table.
// The phases, in order: ceilings (raw Kafka, raw RocksDB), the command and apply paths measured
// apart in rounds, the command path over HTTP, a sustained and a paced latency phase with both
// running, verification.
#include "app/benchmark/run.h"

#include <string>
#include <utility>

#include "app/benchmark/phases.h"

namespace kledger::app::bench {
namespace {

using json = nlohmann::json;

}  // namespace

Result<BenchmarkReport> RunBenchmark(const BenchmarkOptions& options) {
  // Everything the phases share, destroyed in the reverse order of its members whichever phase
  // returns: see BenchmarkRun.
  BenchmarkRun run(options);
  RecordParameters(run);
  RETURN_IF_ERROR(SetUp(run));
  RETURN_IF_ERROR(PlanRounds(run));
  RETURN_IF_ERROR(MeasureCeilings(run));
  RETURN_IF_ERROR(StartKledger(run));
  RETURN_IF_ERROR(MeasureCommandAndApply(run));
  RETURN_IF_ERROR(MeasureHttpBatch(run));
  RETURN_IF_ERROR(MeasureHttpSingle(run));
  RETURN_IF_ERROR(MeasureSustained(run));
  RETURN_IF_ERROR(MeasureLatency(run));
  RecordMemory(run);
  RecordTargets(run);
  Verify(run);
  // A clean stop: the client flushes with nothing in flight, then the processors stop.
  run.client.reset();
  run.fleet.Stop();
  return std::move(run.report);
}

void PrintReport(const BenchmarkReport& report, std::FILE* out) {
  const json& j = report.json;
  const json& c = j["ceilings"];
  const json& p = j["parameters"];
  std::fprintf(out,
               "\nkledger benchmark: %lld transfers (%lld events), %s, %d partitions, %d "
               "processor(s), batch %d, pending %.2f, RocksDB %s with a %d MiB memtable%s\n",
               p["transfers"].get<long long>(), p["events"].get<long long>(),
               p["distribution"].get<std::string>().c_str(), p["partitions"].get<int>(),
               p["processors"].get<int>(), p["batch_size"].get<int>(),
               p["pending_ratio"].get<double>(), p["store_compaction"].get<std::string>().c_str(),
               p["store_write_buffer_mb"].get<int>(),
               p["store_compaction_priority"] == "idle" ? ", compactions at idle priority" : "");
  std::fprintf(out, "\n%-44s %14s %14s %8s\n", "path", "per second", "ceiling", "ratio");
  std::fprintf(out, "%-44s %14.0f %14.0f %8.2f\n", "command path (C++ API, acked)",
               j["command"]["commands_per_s"].get<double>(), c["kafka_produce_per_s"].get<double>(),
               j["ratios"]["command_vs_produce"].get<double>());
  const json& h = j["command"]["http_batch"];
  const std::string http_label =
      "command path (HTTP /v1/batch of " + std::to_string(h["batch"].get<int>()) + ", acked)";
  std::fprintf(out, "%-44s %14.0f %14.0f %8.2f\n", http_label.c_str(),
               h["commands_per_s"].get<double>(), c["kafka_produce_per_s"].get<double>(),
               j["ratios"]["http_batch_vs_produce"].get<double>());
  const json& single = j["command"]["http_single"];
  std::fprintf(out, "%-44s %14.0f\n", "command path (HTTP, one transfer a request)",
               single["requests_per_s"].get<double>());
  std::fprintf(out, "%-44s %14.0f %14.0f %8.2f\n", "apply path (events, exactly-once commit)",
               j["apply"]["txn_per_s"].get<double>(), c["rocksdb_events_per_s"].get<double>(),
               j["ratios"]["apply_vs_rocksdb"].get<double>());
  std::fprintf(out, "%-44s %14.0f\n", "  ceiling: raw consume (each round read alone)",
               c["kafka_consume_per_s"].get<double>());
  std::fprintf(out, "%-44s %14lld\n", "  rounds (command, then apply)",
               j["command"]["rounds"].get<long long>());
  auto print_cpu = [&](const char* what, const json& cpu) {
    std::fprintf(out, "  CPU us per %s:", what);
    for (const auto& [group, us] : cpu.items()) {
      std::fprintf(out, " %s %.1f", group.c_str(), us.get<double>());
    }
    std::fprintf(out, "\n");
  };
  print_cpu("record produced raw (ceiling), by thread", c["kafka_produce_cpu_us_per_record"]);
  print_cpu("command, by thread", j["command"]["cpu_us_per_command"]);
  print_cpu("command over HTTP, by thread", h["cpu_us_per_command"]);
  std::fprintf(out,
               "  HTTP, one transfer a request: %d connections, p50 %.2f ms  p99 %.2f ms, "
               "refused %lld\n",
               single["clients"].get<int>(), single["request_ms_p50"].get<double>(),
               single["request_ms_p99"].get<double>(), single["refused"].get<long long>());
  print_cpu("request of one transfer over HTTP, by thread", single["cpu_us_per_request"]);
  print_cpu("event applied, by thread", j["apply"]["cpu_us_per_event"]);
  const json& l = j["e2e_latency_ms"];
  std::fprintf(out,
               "\nsustained end to end (both paths at once, submit -> applied): %.0f transfers/s\n",
               j["sustained"]["transfers_per_s"].get<double>());
  std::fprintf(out,
               "end-to-end latency, submit -> visible, at %.0f/s: p50 %.2f ms  p99 %.2f ms  "
               "p999 %.2f ms  (ack p99 %.2f ms, %zu samples)\n",
               l["load_per_s"].get<double>(), l["p50"].get<double>(), l["p99"].get<double>(),
               l["p999"].get<double>(), l["ack_p99"].get<double>(), l["samples"].get<size_t>());
  print_cpu("transfer submitted and applied, by thread", l["cpu_us_per_transfer"]);
  const json& r = j["rss_mb"];
  std::fprintf(out, "RSS: peak %.0f MiB; second half %.0f..%.0f MiB (%s)\n",
               r["peak"].get<double>(), r["second_half_min"].get<double>(),
               r["second_half_max"].get<double>(),
               r["second_half_flat_within_10pct"].get<bool>() ? "flat within 10%" : "NOT flat");
  std::fprintf(out, "\ntargets (issue 7):\n");
  for (const auto& [name, met] : j["targets"].items()) {
    std::fprintf(out, "  %-36s %s\n", name.c_str(), met.get<bool>() ? "met" : "NOT met");
  }
  const json& i21 = j["issue_21"];
  std::fprintf(out,
               "targets (issue 21): CPU per event applied %.1f us, per command in /v1/batch "
               "%.1f us, per single request %.1f us (command process)\n",
               i21["apply_cpu_us_per_event"].get<double>(),
               i21["http_batch_cpu_us_per_command"].get<double>(),
               i21["http_single_cpu_us_per_request"].get<double>());
  for (const auto& [name, met] : i21["targets"].items()) {
    std::fprintf(out, "  %-36s %s\n", name.c_str(), met.get<bool>() ? "met" : "NOT met");
  }
  const json& v = j["verification"];
  std::fprintf(out,
               "\nexactly-once: %s (%lld events acked, %lld applied, %lld duplicate, %lld "
               "rejected, %lld dead-lettered, %lld sampled outcomes checked)\n",
               report.verified ? "VERIFIED" : "FAILED", v["events_acked"].get<long long>(),
               v["applied"].get<long long>(), v["duplicate"].get<long long>(),
               v["rejected"].get<long long>(), v["dead_lettered"].get<long long>(),
               v["sampled_outcomes_ok"].get<long long>());
  if (!report.verified) std::fprintf(out, "FAILED: %s\n", report.failure.c_str());
  std::fflush(out);
}

}  // namespace kledger::app::bench
