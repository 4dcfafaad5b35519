// The gateway's pieces that stand alone: the 202 body it writes without Protobuf's printer.
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
  };
  for (const Ack& ack : acks) {
    v1::Ack message;
    message.set_event_id(ack.event_id);
    message.set_partition(ack.partition);
    message.set_offset(ack.offset);
    EXPECT_EQ(AckJson(ack), http::ToJson(message)) << ack.event_id;
  }
}

}  // namespace
}  // namespace kledger::command::gateway
