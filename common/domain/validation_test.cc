// Tests of the stateless ledger rules: each rule refused with its field and code, randomized
// balanced and unbalanced transactions, overflow, and envelope checks.
#include "common/domain/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>

namespace kledger::domain {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

auto Err(const std::string& field, const std::string& code) {
  return AllOf(Field(&FieldError::field, field), Field(&FieldError::code, code));
}

// The only error in `errors` is (field, code).
#define EXPECT_ONLY_ERROR(errors, field, code) EXPECT_THAT(errors, ElementsAre(Err(field, code)))

v1::Entry MakeEntry(std::string account, v1::Side direction, int64_t amount,
                    std::string currency = "USD") {
  v1::Entry e;
  e.set_account(std::move(account));
  e.set_direction(direction);
  e.set_amount(amount);
  e.set_currency(std::move(currency));
  return e;
}

v1::TransactionCreated ValidTransaction() {
  v1::TransactionCreated t;
  t.set_source("billing");
  t.set_source_idempk("order-1");
  t.set_status(v1::POSTED);
  *t.add_entries() = MakeEntry("assets:cash", v1::DEBIT, 1000);
  *t.add_entries() = MakeEntry("revenue:sales", v1::CREDIT, 1000);
  t.set_description("sale");
  (*t.mutable_metadata())["order"] = "1";
  t.set_effective_at("2024-01-31T12:00:00Z");
  return t;
}

v1::AccountOpened ValidAccount() {
  v1::AccountOpened a;
  a.set_address("assets:cash");
  a.set_type(v1::ASSET);
  a.set_currency("USD");
  return a;
}

v1::TransactionUpdated ValidUpdate(v1::UpdateAction action) {
  v1::TransactionUpdated u;
  u.set_source("billing");
  u.set_source_idempk("order-1");
  u.set_update_idempk("post-1");
  u.set_action(action);
  return u;
}

// ---------------------------------------------------------------------------- instance id

TEST(ValidationInstanceIdTest, RequiredAndFormat) {
  FieldErrors errors;
  ValidateInstanceId("acme", errors);
  EXPECT_THAT(errors, IsEmpty());
  ValidateInstanceId("", errors);
  EXPECT_ONLY_ERROR(errors, "instance_id", "required");
  errors.clear();
  ValidateInstanceId("a b", errors);
  EXPECT_ONLY_ERROR(errors, "instance_id", "invalid_format");
}

TEST(ValidationCorrelationIdTest, OptionalPrintableAndBounded) {
  FieldErrors errors;
  ValidateCorrelationId("", errors);
  ValidateCorrelationId("req-1 from checkout/7", errors);
  ValidateCorrelationId(std::string(kMaxCorrelationIdBytes, 'x'), errors);
  EXPECT_THAT(errors, IsEmpty());
  ValidateCorrelationId(std::string(kMaxCorrelationIdBytes + 1, 'x'), errors);
  EXPECT_ONLY_ERROR(errors, "correlation_id", "too_long");
  for (const std::string& bad : {std::string("a\nb"), std::string("tab\t"), std::string("\xc3\xa9"),
                                 std::string("nul\0", 4)}) {
    errors.clear();
    ValidateCorrelationId(bad, errors);
    EXPECT_ONLY_ERROR(errors, "correlation_id", "invalid_format");
  }
}

// ---------------------------------------------------------------------------- accounts

TEST(ValidationAccountOpenedTest, ValidAccountPasses) {
  EXPECT_THAT(ValidateAccountOpened(ValidAccount()), IsEmpty());
  v1::AccountOpened contra = ValidAccount();
  contra.set_normal_balance(v1::CREDIT);
  contra.set_credit_limit(0);
  EXPECT_THAT(ValidateAccountOpened(contra), IsEmpty());
}

TEST(ValidationAccountOpenedTest, EachFieldRefused) {
  v1::AccountOpened a = ValidAccount();
  a.clear_address();
  EXPECT_ONLY_ERROR(ValidateAccountOpened(a), "address", "required");
  a = ValidAccount();
  a.set_address("assets::cash");
  EXPECT_ONLY_ERROR(ValidateAccountOpened(a), "address", "invalid_format");

  a = ValidAccount();
  a.clear_type();
  EXPECT_ONLY_ERROR(ValidateAccountOpened(a), "type", "required");
  a.set_type(static_cast<v1::AccountType>(42));  // an open enum can carry unknown numbers
  EXPECT_ONLY_ERROR(ValidateAccountOpened(a), "type", "invalid_value");

  a = ValidAccount();
  a.set_normal_balance(static_cast<v1::Side>(7));
  EXPECT_ONLY_ERROR(ValidateAccountOpened(a), "normal_balance", "invalid_value");

  a = ValidAccount();
  a.clear_currency();
  EXPECT_ONLY_ERROR(ValidateAccountOpened(a), "currency", "required");
  a.set_currency("usd");
  EXPECT_ONLY_ERROR(ValidateAccountOpened(a), "currency", "invalid_format");

  a = ValidAccount();
  a.set_credit_limit(-1);
  EXPECT_ONLY_ERROR(ValidateAccountOpened(a), "credit_limit", "invalid_value");
  a.set_credit_limit(500);
  a.set_allow_negative(true);
  EXPECT_ONLY_ERROR(ValidateAccountOpened(a), "allow_negative", "invalid_value");
  a.clear_credit_limit();
  EXPECT_THAT(ValidateAccountOpened(a), IsEmpty());
}

TEST(ValidationAccountOpenedTest, MetadataLimits) {
  Limits limits;
  limits.max_metadata_entries = 2;
  limits.max_metadata_key_bytes = 4;
  limits.max_metadata_value_bytes = 5;

  v1::AccountOpened a = ValidAccount();
  (*a.mutable_metadata())["k1"] = "v";
  (*a.mutable_metadata())["k2"] = "v";
  EXPECT_THAT(ValidateAccountOpened(a, limits), IsEmpty());
  (*a.mutable_metadata())["k3"] = "v";
  EXPECT_ONLY_ERROR(ValidateAccountOpened(a, limits), "metadata", "too_many");

  a = ValidAccount();
  (*a.mutable_metadata())["long_key"] = "v";
  EXPECT_ONLY_ERROR(ValidateAccountOpened(a, limits), "metadata", "too_long");
  a = ValidAccount();
  (*a.mutable_metadata())["k"] = "123456";
  EXPECT_ONLY_ERROR(ValidateAccountOpened(a, limits), "metadata", "too_long");
  a = ValidAccount();
  (*a.mutable_metadata())[""] = "v";
  EXPECT_ONLY_ERROR(ValidateAccountOpened(a, limits), "metadata", "required");
}

TEST(ValidationAccountOpenedTest, ReportsEveryErrorAtOnce) {
  v1::AccountOpened a;
  a.set_credit_limit(-5);
  EXPECT_THAT(ValidateAccountOpened(a),
              ElementsAre(Err("address", "required"), Err("type", "required"),
                          Err("currency", "required"), Err("credit_limit", "invalid_value")));
}

TEST(ValidationAccountUpdatedTest, Rules) {
  v1::AccountUpdated u;
  u.set_address("assets:cash");
  u.set_update_idempk("u1");
  u.set_credit_limit(100);
  (*u.mutable_metadata_set())["k"] = "v";
  u.add_metadata_removed("old");
  EXPECT_THAT(ValidateAccountUpdated(u), IsEmpty());

  v1::AccountUpdated bad = u;
  bad.clear_update_idempk();
  EXPECT_ONLY_ERROR(ValidateAccountUpdated(bad), "update_idempk", "required");
  bad = u;
  bad.set_update_idempk("a/b");
  EXPECT_ONLY_ERROR(ValidateAccountUpdated(bad), "update_idempk", "invalid_format");
  bad = u;
  bad.set_address("");
  EXPECT_ONLY_ERROR(ValidateAccountUpdated(bad), "address", "required");
  bad = u;
  bad.set_credit_limit(-1);
  EXPECT_ONLY_ERROR(ValidateAccountUpdated(bad), "credit_limit", "invalid_value");
  bad = u;
  bad.set_allow_negative(true);
  EXPECT_ONLY_ERROR(ValidateAccountUpdated(bad), "allow_negative", "invalid_value");
  bad.set_allow_negative(false);  // explicitly turning it off alongside a limit is fine
  EXPECT_THAT(ValidateAccountUpdated(bad), IsEmpty());
  bad = u;
  bad.add_metadata_removed(std::string(129, 'k'));
  EXPECT_ONLY_ERROR(ValidateAccountUpdated(bad), "metadata_removed[1]", "too_long");
  bad = u;
  (*bad.mutable_metadata_set())["k"] = std::string(1025, 'v');
  EXPECT_ONLY_ERROR(ValidateAccountUpdated(bad), "metadata_set", "too_long");
  Limits limits;
  limits.max_metadata_entries = 1;
  bad = u;
  bad.add_metadata_removed("other");
  EXPECT_ONLY_ERROR(ValidateAccountUpdated(bad, limits), "metadata_removed", "too_many");
}

TEST(ValidationAccountClosedTest, Rules) {
  v1::AccountClosed c;
  EXPECT_ONLY_ERROR(ValidateAccountClosed(c), "address", "required");
  c.set_address("a:b");
  EXPECT_THAT(ValidateAccountClosed(c), IsEmpty());
}

TEST(ValidationInstanceCreatedTest, Rules) {
  v1::InstanceCreated i;
  EXPECT_THAT(ValidateInstanceCreated(i), IsEmpty());
  i.set_description(std::string(1025, 'd'));
  EXPECT_ONLY_ERROR(ValidateInstanceCreated(i), "description", "too_long");
  i.clear_description();
  Limits limits;
  limits.max_metadata_entries = 0;
  (*i.mutable_metadata())["k"] = "v";
  EXPECT_ONLY_ERROR(ValidateInstanceCreated(i, limits), "metadata", "too_many");
}

TEST(ValidationNormalBalanceTest, DerivedFromType) {
  EXPECT_EQ(NormalBalanceFor(v1::ASSET), v1::DEBIT);
  EXPECT_EQ(NormalBalanceFor(v1::EXPENSE), v1::DEBIT);
  EXPECT_EQ(NormalBalanceFor(v1::LIABILITY), v1::CREDIT);
  EXPECT_EQ(NormalBalanceFor(v1::EQUITY), v1::CREDIT);
  EXPECT_EQ(NormalBalanceFor(v1::REVENUE), v1::CREDIT);
  EXPECT_EQ(NormalBalanceFor(v1::ACCOUNT_TYPE_UNSPECIFIED), v1::SIDE_UNSPECIFIED);

  v1::AccountOpened a = ValidAccount();
  EXPECT_EQ(ResolvedNormalBalance(a), v1::DEBIT);
  a.set_normal_balance(v1::CREDIT);  // a contra-asset, e.g. accumulated depreciation
  EXPECT_EQ(ResolvedNormalBalance(a), v1::CREDIT);
}

// ---------------------------------------------------------------------------- transactions

TEST(ValidationTransactionCreatedTest, ValidTransactionPasses) {
  EXPECT_THAT(ValidateTransactionCreated(ValidTransaction()), IsEmpty());
  v1::TransactionCreated t = ValidTransaction();
  t.set_status(v1::PENDING);
  t.clear_description();
  t.clear_metadata();
  t.clear_effective_at();
  EXPECT_THAT(ValidateTransactionCreated(t), IsEmpty());
}

TEST(ValidationTransactionCreatedTest, HeaderFieldsRefused) {
  v1::TransactionCreated t = ValidTransaction();
  t.clear_source();
  EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), "source", "required");
  t.set_source(std::string(129, 's'));
  EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), "source", "invalid_format");

  t = ValidTransaction();
  t.clear_source_idempk();
  EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), "source_idempk", "required");
  t.set_source_idempk("has space");
  EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), "source_idempk", "invalid_format");

  t = ValidTransaction();
  t.clear_status();
  EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), "status", "required");
  t.set_status(v1::ARCHIVED);
  EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), "status", "invalid_value");
  t.set_status(static_cast<v1::TransactionStatus>(99));
  EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), "status", "invalid_value");

  t = ValidTransaction();
  t.set_description(std::string(1025, 'd'));
  EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), "description", "too_long");
  t.set_description(std::string(1024, 'd'));
  EXPECT_THAT(ValidateTransactionCreated(t), IsEmpty());

  t = ValidTransaction();
  (*t.mutable_metadata())[std::string(129, 'k')] = "v";
  EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), "metadata", "too_long");
}

TEST(ValidationTransactionCreatedTest, EffectiveAtMustLookLikeRfc3339) {
  v1::TransactionCreated t = ValidTransaction();
  for (const char* good : {"2024-01-31T12:00:00Z", "2024-02-29T23:59:60.123456+05:30",
                           "1999-12-31t00:00:00z", "2024-06-01T00:00:00-00:00"}) {
    t.set_effective_at(good);
    EXPECT_THAT(ValidateTransactionCreated(t), IsEmpty()) << good;
  }
  for (const char* bad :
       {"2024-01-31", "2024-01-31T12:00:00", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
        "2024-01-31T24:00:00Z", "2024-01-31T12:60:00Z", "2024-01-31 12:00:00Z",
        "2024-01-31T12:00:00.Z", "2024-01-31T12:00:00+0100", "2024-01-31T12:00:00Zjunk",
        "yesterday", "2024-01-31T12:00:00+24:00"}) {
    t.set_effective_at(bad);
    EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), "effective_at", "invalid_format") << bad;
  }
}

TEST(ValidationTransactionCreatedTest, EntryCount) {
  v1::TransactionCreated t = ValidTransaction();
  t.clear_entries();
  EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), "entries", "required");
  *t.add_entries() = MakeEntry("a", v1::DEBIT, 1);
  EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), "entries", "required");

  Limits limits;
  limits.max_entries = 3;
  t = ValidTransaction();
  *t.add_entries() = MakeEntry("a", v1::DEBIT, 1);
  *t.add_entries() = MakeEntry("b", v1::CREDIT, 1);
  EXPECT_ONLY_ERROR(ValidateTransactionCreated(t, limits), "entries", "too_many");
  limits.max_entries = 4;
  EXPECT_THAT(ValidateTransactionCreated(t, limits), IsEmpty());
}

TEST(ValidationTransactionCreatedTest, EachEntryFieldRefused) {
  struct Case {
    v1::Entry entry;
    std::string field;
    std::string code;
  };
  const Case cases[] = {
      {MakeEntry("", v1::CREDIT, 1000), "entries[1].account", "required"},
      {MakeEntry("revenue sales", v1::CREDIT, 1000), "entries[1].account", "invalid_format"},
      {MakeEntry("revenue", v1::SIDE_UNSPECIFIED, 1000), "entries[1].direction", "required"},
      {MakeEntry("revenue", static_cast<v1::Side>(3), 1000), "entries[1].direction",
       "invalid_value"},
      {MakeEntry("revenue", v1::CREDIT, 0), "entries[1].amount", "not_positive"},
      {MakeEntry("revenue", v1::CREDIT, -1000), "entries[1].amount", "not_positive"},
      {MakeEntry("revenue", v1::CREDIT, 1000, ""), "entries[1].currency", "required"},
      {MakeEntry("revenue", v1::CREDIT, 1000, "us$"), "entries[1].currency", "invalid_format"},
  };
  for (const Case& c : cases) {
    v1::TransactionCreated t = ValidTransaction();
    *t.mutable_entries(1) = c.entry;
    // The broken entry is reported alone: no follow-on "unbalanced" noise.
    EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), c.field, c.code) << c.entry.DebugString();
  }
}

TEST(ValidationTransactionCreatedTest, UnbalancedNamesCurrencyAndSums) {
  v1::TransactionCreated t = ValidTransaction();
  t.mutable_entries(1)->set_amount(900);
  FieldErrors errors = ValidateTransactionCreated(t);
  ASSERT_THAT(errors, ElementsAre(Err("entries", "unbalanced")));
  EXPECT_THAT(errors[0].message, AllOf(HasSubstr("USD"), HasSubstr("1000"), HasSubstr("900")));
}

TEST(ValidationTransactionCreatedTest, BalanceIsPerCurrency) {
  v1::TransactionCreated t = ValidTransaction();
  // 50 debited in EUR and 50 credited in USD are equal numbers but unbalance both currencies.
  *t.add_entries() = MakeEntry("assets:eur", v1::DEBIT, 50, "EUR");
  *t.add_entries() = MakeEntry("fx:usd", v1::CREDIT, 50, "USD");
  FieldErrors errors = ValidateTransactionCreated(t);
  ASSERT_THAT(errors, SizeIs(2));
  EXPECT_THAT(errors, Contains(Err("entries", "unbalanced")).Times(2));
  EXPECT_THAT(errors[0].message, HasSubstr("EUR"));
  EXPECT_THAT(errors[1].message, HasSubstr("USD"));

  *t.add_entries() = MakeEntry("fx:eur", v1::CREDIT, 50, "EUR");
  *t.add_entries() = MakeEntry("assets:cash", v1::DEBIT, 50, "USD");
  EXPECT_THAT(ValidateTransactionCreated(t), IsEmpty());
}

TEST(ValidationTransactionCreatedTest, OverflowIsAnErrorNeverAWrap) {
  v1::TransactionCreated t = ValidTransaction();
  t.clear_entries();
  // Two debits of INT64_MAX would wrap to -2, as would the credits: equal wrapped sums must not
  // pass for a balanced transaction.
  *t.add_entries() = MakeEntry("a", v1::DEBIT, kMax);
  *t.add_entries() = MakeEntry("b", v1::DEBIT, kMax);
  *t.add_entries() = MakeEntry("c", v1::CREDIT, kMax);
  *t.add_entries() = MakeEntry("d", v1::CREDIT, kMax);
  FieldErrors errors = ValidateTransactionCreated(t);
  ASSERT_THAT(errors, ElementsAre(Err("entries", "overflow")));
  EXPECT_THAT(errors[0].message, HasSubstr("USD"));

  // Only the credits overflow.
  t.mutable_entries(1)->set_amount(1);
  EXPECT_ONLY_ERROR(ValidateTransactionCreated(t), "entries", "overflow");

  // Exactly INT64_MAX on both sides is fine.
  t.clear_entries();
  *t.add_entries() = MakeEntry("a", v1::DEBIT, kMax - 1);
  *t.add_entries() = MakeEntry("b", v1::DEBIT, 1);
  *t.add_entries() = MakeEntry("c", v1::CREDIT, kMax);
  EXPECT_THAT(ValidateTransactionCreated(t), IsEmpty());
}

// Randomized: balanced transactions over several currencies must validate; perturbing one
// amount must give exactly one "unbalanced" on that currency.
TEST(ValidationTransactionCreatedTest, RandomBalancedAndUnbalanced) {
  std::mt19937_64 rng(20240131);
  const char* kCurrencies[] = {"USD", "EUR", "JPY", "BTC8"};
  for (int round = 0; round < 2000; ++round) {
    v1::TransactionCreated t = ValidTransaction();
    t.clear_entries();
    const int currencies = 1 + static_cast<int>(rng() % 3);
    for (int c = 0; c < currencies; ++c) {
      const std::string currency = kCurrencies[(round + c) % 4];
      // Split a random total into random debit and credit legs.
      const int64_t total = 1 + static_cast<int64_t>(rng() % 1'000'000'000'000);
      for (v1::Side side : {v1::DEBIT, v1::CREDIT}) {
        const int legs = 1 + static_cast<int>(rng() % 4);
        int64_t left = total;
        for (int leg = 0; leg < legs; ++leg) {
          const bool last = leg == legs - 1 || left == 1;
          const int64_t amount = last ? left : 1 + static_cast<int64_t>(rng() % (left - 1));
          *t.add_entries() =
              MakeEntry("acct:" + std::to_string(rng() % 50), side, amount, currency);
          left -= amount;
          if (left == 0) break;
        }
      }
    }
    // Shuffle so debits and credits interleave.
    for (int i = t.entries_size() - 1; i > 0; --i) {
      t.mutable_entries()->SwapElements(i, static_cast<int>(rng() % (i + 1)));
    }
    ASSERT_THAT(ValidateTransactionCreated(t), IsEmpty()) << t.DebugString();

    v1::TransactionCreated broken = t;
    const int victim = static_cast<int>(rng() % broken.entries_size());
    v1::Entry* e = broken.mutable_entries(victim);
    e->set_amount(e->amount() + 1 + static_cast<int64_t>(rng() % 1000));
    FieldErrors errors = ValidateTransactionCreated(broken);
    ASSERT_THAT(errors, ElementsAre(Err("entries", "unbalanced"))) << broken.DebugString();
    EXPECT_THAT(errors[0].message, HasSubstr(e->currency()));
  }
}

TEST(ValidationTransactionUpdatedTest, ValidUpdatesPass) {
  EXPECT_THAT(ValidateTransactionUpdated(ValidUpdate(v1::POST)), IsEmpty());
  EXPECT_THAT(ValidateTransactionUpdated(ValidUpdate(v1::ARCHIVE)), IsEmpty());
  v1::TransactionUpdated edit = ValidUpdate(v1::EDIT);
  *edit.add_entries() = MakeEntry("assets:cash", v1::DEBIT, 700);
  *edit.add_entries() = MakeEntry("revenue:sales", v1::CREDIT, 700);
  EXPECT_THAT(ValidateTransactionUpdated(edit), IsEmpty());
  edit.set_action(v1::POST);
  EXPECT_THAT(ValidateTransactionUpdated(edit), IsEmpty());
}

TEST(ValidationTransactionUpdatedTest, Rules) {
  v1::TransactionUpdated u = ValidUpdate(v1::POST);
  u.clear_source();
  EXPECT_ONLY_ERROR(ValidateTransactionUpdated(u), "source", "required");
  u = ValidUpdate(v1::POST);
  u.set_source_idempk("a b");
  EXPECT_ONLY_ERROR(ValidateTransactionUpdated(u), "source_idempk", "invalid_format");
  u = ValidUpdate(v1::POST);
  u.clear_update_idempk();
  EXPECT_ONLY_ERROR(ValidateTransactionUpdated(u), "update_idempk", "required");

  u = ValidUpdate(v1::UPDATE_ACTION_UNSPECIFIED);
  EXPECT_ONLY_ERROR(ValidateTransactionUpdated(u), "action", "required");
  u.set_action(static_cast<v1::UpdateAction>(9));
  EXPECT_ONLY_ERROR(ValidateTransactionUpdated(u), "action", "invalid_value");

  u = ValidUpdate(v1::EDIT);
  EXPECT_ONLY_ERROR(ValidateTransactionUpdated(u), "entries", "required");

  u = ValidUpdate(v1::ARCHIVE);
  *u.add_entries() = MakeEntry("a", v1::DEBIT, 1);
  *u.add_entries() = MakeEntry("b", v1::CREDIT, 1);
  EXPECT_ONLY_ERROR(ValidateTransactionUpdated(u), "entries", "invalid_value");

  for (v1::UpdateAction action : {v1::POST, v1::EDIT}) {
    u = ValidUpdate(action);
    *u.add_entries() = MakeEntry("a", v1::DEBIT, 2);
    *u.add_entries() = MakeEntry("b", v1::CREDIT, 1);
    EXPECT_ONLY_ERROR(ValidateTransactionUpdated(u), "entries", "unbalanced");
    u.mutable_entries(1)->set_amount(0);
    EXPECT_ONLY_ERROR(ValidateTransactionUpdated(u), "entries[1].amount", "not_positive");
    u.mutable_entries()->RemoveLast();
    EXPECT_ONLY_ERROR(ValidateTransactionUpdated(u), "entries", "required");
    u = ValidUpdate(action);
    *u.add_entries() = MakeEntry("a", v1::DEBIT, kMax);
    *u.add_entries() = MakeEntry("a", v1::DEBIT, kMax);
    *u.add_entries() = MakeEntry("b", v1::CREDIT, 1);
    EXPECT_ONLY_ERROR(ValidateTransactionUpdated(u), "entries", "overflow");
  }
}

// ---------------------------------------------------------------------------- envelopes

// An id for the tests to expect: the real one is a hash, which is kledger::common's
// (common/event_id_test.cc tests ValidateEnvelope with it).
constexpr std::string_view kEventId = "0123456789abcdef0123456789abcdef";

v1::EventEnvelope ValidEnvelope() {
  v1::EventEnvelope env;
  env.set_instance_id("acme");
  env.set_schema_version(kSchemaVersion);
  env.set_correlation_id("req-1");
  *env.mutable_transaction_created() = ValidTransaction();
  env.set_event_id(std::string(kEventId));
  return env;
}

TEST(ValidationEnvelopeTest, ValidEnvelopePasses) {
  EXPECT_THAT(ValidateEnvelopeWithId(ValidEnvelope(), kEventId), IsEmpty());
}

TEST(ValidationEnvelopeTest, Rules) {
  v1::EventEnvelope env = ValidEnvelope();
  env.set_instance_id("");
  EXPECT_THAT(ValidateEnvelopeWithId(env, "the id derived for the new instance"),
              ElementsAre(Err("instance_id", "required"), Err("event_id", "mismatch")));

  env = ValidEnvelope();
  env.set_schema_version(2);
  EXPECT_ONLY_ERROR(ValidateEnvelopeWithId(env, kEventId), "schema_version", "invalid_value");
  env.set_schema_version(0);
  EXPECT_ONLY_ERROR(ValidateEnvelopeWithId(env, kEventId), "schema_version", "invalid_value");

  env = ValidEnvelope();
  env.clear_event();
  EXPECT_ONLY_ERROR(ValidateEnvelopeWithId(env, ""), "event", "required");

  env = ValidEnvelope();
  env.set_event_id("fedcba9876543210fedcba9876543210");
  EXPECT_THAT(ValidateEnvelopeWithId(env, kEventId),
              ElementsAre(AllOf(Err("event_id", "mismatch"),
                                Field(&FieldError::message,
                                      "'fedcba9876543210fedcba9876543210' is not the id derived "
                                      "from the idempotency key, " +
                                          std::string(kEventId)))));
  env.clear_event_id();
  EXPECT_THAT(ValidateEnvelopeWithId(env, kEventId),
              ElementsAre(AllOf(Err("event_id", "required"),
                                Field(&FieldError::message, "must be " + std::string(kEventId)))));

  // Payload errors carry the event's field name as prefix.
  env = ValidEnvelope();
  env.mutable_transaction_created()->mutable_entries(0)->set_amount(-3);
  EXPECT_ONLY_ERROR(ValidateEnvelopeWithId(env, kEventId), "transaction_created.entries[0].amount",
                    "not_positive");
}

TEST(ValidationEnvelopeTest, EveryEventTypeIsDispatched) {
  v1::EventEnvelope env = ValidEnvelope();
  env.mutable_account_opened();  // empty: address, type and currency missing
  EXPECT_THAT(
      ValidateEnvelopeWithId(env, kEventId),
      ElementsAre(Err("account_opened.address", "required"), Err("account_opened.type", "required"),
                  Err("account_opened.currency", "required")));
  env.mutable_account_updated();
  EXPECT_THAT(ValidateEnvelopeWithId(env, kEventId),
              Contains(Err("account_updated.update_idempk", "required")));
  env.mutable_account_closed();
  EXPECT_ONLY_ERROR(ValidateEnvelopeWithId(env, kEventId), "account_closed.address", "required");
  env.mutable_instance_created();
  EXPECT_THAT(ValidateEnvelopeWithId(env, kEventId), IsEmpty());
  env.mutable_transaction_updated();
  EXPECT_THAT(ValidateEnvelopeWithId(env, kEventId),
              Contains(Err("transaction_updated.action", "required")));
}

TEST(ValidationEnvelopeTest, PayloadPathsAreRelativeToTheEvent) {
  v1::EventEnvelope env = ValidEnvelope();
  env.mutable_transaction_created()->clear_source();
  EXPECT_ONLY_ERROR(ValidatePayload(env), "source", "required");
  env.clear_event();
  EXPECT_ONLY_ERROR(ValidatePayload(env), "event", "required");
}

TEST(ValidationEventTypeNameTest, Names) {
  v1::EventEnvelope env;
  EXPECT_EQ(EventTypeName(env), "unknown");
  env.mutable_instance_created();
  EXPECT_EQ(EventTypeName(env), "instance_created");
  env.mutable_account_opened();
  EXPECT_EQ(EventTypeName(env), "account_opened");
  env.mutable_account_updated();
  EXPECT_EQ(EventTypeName(env), "account_updated");
  env.mutable_account_closed();
  EXPECT_EQ(EventTypeName(env), "account_closed");
  env.mutable_transaction_created();
  EXPECT_EQ(EventTypeName(env), "transaction_created");
  env.mutable_transaction_updated();
  EXPECT_EQ(EventTypeName(env), "transaction_updated");
  // The names are the oneof's field names: JSON bodies, headers and metrics agree.
  const auto* oneof = v1::EventEnvelope::descriptor()->FindOneofByName("event");
  ASSERT_NE(oneof, nullptr);
  for (int i = 0; i < oneof->field_count(); ++i) {
    EXPECT_EQ(EventTypeName(static_cast<v1::EventEnvelope::EventCase>(oneof->field(i)->number())),
              oneof->field(i)->name());
  }
}

TEST(ValidationStatusTest, FieldErrorsToStatus) {
  EXPECT_TRUE(FieldErrorsToStatus({}).ok());
  Status s = FieldErrorsToStatus(
      {{"entries[1].amount", "not_positive", "must be > 0"}, {"currency", "required", ""}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "entries[1].amount: not_positive (must be > 0); currency: required");
}

}  // namespace
}  // namespace kledger::domain
