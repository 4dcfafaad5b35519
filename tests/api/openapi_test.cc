// docs/openapi.json held to what the servers do: every route of the command, query and operator
// tables is documented with its method and nothing else is; every schema naming a proto message
// (x-proto-message) or enum (x-proto-enum) has exactly its fields or values, as ToJson prints
// them; and the binary serves the file as it is. A route or a field added without documenting
// it fails here, naming what is missing.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "command-side/gateway/routes.h"
#include "common/http.h"
#include "kledger/v1/api.pb.h"
#include "processors/query/routes.h"
#include "tests/support/process.h"

namespace kledger {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Struct;
using google::protobuf::Value;

constexpr char kDocumentPath[] = KLEDGER_OPENAPI_JSON;
constexpr char kSchemaPrefix[] = "#/components/schemas/";

class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    text_ = testing::ReadFile(kDocumentPath);
    ASSERT_FALSE(text_.empty()) << kDocumentPath << " is missing or empty";
    auto parsed = google::protobuf::util::JsonStringToMessage(text_, &document_);
    ASSERT_TRUE(parsed.ok()) << kDocumentPath << " is not JSON: " << parsed.message();
    ASSERT_TRUE(document_.fields().contains("paths")) << kDocumentPath << " has no paths";
    schemas_ = Object(Object(document_, "components"), "schemas");
  }

  // The member `key` of `object` if it is an object, else an empty one.
  static const Struct& Object(const Struct& object, const std::string& key) {
    static const Struct empty;
    auto it = object.fields().find(key);
    return it != object.fields().end() && it->second.has_struct_value() ? it->second.struct_value()
                                                                        : empty;
  }
  static std::string String(const Struct& object, const std::string& key) {
    auto it = object.fields().find(key);
    return it != object.fields().end() ? it->second.string_value() : std::string();
  }

  std::string text_;
  Struct document_;
  Struct schemas_;
};

// "/v1/instances/([^/]+)/accounts" and "/v1/instances/{instance}/accounts" both become
// "/v1/instances/{}/accounts": parameters are compared by position, not by name.
std::string PatternPath(std::string pattern) {
  static const std::string kParameter = "([^/]+)";
  for (size_t at; (at = pattern.find(kParameter)) != std::string::npos;) {
    pattern.replace(at, kParameter.size(), "{}");
  }
  std::string path;  // regex escapes ("\.") stand for the character itself
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) ++i;
    path += pattern[i];
  }
  return path;
}

std::string DocumentPath(const std::string& path) {
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '{') {
      i = path.find('}', i);
      out += "{}";
    } else {
      out += path[i];
    }
  }
  return out;
}

TEST_F(OpenApiTest, DocumentsEveryRouteAndNoOther) {
  std::map<std::string, std::string> routes;  // "GET /v1/..{}.." -> where it comes from
  auto add = [&](const std::vector<http::RouteInfo>& table, const char* where) {
    for (const http::RouteInfo& route : table) {
      routes[std::string(route.method) + " " + PatternPath(route.pattern)] =
          std::string(where) + " pattern " + route.pattern;
    }
  };
  add(command::CommandRoutes(), "command::CommandRoutes()");
  add(processors::QueryRoutes(), "processors::QueryRoutes()");
  add(http::OperatorRoutes(), "http::OperatorRoutes()");

  std::map<std::string, std::string> documented;  // "GET /v1/..{}.." -> "get /v1/{instance}.."
  static const std::set<std::string> kMethods = {"get",   "put",  "post",    "delete",
                                                 "patch", "head", "options", "trace"};
  for (const auto& [path, item] : Object(document_, "paths").fields()) {
    for (const auto& [method, operation] : item.struct_value().fields()) {
      if (!kMethods.contains(method)) continue;
      std::string upper = method;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented[upper + " " + DocumentPath(path)] = upper + " " + path;
    }
  }
  for (const auto& [route, where] : routes) {
    EXPECT_TRUE(documented.contains(route))
        << "route " << route << " (" << where << ") is not in docs/openapi.json: add it under "
        << "paths, each ([^/]+) a {parameter}, with its parameters, body and every status it "
           "answers";
  }
  for (const auto& [key, operation] : documented) {
    EXPECT_TRUE(routes.contains(key))
        << "docs/openapi.json documents " << operation
        << ", which no route table (CommandRoutes, QueryRoutes, OperatorRoutes) registers";
  }
}

// The schema a property refers to: {"$ref": ...}, or {"allOf": [{"$ref": ...}]} (a $ref with a
// description of its own). Empty when it refers to none.
std::string ReferredSchema(const Struct& property) {
  std::string ref = property.fields().contains("$ref") ? property.fields().at("$ref").string_value()
                                                       : std::string();
  if (ref.empty() && property.fields().contains("allOf")) {
    const auto& all_of = property.fields().at("allOf").list_value();
    if (all_of.values_size() == 1 && all_of.values(0).has_struct_value()) {
      return ReferredSchema(all_of.values(0).struct_value());
    }
  }
  return ref.starts_with(kSchemaPrefix) ? ref.substr(sizeof(kSchemaPrefix) - 1) : std::string();
}

// What is wrong with `property` as the JSON of one value of `field` (repeated-ness aside), or
// empty when it fits: ToJson prints 64-bit integers as strings, enums as names, messages as
// objects of the schema whose x-proto-message names the field's message.
std::string ValueMismatch(const Struct& property, const FieldDescriptor& field,
                          const Struct& schemas) {
  const std::string type = property.fields().contains("type")
                               ? property.fields().at("type").string_value()
                               : std::string();
  auto expect_type = [&](const char* wanted) -> std::string {
    return type == wanted ? "" : std::string("must have type ") + wanted + ", not '" + type + "'";
  };
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT64:
      return expect_type("string");  // Protobuf's JSON mapping prints 64-bit integers as strings
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_UINT32:
      return expect_type("integer");
    case FieldDescriptor::CPPTYPE_BOOL:
      return expect_type("boolean");
    case FieldDescriptor::CPPTYPE_STRING:
      return expect_type("string");
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return expect_type("number");
    case FieldDescriptor::CPPTYPE_ENUM:
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const bool is_enum = field.cpp_type() == FieldDescriptor::CPPTYPE_ENUM;
      const std::string full_name =
          is_enum ? field.enum_type()->full_name() : field.message_type()->full_name();
      const std::string name = ReferredSchema(property);
      const char* tag = is_enum ? "x-proto-enum" : "x-proto-message";
      if (name.empty()) return "must refer ($ref) to the schema of " + full_name;
      auto it = schemas.fields().find(name);
      if (it == schemas.fields().end()) return "refers to a missing schema '" + name + "'";
      const auto& target = it->second.struct_value().fields();
      if (!target.contains(tag) || target.at(tag).string_value() != full_name) {
        return "refers to schema '" + name + "', whose " + tag + " is not " + full_name;
      }
      return "";
    }
  }
  return "has a field type this test does not know";
}

std::string FieldMismatch(const Struct& property, const FieldDescriptor& field,
                          const Struct& schemas) {
  if (field.is_map()) {
    // A map<string, string> is a JSON object of strings.
    const auto& fields = property.fields();
    const bool object = fields.contains("type") && fields.at("type").string_value() == "object";
    const bool of_strings = fields.contains("additionalProperties") &&
                            fields.at("additionalProperties").has_struct_value();
    return object && of_strings ? "" : "must be an object with additionalProperties (a map)";
  }
  if (field.is_repeated()) {
    const auto& fields = property.fields();
    if (!fields.contains("type") || fields.at("type").string_value() != "array" ||
        !fields.contains("items") || !fields.at("items").has_struct_value()) {
      return "must be an array with items (a repeated field)";
    }
    std::string mismatch = ValueMismatch(fields.at("items").struct_value(), field, schemas);
    return mismatch.empty() ? "" : "items " + mismatch;
  }
  return ValueMismatch(property, field, schemas);
}

TEST_F(OpenApiTest, EveryProtoSchemaHasExactlyTheMessagesFields) {
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  v1::Command::descriptor();  // links the generated descriptors of both .proto files
  int checked = 0;
  for (const auto& [name, value] : schemas_.fields()) {
    const Struct& schema = value.struct_value();
    const std::string message_name = String(schema, "x-proto-message");
    if (message_name.empty()) continue;
    ++checked;
    const Descriptor* message = pool->FindMessageTypeByName(message_name);
    ASSERT_NE(message, nullptr) << "schema " << name << ": x-proto-message '" << message_name
                                << "' is no message of event-schemas/kledger/v1/";
    const Struct& properties = Object(schema, "properties");
    for (int i = 0; i < message->field_count(); ++i) {
      const FieldDescriptor& field = *message->field(i);
      auto it = properties.fields().find(field.name());
      if (it == properties.fields().end()) {
        ADD_FAILURE() << "schema " << name << " lacks property '" << field.name() << "' (field "
                      << field.number() << " of " << message_name
                      << "): add it to docs/openapi.json";
        continue;
      }
      const std::string mismatch = FieldMismatch(it->second.struct_value(), field, schemas_);
      EXPECT_TRUE(mismatch.empty())
          << "schema " << name << ", property '" << field.name() << "' " << mismatch;
    }
    for (const auto& [property, unused] : properties.fields()) {
      EXPECT_NE(message->FindFieldByName(property), nullptr)
          << "schema " << name << " has property '" << property << "', which " << message_name
          << " has no field of (ToJson prints the .proto's snake_case names)";
    }
    for (const Value& required : schema.fields().contains("required")
                                     ? schema.fields().at("required").list_value().values()
                                     : google::protobuf::RepeatedPtrField<Value>()) {
      EXPECT_TRUE(properties.fields().contains(required.string_value()))
          << "schema " << name << " requires '" << required.string_value()
          << "', which it has no property of";
    }
  }
  EXPECT_GT(checked, 0) << "no schema of docs/openapi.json names its x-proto-message";
}

TEST_F(OpenApiTest, EveryProtoEnumSchemaHasExactlyTheEnumsValues) {
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  v1::Command::descriptor();
  for (const auto& [name, value] : schemas_.fields()) {
    const std::string enum_name = String(value.struct_value(), "x-proto-enum");
    if (enum_name.empty()) continue;
    const auto* proto_enum = pool->FindEnumTypeByName(enum_name);
    ASSERT_NE(proto_enum, nullptr) << "schema " << name << ": x-proto-enum '" << enum_name
                                   << "' is no enum of event-schemas/kledger/v1/";
    std::set<std::string> proto_values, documented;
    for (int i = 0; i < proto_enum->value_count(); ++i) {
      proto_values.insert(proto_enum->value(i)->name());
    }
    const Struct& schema = value.struct_value();
    if (schema.fields().contains("enum")) {
      for (const Value& v : schema.fields().at("enum").list_value().values()) {
        documented.insert(v.string_value());
      }
    }
    EXPECT_EQ(documented, proto_values)
        << "schema " << name << ": its enum must list exactly the values of " << enum_name
        << " (ToJson prints any of them, the UNSPECIFIED one included)";
  }
}

// api.proto is the HTTP contract: each of its messages is on the wire, so each is documented
// (the command bodies of events.proto are reached through Command's references).
TEST_F(OpenApiTest, EveryApiMessageHasASchema) {
  std::set<std::string> documented;
  for (const auto& [name, value] : schemas_.fields()) {
    documented.insert(String(value.struct_value(), "x-proto-message"));
  }
  const auto* file = v1::ErrorBody::descriptor()->file();
  for (int i = 0; i < file->message_type_count(); ++i) {
    const std::string full_name = file->message_type(i)->full_name();
    EXPECT_TRUE(documented.contains(full_name))
        << full_name << " (" << file->name() << ") has no schema in docs/openapi.json: add one "
        << "under components/schemas named " << file->message_type(i)->name()
        << " with \"x-proto-message\": \"" << full_name << "\"";
  }
}

TEST_F(OpenApiTest, TheBinaryServesTheDocumentAsItIsInTheSourceTree) {
  EXPECT_EQ(http::OpenApiDocument(), text_)
      << "the embedded document differs from " << kDocumentPath << ": rebuild";
  http::Server server;
  http::AddOperatorRoutes(server.routes(), std::make_shared<prometheus::Registry>(), {},
                          auth::Authorizer::AllowAll());
  ASSERT_TRUE(server.Start({"127.0.0.1", 0}).ok());
  httplib::Client client("127.0.0.1", server.port());
  auto res = client.Get("/openapi.json");
  ASSERT_TRUE(res) << "no answer from GET /openapi.json";
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(res->body, text_);
}

}  // namespace
}  // namespace kledger
