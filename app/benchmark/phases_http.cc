// The command path over HTTP, as `kledger command` serves it: an in-process gateway (its routes,
// its CommandClient acknowledging on the producer's delivery thread, its route metrics) with every
// processor held. Two shapes, each a phase: POST /v1/batch of `http_batch` commands from
// `http_clients` connections, then one transfer a request (POST /v1/instances/{id}/transactions)
// from `http_single_clients` connections, as most upstream systems call it. The requests are made
// before the clock starts and the answers read after it stops: the client's JSON is not the API
// under test, and its threads (kl-load) are counted apart from the gateway's. After each phase
// the processors apply what it submitted and the relay publishes its outcomes, untimed.
#include <algorithm>
#include <mutex>
#include <tuple>

#include "app/benchmark/http_load.h"
#include "app/benchmark/phases.h"
#include "command-side/gateway/routes.h"
#include "common/auth.h"
#include "common/http.h"
#include "common/progress.h"

namespace kledger::app::bench {
namespace {

// Commands of an HTTP phase at most: its JSON bodies and answers (~0.5 KiB a command) are held
// in memory while it runs, inside the second half whose RSS must stay flat.
constexpr int64_t kMaxHttpCommands = 20'000;

// What one request carries: `http_batch` commands in one /v1/batch, or one transfer.
enum class Shape { kBatch, kSingle };

// The gateway `kledger command` runs, in this process, on a port of its own.
struct Gateway {
  prometheus::Registry registry;
  std::unique_ptr<command::CommandClient> client;
  std::unique_ptr<http::RouteMetrics> metrics;  // reports to `registry`
  http::Server server;                          // serves `client`: goes (stops) first
};

Result<std::unique_ptr<Gateway>> StartGateway(BenchmarkRun& run) {
  auto gateway = std::make_unique<Gateway>();
  command::CommandClientOptions options;
  options.events_topic = run.topics.events();
  options.ack_timeout = run.ack_timeout;
  ASSIGN_OR_RETURN(gateway->client,
                   command::CommandClient::Create(run.props, options, gateway->registry));
  gateway->metrics = std::make_unique<http::RouteMetrics>(gateway->registry);
  command::RegisterCommandRoutes(gateway->server.routes(), *gateway->client,
                                 auth::Authorizer::AllowAll(), gateway->metrics.get());
  RETURN_IF_ERROR(gateway->server.Start({"127.0.0.1", 0}));
  return gateway;
}

// The acks in `answers` (one per request of `shape`), each with its tag: the command's index
// among the requests' commands, in order.
Result<std::vector<std::pair<command::Ack, uint64_t>>> AcksOf(
    const std::vector<std::string>& answers, Shape shape, int64_t batch) {
  std::vector<std::pair<command::Ack, uint64_t>> acked;
  for (size_t r = 0; r < answers.size(); ++r) {
    if (shape == Shape::kSingle) {
      v1::Ack ack;
      RETURN_IF_ERROR(http::ParseJson(answers[r], ack).WithContext("a 202 of one transfer"));
      acked.push_back({{ack.event_id(), ack.partition(), ack.offset()}, r});
      continue;
    }
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
  return acked;
}

// Books `acked` to `items` (tag i: items[i]).
Status BookAcks(BenchmarkRun& run, std::vector<std::pair<command::Ack, uint64_t>> acked,
                const std::vector<Acks::Item>& items) {
  if (acked.size() != items.size()) {
    return Status::Internal("the gateway answered " + std::to_string(acked.size()) + " acks for " +
                            std::to_string(items.size()) + " commands");
  }
  // Booked in offset order per partition, as Ledger checks them: the connections' answers
  // arrive in any order.
  std::sort(acked.begin(), acked.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.partition, a.first.offset) <
           std::tie(b.first.partition, b.first.offset);
  });
  run.acks.Begin(&items);
  for (auto& [ack, tag] : acked) run.acks.OnAck(tag, std::move(ack));
  return run.acks.error();  // all booked above: nothing to wait for
}

// Posts `count` new transfers to `gateway` in requests of `shape` from `clients` connections,
// and books their acks.
Result<HttpAnswers> PostRound(BenchmarkRun& run, Gateway& gateway, Shape shape, int clients,
                              int64_t count, ThreadCpu* cpu, ProgressBar* bar) {
  const int64_t batch = shape == Shape::kBatch ? run.options.http_batch : 1;
  std::vector<Acks::Item> items;
  Acks::Batch batch_end(run.acks);  // ends before `items` go
  std::vector<HttpPost> posts;
  v1::BatchRequest request;
  for (int64_t i = 0; i < count; ++i) {
    Workload::Item extra = run.workload.ExtraTransfer(run.extra_index++);
    items.push_back({extra.posted_amount, extra.partition, {}});
    if (shape == Shape::kSingle) {
      posts.push_back({"/v1/instances/" + extra.command.instance_id() + "/transactions",
                       http::ToJson(extra.command.create_transaction())});
      continue;
    }
    *request.add_commands() = std::move(extra.command);
    if (request.commands_size() == batch || i + 1 == count) {
      posts.push_back({"/v1/batch", http::ToJson(request)});
      request.Clear();
    }
  }
  std::mutex bar_mu;  // the connections answer on threads of their own
  ASSIGN_OR_RETURN(HttpAnswers answers,
                   PostAll("127.0.0.1", gateway.server.port(), posts,
                           shape == Shape::kBatch ? 200 : 202, clients, cpu, [&](int64_t answered) {
                             if (bar == nullptr) return;
                             std::lock_guard lock(bar_mu);
                             bar->Update(std::min(answered * batch, count));
                           }));
  ASSIGN_OR_RETURN(auto acked, AcksOf(answers.answers, shape, batch));
  RETURN_IF_ERROR(BookAcks(run, std::move(acked), items));
  run.submitted.fetch_add(count);
  return answers;
}

// One phase, with the processors held: a warm-up round (the gateway's producer connects and gets
// its id), then the timed one; then the processors are released and apply both. The timed round's
// figures, with its CPU by thread.
struct HttpRound {
  int64_t commands = 0;
  HttpAnswers answers;
  ThreadCpu cpu;
};
Result<HttpRound> MeasureShape(BenchmarkRun& run, Shape shape, int clients, const char* title) {
  HttpRound round;
  HoldProcessors(run);
  {
    ASSIGN_OR_RETURN(std::unique_ptr<Gateway> gateway, StartGateway(run));
    // Within what the broker keeps per partition, like the C++ API's rounds.
    round.commands =
        std::min<int64_t>({run.wo.transfers, kMaxHttpCommands, run.per_partition * run.partitions});
    RETURN_IF_ERROR(
        PostRound(run, *gateway, shape, clients, run.partitions, nullptr, nullptr).status());
    ProgressBar bar(title, round.commands);
    ASSIGN_OR_RETURN(round.answers,
                     PostRound(run, *gateway, shape, clients, round.commands, &round.cpu, &bar));
    bar.Finish();
  }
  run.monitor->Idle(false);
  run.fleet.Hold(false);
  RETURN_IF_ERROR(WaitApplied(*run.monitor, run.fleet, run.submitted.load(), nullptr, 0));
  // Before the next phase: the relay's publishing (and its librdkafka threads) is not the
  // command path's.
  RETURN_IF_ERROR(WaitPublished(run.fleet));
  return round;
}

}  // namespace

Status MeasureHttpBatch(BenchmarkRun& run) {
  ASSIGN_OR_RETURN(HttpRound round, MeasureShape(run, Shape::kBatch, run.options.http_clients,
                                                 "command path over HTTP: POST /v1/batch"));
  run.http_count = round.commands;
  run.http_per_s = static_cast<double>(round.commands) / round.answers.seconds;
  run.j["command"]["http_batch"] = {
      {"commands_per_s", run.http_per_s},
      {"commands", round.commands},
      {"seconds", round.answers.seconds},
      {"batch", run.options.http_batch},
      {"clients", run.options.http_clients},
      {"requests", round.answers.request_ms.size()},
      {"refused", round.answers.refused},
      {"request_ms_p50", Percentile(round.answers.request_ms, 0.50)},
      {"request_ms_p99", Percentile(round.answers.request_ms, 0.99)},
      // By thread: "http" the gateway's connections, "load" the benchmark's own clients.
      {"cpu_us_per_command", CpuPerItem(round.cpu.seconds(), round.commands)},
      {"api",
       "POST /v1/batch to the command gateway (parsed and submitted on an http::Server worker, "
       "answered from the delivery callback)"}};
  return Status::Ok();
}

Status MeasureHttpSingle(BenchmarkRun& run) {
  const int clients = run.options.http_single_clients;
  ASSIGN_OR_RETURN(HttpRound round, MeasureShape(run, Shape::kSingle, clients,
                                                 "command path over HTTP: one transfer a request"));
  run.j["command"]["http_single"] = {
      {"requests_per_s", static_cast<double>(round.commands) / round.answers.seconds},
      {"requests", round.commands},
      {"seconds", round.answers.seconds},
      {"clients", clients},
      {"refused", round.answers.refused},
      {"request_ms_p50", Percentile(round.answers.request_ms, 0.50)},
      {"request_ms_p99", Percentile(round.answers.request_ms, 0.99)},
      {"cpu_us_per_request", CpuPerItem(round.cpu.seconds(), round.commands)},
      {"api",
       "POST /v1/instances/{id}/transactions to the command gateway, keep-alive (http::Server "
       "event loop, answered from the delivery callback)"}};
  return Status::Ok();
}

}  // namespace kledger::app::bench
