// Micro-benchmarks of the apply path's projection half: the state machine on an in-memory state
// (no RocksDB), and the store's Commit of a typical batch. Build target
// kledger_projections_benchmark; not run by ctest (docs/performance.md).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "projections/ledger.h"
#include "projections/store.h"
#include "projections/test_util.h"

namespace kledger::projections {
namespace {

// The plainest LedgerState: messages by key in ordered maps, so that the benchmark sees the
// state machine's own cost.
class MemoryState final : public LedgerState {
 public:
  Result<const v1::AccountView*> FindAccount(std::string_view instance,
                                             std::string_view address) override {
    auto it = accounts_.find(Key(instance, address));
    return it == accounts_.end() ? nullptr : &it->second;
  }
  Status PutAccount(v1::AccountView a) override {
    accounts_[Key(a.instance_id(), a.address())] = std::move(a);
    return Status::Ok();
  }
  Status PutBalances(std::string_view instance, std::string_view address,
                     const v1::Balances& b) override {
    auto it = accounts_.find(Key(instance, address));
    if (it == accounts_.end()) return Status::Internal("balances of an unknown account");
    *it->second.mutable_balances() = b;
    return Status::Ok();
  }
  Result<std::optional<v1::TransactionView>> FindTransaction(std::string_view instance,
                                                             std::string_view source,
                                                             std::string_view idempk) override {
    return Find(transactions_, Key(instance, source) + '\0' + std::string(idempk));
  }
  using LedgerState::PutTransaction;
  Status PutTransaction(const v1::TransactionView& t) override {
    transactions_[Key(t.instance_id(), t.source()) + '\0' + t.source_idempk()] = t;
    return Status::Ok();
  }
  Result<std::optional<v1::EventOutcomeView>> FindOutcome(std::string_view instance,
                                                          std::string_view event_id) override {
    return Find(outcomes_, Key(instance, event_id));
  }
  Status PutOutcome(const v1::EventOutcomeView& o) override {
    outcomes_[Key(o.instance_id(), o.event_id())] = o;
    return Status::Ok();
  }
  Status AppendHistory(std::string_view, std::string_view, int32_t,
                       const v1::HistoryItem&) override {
    ++history_items_;  // never read back by the state machine
    return Status::Ok();
  }
  Result<std::optional<v1::CurrencyTotals>> FindCurrencyTotals(std::string_view instance,
                                                               std::string_view currency) override {
    return Find(totals_, Key(instance, currency));
  }
  Status PutCurrencyTotals(std::string_view instance, v1::CurrencyTotals t) override {
    totals_[Key(instance, t.currency())] = std::move(t);
    return Status::Ok();
  }

 private:
  static std::string Key(std::string_view a, std::string_view b) {
    std::string k(a);
    k.push_back('\0');
    k.append(b);
    return k;
  }
  template <typename T>
  static Result<std::optional<T>> Find(const std::map<std::string, T, std::less<>>& m,
                                       const std::string& key) {
    auto it = m.find(key);
    if (it == m.end()) return {std::nullopt};
    return {std::optional<T>(it->second)};
  }

  std::map<std::string, v1::AccountView, std::less<>> accounts_;
  std::map<std::string, v1::TransactionView, std::less<>> transactions_;
  std::map<std::string, v1::EventOutcomeView, std::less<>> outcomes_;
  std::map<std::string, v1::CurrencyTotals, std::less<>> totals_;
  int64_t history_items_ = 0;
};

constexpr int kAccounts = 1000;

std::string Account(int k) { return "acct:" + std::to_string(k); }

// Opens `accounts` accounts in `state`.
template <typename State>
void OpenAccounts(State& state, int accounts = kAccounts) {
  for (int k = 0; k < accounts; ++k) {
    auto e = testutil::OpenAccount("bench", Account(k), v1::ASSET, "USD", /*allow_negative=*/true);
    if (!ApplyEvent(e, 0, k, state).ok()) std::abort();
  }
}

// A transfer between two of the first `accounts` accounts.
v1::EventEnvelope Transfer(int64_t n, int accounts = kAccounts) {
  const int debit = static_cast<int>((n * 7919) % accounts);
  const int credit = (debit + 1 + static_cast<int>(n % 13)) % accounts;
  return testutil::CreateTx("bench", "t-" + std::to_string(n), v1::POSTED,
                            {testutil::MakeEntry(Account(debit), v1::DEBIT, 100 + n % 1000),
                             testutil::MakeEntry(Account(credit), v1::CREDIT, 100 + n % 1000)});
}

// One posted two-entry transfer through the state machine, per iteration.
void BM_ApplyEventTransfer(benchmark::State& state) {
  MemoryState ledger;
  OpenAccounts(ledger);
  std::vector<v1::EventEnvelope> events;
  for (int64_t n = 0; n < 4096; ++n) events.push_back(Transfer(n));
  int64_t offset = kAccounts;
  for (auto _ : state) {
    // A fresh idempotency key each time, or the state machine answers "duplicate".
    v1::EventEnvelope& e = events[offset % events.size()];
    e.set_event_id("tx:" + std::to_string(offset));
    e.mutable_transaction_created()->set_source_idempk(std::to_string(offset));
    auto outcome = ApplyEvent(e, 0, offset++, ledger);
    benchmark::DoNotOptimize(outcome);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ApplyEventTransfer);

// A store in a fresh scratch directory with `accounts` accounts opened and committed, removed at
// the end of the benchmark.
struct ScratchStore {
  explicit ScratchStore(bool bloom_filters, int accounts = kAccounts)
      : dir(std::filesystem::temp_directory_path() /
            ("kledger-bench-store-" + std::to_string(getpid()))) {
    std::filesystem::remove_all(dir);
    StoreOptions options;
    options.path = dir.string();
    options.bloom_filters = bloom_filters;
    auto opened = ProjectionStore::Open(options);
    if (!opened.ok()) {
      error = opened.status().ToString();
      return;
    }
    store = std::move(opened).value();
    batch = store->BeginBatch(0);
    OpenAccounts(*batch, accounts);
    if (!store->Commit(*batch, accounts).ok()) std::abort();
  }
  ~ScratchStore() {
    batch.reset();
    store.reset();
    std::filesystem::remove_all(dir);
  }
  bool ok(benchmark::State& state) {
    if (!error.empty()) state.SkipWithError(error.c_str());
    return error.empty();
  }

  std::filesystem::path dir;
  std::string error;
  std::unique_ptr<ProjectionStore> store;
  std::unique_ptr<ProjectionStore::Batch> batch;
};

// ApplyEvent into the store's real batch (WriteBatchWithIndex over RocksDB) and Commit, per
// batch of `range(0)` transfers: the processor's apply work without Kafka. `range(1)` toggles
// StoreOptions::bloom_filters, so that one run compares both; `range(2)` accounts are opened
// (with 100,000, as in issue 21's target, most accounts a batch touches come from the store's
// cache rather than from the batch itself).
void BM_StoreApplyAndCommit(benchmark::State& state) {
  const int accounts = static_cast<int>(state.range(2));
  ScratchStore scratch(state.range(1) != 0, accounts);
  if (!scratch.ok(state)) return;
  ProjectionStore::Batch& batch = *scratch.batch;
  const int per_batch = static_cast<int>(state.range(0));
  int64_t offset = accounts;
  for (auto _ : state) {
    for (int i = 0; i < per_batch; ++i, ++offset) {
      auto outcome = ApplyEvent(Transfer(offset, accounts), 0, offset, batch);
      benchmark::DoNotOptimize(outcome);
    }
    if (!scratch.store->Commit(batch, offset).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations() * per_batch);
}
BENCHMARK(BM_StoreApplyAndCommit)
    ->ArgNames({"batch", "bloom", "accounts"})
    ->Args({100, 0, kAccounts})
    ->Args({100, 1, kAccounts})
    ->Args({2000, 0, kAccounts})
    ->Args({2000, 1, kAccounts})
    ->Args({2000, 1, 100'000})
    ->Unit(benchmark::kMillisecond);

// Commit alone of a batch holding `range(0)` applied transfers (building it is not timed).
void BM_StoreCommit(benchmark::State& state) {
  ScratchStore scratch(/*bloom_filters=*/true);
  if (!scratch.ok(state)) return;
  ProjectionStore::Batch& batch = *scratch.batch;
  const int per_batch = static_cast<int>(state.range(0));
  int64_t offset = kAccounts;
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < per_batch; ++i, ++offset) {
      if (!ApplyEvent(Transfer(offset), 0, offset, batch).ok()) std::abort();
    }
    state.ResumeTiming();
    if (!scratch.store->Commit(batch, offset).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations() * per_batch);
}
BENCHMARK(BM_StoreCommit)->Arg(2000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kledger::projections

BENCHMARK_MAIN();
