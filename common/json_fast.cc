// http::internal::ParseJsonFast: simdjson's parse of a document, its values applied in document
// order to a Protobuf message through its reflection, declining whatever Protobuf's JSON mapping
// might read otherwise (json_fast.h); the hottest shapes are first offered to the typed readers
// (json_typed.cc), which hand back what they do not take.
#include "common/internal/json_fast.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <simdjson.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common/internal/json_typed.h"

namespace kledger::http::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Deeper documents go to Protobuf, whose own limit then decides.
constexpr size_t kMaxDepth = 32;

// A message with a field of a well-known type (Timestamp, Struct, ...) has a JSON form of its own.
bool IsWellKnown(const Descriptor* type) {
  return type->file()->name().rfind("google/protobuf/", 0) == 0;
}

// A map<string, string> field: an object of string values.
bool IsStringMap(const FieldDescriptor* field) {
  if (!field->is_map()) return false;
  const Descriptor* entry = field->message_type();
  return entry->map_key()->type() == FieldDescriptor::TYPE_STRING &&
         entry->map_value()->type() == FieldDescriptor::TYPE_STRING;
}

// Where the next value goes: a field of a message (after its key), an element of a repeated
// field, or a value of a map<string, string> (after its key).
struct Frame {
  enum class Kind { kMessage, kRepeated, kMap };
  Frame(Kind k, Message* m, const FieldDescriptor* f = nullptr)
      : kind(k), message(m), reflection(m->GetReflection()), type(m->GetDescriptor()), field(f) {}

  Kind kind;
  Message* message;
  // The message's, looked up once a frame: each lookup passes Protobuf's once-only descriptor
  // assignment (~5% of a batch's parse, when it was looked up per field).
  const Reflection* reflection;
  const Descriptor* type;
  const FieldDescriptor* field;  // kMessage: the key's field; else the frame's field
  std::vector<int> seen;         // kMessage: field numbers; kMap: unused
  std::vector<const google::protobuf::OneofDescriptor*> oneofs;  // kMessage: oneofs set
  std::vector<std::string> keys;                                 // kMap: keys seen
  std::string key;                                               // kMap: the pending key
};

// The document's values in order, as a SAX parser reports them (Feed, below). Every handler
// returns false to decline, which stops the walk.
class Sax {
 public:
  explicit Sax(Message& root) : root_(root) {}

  bool boolean(bool value) {
    return Scalar(FieldDescriptor::CPPTYPE_BOOL,
                  [&](const Reflection& r, Message* m, const FieldDescriptor* f, bool add) {
                    add ? r.AddBool(m, f, value) : r.SetBool(m, f, value);
                    return true;
                  });
  }

  bool number_integer(int64_t value) { return Integer(value < 0, value); }
  bool number_unsigned(uint64_t value) {
    return Integer(false, static_cast<int64_t>(value), value);
  }

  bool string(std::string& value) {
    if (!stack_.empty() && stack_.back().kind == Frame::Kind::kMap) {
      Frame& map = stack_.back();
      Message* entry = map.reflection->AddMessage(map.message, map.field);
      const Descriptor* type = entry->GetDescriptor();
      entry->GetReflection()->SetString(entry, type->map_key(), std::move(map.key));
      entry->GetReflection()->SetString(entry, type->map_value(), std::move(value));
      return true;
    }
    const FieldDescriptor* field = Target();
    if (field == nullptr) return false;
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      const auto* named = field->enum_type()->FindValueByName(value);
      if (named == nullptr) return false;  // another spelling, or a number: Protobuf's call
      return Scalar(FieldDescriptor::CPPTYPE_ENUM, [&](const Reflection& r, Message* m,
                                                       const FieldDescriptor* f, bool add) {
        add ? r.AddEnumValue(m, f, named->number()) : r.SetEnumValue(m, f, named->number());
        return true;
      });
    }
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_INT32 ||
        field->cpp_type() == FieldDescriptor::CPPTYPE_INT64 ||
        field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32 ||
        field->cpp_type() == FieldDescriptor::CPPTYPE_UINT64) {
      return QuotedInteger(value);  // as Protobuf prints 64-bit integers
    }
    if (field->type() != FieldDescriptor::TYPE_STRING) return false;  // bytes are base64
    return Scalar(FieldDescriptor::CPPTYPE_STRING,
                  [&](const Reflection& r, Message* m, const FieldDescriptor* f, bool add) {
                    add ? r.AddString(m, f, std::move(value)) : r.SetString(m, f, std::move(value));
                    return true;
                  });
  }

  bool start_object() {
    if (stack_.size() >= kMaxDepth) return false;
    if (stack_.empty()) {
      if (started_) return false;
      started_ = true;
      stack_.emplace_back(Frame::Kind::kMessage, &root_);
      return true;
    }
    Frame& top = stack_.back();
    if (top.kind == Frame::Kind::kMessage && top.field != nullptr && top.field->is_map()) {
      const FieldDescriptor* map = top.field;
      if (!IsStringMap(map)) return false;
      top.field = nullptr;
      stack_.emplace_back(Frame::Kind::kMap, top.message, map);
      return true;
    }
    const FieldDescriptor* field = Target();
    if (field == nullptr || field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return false;
    if (IsWellKnown(field->message_type())) return false;
    const Reflection& r = *top.reflection;
    Message* child = top.kind == Frame::Kind::kRepeated ? r.AddMessage(top.message, field)
                                                        : r.MutableMessage(top.message, field);
    if (top.kind == Frame::Kind::kMessage) top.field = nullptr;
    stack_.emplace_back(Frame::Kind::kMessage, child);
    return true;
  }

  bool key(std::string_view name) {
    Frame& top = stack_.back();
    if (top.kind == Frame::Kind::kMap) {
      for (const std::string& seen : top.keys) {
        if (seen == name) return false;
      }
      top.keys.emplace_back(name);
      top.key = name;
      return true;
    }
    const FieldDescriptor* field = FieldNamed(*top.type, name);
    if (field == nullptr) return false;  // unknown: Protobuf words the error
    for (int number : top.seen) {
      if (number == field->number()) return false;  // named twice
    }
    top.seen.push_back(field->number());
    if (const auto* oneof = field->real_containing_oneof(); oneof != nullptr) {
      for (const auto* set : top.oneofs) {
        if (set == oneof) return false;  // a second member of one oneof
      }
      top.oneofs.push_back(oneof);
    }
    top.field = field;
    return true;
  }

  bool end_object() {
    stack_.pop_back();
    return true;
  }

  bool start_array() {
    if (stack_.empty() || stack_.back().kind != Frame::Kind::kMessage) return false;
    Frame& top = stack_.back();
    const FieldDescriptor* field = top.field;
    if (field == nullptr || !field->is_repeated() || field->is_map()) return false;
    top.field = nullptr;
    stack_.emplace_back(Frame::Kind::kRepeated, top.message, field);
    return true;
  }

  bool end_array() {
    stack_.pop_back();
    return true;
  }

 private:
  // The field the next scalar or object goes to: the pending key's (a singular field, or a
  // repeated one inside its array), or null when a value is not expected there.
  const FieldDescriptor* Target() const {
    if (stack_.empty()) return nullptr;
    const Frame& top = stack_.back();
    if (top.kind == Frame::Kind::kRepeated) return top.field;
    if (top.kind != Frame::Kind::kMessage || top.field == nullptr) return nullptr;
    if (top.field->is_repeated()) return nullptr;  // a repeated field takes an array only
    return top.field;
  }

  // Sets (or, inside an array, adds) the target field, of C++ type `want`, with `set`.
  template <typename Set>
  bool Scalar(FieldDescriptor::CppType want, Set&& set) {
    const FieldDescriptor* field = Target();
    if (field == nullptr || field->cpp_type() != want) return false;
    Frame& top = stack_.back();
    const bool add = top.kind == Frame::Kind::kRepeated;
    if (!add) top.field = nullptr;
    return set(*top.reflection, top.message, field, add);
  }

  // An integer in a string: only its canonical decimal form (ReadQuotedInteger); others are
  // Protobuf's call.
  bool QuotedInteger(const std::string& text) {
    const std::optional<internal::QuotedInteger> quoted = ReadQuotedInteger(text);
    if (!quoted) return false;
    const uint64_t magnitude = quoted->magnitude;
    constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (quoted->negative) {
      if (magnitude > kInt64Max + 1) return false;
      return Integer(true, static_cast<int64_t>(0 - magnitude));  // two's complement, INT64_MIN too
    }
    return magnitude > kInt64Max ? Integer(false, static_cast<int64_t>(magnitude), magnitude)
                                 : Integer(false, static_cast<int64_t>(magnitude));
  }

  // An integer literal: `negative` with `value`, or an unsigned `big` beyond int64.
  bool Integer(bool negative, int64_t value, uint64_t big = 0) {
    const FieldDescriptor* field = Target();
    if (field == nullptr) return false;
    const bool beyond_int64 = big > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        if (beyond_int64 || value < std::numeric_limits<int32_t>::min() ||
            value > std::numeric_limits<int32_t>::max()) {
          return false;
        }
        return Scalar(FieldDescriptor::CPPTYPE_INT32,
                      [&](const Reflection& r, Message* m, const FieldDescriptor* f, bool add) {
                        const auto v = static_cast<int32_t>(value);
                        add ? r.AddInt32(m, f, v) : r.SetInt32(m, f, v);
                        return true;
                      });
      case FieldDescriptor::CPPTYPE_INT64:
        if (beyond_int64) return false;
        return Scalar(FieldDescriptor::CPPTYPE_INT64,
                      [&](const Reflection& r, Message* m, const FieldDescriptor* f, bool add) {
                        add ? r.AddInt64(m, f, value) : r.SetInt64(m, f, value);
                        return true;
                      });
      case FieldDescriptor::CPPTYPE_UINT32:
        if (negative || beyond_int64 || value > std::numeric_limits<uint32_t>::max()) return false;
        return Scalar(FieldDescriptor::CPPTYPE_UINT32,
                      [&](const Reflection& r, Message* m, const FieldDescriptor* f, bool add) {
                        const auto v = static_cast<uint32_t>(value);
                        add ? r.AddUInt32(m, f, v) : r.SetUInt32(m, f, v);
                        return true;
                      });
      case FieldDescriptor::CPPTYPE_UINT64:
        if (negative) return false;
        return Scalar(FieldDescriptor::CPPTYPE_UINT64,
                      [&](const Reflection& r, Message* m, const FieldDescriptor* f, bool add) {
                        const uint64_t v = beyond_int64 ? big : static_cast<uint64_t>(value);
                        add ? r.AddUInt64(m, f, v) : r.SetUInt64(m, f, v);
                        return true;
                      });
      default:
        return false;  // floats, doubles, enums by number, strings: Protobuf's call
    }
  }

  Message& root_;
  std::vector<Frame> stack_;
  bool started_ = false;
};

// Reports `value` and what it holds to `sax` in document order; false when the sax declines or
// the value is one it never takes (null, a number with a fraction or an exponent; an integer
// beyond 64 bits already failed simdjson's parse).
bool Feed(simdjson::dom::element value, Sax& sax) {
  using simdjson::dom::element_type;
  switch (value.type()) {
    case element_type::OBJECT: {
      if (!sax.start_object()) return false;
      // Held in a variable: a range over the temporary result's member would dangle.
      const simdjson::dom::object object = value.get_object().value_unsafe();
      for (simdjson::dom::key_value_pair member : object) {
        if (!sax.key(member.key) || !Feed(member.value, sax)) return false;
      }
      return sax.end_object();
    }
    case element_type::ARRAY: {
      if (!sax.start_array()) return false;
      const simdjson::dom::array array = value.get_array().value_unsafe();
      for (simdjson::dom::element item : array) {
        if (!Feed(item, sax)) return false;
      }
      return sax.end_array();
    }
    case element_type::STRING: {
      std::string text(value.get_string().value_unsafe());
      return sax.string(text);
    }
    case element_type::INT64:
      return sax.number_integer(value.get_int64().value_unsafe());
    case element_type::UINT64:
      return sax.number_unsigned(value.get_uint64().value_unsafe());
    case element_type::BOOL:
      return sax.boolean(value.get_bool().value_unsafe());
    case element_type::DOUBLE:
    case element_type::NULL_VALUE:
      return false;
  }
  return false;
}

// Bodies up to this size are parsed by a parser kept per thread (its buffers reused); larger
// ones by one of their own, so that no thread holds on to the memory of its largest request.
constexpr size_t kReusedParserBytes = 64 * 1024;

}  // namespace

const FieldDescriptor* FieldNamed(const Descriptor& type, std::string_view name) {
  for (int i = 0; i < type.field_count(); ++i) {
    if (type.field(i)->name() == name) return type.field(i);
  }
  for (int i = 0; i < type.field_count(); ++i) {
    if (type.field(i)->json_name() == name) return type.field(i);
  }
  return nullptr;
}

std::optional<QuotedInteger> ReadQuotedInteger(std::string_view text) {
  const bool negative = !text.empty() && text[0] == '-';
  const std::string_view digits = text.substr(negative ? 1 : 0);
  if (digits.empty() || digits.size() > 20 || (digits[0] == '0' && digits.size() > 1) ||
      (negative && digits == "0")) {
    return std::nullopt;
  }
  uint64_t magnitude = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) return std::nullopt;
    magnitude = magnitude * 10 + digit;
  }
  return QuotedInteger{negative, magnitude};
}

bool WalkJson(simdjson::dom::element value, Message& message) {
  Sax sax(message);
  return Feed(value, sax);
}

bool ParseJsonFast(std::string_view body, google::protobuf::Message& message) {
  message.Clear();
  // A byte-order mark, and a NUL byte (found by fuzzing: `{...}\0garbage`, which nlohmann-json,
  // the parser before, took as the end of its input) are Protobuf's call.
  if (body.rfind("\xEF\xBB\xBF", 0) == 0 || body.find('\0') != std::string_view::npos) {
    return false;
  }
  thread_local simdjson::dom::parser reused;
  std::optional<simdjson::dom::parser> own;
  simdjson::dom::parser& parser = body.size() <= kReusedParserBytes ? reused : own.emplace();
  // simdjson checks the whole document (syntax, UTF-8, nothing after it) before a value is read.
  simdjson::dom::element document;
  if (parser.parse(body.data(), body.size()).get(document) != simdjson::SUCCESS) return false;
  switch (ReadTyped(document, message)) {
    case TypedRead::kRead:
      return true;
    case TypedRead::kDeclined:
      message.Clear();  // and the walk decides
      break;
    case TypedRead::kNotTyped:
      break;
  }
  const bool parsed = WalkJson(document, message);
  if (!parsed) message.Clear();
  return parsed;
}

}  // namespace kledger::http::internal
