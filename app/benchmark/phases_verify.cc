// The closing phases: memory over the run, the ratios to the ceilings and the targets,
// and the exactly-once verification that decides whether the run counts at all.
#include <algorithm>
#include <initializer_list>
#include <map>
#include <string_view>

#include "app/benchmark/phases.h"

namespace kledger::app::bench {
namespace {

// Keeps the first failure: the one the report names.
void Fail(std::string& failure, std::string why) {
  if (failure.empty()) failure = std::move(why);
}

// Every sampled event has its one outcome, recorded for the very record that was acked; the
// count of those that have.
int64_t CheckSampledOutcomes(const BenchmarkRun& run, std::string& failure) {
  const Ledger& ledger = run.ledger;
  int64_t sampled_ok = 0;
  for (size_t i = 0; i < ledger.sampled.size(); ++i) {
    const std::string& instance = run.workload.instances()[ledger.sampled_partition[i]];
    processors::Processor* owner = run.fleet.Owner(instance);
    auto outcome = owner == nullptr ? Result<v1::EventOutcomeView>(Status::NotFound("no owner"))
                                    : owner->store().GetOutcome(instance, ledger.sampled[i].first);
    if (!outcome.ok() || outcome->outcome() != v1::APPLIED ||
        outcome->offset() != ledger.sampled[i].second) {
      Fail(failure, "event " + ledger.sampled[i].first + " has no APPLIED outcome at its offset");
      continue;
    }
    ++sampled_ok;
  }
  return sampled_ok;
}

// Books balance, and hold exactly the money the workload posted: a transfer lost or applied
// twice would show here.
bool CheckTrialBalances(const BenchmarkRun& run, std::string& failure) {
  const std::vector<std::string>& instances = run.workload.instances();
  bool balanced = true;
  for (size_t p = 0; p < instances.size(); ++p) {
    const std::string& instance = instances[p];
    processors::Processor* owner = run.fleet.Owner(instance);
    if (owner == nullptr) {
      balanced = false;
      continue;
    }
    auto trial = owner->store().GetTrialBalance(instance);
    int64_t debits = 0, credits = 0;
    if (trial.ok()) {
      for (const auto& c : trial->currencies()) {
        debits += c.debits();
        credits += c.credits();
      }
    }
    const int64_t posted = run.ledger.posted[p];
    if (!trial.ok() || debits != credits || debits != posted) {
      balanced = false;
      Fail(failure, "instance " + instance + ": trial balance debits " + std::to_string(debits) +
                        " credits " + std::to_string(credits) + ", posted " +
                        std::to_string(posted));
    }
  }
  return balanced;
}

// The verification's figures; `failure` gets the first thing found wrong.
nlohmann::json VerifyExactlyOnce(const BenchmarkRun& run, std::string& failure) {
  const Ledger& ledger = run.ledger;
  nlohmann::json v;
  const auto outcomes = run.fleet.Outcomes();
  auto count = [&](const char* name) {
    auto it = outcomes.find(name);
    return it == outcomes.end() ? int64_t{0} : static_cast<int64_t>(it->second);
  };
  v["events_acked"] = ledger.events;
  v["applied"] = count("applied");
  v["rejected"] = count("rejected");
  v["duplicate"] = count("duplicate");
  v["dead_lettered"] = count("dead_lettered");
  if (!ledger.error.empty()) Fail(failure, ledger.error);
  if (count("applied") != ledger.events ||
      count("rejected") + count("duplicate") + count("dead_lettered") != 0) {
    Fail(failure, "outcomes do not match the events appended: " + v.dump());
  }
  // The offsets committed with the state must stand exactly at what the log holds.
  std::vector<int64_t> next;
  run.fleet.Snapshot(next);
  for (size_t p = 0; p < next.size(); ++p) {
    if (next[p] != ledger.next_offset[p]) {
      Fail(failure, "partition " + std::to_string(p) + " applied up to " + std::to_string(next[p]) +
                        " but " + std::to_string(ledger.next_offset[p]) + " records were appended");
    }
  }
  v["sampled_outcomes_ok"] = CheckSampledOutcomes(run, failure);
  v["trial_balance_zero_and_complete"] = CheckTrialBalances(run, failure);
  v["ok"] = failure.empty();
  return v;
}

}  // namespace

void RecordMemory(BenchmarkRun& run) {
  const RssFlatness flat = SecondHalfFlatness(run.rss->Samples(), run.total, 0.10);
  run.rss_flat = flat.flat;
  run.j["rss_mb"] = {{"peak", PeakRssMb()},
                     {"second_half_min", flat.min_mb},
                     {"second_half_max", flat.max_mb},
                     {"second_half_samples", flat.samples},
                     {"second_half_flat_within_10pct", flat.flat}};
  // The samples over the run, thinned to at most ~200: [seconds, commands submitted, MiB].
  const std::vector<RssSampler::Sample> samples = run.rss->Samples();
  const size_t step = std::max<size_t>(1, samples.size() / 200);
  nlohmann::json timeline = nlohmann::json::array();
  for (size_t i = 0; i < samples.size(); i += step) {
    timeline.push_back({samples[i].seconds, samples[i].done, samples[i].rss_mb});
  }
  run.j["rss_mb"]["timeline"] = std::move(timeline);
}

namespace {

// The CPU per item of `cpu` (group -> us) summed over every group but `excluded`.
double CpuWithout(const nlohmann::json& cpu, std::initializer_list<std::string_view> excluded) {
  double sum = 0;
  for (const auto& [group, us] : cpu.items()) {
    if (std::find(excluded.begin(), excluded.end(), group) == excluded.end()) {
      sum += us.get<double>();
    }
  }
  return sum;
}

}  // namespace

void RecordTargets(BenchmarkRun& run) {
  const double produce_per_s = run.kafka_ceiling.produce_per_s;
  const double rocksdb_per_s = run.rocks_ceiling.events_per_s;
  run.j["ratios"] = {{"command_vs_produce", run.commands_per_s / produce_per_s},
                     {"http_batch_vs_produce", run.http_per_s / produce_per_s},
                     {"apply_vs_rocksdb", run.txn_per_s / rocksdb_per_s}};
  const double per_processor = run.txn_per_s / run.options.processors;
  run.j["targets"] = {{"apply_vs_rocksdb_ge_0.7", run.txn_per_s / rocksdb_per_s >= 0.7},
                      {"apply_ge_100k_per_processor", per_processor >= 100'000},
                      {"command_vs_produce_ge_0.7", run.commands_per_s / produce_per_s >= 0.7},
                      {"e2e_p99_le_25ms", run.j["e2e_latency_ms"]["p99"].get<double>() <= 25.0},
                      {"rss_flat_second_half", run.rss_flat}};

  // Issue 21's: CPU per unit of work. A processor's is every thread of the apply phase but the
  // embedded broker's (RocksDB's background work included); the command process's is every
  // thread of the HTTP phases but the broker's, the load's and the processors'.
  const nlohmann::json& single = run.j["command"]["http_single"];
  const nlohmann::json& latency = run.j["e2e_latency_ms"];
  const double apply_cpu = CpuWithout(run.j["apply"]["cpu_us_per_event"], {"broker"});
  const std::initializer_list<std::string_view> not_command = {"broker",      "load",  "apply",
                                                               "apply-write", "relay", "rocksdb"};
  const double batch_cpu =
      CpuWithout(run.j["command"]["http_batch"]["cpu_us_per_command"], not_command);
  const double single_cpu = CpuWithout(single["cpu_us_per_request"], not_command);
  const double load = latency["load_per_s"].get<double>();
  const double p99 = latency["p99"].get<double>();
  run.j["issue_21"] = {{"apply_cpu_us_per_event", apply_cpu},
                       {"http_batch_cpu_us_per_command", batch_cpu},
                       {"http_single_cpu_us_per_request", single_cpu},
                       {"targets",
                        {{"apply_cpu_le_8us_per_event", apply_cpu <= 8.0},
                         {"http_batch_cpu_le_8us_per_command", batch_cpu <= 8.0},
                         {"http_single_cpu_le_25us_per_request", single_cpu <= 25.0},
                         {"http_single_none_refused", single["refused"].get<int64_t>() == 0},
                         // Paced at 10,000/s (--latency-rate 10000), within the pacing's rounding.
                         {"e2e_p99_le_25ms_at_10k_per_s", load >= 9'900.0 && p99 <= 25.0},
                         {"apply_vs_rocksdb_ge_0.7", run.txn_per_s / rocksdb_per_s >= 0.7},
                         {"rss_flat_second_half", run.rss_flat}}}};
}

void Verify(BenchmarkRun& run) {
  run.j["verification"] = VerifyExactlyOnce(run, run.report.failure);
  run.report.verified = run.report.failure.empty();
}

}  // namespace kledger::app::bench
