// The quick way of http::ParseJson for the request shapes the API takes most (commands and
// batches of them): simdjson parses the document and its values, walked in order, drive
// Protobuf's reflection setters directly, where Protobuf's own JSON mapping
// (util::JsonStringToMessage) converts through a stream of generic objects and wire format,
// ~17 µs for one transfer's body (this, ~1.5 µs). One transfer and a batch of them are read
// with the generated setters instead (json_typed.h, ReadTyped), by the same rules.
//
// It takes only documents whose meaning under Protobuf's JSON mapping is plain: objects whose
// keys name a field (its proto or JSON name) at most once and at most one member of a oneof;
// strings for string fields and for enums (a value's exact name); integer literals in range for
// integer fields; true/false for bools; objects for messages and map<string, string>; arrays of
// those for repeated fields. Anything else (null, floats, numbers as strings, enum numbers or
// other spellings, bytes, doubles, well-known types, malformed JSON, unknown fields) it declines,
// and ParseJson then asks Protobuf, whose answer and error message stand. So where it answers,
// it gives the message Protobuf would; where it does not, nothing changes.
#pragma once

#include <google/protobuf/message.h>

#include <string_view>

namespace kledger::http::internal {

// Parses `body` into `message` (cleared first) and returns true, or returns false with `message`
// cleared, having declined.
bool ParseJsonFast(std::string_view body, google::protobuf::Message& message);

}  // namespace kledger::http::internal
