// The phases with both paths running at once: the sustained throughput, submitted until the
// last transfer is applied, then the end-to-end latency paced at half that rate (or at a rate
// given: --latency-rate).
#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "app/benchmark/phases.h"
#include "common/progress.h"

namespace kledger::app::bench {
namespace {

// An acked record of the latency phase, watched until a query would see it.
struct Watched {
  int32_t partition;
  int64_t offset;
  Clock::time_point submitted;
};

// What the latency phase's submitting thread, its acks and its collector thread share.
struct LatencySamples {
  explicit LatencySamples(int64_t count) {
    e2e_ms.reserve(static_cast<size_t>(count));
    ack_ms.reserve(static_cast<size_t>(count));
  }

  std::vector<double> e2e_ms;  // submit -> applied; the collector's until it is joined
  std::vector<double> ack_ms;  // submit -> acked; guarded by mu until the acks' batch ends
  std::mutex mu;
  std::vector<Watched> acked;  // guarded by mu: acked, not yet seen applied
  std::atomic<bool> submitting{true};
};

// Watches each acked record until a query would see it (its partition's next offset to apply
// passed it), until every one of `count` was seen applied, or the run failed.
void CollectLatencies(BenchmarkRun& run, LatencySamples& s, int64_t count, ProgressBar& bar) {
  std::vector<Watched> watched;
  uint64_t seen = 0;  // the monitor's changes of the next offsets seen
  for (;;) {
    // Read before taking the acked ones: an ack is booked (pushed) before it is counted.
    const bool all_acked = !s.submitting && run.acks.done() >= count;
    bool none_left;
    {
      std::lock_guard lock(s.mu);
      watched.insert(watched.end(), s.acked.begin(), s.acked.end());
      s.acked.clear();
    }
    // Wakes when a partition's next offset moved (the monitor polls every millisecond, so a
    // latency is read up to 1 ms late), or after 5 ms to see whether the acks are all in. A
    // record acked after it was applied is seen at the next change.
    const std::vector<int64_t> next = run.monitor->WaitNext(seen, std::chrono::milliseconds(5));
    const auto now = Clock::now();
    std::erase_if(watched, [&](const Watched& w) {
      if (next.empty() || next[w.partition] <= w.offset) return false;
      s.e2e_ms.push_back(std::chrono::duration<double, std::milli>(now - w.submitted).count());
      return true;
    });
    none_left = watched.empty();
    bar.Update(static_cast<int64_t>(s.e2e_ms.size()));
    if (all_acked && none_left) break;
    if (!run.acks.error().ok() || !run.fleet.Failure().empty()) break;
  }
}

// Submits `count` new transfers, the i-th due i / `rate` seconds from now, each stamped in
// `items` as it goes.
void SubmitPaced(BenchmarkRun& run, double rate, int64_t count, std::vector<Acks::Item>& items) {
  const auto start = Clock::now();
  for (int64_t i = 0; i < count; ++i) {
    const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(static_cast<double>(i) / rate));
    // Until the command is due, the acks that arrive are served (ack_thread kCaller). Pacing
    // is by the millisecond: every command due is submitted at once, as bursts of real
    // traffic would be, rather than one wake-up per command.
    for (auto now = Clock::now(); now < due; now = Clock::now()) {
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(due - now);
      if (run.polled == nullptr || run.polled->Poll(wait) == 0) std::this_thread::sleep_until(due);
    }
    Workload::Item extra = run.workload.ExtraTransfer(run.extra_index + i);
    auto& slot = items[static_cast<size_t>(i)];
    slot = {extra.posted_amount, extra.partition, Clock::now()};
    run.client->SubmitAsync(std::move(extra.command), run.acks, static_cast<uint64_t>(i));
    run.submitted.fetch_add(1, std::memory_order_relaxed);
  }
}

// The paced submission with its collector: `s` gets the latencies, `cpu` the CPU both paths
// used meanwhile.
Status SubmitAndCollect(BenchmarkRun& run, double rate, int64_t count, LatencySamples& s,
                        ThreadCpu& cpu) {
  ProgressBar bar("latency: paced at " + std::to_string(static_cast<int64_t>(rate)) + "/s", count);
  std::vector<Acks::Item> items(static_cast<size_t>(count));
  Acks::Batch batch_end(run.acks);  // ends before `items` go, and `s` outlives it
  run.acks.Begin(
      &items, [&s](const command::Ack& ack, const Acks::Item& item, Clock::time_point at) {
        std::lock_guard lock(s.mu);
        s.ack_ms.push_back(std::chrono::duration<double, std::milli>(at - item.submitted).count());
        s.acked.push_back({ack.partition, ack.offset, item.submitted});
      });
  std::thread collector([&] { CollectLatencies(run, s, count, bar); });
  cpu.Start();
  SubmitPaced(run, rate, count, items);
  s.submitting = false;
  Status all_acked = run.acks.WaitFor(count, run.polled);
  collector.join();
  cpu.Stop();
  bar.Finish();
  RETURN_IF_ERROR(all_acked.WithContext("a latency-phase command was not accepted"));
  RETURN_IF_ERROR(run.acks.error().WithContext("a latency-phase command was not accepted"));
  return Status::Ok();
}

}  // namespace

Status MeasureSustained(BenchmarkRun& run) {
  // On a small machine the two paths share the cores, so this is below the slower path alone:
  // a round's worth of transfers submitted as fast as the command path takes them while no
  // more than `in_flight` wait to be applied, timed until the last one is applied.
  run.fleet.Hold(false);
  run.monitor->Idle(false);
  {
    // The applied backlog is bounded, so the broker's retention does not bound the count.
    run.sustained_count = std::max<int64_t>(kMaxRoundCommands, 4 * run.options.in_flight);
    std::vector<Acks::Item> items;
    Acks::Batch batch_end(run.acks);  // ends before `items` go
    std::vector<v1::Command> commands;
    for (int64_t i = 0; i < run.sustained_count; ++i) {
      Workload::Item extra = run.workload.ExtraTransfer(run.extra_index++);
      items.push_back({extra.posted_amount, extra.partition, {}});
      commands.push_back(std::move(extra.command));
    }
    const int64_t applied_target = run.submitted.load() + run.sustained_count;
    run.acks.Begin(&items);
    const auto sustained_start = Clock::now();
    RETURN_IF_ERROR(SubmitAsync(run, commands, [&]() -> Status {
      // At most `in_flight` waiting to be applied.
      while (run.submitted.load() - run.monitor->applied() >= run.options.in_flight) {
        if (!run.fleet.Failure().empty()) return Status::Internal(run.fleet.Failure());
        if (run.polled == nullptr || run.polled->Poll(std::chrono::milliseconds(1)) == 0) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
      }
      return Status::Ok();
    }));
    RETURN_IF_ERROR(run.acks.WaitFor(run.sustained_count, run.polled));
    RETURN_IF_ERROR(WaitApplied(*run.monitor, run.fleet, applied_target, nullptr, 0));
    run.sustained_per_s = static_cast<double>(run.sustained_count) / Since(sustained_start);
  }
  run.j["sustained"] = {{"transfers_per_s", run.sustained_per_s},
                        {"transfers", run.sustained_count},
                        {"measured",
                         "submitted as fast as taken, processors applying meanwhile, "
                         "until the last one was applied"}};
  return Status::Ok();
}

Status MeasureLatency(BenchmarkRun& run) {
  const double rate =
      run.options.latency_rate > 0 ? run.options.latency_rate : 0.5 * run.sustained_per_s;
  const auto latency_count =
      std::max<int64_t>(100, static_cast<int64_t>(rate * run.options.latency_seconds));
  LatencySamples samples(latency_count);
  ThreadCpu latency_cpu;  // both paths at once
  RETURN_IF_ERROR(SubmitAndCollect(run, rate, latency_count, samples, latency_cpu));
  const int64_t all_events =
      run.total + run.partitions + run.http_count + run.sustained_count + latency_count;
  RETURN_IF_ERROR(WaitApplied(*run.monitor, run.fleet, all_events, nullptr, 0));
  std::vector<double>& e2e_ms = samples.e2e_ms;
  std::vector<double>& ack_ms = samples.ack_ms;
  const size_t latency_samples = e2e_ms.size();
  // In this order: the percentiles sort e2e_ms, so that its last is the max.
  run.j["e2e_latency_ms"] = {
      {"p50", Percentile(e2e_ms, 0.50)},
      {"p99", Percentile(e2e_ms, 0.99)},
      {"p999", Percentile(e2e_ms, 0.999)},
      {"max", e2e_ms.empty() ? 0.0 : e2e_ms.back()},
      {"ack_p50", Percentile(ack_ms, 0.50)},
      {"ack_p99", Percentile(ack_ms, 0.99)},
      {"load_per_s", rate},
      {"samples", latency_samples},
      {"measured_from", "CommandClient::SubmitAsync called"},
      {"measured_to", "the owning processor's committed offset passed it"},
      {"cpu_us_per_transfer", CpuPerItem(latency_cpu.seconds(), latency_count)}};
  run.rss->Stop();  // the measured part of the run is over
  return Status::Ok();
}

}  // namespace kledger::app::bench
