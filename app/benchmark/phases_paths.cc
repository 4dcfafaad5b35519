// The command path and the apply path measured apart, in rounds, then the command path over
// HTTP (/v1/batch): the phases with one path running at a time.
#include <algorithm>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <tuple>

#include "app/benchmark/http_batch.h"
#include "app/benchmark/phases.h"
#include "command-side/gateway/routes.h"
#include "common/auth.h"
#include "common/http.h"
#include "common/progress.h"

namespace kledger::app::bench {
namespace {

// Commands of the HTTP phase at most: its JSON bodies and answers (~0.5 KiB a command) are held
// in memory while it runs, inside the second half whose RSS must stay flat.
constexpr int64_t kMaxHttpCommands = 20'000;

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
  if (warm_up) {
    figures.warm_up_events = n;
  } else {
    figures.apply_seconds += Since(apply_start);
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
                    {"cpu_us_per_event", CpuPerItem(figures.apply_cpu.seconds(), timed_events)},
                    // Per round, from the release to the first record applied: the processors'
                    // wake-up (poll timeout, resume, first fetch), inside `seconds`.
                    {"release_to_first_applied_s", figures.release_to_first_applied},
                    // Records applied while the processors were held: 0 unless a processor noticed
                    // its hold late; the command phases then had company.
                    {"applied_while_held", figures.applied_while_held}};
}

// Books the gateway's `answers`, one per body of `batch` commands, to `items` (tag i: items[i]).
Status BookBatchAnswers(BenchmarkRun& run, const std::vector<std::string>& answers, int64_t batch,
                        const std::vector<Acks::Item>& items) {
  // Booked in offset order per partition, as Ledger checks them: the connections' answers
  // arrive in any order.
  std::vector<std::pair<command::Ack, uint64_t>> acked;
  for (size_t r = 0; r < answers.size(); ++r) {
    v1::BatchResponse response;
    RETURN_IF_ERROR(
        http::ParseJson(answers[r], response).WithContext("the answer of POST /v1/batch"));
    for (int k = 0; k < response.results_size(); ++k) {
      const uint64_t tag = r * static_cast<uint64_t>(batch) + static_cast<uint64_t>(k);
      const v1::BatchItemResult& result = response.results(k);
      if (result.status() != 202) {
        return Status::Unavailable("a benchmark command over HTTP was answered " +
                                   std::to_string(result.status()) + ": " +
                                   result.error().message());
      }
      acked.push_back(
          {{result.ack().event_id(), result.ack().partition(), result.ack().offset()}, tag});
    }
  }
  if (acked.size() != items.size()) {
    return Status::Internal("POST /v1/batch answered " + std::to_string(acked.size()) +
                            " results for " + std::to_string(items.size()) + " commands");
  }
  std::sort(acked.begin(), acked.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.partition, a.first.offset) <
           std::tie(b.first.partition, b.first.offset);
  });
  run.acks.Begin(&items);
  for (auto& [ack, tag] : acked) run.acks.OnAck(tag, std::move(ack));
  return run.acks.error();  // all booked above: nothing to wait for
}

// Posts `count` new transfers to the gateway at `port`, `http_batch` a body, and books their
// acks; the seconds from the first request sent to the last answer read. `request_ms` gets the
// time of each request.
Result<double> PostHttpRound(BenchmarkRun& run, int port, int64_t count, ThreadCpu* cpu,
                             ProgressBar* bar, std::vector<double>& request_ms) {
  const auto batch = static_cast<int64_t>(run.options.http_batch);
  std::vector<Acks::Item> items;
  Acks::Batch batch_end(run.acks);  // ends before `items` go
  std::vector<std::string> bodies;
  v1::BatchRequest request;
  for (int64_t i = 0; i < count; ++i) {
    Workload::Item extra = run.workload.ExtraTransfer(run.extra_index++);
    items.push_back({extra.posted_amount, extra.partition, {}});
    *request.add_commands() = std::move(extra.command);
    if (request.commands_size() == batch || i + 1 == count) {
      bodies.push_back(http::ToJson(request));
      request.Clear();
    }
  }
  std::mutex bar_mu;  // the connections answer on threads of their own
  ASSIGN_OR_RETURN(PostedBatches posted,
                   PostBatches("127.0.0.1", port, "/v1/batch", bodies, run.options.http_clients,
                               cpu, [&](int64_t answered) {
                                 if (bar == nullptr) return;
                                 std::lock_guard lock(bar_mu);
                                 bar->Update(std::min(answered * batch, count));
                               }));
  RETURN_IF_ERROR(BookBatchAnswers(run, posted.answers, batch, items));
  run.submitted.fetch_add(count);
  request_ms = std::move(posted.request_ms);
  return posted.seconds;
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

Status MeasureHttpBatch(BenchmarkRun& run) {
  // As `kledger command` serves it: an in-process gateway (its routes, its CommandClient with
  // futures on the producer's delivery thread), `http_batch` commands a request from
  // `http_clients` connections, with every processor still held. The bodies are made before
  // the clock starts and the answers read after it stops: the client's JSON is not the API
  // under test. Then the processors apply the round, untimed.
  double seconds = 0;
  std::vector<double> request_ms;  // request sent -> answer read
  ThreadCpu cpu;
  {
    prometheus::Registry gateway_registry;
    command::CommandClientOptions gateway_options;
    gateway_options.events_topic = run.topics.events();
    gateway_options.ack_timeout = run.ack_timeout;
    ASSIGN_OR_RETURN(auto gateway_client,
                     command::CommandClient::Create(run.props, gateway_options, gateway_registry));
    http::Server gateway;
    // With its route metrics, as `kledger command` serves it.
    http::RouteMetrics gateway_metrics(gateway_registry);
    command::RegisterCommandRoutes(gateway.routes(), *gateway_client, auth::Authorizer::AllowAll(),
                                   &gateway_metrics);
    RETURN_IF_ERROR(gateway.Start({"127.0.0.1", 0}));
    // One round, within what the broker keeps per partition like the C++ API's rounds, and of
    // at most kMaxHttpCommands: its bodies and answers are held in memory meanwhile.
    run.http_count =
        std::min<int64_t>({run.wo.transfers, kMaxHttpCommands, run.per_partition * run.partitions});
    // Warm-up, not timed: the gateway's producer connects and gets its id.
    RETURN_IF_ERROR(
        PostHttpRound(run, gateway.port(), run.partitions, nullptr, nullptr, request_ms).status());
    ProgressBar bar("command path over HTTP: POST /v1/batch", run.http_count);
    ASSIGN_OR_RETURN(seconds,
                     PostHttpRound(run, gateway.port(), run.http_count, &cpu, &bar, request_ms));
    bar.Finish();
  }
  run.monitor->Idle(false);
  run.fleet.Hold(false);
  RETURN_IF_ERROR(WaitApplied(*run.monitor, run.fleet, run.submitted.load(), nullptr, 0));
  run.http_per_s = static_cast<double>(run.http_count) / seconds;
  run.j["command"]["http_batch"] = {
      {"commands_per_s", run.http_per_s},
      {"commands", run.http_count},
      {"seconds", seconds},
      {"batch", run.options.http_batch},
      {"clients", run.options.http_clients},
      {"requests", request_ms.size()},
      {"request_ms_p50", Percentile(request_ms, 0.50)},
      {"request_ms_p99", Percentile(request_ms, 0.99)},
      {"cpu_us_per_command", CpuPerItem(cpu.seconds(), run.http_count)},
      {"api", "POST /v1/batch to the command gateway (http::Server, CommandClient futures)"}};
  return Status::Ok();
}

}  // namespace kledger::app::bench
