// Tests of the ledger state machine over whole states: the trial balance and the history, a
// storage error, the RocksDB store holding the same state as the in-memory fake for the same
// events, and a randomized workload checked against a simple model with the books always
// balanced.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <climits>
#include <filesystem>
#include <map>
#include <random>

#include "common/domain/validation.h"
#include "projections/ledger_test_fixture.h"
#include "projections/store.h"

namespace kledger::projections {
namespace {

using namespace testutil;  // NOLINT: the event builders

// ---- Trial balance and history ------------------------------------------------------------

TEST_F(TransactionTest, TrialBalanceCountsPostedOnly) {
  ASSERT_EQ(Move("t1", "cash", "sales", 100).outcome(), v1::APPLIED);
  ASSERT_EQ(Move("p1", "sales", "cash", 30, v1::PENDING).outcome(), v1::APPLIED);
  v1::CurrencyTotals usd = state_.totals.at({"acme", "USD"});
  EXPECT_EQ(usd.debits(), 100);
  EXPECT_EQ(usd.credits(), 100);
  ExpectApplied(UpdateTx("acme", "p1", "post", v1::POST));
  usd = state_.totals.at({"acme", "USD"});
  EXPECT_EQ(usd.debits(), 130);
  EXPECT_EQ(usd.credits(), 130);
  EXPECT_EQ(state_.totals.count({"acme", "EUR"}), 0u);
}

TEST_F(TransactionTest, HistoryHasOneItemPerBalanceChangeNewestFirst) {
  ASSERT_EQ(Move("t1", "cash", "sales", 100).outcome(), v1::APPLIED);
  ASSERT_EQ(Move("p1", "sales", "cash", 30, v1::PENDING).outcome(), v1::APPLIED);
  ExpectApplied(UpdateTx("acme", "p1", "same", v1::EDIT,
                         {MakeEntry("sales", v1::DEBIT, 30), MakeEntry("cash", v1::CREDIT, 30)}));
  ExpectApplied(UpdateTx("acme", "p1", "post", v1::POST));

  std::vector<v1::HistoryItem> items = state_.History("cash");
  ASSERT_EQ(items.size(), 3u);  // the no-op edit left no item
  EXPECT_EQ(items[0].status(), v1::POSTED);
  EXPECT_EQ(items[0].event_id(), "upd:src:p1:post");
  EXPECT_EQ(items[0].direction(), v1::CREDIT);
  EXPECT_EQ(items[0].amount(), 30);
  EXPECT_EQ(items[0].balances_after().available(), 70);
  EXPECT_EQ(items[0].balances_after().posted().amount(), 70);
  EXPECT_EQ(items[1].status(), v1::PENDING);
  EXPECT_EQ(items[1].source_idempk(), "p1");
  EXPECT_EQ(items[1].balances_after().pending().credit(), 30);
  EXPECT_EQ(items[2].status(), v1::POSTED);
  EXPECT_EQ(items[2].balances_after().posted().amount(), 100);
  EXPECT_GT(items[0].offset(), items[1].offset());
  EXPECT_GT(items[1].offset(), items[2].offset());
}

TEST_F(TransactionTest, HistoryShowsBalanceAfterEachEntryOfOneAccount) {
  ExpectApplied(CreateTx("acme", "t1", v1::POSTED,
                         {MakeEntry("cash", v1::DEBIT, 10), MakeEntry("cash", v1::DEBIT, 5),
                          MakeEntry("sales", v1::CREDIT, 15)}));
  std::vector<v1::HistoryItem> items = state_.History("cash");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].amount(), 5);  // the later entry first
  EXPECT_EQ(items[0].balances_after().posted().amount(), 15);
  EXPECT_EQ(items[1].amount(), 10);
  EXPECT_EQ(items[1].balances_after().posted().amount(), 10);
}

TEST_F(TransactionTest, StorageErrorIsAnErrorNotAnOutcome) {
  state_.fail_read_after = 2;
  Result<v1::EventOutcomeView> r =
      ApplyEvent(CreateTx("acme", "t1", v1::POSTED,
                          {MakeEntry("cash", v1::DEBIT, 1), MakeEntry("sales", v1::CREDIT, 1)}),
                 0, 99, state_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
}

// The state machine's results depend on the events alone, not on the LedgerState behind it: the
// same events applied to this fake and to the RocksDB store (its batch reading its own writes,
// its account cache, one commit) leave the same views, history and trial balance.
TEST(LedgerStateTest, TheStoreAndTheFakeHoldTheSameStateForTheSameEvents) {
  std::vector<v1::EventEnvelope> events = {
      OpenAccount("acme", "x", v1::ASSET, "USD"),
      OpenAccount("acme", "sales", v1::REVENUE, "USD", true),
      OpenAccount("acme", "eur", v1::ASSET, "EUR", true),
      CreateTx("acme", "t1", v1::POSTED,
               {MakeEntry("x", v1::DEBIT, 3), MakeEntry("sales", v1::CREDIT, 3)}),
      CreateTx("acme", "t2", v1::PENDING,
               {MakeEntry("sales", v1::DEBIT, 2), MakeEntry("x", v1::CREDIT, 2)}),
      CreateTx("acme", "t3", v1::POSTED,  // rejected: x holds 3, 2 of them pending out
               {MakeEntry("sales", v1::DEBIT, 2), MakeEntry("x", v1::CREDIT, 2)}),
      UpdateTx("acme", "t2", "u", v1::POST),
      CreateTx("acme", "t1", v1::POSTED,  // a duplicate
               {MakeEntry("x", v1::DEBIT, 3), MakeEntry("sales", v1::CREDIT, 3)}),
      CreateTx("acme", "t4", v1::POSTED,  // rejected: currency mismatch
               {MakeEntry("eur", v1::DEBIT, 1), MakeEntry("sales", v1::CREDIT, 1)})};
  FakeState fake;
  const std::string dir = ::testing::TempDir() + "/ledger-test-store-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto store = ProjectionStore::Open({.path = dir});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto batch = (*store)->BeginBatch(3);
  std::vector<std::string> outcomes;
  for (size_t i = 0; i < events.size(); ++i) {
    auto in_fake = ApplyEvent(events[i], 3, 100 + static_cast<int64_t>(i), fake);
    auto in_store = ApplyEvent(events[i], 3, 100 + static_cast<int64_t>(i), *batch);
    ASSERT_TRUE(in_fake.ok() && in_store.ok());
    EXPECT_EQ(in_fake->ShortDebugString(), in_store->ShortDebugString()) << i;
    outcomes.push_back(v1::Outcome_Name(in_fake->outcome()));
  }
  EXPECT_EQ(outcomes,
            (std::vector<std::string>{"APPLIED", "APPLIED", "APPLIED", "APPLIED", "APPLIED",
                                      "REJECTED", "APPLIED", "DUPLICATE", "REJECTED"}));
  ASSERT_TRUE((*store)->Commit(*batch, 100 + static_cast<int64_t>(events.size())).ok());
  ProjectionStore& db = **store;
  for (const auto& [key, account] : fake.accounts) {
    EXPECT_EQ(db.GetAccount(key.first, key.second)->ShortDebugString(), account.ShortDebugString());
    auto history = db.GetHistory(key.first, key.second, 100, "");
    ASSERT_TRUE(history.ok());
    std::vector<std::string> from_store, from_fake;
    for (const auto& item : history->items()) from_store.push_back(item.ShortDebugString());
    for (const auto& item : fake.History(key.second)) from_fake.push_back(item.ShortDebugString());
    EXPECT_EQ(from_store, from_fake) << key.second;
  }
  for (const auto& [key, tx] : fake.transactions) {
    EXPECT_EQ(
        db.GetTransaction(std::get<0>(key), std::get<1>(key), std::get<2>(key))->ShortDebugString(),
        tx.ShortDebugString());
  }
  for (const auto& [key, outcome] : fake.outcomes) {
    EXPECT_EQ(db.GetOutcome(key.first, key.second)->ShortDebugString(), outcome.ShortDebugString());
  }
  auto trial = db.GetTrialBalance("acme");
  ASSERT_TRUE(trial.ok());
  ASSERT_EQ(static_cast<size_t>(trial->currencies_size()), fake.totals.size());
  for (const auto& totals : trial->currencies()) {
    EXPECT_EQ(totals.ShortDebugString(),
              fake.totals.at({"acme", totals.currency()}).ShortDebugString());
  }
  store->reset();
  std::filesystem::remove_all(dir);
}

// ---- Randomized workload against a simple model -------------------------------------------

int64_t I64(__int128 v) {
  EXPECT_TRUE(v >= INT64_MIN && v <= INT64_MAX);
  return static_cast<int64_t>(v);
}

// The model keeps balances in __int128 and applies the rules in the most direct way.
struct ModelAccount {
  bool debit_normal;
  bool allow_negative;
  int64_t limit;
  std::string currency;
  __int128 posted[2] = {0, 0};  // [debit, credit]
  __int128 pending[2] = {0, 0};
  __int128 Available() const {
    const __int128 amount = debit_normal ? posted[0] - posted[1] : posted[1] - posted[0];
    return amount - (debit_normal ? pending[1] : pending[0]);
  }
};

struct ModelTx {
  std::vector<v1::Entry> entries;
  bool pending;
};

class Model {
 public:
  std::map<std::string, ModelAccount> accounts;
  std::map<std::string, ModelTx> txs;
  std::map<std::string, std::array<__int128, 2>> trial;  // currency -> [debits, credits]

  // Applies (remove_pending, add_pending, add_posted) per entry; returns the reason or "".
  std::string Move(const std::vector<v1::Entry>& entries, const std::vector<int64_t>& remove,
                   const std::vector<int64_t>& add_pending,
                   const std::vector<int64_t>& add_posted) {
    std::map<std::string, ModelAccount> next = accounts;
    auto fits = [](__int128 v) { return v >= INT64_MIN && v <= INT64_MAX; };
    for (size_t i = 0; i < entries.size(); ++i) {
      ModelAccount& a = next.at(entries[i].account());
      const int side = entries[i].direction() == v1::DEBIT ? 0 : 1;
      a.pending[side] += add_pending[i] - remove[i];
      a.posted[side] += add_posted[i];
      for (__int128 v : {a.pending[side], a.posted[side], a.Available()}) {
        if (!fits(v)) return "overflow";
      }
    }
    for (const auto& [address, a] : next) {
      const __int128 was = accounts.at(address).Available();
      if (!a.allow_negative && a.Available() < was && a.Available() < -a.limit) {
        return "insufficient_funds";
      }
    }
    auto next_trial = trial;
    for (size_t i = 0; i < entries.size(); ++i) {
      next_trial[entries[i].currency()][entries[i].direction() == v1::DEBIT ? 0 : 1] +=
          add_posted[i];
    }
    for (const auto& [c, t] : next_trial) {
      if (!fits(t[0]) || !fits(t[1])) return "overflow";
    }
    accounts = std::move(next);
    trial = std::move(next_trial);
    return "";
  }
};

TEST(LedgerRandomized, MatchesModelAndBooksAlwaysBalance) {
  std::mt19937_64 rng(20240611);
  FakeState state;
  Model model;
  int64_t offset = 0;
  auto apply = [&](const v1::EventEnvelope& e) {
    Result<v1::EventOutcomeView> r = ApplyEvent(e, 0, offset++, state);
    EXPECT_TRUE(r.ok());
    return *r;
  };
  const std::vector<std::string> currencies = {"USD", "EUR"};
  std::map<std::string, std::vector<std::string>> by_currency;
  for (int i = 0; i < 12; ++i) {
    const std::string address = "acct" + std::to_string(i);
    const std::string currency = currencies[i % 2];
    const auto type = static_cast<v1::AccountType>(1 + rng() % 5);
    const bool allow_negative = rng() % 3 == 0;
    const int64_t limit = rng() % 2 ? 0 : static_cast<int64_t>(rng() % 500);
    ASSERT_EQ(apply(OpenAccount("acme", address, type, currency, allow_negative, limit)).outcome(),
              v1::APPLIED);
    model.accounts[address] = {domain::NormalBalanceFor(type) == v1::DEBIT, allow_negative, limit,
                               currency};
    by_currency[currency].push_back(address);
  }
  auto amount = [&]() -> int64_t {
    switch (rng() % 10) {
      case 0:
        return INT64_MAX / 2 + static_cast<int64_t>(rng() % 1000);  // provokes overflows
      default:
        return 1 + static_cast<int64_t>(rng() % 1000);
    }
  };

  std::map<std::string, int> reasons;
  for (int step = 0; step < 3000; ++step) {
    const std::string currency = currencies[rng() % 2];
    const auto& pool = by_currency[currency];
    const bool update = !model.txs.empty() && rng() % 3 == 0;
    if (!update) {
      // 2-4 entries: balanced by construction.
      std::vector<v1::Entry> entries;
      const int64_t a = amount();
      const int legs = 2 + rng() % 3;
      if (legs == 2) {
        entries = {MakeEntry(pool[rng() % pool.size()], v1::DEBIT, a, currency),
                   MakeEntry(pool[rng() % pool.size()], v1::CREDIT, a, currency)};
      } else {
        const int64_t b = amount();
        entries = {MakeEntry(pool[rng() % pool.size()], v1::DEBIT, a, currency),
                   MakeEntry(pool[rng() % pool.size()], v1::DEBIT, b, currency)};
        __int128 sum = static_cast<__int128>(a) + b;
        if (sum > INT64_MAX) continue;
        entries.push_back(
            MakeEntry(pool[rng() % pool.size()], v1::CREDIT, static_cast<int64_t>(sum), currency));
      }
      const bool pending = rng() % 2 == 0;
      const std::string key = "t" + std::to_string(step);
      std::vector<int64_t> zero(entries.size(), 0), amounts;
      for (const auto& e : entries) amounts.push_back(e.amount());
      const std::string expected = pending ? model.Move(entries, zero, amounts, zero)
                                           : model.Move(entries, zero, zero, amounts);
      if (expected.empty()) model.txs[key] = {entries, pending};
      v1::EventOutcomeView o =
          apply(CreateTx("acme", key, pending ? v1::PENDING : v1::POSTED, entries));
      ASSERT_EQ(o.reason(), expected) << "step " << step << ": " << o.message();
      reasons[expected]++;
    } else {
      auto it = model.txs.begin();
      std::advance(it, rng() % model.txs.size());
      const std::string key = it->first;
      ModelTx& tx = it->second;
      const auto action = static_cast<v1::UpdateAction>(1 + rng() % 3);
      std::vector<v1::Entry> edited;
      if (action != v1::ARCHIVE && rng() % 2 == 0) {
        // Scale every amount by the same factor keeps each currency balanced.
        const int64_t num = 1 + rng() % 4, den = 1 + rng() % 2;
        edited = tx.entries;
        bool ok = true;
        for (auto& e : edited) {
          const __int128 v = static_cast<__int128>(e.amount()) * num;
          ok = ok && v % den == 0 && v / den <= INT64_MAX / 4;
          if (ok) e.set_amount(static_cast<int64_t>(v / den));
        }
        if (!ok) edited.clear();
      }
      const std::string ukey = "u" + std::to_string(step);
      v1::EventOutcomeView o = apply(UpdateTx("acme", key, ukey, action, edited));
      std::string expected;
      if (!tx.pending) {
        expected = "not_pending";
      } else {
        const auto& now = edited.empty() ? tx.entries : edited;
        std::vector<int64_t> old_amounts, new_amounts, zero(now.size(), 0);
        for (size_t i = 0; i < now.size(); ++i) {
          old_amounts.push_back(tx.entries[i].amount());
          new_amounts.push_back(now[i].amount());
        }
        if (action == v1::POST) expected = model.Move(now, old_amounts, zero, new_amounts);
        if (action == v1::ARCHIVE) expected = model.Move(now, old_amounts, zero, zero);
        if (action == v1::EDIT) expected = model.Move(now, old_amounts, new_amounts, zero);
        if (expected.empty()) {
          tx.entries = now;
          tx.pending = action == v1::EDIT;
        }
      }
      ASSERT_EQ(o.reason(), expected) << "step " << step << ": " << o.message();
      reasons["update:" + expected]++;
    }

    // Books balance after every event.
    for (const auto& [key, totals] : state.totals) {
      ASSERT_EQ(totals.debits(), totals.credits()) << key.second;
    }
  }

  for (const auto& [address, m] : model.accounts) {
    const v1::Balances& b = state.accounts.at({"acme", address}).balances();
    EXPECT_EQ(b.posted().debit(), I64(m.posted[0])) << address;
    EXPECT_EQ(b.posted().credit(), I64(m.posted[1])) << address;
    EXPECT_EQ(b.pending().debit(), I64(m.pending[0])) << address;
    EXPECT_EQ(b.pending().credit(), I64(m.pending[1])) << address;
    EXPECT_EQ(b.available(), I64(m.Available())) << address;
  }
  for (const auto& [currency, t] : model.trial) {
    if (t[0] == 0) continue;
    EXPECT_EQ(state.totals.at({"acme", currency}).debits(), I64(t[0]));
  }
  // The workload must exercise every outcome it was built to provoke.
  EXPECT_GT(reasons[""], 100);
  EXPECT_GT(reasons["insufficient_funds"], 10);
  EXPECT_GT(reasons["overflow"], 0);
  EXPECT_GT(reasons["update:"], 50);
  EXPECT_GT(reasons["update:not_pending"], 10);
}

}  // namespace
}  // namespace kledger::projections
