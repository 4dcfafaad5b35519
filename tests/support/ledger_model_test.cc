// The test model checked by hand: if it were wrong, the exactly-once test would judge the
// product against wrong numbers. Every expected value below is worked out in the comments.
#include "tests/support/ledger_model.h"

#include <gtest/gtest.h>

#include <limits>

namespace kledger::testing::model {
namespace {

constexpr char kUsd[] = "USD";

class LedgerModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // bank: asset (debit normal), may go negative; alice, bob: wallets (liabilities, credit
    // normal) without overdraft; vip: a wallet with a credit limit of 500.
    Expect("o-bank", OpenAccount{"bank", Side::kDebit, kUsd, true, std::nullopt}, Applied());
    Expect("o-alice", OpenAccount{"alice", Side::kCredit, kUsd, false, std::nullopt}, Applied());
    Expect("o-bob", OpenAccount{"bob", Side::kCredit, kUsd, false, std::nullopt}, Applied());
    Expect("o-vip", OpenAccount{"vip", Side::kCredit, kUsd, false, 500}, Applied());
  }

  static Verdict Applied() { return {Outcome::kApplied, ""}; }
  static Verdict Rejected(const std::string& reason) { return {Outcome::kRejected, reason}; }

  static CreateTransaction Transfer(const std::string& key, const std::string& from,
                                    const std::string& to, int64_t amount,
                                    TxStatus status = TxStatus::kPosted) {
    return {"test",
            key,
            status,
            {{from, Side::kDebit, amount, kUsd}, {to, Side::kCredit, amount, kUsd}}};
  }

  static UpdateTransaction Update(const std::string& key, const std::string& update_key,
                                  Action action, std::vector<Entry> entries = {}) {
    return {"test", key, update_key, action, std::move(entries)};
  }

  void Expect(const std::string& event_id, const Command& command, const Verdict& expected) {
    EXPECT_EQ(model_.Apply(event_id, next_offset_++, command), expected) << event_id;
  }

  const Balances& BalancesOf(const std::string& address) {
    return model_.accounts().at(address).balances;
  }

  LedgerModel model_;
  int64_t next_offset_ = 0;
};

TEST_F(LedgerModelTest, PostedTransferMovesBothSidesAndTheTrialBalance) {
  // Deposit: the bank's asset grows by a debit, alice's liability by a credit.
  Expect("t1", Transfer("dep-1", "bank", "alice", 1000), Applied());
  EXPECT_EQ(BalancesOf("bank"), (Balances{{1000, 0, 1000}, {0, 0, 0}, 1000}));
  EXPECT_EQ(BalancesOf("alice"), (Balances{{0, 1000, 1000}, {0, 0, 0}, 1000}));
  // Alice pays bob 400: alice's posted debit 400 -> amount 1000 - 400.
  Expect("t2", Transfer("pay-1", "alice", "bob", 400), Applied());
  EXPECT_EQ(BalancesOf("alice"), (Balances{{400, 1000, 600}, {0, 0, 0}, 600}));
  EXPECT_EQ(BalancesOf("bob"), (Balances{{0, 400, 400}, {0, 0, 0}, 400}));
  EXPECT_EQ(model_.trial_balance().at(kUsd), (Totals{1400, 1400}));

  const auto& history = model_.accounts().at("alice").history;
  ASSERT_EQ(history.size(), 2u);  // oldest first
  EXPECT_EQ(history[0].event_id, "t1");
  EXPECT_EQ(history[0].direction, Side::kCredit);
  EXPECT_EQ(history[0].amount, 1000);
  EXPECT_EQ(history[0].status, TxStatus::kPosted);
  EXPECT_EQ(history[1].event_id, "t2");
  EXPECT_EQ(history[1].offset, 5);  // four openings, then t1 at offset 4
  EXPECT_EQ(history[1].balances_after, BalancesOf("alice"));
}

TEST_F(LedgerModelTest, PendingReservesTheSenderThenPostMovesIt) {
  Expect("t1", Transfer("dep-1", "bank", "alice", 1000), Applied());
  Expect("t2", Transfer("hold-1", "alice", "bob", 300, TxStatus::kPending), Applied());
  // Alice: pending debit 300 against her credit normal -> pending amount -300, available
  // 1000 - 300. Bob: a pending credit in his normal direction is not money yet: available 0.
  EXPECT_EQ(BalancesOf("alice"), (Balances{{0, 1000, 1000}, {300, 0, -300}, 700}));
  EXPECT_EQ(BalancesOf("bob"), (Balances{{0, 0, 0}, {0, 300, 300}, 0}));
  EXPECT_EQ(model_.trial_balance().at(kUsd), (Totals{1000, 1000}));  // pending is not posted

  Expect("t3", Update("hold-1", "post", Action::kPost), Applied());
  EXPECT_EQ(BalancesOf("alice"), (Balances{{300, 1000, 700}, {0, 0, 0}, 700}));
  EXPECT_EQ(BalancesOf("bob"), (Balances{{0, 300, 300}, {0, 0, 0}, 300}));
  EXPECT_EQ(model_.trial_balance().at(kUsd), (Totals{1300, 1300}));
  EXPECT_EQ(model_.transactions().at(LedgerModel::TransactionKey("test", "hold-1")).status,
            TxStatus::kPosted);

  const auto& history = model_.accounts().at("bob").history;
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].status, TxStatus::kPending);
  EXPECT_EQ(history[1].status, TxStatus::kPosted);
  EXPECT_EQ(history[1].amount, 300);

  // Posted is final.
  Expect("t4", Update("hold-1", "again", Action::kArchive), Rejected("not_pending"));
  Expect("t5", Update("nope", "post", Action::kPost), Rejected("unknown_transaction"));
}

TEST_F(LedgerModelTest, PostWithEditedAmountsPostsTheNewAmounts) {
  Expect("t1", Transfer("dep-1", "bank", "alice", 1000), Applied());
  Expect("t2", Transfer("hold-1", "alice", "bob", 300, TxStatus::kPending), Applied());
  Expect("t3",
         Update("hold-1", "post", Action::kPost,
                {{"alice", Side::kDebit, 250, kUsd}, {"bob", Side::kCredit, 250, kUsd}}),
         Applied());
  EXPECT_EQ(BalancesOf("alice"), (Balances{{250, 1000, 750}, {0, 0, 0}, 750}));
  EXPECT_EQ(model_.accounts().at("alice").history.back().amount, 250);
}

TEST_F(LedgerModelTest, ArchiveReleasesTheReservation) {
  Expect("t1", Transfer("dep-1", "bank", "alice", 1000), Applied());
  Expect("t2", Transfer("hold-1", "alice", "bob", 300, TxStatus::kPending), Applied());
  Expect("t3", Update("hold-1", "void", Action::kArchive), Applied());
  EXPECT_EQ(BalancesOf("alice"), (Balances{{0, 1000, 1000}, {0, 0, 0}, 1000}));
  EXPECT_EQ(BalancesOf("bob"), (Balances{{0, 0, 0}, {0, 0, 0}, 0}));
  EXPECT_EQ(model_.trial_balance().at(kUsd), (Totals{1000, 1000}));
  const auto& history = model_.accounts().at("alice").history;
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[2].status, TxStatus::kArchived);
  EXPECT_EQ(history[2].amount, 300);  // the amount released
  Expect("t4", Update("hold-1", "post", Action::kPost), Rejected("not_pending"));
}

TEST_F(LedgerModelTest, EditChangesTheReservationAndItsLimit) {
  Expect("t1", Transfer("dep-1", "bank", "alice", 1000), Applied());
  Expect("t2", Transfer("hold-1", "alice", "bob", 300, TxStatus::kPending), Applied());
  Expect("t3",
         Update("hold-1", "edit-1", Action::kEdit,
                {{"alice", Side::kDebit, 900, kUsd}, {"bob", Side::kCredit, 900, kUsd}}),
         Applied());
  EXPECT_EQ(BalancesOf("alice"), (Balances{{0, 1000, 1000}, {900, 0, -900}, 100}));
  // 1001 would reserve more than alice holds.
  Expect("t4",
         Update("hold-1", "edit-2", Action::kEdit,
                {{"alice", Side::kDebit, 1001, kUsd}, {"bob", Side::kCredit, 1001, kUsd}}),
         Rejected("insufficient_funds"));
  EXPECT_EQ(BalancesOf("alice").available, 100);
  EXPECT_EQ(model_.accounts().at("alice").history.size(), 3u);
  Expect("t5",
         Update("hold-1", "edit-3", Action::kEdit,
                {{"bob", Side::kDebit, 5, kUsd}, {"alice", Side::kCredit, 5, kUsd}}),
         Rejected("entries_mismatch"));
}

TEST_F(LedgerModelTest, OverdraftsAreRejectedAndChangeNothing) {
  Expect("t1", Transfer("dep-1", "bank", "alice", 1000), Applied());
  Expect("t2", Transfer("pay-1", "alice", "bob", 1001), Rejected("insufficient_funds"));
  EXPECT_EQ(BalancesOf("alice"), (Balances{{0, 1000, 1000}, {0, 0, 0}, 1000}));
  EXPECT_EQ(BalancesOf("bob"), Balances{});
  EXPECT_EQ(model_.accounts().at("alice").history.size(), 1u);
  EXPECT_EQ(model_.accounts().at("bob").history.size(), 0u);
  EXPECT_EQ(model_.trial_balance().at(kUsd), (Totals{1000, 1000}));
  Expect("t3", Transfer("pay-2", "alice", "bob", 1000), Applied());  // exactly to zero

  // The vip wallet may go down to -500, not one unit further.
  Expect("t4", Transfer("vip-1", "vip", "bob", 501), Rejected("insufficient_funds"));
  Expect("t5", Transfer("vip-2", "vip", "bob", 500), Applied());
  EXPECT_EQ(BalancesOf("vip").available, -500);
  // A pending outflow counts against the limit too; an inflow is always fine.
  Expect("t6", Transfer("vip-3", "vip", "bob", 1, TxStatus::kPending),
         Rejected("insufficient_funds"));
  Expect("t7", Transfer("vip-4", "bob", "vip", 200), Applied());
  EXPECT_EQ(BalancesOf("vip").available, -300);

  // The bank may go negative without limit.
  Expect("t8", Transfer("out-1", "bob", "bank", 1000), Applied());
  EXPECT_EQ(BalancesOf("bank").available, 0);
  Expect("t9", Transfer("out-2", "vip", "bank", 200), Applied());  // vip at -500 again
  EXPECT_EQ(BalancesOf("bank").available, -200);
}

TEST_F(LedgerModelTest, StatefulRejections) {
  Expect("t1", Transfer("x-1", "alice", "ghost", 1), Rejected("unknown_account"));
  Expect("t2",
         CreateTransaction{"test",
                           "x-2",
                           TxStatus::kPosted,
                           {{"bank", Side::kDebit, 5, "EUR"}, {"alice", Side::kCredit, 5, "EUR"}}},
         Rejected("currency_mismatch"));
  Expect("t3", OpenAccount{"bob", Side::kCredit, kUsd, false, std::nullopt},
         Rejected("account_exists"));
  EXPECT_TRUE(model_.trial_balance().empty());
}

TEST_F(LedgerModelTest, DuplicatesChangeNothingAndKeepTheFirstOutcome) {
  Expect("t1", Transfer("dep-1", "bank", "alice", 1000), Applied());
  // The same idempotency key (so the same event id) with another amount.
  EXPECT_EQ(model_.Apply("t1", next_offset_++, Transfer("dep-1", "bank", "alice", 5)),
            (Verdict{Outcome::kDuplicate, ""}));
  EXPECT_EQ(BalancesOf("alice").posted.amount, 1000);
  EXPECT_EQ(model_.RecordedOutcome("t1"), Applied());

  // A rejected command resubmitted once funds exist stays rejected: it is the same event.
  Expect("t2", Transfer("pay-1", "alice", "bob", 2000), Rejected("insufficient_funds"));
  EXPECT_EQ(model_.Apply("t2", next_offset_++, Transfer("pay-1", "alice", "bob", 10)),
            (Verdict{Outcome::kDuplicate, "insufficient_funds"}));
  EXPECT_EQ(BalancesOf("bob"), Balances{});
  EXPECT_EQ(model_.RecordedOutcome("t2"), Rejected("insufficient_funds"));

  // A new event id for a known transaction key, or a known update key, is recorded DUPLICATE.
  Expect("t3", Transfer("dep-1", "bank", "alice", 7), (Verdict{Outcome::kDuplicate, ""}));
  Expect("t4", Transfer("hold-1", "alice", "bob", 100, TxStatus::kPending), Applied());
  Expect("t5", Update("hold-1", "post", Action::kPost), Applied());
  Expect("t6", Update("hold-1", "post", Action::kPost), (Verdict{Outcome::kDuplicate, ""}));
  EXPECT_EQ(model_.RecordedOutcome("t6"), (Verdict{Outcome::kDuplicate, ""}));
  EXPECT_EQ(BalancesOf("alice").posted.amount, 900);
  EXPECT_EQ(model_.trial_balance().at(kUsd), (Totals{1100, 1100}));
  EXPECT_FALSE(model_.RecordedOutcome("never").has_value());
}

TEST_F(LedgerModelTest, SumsLeavingInt64AreRejectedNotWrapped) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  Expect("t1", Transfer("big-1", "bank", "alice", kMax), Applied());
  Expect("t2", Transfer("big-2", "bank", "alice", 1), Rejected("overflow"));
  EXPECT_EQ(BalancesOf("alice").posted.credit, kMax);
  EXPECT_EQ(model_.trial_balance().at(kUsd), (Totals{kMax, kMax}));
}

}  // namespace
}  // namespace kledger::testing::model
