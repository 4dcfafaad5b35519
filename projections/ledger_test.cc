// Tests of the ledger state machine against an in-memory LedgerState: every rule and reason
// code, the balance arithmetic, a randomized workload checked against a simple model, and the
// same events giving the same state in the RocksDB store.
#include "projections/ledger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <climits>
#include <filesystem>
#include <map>
#include <random>
#include <tuple>

#include "common/domain/validation.h"
#include "projections/store.h"
#include "projections/test_util.h"

namespace kledger::projections {
namespace {

using namespace testutil;  // NOLINT: the event builders
using ::testing::HasSubstr;

constexpr int64_t kMax = INT64_MAX;

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
    ExpectApplied(OpenAccount("acme", address, type, currency, allow_negative, credit_limit));
  }
  // Posts `amount` from `from` (credited) to `to` (debited).
  v1::EventOutcomeView Move(const std::string& idempk, const std::string& to,
                            const std::string& from, int64_t amount,
                            v1::TransactionStatus status = v1::POSTED) {
    return Apply(CreateTx("acme", idempk, status,
                          {MakeEntry(to, v1::DEBIT, amount), MakeEntry(from, v1::CREDIT, amount)}));
  }

  FakeState state_;
  int64_t next_offset_ = 0;
};

void ExpectSide(const v1::BalanceSide& side, int64_t debit, int64_t credit, int64_t amount) {
  EXPECT_EQ(side.debit(), debit);
  EXPECT_EQ(side.credit(), credit);
  EXPECT_EQ(side.amount(), amount);
}

// ---- Accounts ---------------------------------------------------------------------------

TEST_F(LedgerTest, AccountOpenedDerivesNormalBalanceAndRecordsOutcome) {
  Open("cash", v1::ASSET, false, 5);
  v1::AccountView cash = Account("cash");
  EXPECT_EQ(cash.normal_balance(), v1::DEBIT);
  EXPECT_EQ(cash.status(), v1::OPEN);
  EXPECT_EQ(cash.currency(), "USD");
  EXPECT_EQ(cash.credit_limit(), 5);
  Open("sales", v1::REVENUE);
  EXPECT_EQ(Account("sales").normal_balance(), v1::CREDIT);
  EXPECT_FALSE(Account("sales").has_credit_limit());

  v1::EventEnvelope contra = OpenAccount("acme", "allowance", v1::ASSET, "USD");
  contra.mutable_account_opened()->set_normal_balance(v1::CREDIT);
  ExpectApplied(contra);
  EXPECT_EQ(Account("allowance").normal_balance(), v1::CREDIT);

  const v1::EventOutcomeView& o = state_.outcomes.at({"acme", "open:cash"});
  EXPECT_EQ(o.outcome(), v1::APPLIED);
  EXPECT_EQ(o.event_type(), "account_opened");
  EXPECT_EQ(o.offset(), 0);
}

TEST_F(LedgerTest, AccountOpenedTwiceIsRejected) {
  Open("cash", v1::ASSET);
  v1::EventEnvelope again = OpenAccount("acme", "cash", v1::LIABILITY, "EUR");
  again.set_event_id("another-id");
  ExpectRejected(again, kReasonAccountExists);
  EXPECT_EQ(Account("cash").currency(), "USD");
}

TEST_F(LedgerTest, SameAddressInAnotherInstanceIsIndependent) {
  Open("cash", v1::ASSET);
  ExpectApplied(OpenAccount("other", "cash", v1::LIABILITY, "EUR"));
  EXPECT_EQ(state_.accounts.at({"other", "cash"}).currency(), "EUR");
}

TEST_F(LedgerTest, MalformedAccountsAreRejected) {
  ExpectRejected(OpenAccount("acme", "a", v1::ACCOUNT_TYPE_UNSPECIFIED, "USD"),
                 kReasonInvalidEvent);
  ExpectRejected(OpenAccount("acme", "b", static_cast<v1::AccountType>(42), "USD"),
                 kReasonInvalidEvent);
  ExpectRejected(OpenAccount("acme", "c", v1::ASSET, ""), kReasonInvalidEvent);
  ExpectRejected(OpenAccount("acme", "d", v1::ASSET, "USD", false, -1), kReasonInvalidEvent);
  ExpectRejected(OpenAccount("acme", std::string("e\0f", 3), v1::ASSET, "USD"),
                 kReasonInvalidEvent);
  v1::EventEnvelope bad_side = OpenAccount("acme", "g", v1::ASSET, "USD");
  bad_side.mutable_account_opened()->set_normal_balance(static_cast<v1::Side>(7));
  ExpectRejected(bad_side, kReasonInvalidEvent);
}

TEST_F(LedgerTest, AccountUpdatedChangesLimitsAndMetadata) {
  v1::EventEnvelope open = OpenAccount("acme", "cash", v1::ASSET, "USD");
  (*open.mutable_account_opened()->mutable_metadata())["keep"] = "1";
  (*open.mutable_account_opened()->mutable_metadata())["drop"] = "2";
  ExpectApplied(open);

  v1::EventEnvelope update = Envelope("acme", "upd-acct-1");
  v1::AccountUpdated* m = update.mutable_account_updated();
  m->set_address("cash");
  m->set_update_idempk("u1");
  m->set_allow_negative(true);
  m->set_credit_limit(70);
  (*m->mutable_metadata_set())["new"] = "3";
  m->add_metadata_removed("drop");
  ExpectApplied(update);

  v1::AccountView cash = Account("cash");
  EXPECT_TRUE(cash.allow_negative());
  EXPECT_EQ(cash.credit_limit(), 70);
  EXPECT_EQ(cash.metadata().size(), 2u);
  EXPECT_EQ(cash.metadata().at("keep"), "1");
  EXPECT_EQ(cash.metadata().at("new"), "3");
}

TEST_F(LedgerTest, AccountUpdatedRejections) {
  v1::EventEnvelope update = Envelope("acme", "u");
  update.mutable_account_updated()->set_address("nope");
  ExpectRejected(update, kReasonUnknownAccount);

  Open("cash", v1::ASSET);
  update.set_event_id("u2");
  update.mutable_account_updated()->set_address("cash");
  update.mutable_account_updated()->set_credit_limit(-5);
  ExpectRejected(update, kReasonInvalidEvent);

  ExpectApplied(CloseAccount("acme", "cash"));
  update.set_event_id("u3");
  update.mutable_account_updated()->clear_credit_limit();
  ExpectRejected(update, kReasonAccountClosed);
}

// Each attempt is a distinct command, so it gets its own event id.
v1::EventEnvelope CloseAttempt(const std::string& address, int attempt) {
  v1::EventEnvelope e = CloseAccount("acme", address);
  e.set_event_id(e.event_id() + ":" + std::to_string(attempt));
  return e;
}

TEST_F(LedgerTest, AccountClosedOnlyWhenEmpty) {
  ExpectRejected(CloseAccount("acme", "ghost"), kReasonUnknownAccount);
  Open("cash", v1::ASSET);
  Open("equity", v1::EQUITY, /*allow_negative=*/true);
  Open("bank", v1::ASSET);

  ASSERT_EQ(Move("t1", "cash", "equity", 10).outcome(), v1::APPLIED);
  ExpectRejected(CloseAttempt("cash", 1), kReasonAccountNotEmpty);

  // Back to zero posted, but a pending entry still holds the account open.
  ASSERT_EQ(Move("t2", "equity", "cash", 10).outcome(), v1::APPLIED);
  ASSERT_EQ(Move("t3", "cash", "bank", 1, v1::PENDING).reason(), kReasonInsufficientFunds);
  ASSERT_EQ(Move("t4", "bank", "equity", 5).outcome(), v1::APPLIED);
  ASSERT_EQ(Move("t5", "cash", "bank", 5, v1::PENDING).outcome(), v1::APPLIED);
  ExpectRejected(CloseAttempt("cash", 2), kReasonAccountNotEmpty);
  ExpectApplied(UpdateTx("acme", "t5", "void", v1::ARCHIVE));

  ExpectApplied(CloseAttempt("cash", 3));
  EXPECT_EQ(Account("cash").status(), v1::CLOSED);
  ExpectRejected(CloseAttempt("cash", 4), kReasonAccountClosed);
  v1::EventOutcomeView o = Move("t6", "cash", "equity", 1);
  EXPECT_EQ(o.reason(), kReasonAccountClosed);
}

TEST_F(LedgerTest, InstanceCreatedIsApplied) {
  v1::EventEnvelope e = Envelope("acme", "inst");
  e.mutable_instance_created()->set_description("Acme Corp");
  EXPECT_EQ(Apply(e).outcome(), v1::APPLIED);
  EXPECT_EQ(state_.outcomes.at({"acme", "inst"}).event_type(), "instance_created");
}

TEST_F(LedgerTest, EnvelopeWithoutEventOrIdsIsRejected) {
  ExpectRejected(Envelope("acme", "empty"), kReasonInvalidEvent);
  EXPECT_EQ(state_.outcomes.at({"acme", "empty"}).event_type(), "unknown");

  // Without an event id or instance there is nothing to key the outcome by: nothing is stored.
  const std::string before = state_.Dump();
  v1::EventOutcomeView o = Apply(OpenAccount("", "cash", v1::ASSET, "USD"));
  EXPECT_EQ(o.reason(), kReasonInvalidEvent);
  v1::EventEnvelope no_id = OpenAccount("acme", "cash", v1::ASSET, "USD");
  no_id.clear_event_id();
  EXPECT_EQ(Apply(no_id).reason(), kReasonInvalidEvent);
  EXPECT_EQ(Apply(OpenAccount(std::string("a\0b", 3), "c", v1::ASSET, "USD")).reason(),
            kReasonInvalidEvent);
  EXPECT_EQ(state_.Dump(), before);
}

// ---- Transactions -------------------------------------------------------------------------

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

TEST_F(TransactionTest, PostedArithmeticForDebitAndCreditNormalAccounts) {
  ASSERT_EQ(Move("t1", "cash", "sales", 100).outcome(), v1::APPLIED);
  ExpectSide(Bal("cash").posted(), 100, 0, 100);
  EXPECT_EQ(Bal("cash").available(), 100);
  ExpectSide(Bal("sales").posted(), 0, 100, 100);
  EXPECT_EQ(Bal("sales").available(), 100);

  ASSERT_EQ(Move("t2", "sales", "cash", 30).outcome(), v1::APPLIED);
  ExpectSide(Bal("cash").posted(), 100, 30, 70);
  ExpectSide(Bal("sales").posted(), 30, 100, 70);
  EXPECT_EQ(Bal("cash").available(), 70);

  // The sales account may go negative in its own normal direction.
  ASSERT_EQ(Move("t3", "sales", "cash", 70).outcome(), v1::APPLIED);
  // The loan (credit-normal, no overdraft) cannot be debited below zero, but can be credited.
  ASSERT_EQ(Move("t4", "loan", "sales", 1).reason(), kReasonInsufficientFunds);
  ASSERT_EQ(Move("t5", "sales", "loan", 40).outcome(), v1::APPLIED);
  ExpectSide(Bal("sales").posted(), 140, 100, -40);
  EXPECT_EQ(Bal("sales").available(), -40);
  ExpectSide(Bal("loan").posted(), 0, 40, 40);
  EXPECT_EQ(Bal("loan").available(), 40);
}

TEST_F(TransactionTest, PendingArithmeticReservesButNeverAdds) {
  ASSERT_EQ(Move("fund", "cash", "sales", 100).outcome(), v1::APPLIED);
  // Pending credit to cash (against its normal side) reserves funds.
  ASSERT_EQ(Move("p1", "sales", "cash", 30, v1::PENDING).outcome(), v1::APPLIED);
  ExpectSide(Bal("cash").pending(), 0, 30, -30);
  ExpectSide(Bal("cash").posted(), 100, 0, 100);
  EXPECT_EQ(Bal("cash").available(), 70);
  // Sales gets a pending debit (against its normal side) too.
  ExpectSide(Bal("sales").pending(), 30, 0, -30);
  EXPECT_EQ(Bal("sales").available(), 70);

  // Pending debit to cash (its normal side) does not raise what is available.
  ASSERT_EQ(Move("p2", "cash", "sales", 50, v1::PENDING).outcome(), v1::APPLIED);
  ExpectSide(Bal("cash").pending(), 50, 30, 20);
  EXPECT_EQ(Bal("cash").available(), 70);
  EXPECT_EQ(Bal("sales").available(), 70);

  // Only 70 is available: a pending reservation of 71 is refused.
  ExpectRejected(CreateTx("acme", "p3", v1::PENDING,
                          {MakeEntry("sales", v1::DEBIT, 71), MakeEntry("cash", v1::CREDIT, 71)}),
                 kReasonInsufficientFunds);
}

TEST_F(TransactionTest, InsufficientFundsRespectsAllowNegativeAndCreditLimit) {
  ExpectRejected(CreateTx("acme", "t1", v1::POSTED,
                          {MakeEntry("sales", v1::DEBIT, 1), MakeEntry("cash", v1::CREDIT, 1)}),
                 kReasonInsufficientFunds);

  Open("card", v1::ASSET, false, 50);
  ASSERT_EQ(Move("c1", "sales", "card", 50).outcome(), v1::APPLIED);
  EXPECT_EQ(Bal("card").available(), -50);
  ExpectRejected(CreateTx("acme", "c2", v1::POSTED,
                          {MakeEntry("sales", v1::DEBIT, 1), MakeEntry("card", v1::CREDIT, 1)}),
                 kReasonInsufficientFunds);

  Open("overdraft", v1::ASSET, /*allow_negative=*/true, 10);
  ASSERT_EQ(Move("o1", "sales", "overdraft", 1'000'000).outcome(), v1::APPLIED);
  EXPECT_EQ(Bal("overdraft").available(), -1'000'000);

  // Credit-normal accounts are reduced by debits.
  ExpectRejected(CreateTx("acme", "l1", v1::POSTED,
                          {MakeEntry("loan", v1::DEBIT, 1), MakeEntry("sales", v1::CREDIT, 1)}),
                 kReasonInsufficientFunds);
}

TEST_F(TransactionTest, LimitIsCheckedOnTheNetEffectPerAccount) {
  // Cash is credited 10 and debited 10 in one transaction: net zero, so it is allowed.
  ExpectApplied(CreateTx("acme", "t1", v1::POSTED,
                         {MakeEntry("cash", v1::CREDIT, 10), MakeEntry("sales", v1::DEBIT, 10),
                          MakeEntry("cash", v1::DEBIT, 10), MakeEntry("sales", v1::CREDIT, 10)}));
  ExpectSide(Bal("cash").posted(), 10, 10, 0);
  // An account below its floor (limit lowered later) may still receive money.
  Open("card", v1::ASSET, false, 50);
  ASSERT_EQ(Move("c1", "sales", "card", 50).outcome(), v1::APPLIED);
  v1::EventEnvelope lower = Envelope("acme", "lower");
  lower.mutable_account_updated()->set_address("card");
  lower.mutable_account_updated()->set_credit_limit(0);
  ExpectApplied(lower);
  ASSERT_EQ(Move("c2", "card", "sales", 20).outcome(), v1::APPLIED);
  EXPECT_EQ(Bal("card").available(), -30);
  ExpectRejected(CreateTx("acme", "c3", v1::POSTED,
                          {MakeEntry("sales", v1::DEBIT, 1), MakeEntry("card", v1::CREDIT, 1)}),
                 kReasonInsufficientFunds);
}

TEST_F(TransactionTest, EntryRejections) {
  ExpectRejected(CreateTx("acme", "t1", v1::POSTED,
                          {MakeEntry("cash", v1::DEBIT, 5), MakeEntry("ghost", v1::CREDIT, 5)}),
                 kReasonUnknownAccount);
  ExpectRejected(CreateTx("acme", "t2", v1::POSTED,
                          {MakeEntry("cash", v1::DEBIT, 5, "EUR"),
                           MakeEntry("euro_eq", v1::CREDIT, 5, "EUR")}),
                 kReasonCurrencyMismatch);
  ExpectRejected(CreateTx("acme", "t3", v1::POSTED,
                          {MakeEntry("cash", v1::DEBIT, 5), MakeEntry("sales", v1::CREDIT, 4)}),
                 kReasonUnbalanced);
  // Balanced in total but not per currency.
  ExpectRejected(
      CreateTx("acme", "t4", v1::POSTED,
               {MakeEntry("cash", v1::DEBIT, 5), MakeEntry("euro_eq", v1::CREDIT, 5, "EUR")}),
      kReasonUnbalanced);
  ExpectRejected(CreateTx("acme", "t5", v1::POSTED,
                          {MakeEntry("cash", v1::DEBIT, 0), MakeEntry("sales", v1::CREDIT, 0)}),
                 kReasonInvalidEvent);
  ExpectRejected(CreateTx("acme", "t6", v1::POSTED,
                          {MakeEntry("cash", v1::DEBIT, -5), MakeEntry("sales", v1::CREDIT, -5)}),
                 kReasonInvalidEvent);
  ExpectRejected(CreateTx("acme", "t7", v1::POSTED, {MakeEntry("cash", v1::DEBIT, 5)}),
                 kReasonInvalidEvent);
  ExpectRejected(CreateTx("acme", "t8", v1::ARCHIVED,
                          {MakeEntry("cash", v1::DEBIT, 5), MakeEntry("sales", v1::CREDIT, 5)}),
                 kReasonInvalidEvent);
  ExpectRejected(
      CreateTx("acme", "t9", v1::POSTED,
               {MakeEntry("cash", v1::SIDE_UNSPECIFIED, 5), MakeEntry("sales", v1::CREDIT, 5)}),
      kReasonInvalidEvent);
  ExpectRejected(CreateTx("acme", "", v1::POSTED,
                          {MakeEntry("cash", v1::DEBIT, 5), MakeEntry("sales", v1::CREDIT, 5)}),
                 kReasonInvalidEvent);
  // Mixed currencies, each balanced, are fine.
  ExpectApplied(CreateTx(
      "acme", "t10", v1::POSTED,
      {MakeEntry("cash", v1::DEBIT, 5), MakeEntry("sales", v1::CREDIT, 5),
       MakeEntry("euro", v1::DEBIT, 7, "EUR"), MakeEntry("euro_eq", v1::CREDIT, 7, "EUR")}));
}

TEST_F(TransactionTest, OverflowIsRejectedNotWrapped) {
  Open("big", v1::ASSET);
  Open("eq", v1::EQUITY, true);
  ASSERT_EQ(Move("t1", "big", "eq", kMax).outcome(), v1::APPLIED);
  ExpectSide(Bal("big").posted(), kMax, 0, kMax);
  ExpectRejected(CreateTx("acme", "t2", v1::POSTED,
                          {MakeEntry("big", v1::DEBIT, 1), MakeEntry("sales", v1::CREDIT, 1)}),
                 kReasonOverflow);
  // The entries' own sum overflows.
  ExpectRejected(CreateTx("acme", "t3", v1::POSTED,
                          {MakeEntry("cash", v1::DEBIT, kMax), MakeEntry("cash", v1::DEBIT, kMax),
                           MakeEntry("sales", v1::CREDIT, kMax)}),
                 kReasonOverflow);
  // The trial balance total of USD is already kMax: one more posted unit cannot be counted.
  ExpectRejected(CreateTx("acme", "t4", v1::POSTED,
                          {MakeEntry("cash", v1::DEBIT, 1), MakeEntry("sales", v1::CREDIT, 1)}),
                 kReasonOverflow);
  // Pending amounts are not in the trial balance, but their own totals are checked too.
  ASSERT_EQ(Move("p1", "cash", "sales", kMax, v1::PENDING).outcome(), v1::APPLIED);
  ExpectRejected(CreateTx("acme", "p2", v1::PENDING,
                          {MakeEntry("cash", v1::DEBIT, 1), MakeEntry("sales", v1::CREDIT, 1)}),
                 kReasonOverflow);
  // available = posted amount - reserved would drop below INT64_MIN.
  Open("neg", v1::ASSET, true, std::nullopt, "XTS");
  Open("src", v1::EQUITY, true, std::nullopt, "XTS");
  auto xts = [&](const std::string& key, int64_t amount, v1::TransactionStatus status) {
    return CreateTx(
        "acme", key, status,
        {MakeEntry("src", v1::DEBIT, amount, "XTS"), MakeEntry("neg", v1::CREDIT, amount, "XTS")});
  };
  ExpectApplied(xts("n1", 1, v1::POSTED));
  ExpectApplied(xts("n2", kMax, v1::PENDING));
  EXPECT_EQ(Bal("neg").available(), INT64_MIN);
  ExpectRejected(xts("n3", 1, v1::POSTED), kReasonOverflow);
}

TEST_F(TransactionTest, DuplicateEventIdReturnsOriginalAndChangesNothing) {
  v1::EventEnvelope t1 =
      CreateTx("acme", "t1", v1::POSTED,
               {MakeEntry("cash", v1::DEBIT, 9), MakeEntry("sales", v1::CREDIT, 9)});
  ExpectApplied(t1);
  const std::string before = state_.Dump();
  v1::EventOutcomeView dup = Apply(t1);
  EXPECT_EQ(dup.outcome(), v1::DUPLICATE);
  EXPECT_EQ(dup.reason(), "");
  EXPECT_THAT(dup.message(), HasSubstr("APPLIED"));
  EXPECT_EQ(state_.Dump(), before);
  EXPECT_EQ(state_.outcomes.at({"acme", t1.event_id()}).outcome(), v1::APPLIED);

  // A rejected event's duplicate carries the original reason.
  v1::EventEnvelope broke =
      CreateTx("acme", "t2", v1::POSTED,
               {MakeEntry("sales", v1::DEBIT, 99), MakeEntry("cash", v1::CREDIT, 99)});
  ExpectRejected(broke, kReasonInsufficientFunds);
  ASSERT_EQ(Move("t3", "cash", "sales", 1000).outcome(), v1::APPLIED);  // funds arrive
  const std::string before2 = state_.Dump();
  v1::EventOutcomeView dup2 = Apply(broke);
  EXPECT_EQ(dup2.outcome(), v1::DUPLICATE);
  EXPECT_EQ(dup2.reason(), kReasonInsufficientFunds);
  EXPECT_THAT(dup2.message(), HasSubstr("REJECTED"));
  EXPECT_EQ(state_.Dump(), before2);
}

TEST_F(TransactionTest, RedriveOfADeadLetteredEventAppliesItOnceThenIsDuplicate) {
  v1::EventEnvelope t1 =
      CreateTx("acme", "t1", v1::POSTED,
               {MakeEntry("cash", v1::DEBIT, 9), MakeEntry("sales", v1::CREDIT, 9)});
  // What the processor records when t1 exhausted its retries: an outcome, no effect.
  v1::EventOutcomeView dead;
  dead.set_event_id(t1.event_id());
  dead.set_instance_id("acme");
  dead.set_outcome(v1::DEAD_LETTERED);
  dead.set_reason("storage");
  ASSERT_TRUE(state_.PutOutcome(dead).ok());

  ExpectApplied(t1);  // the redriven copy
  EXPECT_EQ(state_.outcomes.at({"acme", t1.event_id()}).outcome(), v1::APPLIED);
  const std::string after = state_.Dump();
  EXPECT_EQ(Apply(t1).outcome(), v1::DUPLICATE);  // redriven again
  EXPECT_EQ(state_.Dump(), after);
}

TEST_F(TransactionTest, DuplicateSourceKeyWithAnotherEventId) {
  ASSERT_EQ(Move("t1", "cash", "sales", 9).outcome(), v1::APPLIED);
  const v1::Balances cash = Bal("cash");
  v1::EventEnvelope again =
      CreateTx("acme", "t1", v1::POSTED,
               {MakeEntry("cash", v1::DEBIT, 50), MakeEntry("sales", v1::CREDIT, 50)});
  again.set_event_id("a-different-id");
  v1::EventOutcomeView o = Apply(again);
  EXPECT_EQ(o.outcome(), v1::DUPLICATE);
  EXPECT_THAT(o.message(), HasSubstr("tx:src:t1"));
  EXPECT_EQ(Bal("cash").SerializeAsString(), cash.SerializeAsString());
  EXPECT_EQ(Tx("t1").entries(0).amount(), 9);
  // The duplicate is itself an outcome of the new event id.
  EXPECT_EQ(state_.outcomes.at({"acme", "a-different-id"}).outcome(), v1::DUPLICATE);
  // Another source with the same idempk is a different transaction.
  ASSERT_EQ(Apply(CreateTx("acme", "t1", v1::POSTED,
                           {MakeEntry("cash", v1::DEBIT, 1), MakeEntry("sales", v1::CREDIT, 1)},
                           "other-src"))
                .outcome(),
            v1::APPLIED);
}

// ---- Updates ------------------------------------------------------------------------------

TEST_F(TransactionTest, PendingThenPost) {
  ASSERT_EQ(Move("fund", "cash", "sales", 100).outcome(), v1::APPLIED);
  ASSERT_EQ(Move("p", "sales", "cash", 40, v1::PENDING).outcome(), v1::APPLIED);
  EXPECT_EQ(Bal("cash").available(), 60);
  ExpectApplied(UpdateTx("acme", "p", "post", v1::POST));
  ExpectSide(Bal("cash").pending(), 0, 0, 0);
  ExpectSide(Bal("cash").posted(), 100, 40, 60);
  EXPECT_EQ(Bal("cash").available(), 60);
  ExpectSide(Bal("sales").posted(), 40, 100, 60);
  v1::TransactionView tx = Tx("p");
  EXPECT_EQ(tx.status(), v1::POSTED);
  ASSERT_EQ(tx.update_idempks_size(), 1);
  EXPECT_EQ(tx.update_idempks(0), "post");

  ExpectRejected(UpdateTx("acme", "p", "again", v1::ARCHIVE), kReasonNotPending);
  // The same update key again is a duplicate, even under another event id.
  v1::EventEnvelope replay = UpdateTx("acme", "p", "post", v1::POST);
  replay.set_event_id("replayed");
  EXPECT_EQ(Apply(replay).outcome(), v1::DUPLICATE);
}

TEST_F(TransactionTest, PostWithEditedAmountsRechecksLimits) {
  ASSERT_EQ(Move("fund", "cash", "sales", 100).outcome(), v1::APPLIED);
  ASSERT_EQ(Move("p", "sales", "cash", 40, v1::PENDING).outcome(), v1::APPLIED);
  ExpectRejected(UpdateTx("acme", "p", "u1", v1::POST,
                          {MakeEntry("sales", v1::DEBIT, 101), MakeEntry("cash", v1::CREDIT, 101)}),
                 kReasonInsufficientFunds);
  ExpectApplied(UpdateTx("acme", "p", "u2", v1::POST,
                         {MakeEntry("sales", v1::DEBIT, 100), MakeEntry("cash", v1::CREDIT, 100)}));
  ExpectSide(Bal("cash").posted(), 100, 100, 0);
  ExpectSide(Bal("cash").pending(), 0, 0, 0);
  EXPECT_EQ(Bal("cash").available(), 0);
  EXPECT_EQ(Tx("p").entries(0).amount(), 100);
}

TEST_F(TransactionTest, ArchiveReleasesPending) {
  ASSERT_EQ(Move("fund", "cash", "sales", 100).outcome(), v1::APPLIED);
  ASSERT_EQ(Move("p", "sales", "cash", 40, v1::PENDING).outcome(), v1::APPLIED);
  ExpectApplied(UpdateTx("acme", "p", "void", v1::ARCHIVE));
  ExpectSide(Bal("cash").pending(), 0, 0, 0);
  ExpectSide(Bal("cash").posted(), 100, 0, 100);
  EXPECT_EQ(Bal("cash").available(), 100);
  EXPECT_EQ(Tx("p").status(), v1::ARCHIVED);
  ExpectRejected(UpdateTx("acme", "p", "post", v1::POST), kReasonNotPending);
}

TEST_F(TransactionTest, EditReplacesPendingAmounts) {
  ASSERT_EQ(Move("fund", "cash", "sales", 100).outcome(), v1::APPLIED);
  ASSERT_EQ(Move("p", "sales", "cash", 40, v1::PENDING).outcome(), v1::APPLIED);
  ExpectApplied(UpdateTx("acme", "p", "e1", v1::EDIT,
                         {MakeEntry("sales", v1::DEBIT, 70), MakeEntry("cash", v1::CREDIT, 70)}));
  ExpectSide(Bal("cash").pending(), 0, 70, -70);
  EXPECT_EQ(Bal("cash").available(), 30);
  EXPECT_EQ(Tx("p").status(), v1::PENDING);
  ExpectRejected(UpdateTx("acme", "p", "e2", v1::EDIT,
                          {MakeEntry("sales", v1::DEBIT, 101), MakeEntry("cash", v1::CREDIT, 101)}),
                 kReasonInsufficientFunds);
  ExpectApplied(UpdateTx("acme", "p", "e3", v1::EDIT,
                         {MakeEntry("sales", v1::DEBIT, 10), MakeEntry("cash", v1::CREDIT, 10)}));
  EXPECT_EQ(Bal("cash").available(), 90);
  ExpectApplied(UpdateTx("acme", "p", "post", v1::POST));
  ExpectSide(Bal("cash").posted(), 100, 10, 90);
  EXPECT_EQ(Tx("p").update_idempks_size(), 3);
}

TEST_F(TransactionTest, UpdateRejections) {
  ExpectRejected(UpdateTx("acme", "nope", "u", v1::POST), kReasonUnknownTransaction);
  ASSERT_EQ(Move("p", "cash", "sales", 40, v1::PENDING).outcome(), v1::APPLIED);
  ExpectRejected(UpdateTx("acme", "p", "u1", v1::POST, {MakeEntry("cash", v1::DEBIT, 40)}),
                 kReasonEntriesMismatch);
  ExpectRejected(UpdateTx("acme", "p", "u2", v1::POST,
                          {MakeEntry("cash", v1::DEBIT, 40), MakeEntry("sales", v1::CREDIT, 20),
                           MakeEntry("sales", v1::CREDIT, 20)}),
                 kReasonEntriesMismatch);
  ExpectRejected(UpdateTx("acme", "p", "u3", v1::POST,
                          {MakeEntry("sales", v1::DEBIT, 40), MakeEntry("cash", v1::CREDIT, 40)}),
                 kReasonEntriesMismatch);
  ExpectRejected(UpdateTx("acme", "p", "u4", v1::POST,
                          {MakeEntry("cash", v1::DEBIT, 40), MakeEntry("loan", v1::CREDIT, 40)}),
                 kReasonEntriesMismatch);
  ExpectRejected(UpdateTx("acme", "p", "u5", v1::EDIT,
                          {MakeEntry("cash", v1::DEBIT, 40), MakeEntry("sales", v1::CREDIT, 41)}),
                 kReasonUnbalanced);
  ExpectRejected(UpdateTx("acme", "p", "u6", v1::UPDATE_ACTION_UNSPECIFIED), kReasonInvalidEvent);
  ExpectRejected(UpdateTx("acme", "p", "", v1::POST), kReasonInvalidEvent);
  EXPECT_EQ(Tx("p").update_idempks_size(), 0);
}

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
