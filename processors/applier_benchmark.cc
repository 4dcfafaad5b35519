// Micro-benchmarks of the apply path's decoding half and the command side's per-event work:
// DecodeEvent (parse + checks; into a message of its own and onto an arena),
// domain::ValidateEnvelope, event id derivation. Build target kledger_processors_benchmark; not
// run by ctest (docs/performance.md).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "common/domain/event_id.h"
#include "common/domain/validation.h"
#include "processors/applier.h"

namespace kledger::processors {
namespace {

// A posted two-entry transfer shaped like `kledger benchmark`'s.
v1::EventEnvelope Transfer() {
  v1::EventEnvelope e;
  e.set_instance_id("bench-7");
  e.set_schema_version(domain::kSchemaVersion);
  e.set_submitted_at_ms(1'700'000'000'000);
  auto& m = *e.mutable_transaction_created();
  m.set_source("bench");
  m.set_source_idempk("t-123456");
  m.set_status(v1::POSTED);
  for (auto [account, side] : {std::pair{"acct:17", v1::DEBIT}, std::pair{"acct:401", v1::CREDIT}}) {
    auto& entry = *m.add_entries();
    entry.set_account(account);
    entry.set_direction(side);
    entry.set_amount(4321);
    entry.set_currency("USD");
  }
  e.set_event_id(domain::DeriveEventId(e));
  e.set_correlation_id(e.event_id());
  return e;
}

// Transfer() as the processor consumes it.
kafka::ConsumedRecord TransferRecord() {
  kafka::ConsumedRecord record;
  record.topic = "kledger.events";
  record.key = "bench-7";
  record.value = Transfer().SerializeAsString();
  return record;
}

void BM_DecodeEvent(benchmark::State& state) {
  const kafka::ConsumedRecord record = TransferRecord();
  std::string error_code;
  for (auto _ : state) {
    auto envelope = DecodeEvent(record, error_code);
    benchmark::DoNotOptimize(envelope);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(record.value.size()));
}
BENCHMARK(BM_DecodeEvent);

// DecodeEvent as ApplyRecords calls it: onto one arena block, reset before each record.
void BM_DecodeEventOnArena(benchmark::State& state) {
  const kafka::ConsumedRecord record = TransferRecord();
  std::string error_code;
  std::vector<char> block(16 << 10);
  google::protobuf::ArenaOptions options;
  options.initial_block = block.data();
  options.initial_block_size = block.size();
  google::protobuf::Arena arena(options);
  for (auto _ : state) {
    arena.Reset();
    auto envelope = DecodeEvent(record, error_code, arena);
    benchmark::DoNotOptimize(envelope);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(record.value.size()));
}
BENCHMARK(BM_DecodeEventOnArena);

void BM_ValidateEnvelope(benchmark::State& state) {
  const v1::EventEnvelope e = Transfer();
  for (auto _ : state) {
    auto errors = domain::ValidateEnvelope(e);
    benchmark::DoNotOptimize(errors);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ValidateEnvelope);

void BM_DeriveEventId(benchmark::State& state) {
  const v1::EventEnvelope e = Transfer();
  for (auto _ : state) {
    auto id = domain::DeriveEventId(e);
    benchmark::DoNotOptimize(id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DeriveEventId);

// Parsing alone, to tell protobuf's share of DecodeEvent from the checks'.
void BM_ParseEnvelope(benchmark::State& state) {
  const std::string bytes = Transfer().SerializeAsString();
  for (auto _ : state) {
    v1::EventEnvelope e;
    benchmark::DoNotOptimize(e.ParseFromString(bytes));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseEnvelope);

}  // namespace
}  // namespace kledger::processors

BENCHMARK_MAIN();
