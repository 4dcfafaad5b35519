// Checks the schema evolution rules of event-schemas/README.md against the committed baseline
// baseline/kledger.v1.fields.txt: no field or enum value may disappear, change number or change
// type. Regenerate the listing with KLEDGER_PRINT_SCHEMA_BASELINE=1 (see the README).
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "kledger/v1/api.pb.h"
#include "kledger/v1/events.pb.h"
#include "kledger/v1/outcomes.pb.h"

namespace kledger::v1 {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;

constexpr char kBaselinePath[] = KLEDGER_SCHEMA_DIR "/baseline/kledger.v1.fields.txt";
constexpr char kFiles[][32] = {"kledger/v1/events.proto", "kledger/v1/api.proto",
                               "kledger/v1/outcomes.proto"};

// One line of the listing: "<full name> <number> <type>". The type spells out everything that
// changes the wire or JSON form: label, scalar or full message/enum name, map, oneof.
struct Item {
  int number = 0;
  std::string type;
  bool reserved = false;  // only for current items: the name and number are both reserved
};
using Listing = std::map<std::string, Item>;  // by full name; ordered so the output is stable

std::string TypeName(const FieldDescriptor* f) {
  switch (f->type()) {
    case FieldDescriptor::TYPE_MESSAGE:
    case FieldDescriptor::TYPE_GROUP:
      return f->message_type()->full_name();
    case FieldDescriptor::TYPE_ENUM:
      return f->enum_type()->full_name();
    default:
      return f->type_name();
  }
}

std::string FieldType(const FieldDescriptor* f) {
  if (f->is_map()) {
    return "map<" + TypeName(f->message_type()->map_key()) + "," +
           TypeName(f->message_type()->map_value()) + ">";
  }
  std::string type;
  if (f->is_repeated()) type = "repeated ";
  if (f->has_optional_keyword()) type = "optional ";
  type += TypeName(f);
  if (f->real_containing_oneof() != nullptr) {
    type += " oneof:" + f->real_containing_oneof()->name();
  }
  return type;
}

void ListEnum(const EnumDescriptor* e, Listing& out) {
  for (int i = 0; i < e->value_count(); ++i) {
    // Enum values live in the enclosing scope in C++ but are listed under their enum for clarity.
    out[e->full_name() + "." + e->value(i)->name()] = {e->value(i)->number(), "enum_value"};
  }
}

void ListMessage(const Descriptor* d, Listing& out) {
  if (d->options().map_entry()) return;  // described by its map<K,V> field
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    out[f->full_name()] = {f->number(), FieldType(f)};
  }
  for (int i = 0; i < d->nested_type_count(); ++i) ListMessage(d->nested_type(i), out);
  for (int i = 0; i < d->enum_type_count(); ++i) ListEnum(d->enum_type(i), out);
}

const FileDescriptor* FindFile(const char* name) {
  // Touching a generated type makes sure both files are linked in and registered.
  (void)EventEnvelope::descriptor();
  (void)ErrorBody::descriptor();
  (void)OutcomeRecord::descriptor();
  return DescriptorPool::generated_pool()->FindFileByName(name);
}

Listing CurrentListing() {
  Listing out;
  for (const char* name : kFiles) {
    const FileDescriptor* file = FindFile(name);
    if (file == nullptr) {
      ADD_FAILURE() << name << " is not in the generated descriptor pool";
      continue;
    }
    for (int i = 0; i < file->message_type_count(); ++i) ListMessage(file->message_type(i), out);
    for (int i = 0; i < file->enum_type_count(); ++i) ListEnum(file->enum_type(i), out);
  }
  return out;
}

std::string Format(const std::string& name, const Item& item) {
  return name + " " + std::to_string(item.number) + " " + item.type;
}

Listing ReadBaseline() {
  Listing out;
  std::ifstream in(kBaselinePath);
  EXPECT_TRUE(in.good()) << "cannot read " << kBaselinePath;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name;
    Item item;
    fields >> name >> item.number >> std::ws;
    std::getline(fields, item.type);
    EXPECT_FALSE(name.empty() || item.type.empty()) << "malformed baseline line: " << line;
    out[name] = item;
  }
  return out;
}

// A removed field or enum value is acceptable only when its number and name are both reserved,
// so that neither can ever be reused with another meaning.
bool IsRetired(const std::string& full_name, int number) {
  const std::string::size_type dot = full_name.rfind('.');
  const std::string parent = full_name.substr(0, dot);
  const std::string name = full_name.substr(dot + 1);
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  if (const Descriptor* d = pool->FindMessageTypeByName(parent)) {
    return d->IsReservedName(name) && d->IsReservedNumber(number);
  }
  if (const EnumDescriptor* e = pool->FindEnumTypeByName(parent)) {
    return e->IsReservedName(name) && e->IsReservedNumber(number);
  }
  return false;
}

TEST(SchemaEvolutionTest, PrintListingWhenAsked) {
  const char* print = std::getenv("KLEDGER_PRINT_SCHEMA_BASELINE");
  if (print == nullptr || std::string(print) != "1") GTEST_SKIP() << "set it to print";
  std::cout << "# Every field and enum value of package kledger.v1 (events.proto, api.proto):\n"
               "# <full name> <number> <type>. Checked by schema_evolution_test.cc; append only.\n";
  for (const auto& [name, item] : CurrentListing()) std::cout << Format(name, item) << "\n";
}

TEST(SchemaEvolutionTest, EveryFileIsPackageV1) {
  for (const char* name : kFiles) {
    const FileDescriptor* file = FindFile(name);
    ASSERT_NE(file, nullptr) << name;
    EXPECT_EQ(file->package(), "kledger.v1") << name;
    EXPECT_EQ(file->syntax(), FileDescriptor::SYNTAX_PROTO3) << name;
  }
}

TEST(SchemaEvolutionTest, NoBaselineFieldRemovedRenumberedOrRetyped) {
  const Listing baseline = ReadBaseline();
  ASSERT_FALSE(baseline.empty()) << kBaselinePath << " is empty";
  const Listing current = CurrentListing();
  for (const auto& [name, was] : baseline) {
    auto it = current.find(name);
    if (it == current.end()) {
      EXPECT_TRUE(IsRetired(name, was.number))
          << name << " (" << was.number << ") was removed or renamed. Fields and enum values are "
          << "never removed or renamed in kledger.v1; to retire one, add `reserved " << was.number
          << "; reserved \"" << name.substr(name.rfind('.') + 1) << "\";` to its parent.";
      continue;
    }
    EXPECT_EQ(it->second.number, was.number)
        << name << " changed number: numbers are the wire identity and never change";
    EXPECT_EQ(it->second.type, was.type)
        << name << " changed type or label: add a new field with a new number instead";
  }
}

TEST(SchemaEvolutionTest, NoNumberReusedWithinAMessageOrEnum) {
  // Within one parent, a number held by a baseline item may only be held by that same item.
  const Listing baseline = ReadBaseline();
  std::map<std::pair<std::string, int>, std::string> owner;
  for (const auto& [name, item] : baseline) {
    owner[{name.substr(0, name.rfind('.')), item.number}] = name;
  }
  for (const auto& [name, item] : CurrentListing()) {
    auto it = owner.find({name.substr(0, name.rfind('.')), item.number});
    if (it != owner.end()) {
      EXPECT_EQ(it->second, name) << name << " reuses number " << item.number << " of "
                                  << it->second << ": never reuse a number, take a new one";
    }
  }
}

TEST(SchemaEvolutionTest, NewItemsAreListedOrHinted) {
  const Listing baseline = ReadBaseline();
  std::vector<std::string> added;
  for (const auto& [name, item] : CurrentListing()) {
    if (!baseline.contains(name)) added.push_back(Format(name, item));
  }
  if (added.empty()) return;
  // Adding is allowed; the baseline only needs to catch up so the addition is protected too.
  std::cout << "New fields or enum values not yet in " << kBaselinePath
            << "; append these lines (or regenerate with KLEDGER_PRINT_SCHEMA_BASELINE=1):\n";
  for (const std::string& line : added) std::cout << "  " << line << "\n";
}

// A record written by a newer producer with an event type this build does not know must still
// parse, with no event set: the consumer can then dead-letter it as poison instead of crashing.
TEST(SchemaEvolutionTest, UnknownEventTypeParsesAsEventNotSet) {
  EventEnvelope env;
  env.set_event_id("0123456789abcdef0123456789abcdef");
  env.set_instance_id("acme");
  env.set_schema_version(1);
  std::string bytes = env.SerializeAsString();
  // Field 99, wire type 2 (length-delimited): tag varint (99 << 3 | 2) = 794 = 0x9a 0x06.
  const std::string payload =
      "\x0a\x04"
      "cash";  // as if it were a message with a string field
  bytes += "\x9a\x06";
  bytes += static_cast<char>(payload.size());
  bytes += payload;

  EventEnvelope parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(parsed.event_case(), EventEnvelope::EVENT_NOT_SET);
  EXPECT_EQ(parsed.instance_id(), "acme");  // known fields survive, so the DLT record is useful
  EXPECT_EQ(parsed.schema_version(), 1u);
  const auto& unknown = parsed.GetReflection()->GetUnknownFields(parsed);
  ASSERT_EQ(unknown.field_count(), 1);
  EXPECT_EQ(unknown.field(0).number(), 99);
  // Re-serializing keeps the unknown event, so forwarding a record never loses data.
  EXPECT_EQ(parsed.SerializeAsString(), bytes);
}

TEST(SchemaEvolutionTest, UnknownSchemaVersionIsReadableForTheDeadLetterDecision) {
  EventEnvelope env;
  env.set_instance_id("acme");
  env.set_schema_version(2);
  env.mutable_account_closed()->set_address("cash");
  EventEnvelope parsed;
  ASSERT_TRUE(parsed.ParseFromString(env.SerializeAsString()));
  EXPECT_EQ(parsed.schema_version(), 2u);
}

// The JSON notes of the README: snake_case names, enums accepted in any case and printed
// upper-case, int64 printed as strings (JavaScript cannot hold them exactly as numbers).
TEST(SchemaEvolutionTest, JsonMapping) {
  using google::protobuf::util::JsonParseOptions;
  using google::protobuf::util::JsonPrintOptions;
  JsonParseOptions parse;
  parse.case_insensitive_enum_parsing = true;
  Entry entry;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"account":"assets:cash","direction":"debit","amount":125,"currency":"USD"})",
                  &entry, parse)
                  .ok());
  EXPECT_EQ(entry.direction(), DEBIT);
  EXPECT_EQ(entry.amount(), 125);

  TransactionCreated tx;
  tx.set_source_idempk("k");
  *tx.add_entries() = entry;
  JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(tx, &json, print).ok());
  EXPECT_NE(json.find(R"("source_idempk":"k")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("direction":"DEBIT")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("amount":"125")"), std::string::npos) << json;
}

}  // namespace
}  // namespace kledger::v1
