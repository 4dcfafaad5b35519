// The fixture of the ledger state machine's tests (ledger_test.cc, ledger_model_test.cc): an
// in-memory LedgerState (FakeState) that may fail a read, the ledger applied to it one event at a
// time, and a set of open accounts for the transaction tests.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "projections/ledger.h"
#include "projections/test_util.h"

namespace kledger::projections {

// LedgerState over ordered maps. Optionally fails the Nth read to simulate a storage error.
class FakeState : public LedgerState {
 public:
  using Pair = std::pair<std::string, std::string>;

  Result<const v1::AccountView*> FindAccount(std::string_view i, std::string_view a) override {
    ASSIGN_OR_RETURN(auto found, Find(accounts, Pair(i, a)));  // counts the read; may fail it
    return found ? &accounts.at(Pair(i, a)) : nullptr;         // lent in place, as the store does
  }
  Status PutAccount(v1::AccountView v) override {
    accounts[Pair(v.instance_id(), v.address())] = std::move(v);
    return Status::Ok();
  }
  Status PutBalances(std::string_view i, std::string_view a, const v1::Balances& b) override {
    auto it = accounts.find(Pair(i, a));
    if (it == accounts.end()) return Status::Internal("balances of an unknown account");
    *it->second.mutable_balances() = b;
    return Status::Ok();
  }
  Result<std::optional<v1::TransactionView>> FindTransaction(std::string_view i, std::string_view s,
                                                             std::string_view k) override {
    return Find(transactions, std::tuple<std::string, std::string, std::string>(i, s, k));
  }
  using LedgerState::PutTransaction;
  Status PutTransaction(const v1::TransactionView& v) override {
    transactions[{v.instance_id(), v.source(), v.source_idempk()}] = v;
    return Status::Ok();
  }
  Result<std::optional<v1::EventOutcomeView>> FindOutcome(std::string_view i,
                                                          std::string_view e) override {
    return Find(outcomes, Pair(i, e));
  }
  Status PutOutcome(const v1::EventOutcomeView& v) override {
    outcomes[Pair(v.instance_id(), v.event_id())] = v;
    return Status::Ok();
  }
  Status AppendHistory(std::string_view i, std::string_view a, int32_t index,
                       const v1::HistoryItem& item) override {
    // Negated position: ascending map order is newest first, like the store's keys.
    auto key = std::make_tuple(std::string(i), std::string(a), -item.offset(), -index);
    EXPECT_EQ(history.count(key), 0u) << "history position reused";
    history[key] = item;
    return Status::Ok();
  }
  Result<std::optional<v1::CurrencyTotals>> FindCurrencyTotals(std::string_view i,
                                                               std::string_view c) override {
    return Find(totals, Pair(i, c));
  }
  Status PutCurrencyTotals(std::string_view i, v1::CurrencyTotals t) override {
    totals[Pair(i, t.currency())] = std::move(t);
    return Status::Ok();
  }

  // Every record, for "nothing changed" comparisons.
  std::string Dump() const {
    std::string out;
    auto add = [&](const google::protobuf::Message& m) { out += m.ShortDebugString() + "\n"; };
    for (const auto& [k, v] : accounts) add(v);
    for (const auto& [k, v] : transactions) add(v);
    for (const auto& [k, v] : outcomes) add(v);
    for (const auto& [k, v] : history) add(v);
    for (const auto& [k, v] : totals) add(v);
    return out;
  }

  std::vector<v1::HistoryItem> History(const std::string& address) const {
    std::vector<v1::HistoryItem> items;
    for (const auto& [k, v] : history) {
      if (std::get<1>(k) == address) items.push_back(v);
    }
    return items;
  }

  std::map<Pair, v1::AccountView> accounts;
  std::map<std::tuple<std::string, std::string, std::string>, v1::TransactionView> transactions;
  std::map<Pair, v1::EventOutcomeView> outcomes;
  std::map<std::tuple<std::string, std::string, int64_t, int32_t>, v1::HistoryItem> history;
  std::map<Pair, v1::CurrencyTotals> totals;
  int fail_read_after = -1;  // < 0: never fail

 private:
  template <typename Map, typename Key>
  Result<std::optional<typename Map::mapped_type>> Find(const Map& map, const Key& key) {
    if (fail_read_after == 0) return Status::IoError("injected read failure");
    if (fail_read_after > 0) --fail_read_after;
    auto it = map.find(key);
    if (it == map.end()) return {std::nullopt};
    return {it->second};
  }
};

class LedgerTest : public ::testing::Test {
 protected:
  v1::EventOutcomeView Apply(const v1::EventEnvelope& event) {
    Result<v1::EventOutcomeView> r = ApplyEvent(event, 0, next_offset_++, state_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : v1::EventOutcomeView();
  }
  void ExpectApplied(const v1::EventEnvelope& event) {
    v1::EventOutcomeView o = Apply(event);
    EXPECT_EQ(o.outcome(), v1::APPLIED) << o.reason() << ": " << o.message();
  }
  void ExpectRejected(const v1::EventEnvelope& event, std::string_view reason) {
    const std::string before = StateWithoutOutcomes();
    v1::EventOutcomeView o = Apply(event);
    EXPECT_EQ(o.outcome(), v1::REJECTED);
    EXPECT_EQ(o.reason(), reason) << o.message();
    EXPECT_FALSE(o.message().empty());
    EXPECT_EQ(StateWithoutOutcomes(), before) << "a rejection changed the state";
  }
  std::string StateWithoutOutcomes() {
    FakeState copy = state_;
    copy.outcomes.clear();
    return copy.Dump();
  }
  v1::AccountView Account(const std::string& address) {
    return state_.accounts.at({"acme", address});
  }
  v1::Balances Bal(const std::string& address) { return Account(address).balances(); }
  v1::TransactionView Tx(const std::string& idempk) {
    return state_.transactions.at({"acme", "src", idempk});
  }
  void Open(const std::string& address, v1::AccountType type, bool allow_negative = false,
            std::optional<int64_t> credit_limit = std::nullopt,
            const std::string& currency = "USD") {
    ExpectApplied(
        testutil::OpenAccount("acme", address, type, currency, allow_negative, credit_limit));
  }
  // Posts `amount` from `from` (credited) to `to` (debited).
  v1::EventOutcomeView Move(const std::string& idempk, const std::string& to,
                            const std::string& from, int64_t amount,
                            v1::TransactionStatus status = v1::POSTED) {
    using namespace testutil;  // NOLINT: the event builders
    return Apply(CreateTx("acme", idempk, status,
                          {MakeEntry(to, v1::DEBIT, amount), MakeEntry(from, v1::CREDIT, amount)}));
  }

  FakeState state_;
  int64_t next_offset_ = 0;
};

class TransactionTest : public LedgerTest {
 protected:
  void SetUp() override {
    Open("cash", v1::ASSET);                              // debit-normal, no overdraft
    Open("sales", v1::REVENUE, /*allow_negative=*/true);  // credit-normal
    Open("loan", v1::LIABILITY);                          // credit-normal, no overdraft
    Open("euro", v1::ASSET, true, std::nullopt, "EUR");
    Open("euro_eq", v1::EQUITY, true, std::nullopt, "EUR");
  }
};

}  // namespace kledger::projections
