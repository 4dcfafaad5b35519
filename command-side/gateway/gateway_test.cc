// The gateway's pieces that stand alone: the bodies it writes without Protobuf's printer.
#include <gtest/gtest.h>

#include <limits>

#include "command-side/gateway/handlers.h"
#include "common/http.h"

namespace kledger::command::gateway {
namespace {

TEST(GatewayTest, AckJsonIsWhatProtobufsMappingPrints) {
  const std::vector<Ack> acks = {
      {"", 0, 0},
      {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 23, 1234567},
      {"e", std::numeric_limits<int32_t>::max(), std::numeric_limits<int64_t>::max()},
      {"quote\" and \\ and \n", -1, -1},
      {"tab\tand \x01 and \xC3\xA9", 1, 2},  // escaped, or kept as UTF-8
      {"trace-1:a_b.c", 1, 2},
      // One character to escape among plain ones: each must leave the quick path.
      {"a\tb", 1, 2},
      {"a\"b", 1, 2},
      {"a\\b", 1, 2},
      {"a\x01z", 1, 2},
  };
  for (const Ack& ack : acks) {
    v1::Ack message;
    message.set_event_id(ack.event_id);
    message.set_partition(ack.partition);
    message.set_offset(ack.offset);
    EXPECT_EQ(AckJson(ack), http::ToJson(message)) << ack.event_id;
  }
}

TEST(GatewayTest, BatchJsonIsWhatProtobufsMappingPrints) {
  std::vector<BatchItem> items;
  v1::BatchResponse expected;
  EXPECT_EQ(BatchJson(items), http::ToJson(expected));  // {"results":[]}

  const auto acknowledged = [&](Ack ack) {
    v1::BatchItemResult& item = *expected.add_results();
    item.set_status(202);
    item.mutable_ack()->set_event_id(ack.event_id);
    item.mutable_ack()->set_partition(ack.partition);
    item.mutable_ack()->set_offset(ack.offset);
    items.push_back({std::move(ack), {}});
  };
  const auto refused = [&](int status, const std::string& code, const std::string& message,
                           const std::string& field) {
    BatchItem item;
    item.refused.set_status(status);
    item.refused.mutable_error()->set_code(code);
    item.refused.mutable_error()->set_message(message);
    if (!field.empty()) {
      v1::FieldError& detail = *item.refused.mutable_error()->add_details();
      detail.set_field(field);
      detail.set_code("not_positive");
    }
    *expected.add_results() = item.refused;
    items.push_back(std::move(item));
  };
  acknowledged({"a1", 3, 17});
  refused(400, "invalid_argument", "amount must be positive", "entries[0].amount");
  acknowledged({"quote\" \\", 0, std::numeric_limits<int64_t>::max()});
  refused(503, "unavailable", "Kafka did not acknowledge the event in time", "");
  refused(409, "already_exists", "", "");
  EXPECT_EQ(BatchJson(items), http::ToJson(expected));
}

}  // namespace
}  // namespace kledger::command::gateway
