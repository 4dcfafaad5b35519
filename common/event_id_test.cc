// Tests of event id derivation (deterministic, sensitive to every idempotency-key field, blind
// to the rest of the payload, free of concatenation collisions) and of the envelope check that
// compares an envelope's event_id with it.
#include "common/event_id.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace kledger::domain {
namespace {

v1::EventEnvelope TxCreated(std::string instance, std::string source, std::string idempk) {
  v1::EventEnvelope env;
  env.set_instance_id(std::move(instance));
  auto* t = env.mutable_transaction_created();
  t->set_source(std::move(source));
  t->set_source_idempk(std::move(idempk));
  return env;
}

v1::EventEnvelope TxUpdated(std::string instance, std::string source, std::string idempk,
                            std::string update) {
  v1::EventEnvelope env;
  env.set_instance_id(std::move(instance));
  auto* u = env.mutable_transaction_updated();
  u->set_source(std::move(source));
  u->set_source_idempk(std::move(idempk));
  u->set_update_idempk(std::move(update));
  return env;
}

bool IsLowerHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST(EventIdTest, ShapeAndDeterminism) {
  const std::string id = DeriveEventId(TxCreated("acme", "billing", "order-1"));
  EXPECT_EQ(id.size(), kEventIdHexChars);
  EXPECT_TRUE(IsLowerHex(id)) << id;
  EXPECT_EQ(id, DeriveEventId(TxCreated("acme", "billing", "order-1")));
}

// Pins the derivation: ids are stored in the log and in projections, so changing the hash
// input layout would make re-submissions of old commands look new.
TEST(EventIdTest, KnownValueIsStable) {
  // SHA-256 of be64(19)"transaction_created" be64(4)"acme" be64(7)"billing" be64(7)"order-1",
  // first 16 bytes, as `openssl dgst -sha256` prints it.
  EXPECT_EQ(DeriveEventId(TxCreated("acme", "billing", "order-1")),
            "97be0628796b2774f918161bcb351d6f");
}

TEST(EventIdTest, TwoArgumentFormUsesTheGivenInstance) {
  v1::EventEnvelope env = TxCreated("ignored", "billing", "order-1");
  EXPECT_EQ(DeriveEventId("acme", env), DeriveEventId(TxCreated("acme", "billing", "order-1")));
}

// The projection store finds a transaction under its creating event's id, computed from the
// transaction's key alone: it must be the id of that event, whatever its payload.
TEST(EventIdTest, TransactionCreatedEventIdIsTheCreatingEventsId) {
  EXPECT_EQ(TransactionCreatedEventId("acme", "billing", "order-1"),
            "97be0628796b2774f918161bcb351d6f");
  v1::EventEnvelope env = TxCreated("acme", "shop", "a\x01b");
  env.mutable_transaction_created()->set_description("ignored");
  EXPECT_EQ(TransactionCreatedEventId("acme", "shop", "a\x01b"), DeriveEventId(env));
  EXPECT_NE(TransactionCreatedEventId("acme", "shop", "ab"), DeriveEventId(env));
  // Not an update's id, though an update names the same transaction.
  EXPECT_NE(TransactionCreatedEventId("acme", "shop", "a\x01b"),
            DeriveEventId(TxUpdated("acme", "shop", "a\x01b", "")));
}

TEST(EventIdTest, PayloadOutsideTheKeyDoesNotMatter) {
  v1::EventEnvelope a = TxCreated("acme", "billing", "order-1");
  v1::EventEnvelope b = a;
  auto* t = b.mutable_transaction_created();
  t->set_status(v1::POSTED);
  auto* e = t->add_entries();
  e->set_account("cash");
  e->set_amount(999);
  t->set_description("a re-submission with other amounts");
  b.set_correlation_id("another-request");
  b.set_submitted_at_ms(1234);
  b.set_schema_version(1);
  b.set_event_id("whatever");
  EXPECT_EQ(DeriveEventId(a), DeriveEventId(b));

  v1::EventEnvelope u1 = TxUpdated("acme", "billing", "order-1", "u1");
  v1::EventEnvelope u2 = u1;
  u2.mutable_transaction_updated()->set_action(v1::ARCHIVE);
  EXPECT_EQ(DeriveEventId(u1), DeriveEventId(u2));

  v1::EventEnvelope o1;
  o1.set_instance_id("acme");
  o1.mutable_account_opened()->set_address("cash");
  v1::EventEnvelope o2 = o1;
  o2.mutable_account_opened()->set_currency("EUR");
  o2.mutable_account_opened()->set_type(v1::LIABILITY);
  EXPECT_EQ(DeriveEventId(o1), DeriveEventId(o2));
}

TEST(EventIdTest, EachKeyFieldMatters) {
  const std::string base = DeriveEventId(TxUpdated("acme", "billing", "order-1", "u1"));
  EXPECT_NE(base, DeriveEventId(TxUpdated("acme2", "billing", "order-1", "u1")));
  EXPECT_NE(base, DeriveEventId(TxUpdated("acme", "billing2", "order-1", "u1")));
  EXPECT_NE(base, DeriveEventId(TxUpdated("acme", "billing", "order-2", "u1")));
  EXPECT_NE(base, DeriveEventId(TxUpdated("acme", "billing", "order-1", "u2")));

  v1::EventEnvelope acc;
  acc.set_instance_id("acme");
  acc.mutable_account_updated()->set_address("cash");
  acc.mutable_account_updated()->set_update_idempk("u1");
  const std::string acc_id = DeriveEventId(acc);
  v1::EventEnvelope other = acc;
  other.mutable_account_updated()->set_address("bank");
  EXPECT_NE(acc_id, DeriveEventId(other));
  other = acc;
  other.mutable_account_updated()->set_update_idempk("u2");
  EXPECT_NE(acc_id, DeriveEventId(other));
}

TEST(EventIdTest, EventTypeSeparatesEqualKeys) {
  // The same (instance, address) opening and closing an account are different events, and an
  // update whose key matches a creation's is not the creation.
  std::set<std::string> ids;
  v1::EventEnvelope env;
  env.set_instance_id("acme");
  env.mutable_instance_created();
  ids.insert(DeriveEventId(env));
  env.mutable_account_opened()->set_address("cash");
  ids.insert(DeriveEventId(env));
  env.mutable_account_closed()->set_address("cash");
  ids.insert(DeriveEventId(env));
  env.mutable_account_updated()->set_address("cash");
  ids.insert(DeriveEventId(env));
  ids.insert(DeriveEventId(TxCreated("acme", "cash", "")));
  ids.insert(DeriveEventId(TxUpdated("acme", "cash", "", "")));
  EXPECT_EQ(ids.size(), 6u);
}

TEST(EventIdTest, LengthPrefixPreventsConcatenationCollisions) {
  EXPECT_NE(DeriveEventId(TxCreated("acme", "ab", "c")),
            DeriveEventId(TxCreated("acme", "a", "bc")));
  EXPECT_NE(DeriveEventId(TxCreated("a", "b:c", "d")), DeriveEventId(TxCreated("a:b", "c", "d")));
  EXPECT_NE(DeriveEventId(TxUpdated("acme", "s", "k", "")),
            DeriveEventId(TxUpdated("acme", "s", "", "k")));
}

TEST(EventIdTest, NoEventNoId) {
  v1::EventEnvelope env;
  env.set_instance_id("acme");
  EXPECT_EQ(DeriveEventId(env), "");
}

// ---------------------------------------------------------------------------- envelopes

using ::testing::ElementsAre;
using ::testing::IsEmpty;

v1::EventEnvelope ValidEnvelope() {
  v1::EventEnvelope env = TxCreated("acme", "billing", "order-1");
  env.set_schema_version(kSchemaVersion);
  auto* t = env.mutable_transaction_created();
  t->set_status(v1::POSTED);
  for (auto [account, direction] :
       {std::pair{"cash", v1::DEBIT}, std::pair{"revenue", v1::CREDIT}}) {
    v1::Entry* e = t->add_entries();
    e->set_account(account);
    e->set_direction(direction);
    e->set_amount(100);
    e->set_currency("USD");
  }
  env.set_event_id(DeriveEventId(env));
  return env;
}

// The fields of `errors`, which is all these tests look at: messages are ValidateEnvelopeWithId's.
std::vector<std::string> Fields(const FieldErrors& errors) {
  std::vector<std::string> fields;
  for (const FieldError& e : errors) fields.push_back(e.field + ": " + e.code);
  return fields;
}

TEST(ValidateEnvelopeTest, ComparesTheEventIdWithTheDerivedOne) {
  EXPECT_THAT(ValidateEnvelope(ValidEnvelope()), IsEmpty());

  v1::EventEnvelope env = ValidEnvelope();
  env.set_event_id("0123456789abcdef0123456789abcdef");
  EXPECT_THAT(Fields(ValidateEnvelope(env)), ElementsAre("event_id: mismatch"));
  env.clear_event_id();
  EXPECT_THAT(Fields(ValidateEnvelope(env)), ElementsAre("event_id: required"));
  EXPECT_EQ(ValidateEnvelope(env)[0].message, "must be " + DeriveEventId(env));

  // The id was derived for "acme": changing the instance also breaks it.
  env = ValidEnvelope();
  env.set_instance_id("");
  EXPECT_THAT(Fields(ValidateEnvelope(env)),
              ElementsAre("instance_id: required", "event_id: mismatch"));

  // Outside the idempotency key, a change leaves the id valid and is judged on its own.
  env = ValidEnvelope();
  env.mutable_transaction_created()->mutable_entries(0)->set_amount(-3);
  EXPECT_THAT(Fields(ValidateEnvelope(env)),
              ElementsAre("transaction_created.entries[0].amount: not_positive"));
}

TEST(ValidateEnvelopeTest, IsValidateEnvelopeWithTheDerivedId) {
  v1::EventEnvelope env = ValidEnvelope();
  env.set_event_id("not-it");
  env.set_schema_version(7);
  env.mutable_transaction_created()->clear_source();
  EXPECT_EQ(ValidateEnvelope(env), ValidateEnvelopeWithId(env, DeriveEventId(env)));
  Limits limits;
  limits.max_entries = 1;
  EXPECT_EQ(ValidateEnvelope(env, limits), ValidateEnvelopeWithId(env, DeriveEventId(env), limits));
  env.clear_event();
  EXPECT_EQ(ValidateEnvelope(env), ValidateEnvelopeWithId(env, ""));
}

}  // namespace
}  // namespace kledger::domain
