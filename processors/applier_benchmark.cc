// Micro-benchmarks of the apply path and the command side's per-event work: ApplyRecords as the
// apply thread runs it, DecodeEvent (parse + checks; into a message of its own and onto an
// arena), domain::ValidateEnvelope, event id derivation, the outcome relay's read of an outbox
// entry. Build target kledger_processors_benchmark; not run by ctest (docs/performance.md).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/domain/validation.h"
#include "common/event_id.h"
#include "processors/applier.h"
#include "processors/outcome_record.h"

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
  for (auto [account, side] :
       {std::pair{"acct:17", v1::DEBIT}, std::pair{"acct:401", v1::CREDIT}}) {
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

// `event` with its id derived, as the processor consumes it at `offset`.
kafka::ConsumedRecord AsRecord(v1::EventEnvelope event, int64_t offset) {
  event.set_instance_id("bench-7");
  event.set_schema_version(domain::kSchemaVersion);
  event.set_event_id(domain::DeriveEventId(event));
  event.set_correlation_id(event.event_id());
  kafka::ConsumedRecord record;
  record.topic = "kledger.events";
  record.key = "bench-7";
  record.offset = offset;
  record.value = event.SerializeAsString();
  return record;
}

// Transfer() as the processor consumes it.
kafka::ConsumedRecord TransferRecord() { return AsRecord(Transfer(), 0); }

void BM_DecodeEvent(benchmark::State& state) {
  const kafka::ConsumedRecord record = TransferRecord();
  for (auto _ : state) {
    auto envelope = DecodeEvent(record);
    benchmark::DoNotOptimize(envelope);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(record.value.size()));
}
BENCHMARK(BM_DecodeEvent);

// DecodeEvent as ApplyRecords calls it: onto one arena block, reset before each record.
void BM_DecodeEventOnArena(benchmark::State& state) {
  const kafka::ConsumedRecord record = TransferRecord();
  std::vector<char> block(16 << 10);
  google::protobuf::ArenaOptions options;
  options.initial_block = block.data();
  options.initial_block_size = block.size();
  google::protobuf::Arena arena(options);
  for (auto _ : state) {
    arena.Reset();
    auto envelope = DecodeEvent(record, arena);
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

constexpr int kAccounts = 10'000;  // as `kledger benchmark`'s default

std::string Account(int64_t k) { return "acct:" + std::to_string(k); }

// Transfer `n` between two of the kAccounts accounts, with an idempotency key of its own.
kafka::ConsumedRecord TransferRecord(int64_t n, int64_t offset) {
  v1::EventEnvelope e = Transfer();
  auto& m = *e.mutable_transaction_created();
  m.set_source_idempk("t-" + std::to_string(n));
  const int64_t debit = (n * 7919) % kAccounts;
  m.mutable_entries(0)->set_account(Account(debit));
  m.mutable_entries(1)->set_account(Account((debit + 1 + n % 13) % kAccounts));
  return AsRecord(std::move(e), offset);
}

// ApplyRecords as the apply thread runs it, per poll of `range(0)` posted transfers between
// kAccounts accounts: decoding, the ledger into the store's batch (its reads of the store and
// the committed-record cache included), and each record's bookkeeping. Building the records and
// committing each poll are not timed.
void BM_ApplyRecords(benchmark::State& state) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("kledger-bench-apply-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  auto store = projections::ProjectionStore::Open({.path = dir.string()});
  if (!store.ok()) return state.SkipWithError(store.status().ToString().c_str());
  const PoisonHandler no_poison = [](const auto&, const auto&) {
    return Status::InvalidArgument("the benchmark's records are all valid");
  };
  std::vector<kafka::ConsumedRecord> records;
  for (int k = 0; k < kAccounts; ++k) {
    v1::EventEnvelope e;
    auto& m = *e.mutable_account_opened();
    m.set_address(Account(k));
    m.set_type(v1::ASSET);
    m.set_currency("USD");
    m.set_allow_negative(true);
    records.push_back(AsRecord(std::move(e), k));
  }
  int64_t offset = 0;
  {
    auto batch = (*store)->BeginBatch(0);
    auto opened = ApplyRecords(*batch, offset, records, no_poison);
    if (!opened.ok() || !(*store)->Commit(*batch, opened->next_offset).ok()) std::abort();
    offset = opened->next_offset;
  }

  const int per_poll = static_cast<int>(state.range(0));
  int64_t n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    records.clear();
    for (int i = 0; i < per_poll; ++i, ++n) records.push_back(TransferRecord(n, offset + i));
    auto batch = (*store)->BeginBatch(0);
    state.ResumeTiming();
    auto run = ApplyRecords(*batch, offset, records, no_poison);
    state.PauseTiming();
    if (!run.ok() || !(*store)->Commit(*batch, run->next_offset).ok()) std::abort();
    offset = run->next_offset;
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * per_poll);
  store->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ApplyRecords)->Arg(2000)->Unit(benchmark::kMillisecond);

// Parsing alone, to tell protobuf's share of DecodeEvent from the checks'.
// The outbox entry of Transfer(), applied: what the outcome relay reads back and publishes.
std::string TransferOutboxEntry() {
  const v1::EventEnvelope event = Transfer();
  v1::EventOutcomeView applied;
  applied.set_outcome(v1::APPLIED);
  v1::OutcomeRecord record = DecidedOutcome(event, applied, 7, 123'456);
  v1::TransactionView& tx = *record.mutable_transaction();
  tx.set_instance_id(event.instance_id());
  tx.set_source(event.transaction_created().source());
  tx.set_source_idempk(event.transaction_created().source_idempk());
  tx.set_status(v1::POSTED);
  *tx.mutable_entries() = event.transaction_created().entries();
  for (const auto& entry : event.transaction_created().entries()) {
    v1::AccountBalances& moved = *record.add_balances();
    moved.set_address(entry.account());
    moved.set_currency(entry.currency());
    moved.mutable_balances()->mutable_posted()->set_debit(1'000'000);
    moved.mutable_balances()->mutable_posted()->set_credit(995'679);
    moved.mutable_balances()->mutable_posted()->set_amount(4'321);
    moved.mutable_balances()->set_available(4'321);
  }
  return record.SerializeAsString();
}

// The relay's read of an outbox entry for its key and headers: the whole OutcomeRecord (before)
// or its headline (internal/outcome_headline.proto).
template <typename Message>
void BM_ReadOutboxEntryHeaders(benchmark::State& state) {
  const std::string entry = TransferOutboxEntry();
  for (auto _ : state) {
    Message record;
    if (!record.ParseFromString(entry)) state.SkipWithError("unparsable");
    benchmark::DoNotOptimize(record.instance_id());
    benchmark::DoNotOptimize(record.event_id());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReadOutboxEntryHeaders<v1::OutcomeRecord>);
BENCHMARK(BM_ReadOutboxEntryHeaders<internal::OutcomeHeadline>);

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
