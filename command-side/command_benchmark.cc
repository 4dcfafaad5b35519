// Micro-benchmarks of the command path (issue 7): PrepareEvent (validation, event id, envelope)
// without Kafka; the JSON of one transfer a request (the body parsed, the Ack written);
// CommandClient::SubmitAsync end to end against an in-process embedded broker, served as `kledger
// benchmark` serves it (acks on the submitting thread); and the acknowledgement latency of a burst,
// as /v1/batch sends one. Build target kledger_command_benchmark; not run by ctest
// (docs/performance.md). The event id alone: kledger_processors_benchmark's BM_DeriveEventId.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "command-side/command_client.h"
#include "common/http.h"
#include "common/kafka/embedded_broker.h"

namespace kledger::command {
namespace {

constexpr int kPartitions = 24;

// A posted two-entry transfer shaped like `kledger benchmark`'s.
v1::Command Transfer(int64_t n) {
  v1::Command command;
  command.set_instance_id("bench-" + std::to_string(n % kPartitions));
  auto& txn = *command.mutable_create_transaction();
  txn.set_source("bench");
  txn.set_source_idempk("t-" + std::to_string(n));
  txn.set_status(v1::POSTED);
  for (auto [account, side] :
       {std::pair{"acct:17", v1::DEBIT}, std::pair{"acct:401", v1::CREDIT}}) {
    auto& entry = *txn.add_entries();
    entry.set_account(account);
    entry.set_direction(side);
    entry.set_amount(4321);
    entry.set_currency("USD");
  }
  return command;
}

void BM_PrepareEvent(benchmark::State& state) {
  constexpr size_t kBatch = 1000;  // built untimed, a batch at a time
  const CommandClientOptions options;
  domain::FieldErrors errors;
  std::vector<v1::Command> commands(kBatch);
  int64_t n = 0;
  while (state.KeepRunningBatch(kBatch)) {
    state.PauseTiming();
    for (auto& command : commands) command = Transfer(n++);
    state.ResumeTiming();
    for (v1::Command& command : commands) {
      auto prepared = PrepareEvent(std::move(command), options, errors);
      if (!prepared.ok()) state.SkipWithError(prepared.status().ToString().c_str());
      benchmark::DoNotOptimize(prepared);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PrepareEvent);

// The gateway's JSON for one transfer a request: the body in (Protobuf's JSON mapping, as
// http::ParseJson reads every request) and the 202's Ack out.
void BM_ParseTransferJson(benchmark::State& state) {
  const std::string body = http::ToJson(Transfer(7).create_transaction());
  v1::TransactionCreated parsed;
  for (auto _ : state) {
    parsed.Clear();
    if (Status s = http::ParseJson(body, parsed); !s.ok()) {
      state.SkipWithError(s.ToString().c_str());
    }
    benchmark::DoNotOptimize(parsed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseTransferJson);

// A /v1/batch body of 100 transfers read as the gateway reads it, once per batch (with
// authentication on it was read twice until the guard and the handler shared the parse).
// Items are commands.
void BM_ParseBatchJson(benchmark::State& state) {
  v1::BatchRequest batch;
  for (int k = 0; k < 100; ++k) *batch.add_commands() = Transfer(k);
  const std::string body = http::ToJson(batch);
  v1::BatchRequest parsed;
  for (auto _ : state) {
    if (Status s = http::ParseJson(body, parsed); !s.ok()) {
      state.SkipWithError(s.ToString().c_str());
    }
    benchmark::DoNotOptimize(parsed);
  }
  state.SetItemsProcessed(state.iterations() * batch.commands_size());
}
BENCHMARK(BM_ParseBatchJson);

void BM_AckToJson(benchmark::State& state) {
  v1::Ack ack;
  ack.set_event_id("5f2d0c8e1a7b4c3d9e8f7a6b5c4d3e2f");
  ack.set_partition(17);
  ack.set_offset(1234567);
  for (auto _ : state) benchmark::DoNotOptimize(http::ToJson(ack));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AckToJson);

// Counts acknowledgements; any failure stops the benchmark.
class Counter final : public AckHandler {
 public:
  void OnAck(uint64_t, Result<Ack> ack) override {
    if (!ack.ok()) {
      fprintf(stderr, "append failed: %s\n", ack.status().ToString().c_str());
      std::abort();
    }
    ++acked;
  }
  int64_t acked = 0;
};

// An in-process embedded broker and a CommandClient on it, warmed up (connections, the
// idempotent producer id) by one acknowledged transfer per partition. `n` numbers the next
// transfer.
struct Session {
  std::unique_ptr<kafka::EmbeddedBroker> broker;
  prometheus::Registry registry;
  std::unique_ptr<CommandClient> client;
  Counter counter;  // the callback form's acknowledgements
  int64_t n = 0;

  // False, with the benchmark skipped, when it cannot start.
  bool Start(benchmark::State& state, kafka::DeliveryThread ack_thread) {
    auto started = kafka::EmbeddedBroker::Start(
        {.topics = {{.name = "kledger.events", .partitions = kPartitions}}});
    if (!started.ok()) return Skip(state, started.status());
    broker = std::move(started).value();
    kafka::Properties props = kafka::DevClientDefaults();
    props["bootstrap.servers"] = broker->bootstrap();
    CommandClientOptions options;
    options.ack_thread = ack_thread;
    auto created = CommandClient::Create(props, options, registry);
    if (!created.ok()) return Skip(state, created.status());
    client = std::move(created).value();
    for (; n < kPartitions; ++n) {
      if (ack_thread == kafka::DeliveryThread::kCaller) {
        client->SubmitAsync(Transfer(n), counter, 0);
      } else if (auto ack = client->Submit(Transfer(n)).get(); !ack.ok()) {
        return Skip(state, ack.status());
      }
    }
    if (Status flushed = client->Flush(std::chrono::seconds(10)); !flushed.ok()) {
      return Skip(state, flushed);
    }
    return true;
  }

  static bool Skip(benchmark::State& state, const Status& why) {
    state.SkipWithError(why.ToString().c_str());
    return false;
  }
};

// SubmitAsync then Poll(0) per command, at most `in_flight` unacknowledged, as the benchmark's
// command phase. Commands are built outside the timed region. CPU time is the submitting
// thread's; librdkafka's and the broker's threads are not in it.
void BM_SubmitAsync(benchmark::State& state) {
  constexpr int64_t kInFlight = 10'000;
  Session session;
  if (!session.Start(state, kafka::DeliveryThread::kCaller)) return;
  CommandClient& client = *session.client;
  const int64_t& acked = session.counter.acked;
  std::vector<v1::Command> commands(static_cast<size_t>(kInFlight));
  int64_t submitted = acked;
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& command : commands) command = Transfer(session.n++);
    state.ResumeTiming();
    for (v1::Command& command : commands) {
      while (submitted - acked >= kInFlight) client.Poll(std::chrono::milliseconds(10));
      client.SubmitAsync(std::move(command), session.counter, 0);
      client.Poll(std::chrono::milliseconds(0));
      ++submitted;
    }
  }
  while (acked < submitted) client.Poll(std::chrono::milliseconds(10));
  state.SetItemsProcessed(state.iterations() * kInFlight);
}
BENCHMARK(BM_SubmitAsync)->Unit(benchmark::kMillisecond)->UseRealTime();

// Acknowledgement latency of a burst of `range(0)` transfers over as many instances (partitions,
// at most kPartitions), sent together and waited for: SubmitBatch with futures resolved on the
// producer's own thread, as the gateway's /v1/batch does. A burst over several partitions of
// one broker waited ~40 ms for delayed ACKs before the embedded broker set TCP_NODELAY.
void BM_SubmitBatchAndWait(benchmark::State& state) {
  Session session;
  if (!session.Start(state, kafka::DeliveryThread::kOwn)) return;
  const auto burst = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    std::vector<v1::Command> commands;
    for (size_t i = 0; i < burst; ++i) commands.push_back(Transfer(session.n++));
    for (auto& future : session.client->SubmitBatch(commands)) {
      if (auto ack = future.get(); !ack.ok()) return (void)Session::Skip(state, ack.status());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(burst));
}
BENCHMARK(BM_SubmitBatchAndWait)
    ->Arg(1)
    ->Arg(24)
    ->Arg(100)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace kledger::command

BENCHMARK_MAIN();
