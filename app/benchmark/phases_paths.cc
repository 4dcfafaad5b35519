// The command path and the apply path measured apart, in rounds: the phases with one path
// running at a time (the command path over HTTP is in phases_http.cc).
#include <algorithm>
#include <deque>
#include <future>
#include <optional>

#include "app/benchmark/phases.h"
#include "common/progress.h"

namespace kledger::app::bench {
namespace {

// The workload cut into rounds, and the round at hand.
struct Rounds {
  explicit Rounds(RoundBudget first) : budget(std::move(first)) {}

  RoundBudget budget;
  std::optional<Workload::Item> carry;  // the command the last round had no room for
  Workload::Item item;
  std::vector<v1::Command> commands;
  std::vector<Acks::Item> items;  // what commands[i] books: tag i of the acks' batch
};

// What the rounds measured; the warm-up round counts only in `rounds` and `warm_up_events`.
struct RoundFigures {
  double command_seconds = 0;
  double apply_seconds = 0;
  double relay_behind_seconds = 0;  // from the last record applied to its outcome published
  int64_t applied_while_held = 0;
  int64_t warm_up_events = 0;
  std::vector<double> release_to_first_applied;  // seconds, per timed round
  int rounds = 0;
  ThreadCpu command_cpu, apply_cpu;  // the timed phases only
};

// Gathers the next round's commands into `round`; none when the workload is exhausted.
void GatherRound(BenchmarkRun& run, bool warm_up, Rounds& round) {
  round.budget.NextRound();
  round.commands.clear();
  round.items.clear();
  while (round.carry || run.workload.Next(round.item)) {
    Workload::Item& next = round.carry ? *round.carry : round.item;
    const int64_t gathered = run.submitted.load() + static_cast<int64_t>(round.commands.size());
    const bool accounts_done = gathered == run.workload.account_commands();
    if ((accounts_done && !round.commands.empty()) || (warm_up && gathered == run.partitions) ||
        !round.budget.Take(next.partition)) {
      if (!round.carry) round.carry = std::move(round.item);
      break;
    }
    round.commands.push_back(std::move(next.command));
    round.items.push_back({next.posted_amount, next.partition, {}});
    round.carry.reset();
  }
}

// The future form: the oldest future settles first, on this thread.
void SubmitFutures(BenchmarkRun& run, const std::vector<v1::Command>& commands) {
  const auto n = static_cast<int64_t>(commands.size());
  std::deque<std::future<Result<command::Ack>>> futures;
  for (int64_t i = 0; i < n; ++i) {
    futures.push_back(run.client->Submit(commands[static_cast<size_t>(i)]));
    run.submitted.fetch_add(1, std::memory_order_relaxed);
    if (static_cast<int64_t>(futures.size()) >= run.options.in_flight) {
      run.acks.OnAck(static_cast<uint64_t>(i + 1 - static_cast<int64_t>(futures.size())),
                     futures.front().get());
      futures.pop_front();
    }
  }
  for (int64_t i = n - static_cast<int64_t>(futures.size()); i < n; ++i) {
    run.acks.OnAck(static_cast<uint64_t>(i), futures.front().get());
    futures.pop_front();
  }
}

// Command phase, every processor held: the round submitted and every command acked.
Status SubmitRound(BenchmarkRun& run, bool warm_up, Rounds& round, RoundFigures& figures) {
  const auto n = static_cast<int64_t>(round.commands.size());
  const int64_t applied_before = run.monitor->applied();
  run.acks.Begin(&round.items);
  if (!warm_up) figures.command_cpu.Start();
  const auto command_start = Clock::now();
  if (run.use_futures) {
    SubmitFutures(run, round.commands);
  } else {
    RETURN_IF_ERROR(SubmitAsync(run, round.commands, nullptr));
  }
  RETURN_IF_ERROR(run.acks.WaitFor(n, run.polled));
  if (!warm_up) {
    figures.command_seconds += Since(command_start);
    figures.command_cpu.Stop();
  }
  figures.applied_while_held += run.monitor->applied() - applied_before;
  return Status::Ok();
}

// Apply phase: from the release to the last record of the round (`n` records) applied.
Status ApplyRound(BenchmarkRun& run, bool warm_up, int64_t n, RoundFigures& figures) {
  if (!warm_up) figures.apply_cpu.Start();
  const auto apply_start = Clock::now();
  run.monitor->Idle(false);
  run.fleet.Hold(false);
  double first_applied = 0;
  RETURN_IF_ERROR(
      WaitApplied(*run.monitor, run.fleet, run.submitted.load(), nullptr, 0, &first_applied));
  const double applied_after = Since(apply_start);
  // The relay publishes the round's outcomes a little behind the commits: its CPU is the
  // round's (not the next command phase's), its time is not the apply rate's.
  RETURN_IF_ERROR(WaitPublished(run.fleet));
  if (warm_up) {
    figures.warm_up_events = n;
  } else {
    figures.apply_seconds += applied_after;
    figures.relay_behind_seconds += Since(apply_start) - applied_after;
    figures.apply_cpu.Stop();
    figures.release_to_first_applied.push_back(first_applied);
  }
  return Status::Ok();
}

void RecordPaths(BenchmarkRun& run, const RoundFigures& figures) {
  const int64_t timed_events = run.total - figures.warm_up_events;
  run.commands_per_s = static_cast<double>(timed_events) / figures.command_seconds;
  run.txn_per_s = static_cast<double>(timed_events) / figures.apply_seconds;
  run.j["command"] = {
      {"commands_per_s", run.commands_per_s},
      {"commands", timed_events},
      {"warm_up_commands", figures.warm_up_events},
      {"seconds", figures.command_seconds},
      {"rounds", figures.rounds - 1},
      {"cpu_us_per_command", CpuPerItem(figures.command_cpu.seconds(), timed_events)},
      {"api", run.use_futures ? "CommandClient::Submit (future)"
                              : "CommandClient::SubmitAsync (callback)"}};
  run.j["apply"] = {{"txn_per_s", run.txn_per_s},
                    {"txn_per_s_per_processor", run.txn_per_s / run.options.processors},
                    {"events", timed_events},
                    {"seconds", figures.apply_seconds},
                    {"rounds", figures.rounds - 1},
                    // Until the relay published the round's outcomes too (relay_behind_s
                    // after its last record applied, outside `seconds`).
                    {"cpu_us_per_event", CpuPerItem(figures.apply_cpu.seconds(), timed_events)},
                    {"relay_behind_s", figures.relay_behind_seconds},
                    // Per round, from the release to the first record applied: the processors'
                    // wake-up (poll timeout, resume, first fetch), inside `seconds`.
                    {"release_to_first_applied_s", figures.release_to_first_applied},
                    // Records applied while the processors were held: 0 unless a processor noticed
                    // its hold late; the command phases then had company.
                    {"applied_while_held", figures.applied_while_held}};
}

}  // namespace

Status MeasureCommandAndApply(BenchmarkRun& run) {
  // A round's commands are submitted with every processor held (nothing is applied while the
  // command path runs), then the processors are released and apply the round with no producer
  // running.
  RoundFigures figures;
  HoldProcessors(run);
  {
    ProgressBar bar("command + apply paths, in rounds", run.total);
    Rounds round(run.Budget());
    Acks::Batch batch_end(run.acks);  // ends before `round.items` go
    for (;;) {
      // The round's commands are generated before its clock starts: the workload generator is
      // not the API under test (the raw ceiling replays prepared records too). Account openings
      // make a round of their own: transfers name accounts that must be applied first.
      // The first round warms up, not timed: one account opening per partition opens the
      // producer's connections and id (about a second on the embedded broker) and the
      // processors' fetch sessions, as a long-running deployment has them.
      const bool warm_up = figures.rounds == 0;
      GatherRound(run, warm_up, round);
      if (round.commands.empty()) break;
      const auto n = static_cast<int64_t>(round.commands.size());
      RETURN_IF_ERROR(SubmitRound(run, warm_up, round, figures));
      RETURN_IF_ERROR(ApplyRound(run, warm_up, n, figures));
      bar.Update(run.submitted.load());
      ++figures.rounds;
      HoldProcessors(run);
    }
    bar.Finish();
  }
  RecordPaths(run, figures);
  return Status::Ok();
}

}  // namespace kledger::app::bench
