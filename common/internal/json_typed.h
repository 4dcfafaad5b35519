// What json_fast.cc's generic walk and json_typed.cc's typed readers share: the walk itself (a
// typed reader hands it any object it does not take) and the reading of quoted integers.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace kledger::http::internal {

// The field `name` names in `type`: its proto name, else its JSON name (lowerCamelCase unless
// the schema says otherwise). A scan of the message's fields: the API's messages have a few, and
// the pool's FindFieldByName hashes the name with the message's full name on every call (~6% of
// a single transfer request's CPU in the gateway, before).
const google::protobuf::FieldDescriptor* FieldNamed(const google::protobuf::Descriptor& type,
                                                    std::string_view name);

// Applies `value`, an object, to `message` through Protobuf's reflection, as ParseJsonFast does
// for a whole document. True when it took every value; false when it declined (`message` then
// holds part of it, for the caller to clear).
bool WalkJson(simdjson::dom::element value, google::protobuf::Message& message);

// An integer in a string in its canonical decimal form (an optional minus, no leading zero, sign
// or space; "-0" is not), which Protobuf reads as the number; nullopt for any other text, or a
// magnitude beyond 64 bits.
struct QuotedInteger {
  bool negative = false;
  uint64_t magnitude = 0;
};
std::optional<QuotedInteger> ReadQuotedInteger(std::string_view text);

// The request shapes the API takes most (one transfer, POST …/transactions; a batch of commands,
// POST /v1/batch) read with the generated setters: they are most of the gateway's parsing, and
// reflection costs a lookup and a checked call per value. kNotTyped: `message` is not one of
// those types. kRead: `document` was read into `message` as the walk would have read it.
// kDeclined: it holds something the typed reader leaves to the walk; `message` holds part of
// it, for the caller to clear.
enum class TypedRead { kNotTyped, kRead, kDeclined };
TypedRead ReadTyped(simdjson::dom::element document, google::protobuf::Message& message);

}  // namespace kledger::http::internal
