// http::internal::ReadTyped: the hottest request shapes (TransactionCreated, and a BatchRequest
// of Commands that create transactions) read with the generated setters. The rules are the
// walk's (json_fast.h): a key names a field by its proto or JSON name at most once; strings for
// strings and for enums (a value's exact name); integer literals, or canonical quoted integers,
// in range; objects for messages and map<string, string>, arrays of them for repeated fields.
// Anything else, and any field these readers do not list, is declined: a command of the batch
// then goes to the walk alone, and any other object sends the whole document to it.
#include "common/internal/json_typed.h"

#include <google/protobuf/descriptor.h>

#include <cstdint>
#include <limits>
#include <string>

#include "kledger/v1/api.pb.h"

namespace kledger::http::internal {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// Reads `value`, an object of `type`'s fields, handing each member to `read(number, value)`.
// Declined when it is not an object, when a key names no field of `type` (by its proto or JSON
// name) or one named before (as the walk declines them), or when `read` declines. The typed
// messages' field numbers are below 64.
template <typename Read>
bool ReadFields(element value, const google::protobuf::Descriptor& type, Read&& read) {
  simdjson::dom::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) return false;
  uint64_t seen = 0;
  for (simdjson::dom::key_value_pair member : object) {
    const google::protobuf::FieldDescriptor* field = FieldNamed(type, member.key);
    if (field == nullptr || field->number() >= 64) return false;
    const uint64_t bit = uint64_t{1} << field->number();
    if ((seen & bit) != 0) return false;
    seen |= bit;
    if (!read(field->number(), member.value)) return false;
  }
  return true;
}

bool ReadString(element value, std::string& out) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) return false;
  out.assign(text);
  return true;
}

// An enum value of `type` by its exact name; another spelling or a number is declined, as the
// walk declines them. A scan of the few values: the pool's lookup by name hashes it with the
// enum's full name.
template <typename Enum>
bool ReadEnum(element value, const google::protobuf::EnumDescriptor& type, Enum& out) {
  std::string_view name;
  if (value.get_string().get(name) != simdjson::SUCCESS) return false;
  for (int i = 0; i < type.value_count(); ++i) {
    if (type.value(i)->name() == name) {
      out = static_cast<Enum>(type.value(i)->number());
      return true;
    }
  }
  return false;
}

bool ReadInt64(element value, int64_t& out) {
  switch (value.type()) {
    case element_type::INT64:
      out = value.get_int64().value_unsafe();
      return true;
    case element_type::UINT64: {
      const uint64_t big = value.get_uint64().value_unsafe();
      if (big > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
      out = static_cast<int64_t>(big);
      return true;
    }
    case element_type::STRING: {
      const std::optional<QuotedInteger> quoted =
          ReadQuotedInteger(value.get_string().value_unsafe());
      if (!quoted) return false;
      constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
      if (quoted->magnitude > kInt64Max + (quoted->negative ? 1 : 0)) return false;
      // Two's complement: INT64_MIN too.
      out = quoted->negative ? static_cast<int64_t>(0 - quoted->magnitude)
                             : static_cast<int64_t>(quoted->magnitude);
      return true;
    }
    default:
      return false;
  }
}

// A map<string, string>: an object of string values, each key once.
bool ReadStringMap(element value, google::protobuf::Map<std::string, std::string>& out) {
  simdjson::dom::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) return false;
  for (simdjson::dom::key_value_pair member : object) {
    std::string_view text;
    if (member.value.get_string().get(text) != simdjson::SUCCESS) return false;
    const auto [it, added] = out.try_emplace(std::string(member.key));
    if (!added) return false;
    it->second.assign(text);
  }
  return true;
}

bool ReadEntry(element value, v1::Entry& entry) {
  return ReadFields(value, *v1::Entry::descriptor(), [&](int number, element field) {
    switch (number) {
      case v1::Entry::kAccountFieldNumber:
        return ReadString(field, *entry.mutable_account());
      case v1::Entry::kDirectionFieldNumber: {
        v1::Side side{};
        if (!ReadEnum(field, *v1::Side_descriptor(), side)) return false;
        entry.set_direction(side);
        return true;
      }
      case v1::Entry::kAmountFieldNumber: {
        int64_t amount = 0;
        if (!ReadInt64(field, amount)) return false;
        entry.set_amount(amount);
        return true;
      }
      case v1::Entry::kCurrencyFieldNumber:
        return ReadString(field, *entry.mutable_currency());
      default:
        return false;
    }
  });
}

bool ReadTransactionCreated(element value, v1::TransactionCreated& t) {
  return ReadFields(value, *v1::TransactionCreated::descriptor(), [&](int number, element field) {
    switch (number) {
      case v1::TransactionCreated::kSourceFieldNumber:
        return ReadString(field, *t.mutable_source());
      case v1::TransactionCreated::kSourceIdempkFieldNumber:
        return ReadString(field, *t.mutable_source_idempk());
      case v1::TransactionCreated::kStatusFieldNumber: {
        v1::TransactionStatus status{};
        if (!ReadEnum(field, *v1::TransactionStatus_descriptor(), status)) return false;
        t.set_status(status);
        return true;
      }
      case v1::TransactionCreated::kEntriesFieldNumber: {
        simdjson::dom::array entries;
        if (field.get_array().get(entries) != simdjson::SUCCESS) return false;
        for (element item : entries) {
          if (!ReadEntry(item, *t.add_entries())) return false;
        }
        return true;
      }
      case v1::TransactionCreated::kDescriptionFieldNumber:
        return ReadString(field, *t.mutable_description());
      case v1::TransactionCreated::kMetadataFieldNumber:
        return ReadStringMap(field, *t.mutable_metadata());
      case v1::TransactionCreated::kEffectiveAtFieldNumber:
        return ReadString(field, *t.mutable_effective_at());
      default:
        return false;
    }
  });
}

// A command that creates a transaction; any other operation is declined (the batch gives that
// command to the walk).
bool ReadCommand(element value, v1::Command& command) {
  return ReadFields(value, *v1::Command::descriptor(), [&](int number, element field) {
    switch (number) {
      case v1::Command::kInstanceIdFieldNumber:
        return ReadString(field, *command.mutable_instance_id());
      case v1::Command::kCorrelationIdFieldNumber:
        return ReadString(field, *command.mutable_correlation_id());
      case v1::Command::kCreateTransactionFieldNumber:
        return ReadTransactionCreated(field, *command.mutable_create_transaction());
      default:
        return false;
    }
  });
}

// Each command read typed, else walked; declined only when the walk declines one too.
bool ReadBatch(element value, v1::BatchRequest& batch) {
  return ReadFields(value, *v1::BatchRequest::descriptor(), [&](int number, element field) {
    if (number != v1::BatchRequest::kCommandsFieldNumber) return false;
    simdjson::dom::array commands;
    if (field.get_array().get(commands) != simdjson::SUCCESS) return false;
    for (element item : commands) {
      v1::Command& command = *batch.add_commands();
      if (ReadCommand(item, command)) continue;
      command.Clear();
      if (!WalkJson(item, command)) return false;
    }
    return true;
  });
}

}  // namespace

TypedRead ReadTyped(element document, google::protobuf::Message& message) {
  bool read = false;
  if (auto* batch = google::protobuf::DynamicCastToGenerated<v1::BatchRequest>(&message)) {
    read = ReadBatch(document, *batch);
  } else if (auto* t = google::protobuf::DynamicCastToGenerated<v1::TransactionCreated>(&message)) {
    read = ReadTransactionCreated(document, *t);
  } else if (auto* command = google::protobuf::DynamicCastToGenerated<v1::Command>(&message)) {
    read = ReadCommand(document, *command);
  } else {
    return TypedRead::kNotTyped;
  }
  return read ? TypedRead::kRead : TypedRead::kDeclined;
}

}  // namespace kledger::http::internal
