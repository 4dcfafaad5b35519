// Tests of the ledger state machine against an in-memory LedgerState, one rule at a time: every
// rule and reason code of accounts, transactions and their updates, and the balance arithmetic.
// Whole-state checks (trial balance, history, the store against the fake, a randomized workload
// against a model) are in ledger_model_test.cc.
#include "projections/ledger.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <climits>

#include "projections/ledger_test_fixture.h"

namespace kledger::projections {
namespace {

using namespace testutil;  // NOLINT: the event builders
using ::testing::HasSubstr;

constexpr int64_t kMax = INT64_MAX;

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
  const std::string original = again.event_id();
  again.set_event_id("a-different-id");
  v1::EventOutcomeView o = Apply(again);
  EXPECT_EQ(o.outcome(), v1::DUPLICATE);
  EXPECT_THAT(o.message(), HasSubstr("'" + original + "'"));
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

}  // namespace
}  // namespace kledger::projections
