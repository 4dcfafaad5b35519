// Micro-benchmarks of the command path (issue 7): PrepareEvent (validation, event id, envelope)
// without Kafka, and CommandClient::SubmitAsync end to end against an in-process embedded broker,
// served as `kledger benchmark` serves it (acks on the submitting thread). Build target
// kledger_command_benchmark; not run by ctest (docs/performance.md).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "command-side/command_client.h"
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

// SubmitAsync then Poll(0) per command, at most `in_flight` unacknowledged, as the benchmark's
// command phase. Commands are built outside the timed region. CPU time is the submitting
// thread's; librdkafka's and the broker's threads are not in it.
void BM_SubmitAsync(benchmark::State& state) {
  constexpr int64_t kInFlight = 10'000;
  auto broker = kafka::EmbeddedBroker::Start(
      {.topics = {{.name = "kledger.events", .partitions = kPartitions}}});
  if (!broker.ok()) return state.SkipWithError(broker.status().ToString().c_str());
  kafka::Properties props = kafka::DevClientDefaults();
  props["bootstrap.servers"] = (*broker)->bootstrap();
  CommandClientOptions options;
  options.ack_thread = kafka::DeliveryThread::kCaller;
  prometheus::Registry registry;
  auto client = CommandClient::Create(props, options, registry);
  if (!client.ok()) return state.SkipWithError(client.status().ToString().c_str());
  Counter counter;
  // Warm-up, untimed: connections and the idempotent producer id.
  for (int64_t i = 0; i < kPartitions; ++i) (*client)->SubmitAsync(Transfer(i), counter, 0);
  if (!(*client)->Flush(std::chrono::seconds(10)).ok()) return state.SkipWithError("warm-up");
  std::vector<v1::Command> commands(static_cast<size_t>(kInFlight));
  int64_t n = 0, submitted = counter.acked;
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& command : commands) command = Transfer(n++);
    state.ResumeTiming();
    for (v1::Command& command : commands) {
      while (submitted - counter.acked >= kInFlight) (*client)->Poll(std::chrono::milliseconds(10));
      (*client)->SubmitAsync(std::move(command), counter, 0);
      (*client)->Poll(std::chrono::milliseconds(0));
      ++submitted;
    }
  }
  while (counter.acked < submitted) (*client)->Poll(std::chrono::milliseconds(10));
  state.SetItemsProcessed(state.iterations() * kInFlight);
}
BENCHMARK(BM_SubmitAsync)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kledger::command

BENCHMARK_MAIN();
