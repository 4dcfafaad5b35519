// Tests of the event id pre-image: its byte layout is pinned (ids are stored in the log), it
// holds the idempotency key and nothing else, and it reuses the caller's buffer.
#include "common/domain/event_id_preimage.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace kledger::domain {
namespace {

// `s` preceded by its length as 8 bytes big-endian.
std::string Field(std::string_view s) {
  std::string out(7, '\0');
  out.push_back(static_cast<char>(s.size()));  // every field here is shorter than 256 bytes
  out.append(s);
  return out;
}

std::string Preimage(std::string_view instance_id, const v1::EventEnvelope& envelope) {
  std::string out;
  EXPECT_TRUE(EventIdPreimage(instance_id, envelope, out));
  return out;
}

TEST(EventIdPreimageTest, LayoutOfEveryEventType) {
  v1::EventEnvelope env;
  env.mutable_instance_created()->set_description("not part of the key");
  EXPECT_EQ(Preimage("acme", env), Field("instance_created") + Field("acme"));

  env.mutable_account_opened()->set_address("cash");
  env.mutable_account_opened()->set_currency("USD");
  EXPECT_EQ(Preimage("acme", env), Field("account_opened") + Field("acme") + Field("cash"));

  env.mutable_account_updated()->set_address("cash");
  env.mutable_account_updated()->set_update_idempk("u1");
  EXPECT_EQ(Preimage("acme", env),
            Field("account_updated") + Field("acme") + Field("cash") + Field("u1"));

  env.mutable_account_closed()->set_address("cash");
  EXPECT_EQ(Preimage("acme", env), Field("account_closed") + Field("acme") + Field("cash"));

  auto* created = env.mutable_transaction_created();
  created->set_source("billing");
  created->set_source_idempk("order-1");
  created->set_status(v1::POSTED);
  EXPECT_EQ(Preimage("acme", env),
            Field("transaction_created") + Field("acme") + Field("billing") + Field("order-1"));

  auto* updated = env.mutable_transaction_updated();
  updated->set_source("billing");
  updated->set_source_idempk("order-1");
  updated->set_update_idempk("u1");
  updated->set_action(v1::POST);
  EXPECT_EQ(Preimage("acme", env), Field("transaction_updated") + Field("acme") + Field("billing") +
                                       Field("order-1") + Field("u1"));
}

TEST(EventIdPreimageTest, LengthsAreBigEndianOverEightBytes) {
  v1::EventEnvelope env;
  env.mutable_account_opened()->set_address(std::string(0x0102, 'a'));
  std::string out;
  ASSERT_TRUE(EventIdPreimage("", env, out));
  const std::string_view address_length =
      std::string_view(out).substr(Field("account_opened").size() + Field("").size(), 8);
  EXPECT_EQ(address_length, std::string_view("\0\0\0\0\0\0\x01\x02", 8));
}

TEST(EventIdPreimageTest, NoEventLeavesTheBufferAlone) {
  v1::EventEnvelope env;
  std::string out = "earlier";
  EXPECT_FALSE(EventIdPreimage("acme", env, out));
  EXPECT_EQ(out, "earlier");
}

TEST(EventIdPreimageTest, ReplacesTheBufferContents) {
  v1::EventEnvelope env;
  env.mutable_instance_created();
  std::string out(200, 'x');
  ASSERT_TRUE(EventIdPreimage("acme", env, out));
  EXPECT_EQ(out, Field("instance_created") + Field("acme"));
}

}  // namespace
}  // namespace kledger::domain
