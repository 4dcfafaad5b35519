// Tests of http::internal::ParseJsonFast against Protobuf's own JSON mapping: wherever the quick
// way answers, its message is the one Protobuf gives for the same document (over the API's
// request shapes, hand-picked edge cases and thousands of random mutations of valid bodies); it
// declines what it must leave to Protobuf; and ParseJson's answers, errors included, stay
// Protobuf's.
#include "common/internal/json_fast.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/http.h"
#include "common/internal/json_typed.h"
#include "kledger/v1/api.pb.h"

namespace kledger::http::internal {
namespace {

// Protobuf's reading of `body` as ParseJson configures it: the message, or nullopt.
template <typename M>
std::optional<M> ProtobufReads(const std::string& body) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  options.case_insensitive_enum_parsing = true;
  M message;
  if (!google::protobuf::util::JsonStringToMessage(body, &message, options).ok()) {
    return std::nullopt;
  }
  return message;
}

// `read`, what a quick way (`how`) read from `body`, must be the message Protobuf reads.
template <typename M>
void ExpectReadAsProtobuf(const std::string& body, const M& read, const char* how) {
  const std::optional<M> slow = ProtobufReads<M>(body);
  EXPECT_TRUE(slow.has_value()) << how << ": accepted what Protobuf refuses: " << body;
  if (slow) {
    // Field by field: a map's entries serialize in no fixed order.
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(read, *slow))
        << body << "\n"
        << how << ": " << read.ShortDebugString() << "\nProtobuf: " << slow->ShortDebugString();
  }
}

// Whether the quick way answered; when it did, it must have answered as Protobuf does.
template <typename M>
bool AnswersAsProtobuf(const std::string& body) {
  M fast;
  if (!ParseJsonFast(body, fast)) {
    EXPECT_EQ(fast.ByteSizeLong(), 0u) << "declined, but left fields set: " << body;
    return false;
  }
  ExpectReadAsProtobuf(body, fast, "quick");
  return true;
}

v1::Command Transfer() {
  v1::Command command;
  command.set_instance_id("acme");
  command.set_correlation_id("trace-1");
  v1::TransactionCreated& t = *command.mutable_create_transaction();
  t.set_source("shop");
  t.set_source_idempk("order-\xC3\xA9-1");  // é: UTF-8 kept as is
  t.set_status(v1::POSTED);
  t.set_description("two lines\nand a \"quote\"");
  (*t.mutable_metadata())["channel"] = "web";
  (*t.mutable_metadata())["region"] = "eu";
  for (auto [account, side] :
       {std::pair{"assets:cash", v1::DEBIT}, {"revenue:sales", v1::CREDIT}}) {
    v1::Entry& e = *t.add_entries();
    e.set_account(account);
    e.set_direction(side);
    e.set_amount(9'007'199'254'740'993);  // beyond a double's exact integers
    e.set_currency("USD");
  }
  return command;
}

TEST(ParseJsonFastTest, ReadsTheApisRequestShapesAsProtobufDoes) {
  const v1::Command command = Transfer();
  EXPECT_TRUE(AnswersAsProtobuf<v1::TransactionCreated>(ToJson(command.create_transaction())));
  EXPECT_TRUE(AnswersAsProtobuf<v1::Command>(ToJson(command)));
  v1::BatchRequest batch;
  for (int i = 0; i < 3; ++i) *batch.add_commands() = command;
  v1::Command& open = *batch.add_commands();
  open.set_instance_id("acme");
  open.mutable_open_account()->set_address("wallet:1");
  open.mutable_open_account()->set_type(v1::LIABILITY);
  open.mutable_open_account()->set_allow_negative(true);
  open.mutable_open_account()->set_credit_limit(0);  // optional: present although zero
  EXPECT_TRUE(AnswersAsProtobuf<v1::BatchRequest>(ToJson(batch)));
  v1::AccountUpdated update;
  update.set_address("wallet:1");
  update.set_allow_negative(false);
  update.add_metadata_removed("a");
  update.add_metadata_removed("b");
  EXPECT_TRUE(AnswersAsProtobuf<v1::AccountUpdated>(ToJson(update)));
}

// How the typed readers take `body` into an M: kRead only with the message Protobuf reads.
template <typename M>
TypedRead TypedReads(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element document;
  if (parser.parse(body).get(document) != simdjson::SUCCESS) return TypedRead::kDeclined;
  M typed;
  const TypedRead read = ReadTyped(document, typed);
  if (read == TypedRead::kRead) ExpectReadAsProtobuf(body, typed, "typed");
  return read;
}

// One transfer and batches are read with the generated setters (the gateway's hottest shapes);
// a batch's command of another kind is walked alone; other messages are the walk's.
TEST(ParseJsonFastTest, ReadsTransfersAndBatchesTyped) {
  const v1::Command command = Transfer();
  EXPECT_EQ(TypedReads<v1::TransactionCreated>(ToJson(command.create_transaction())),
            TypedRead::kRead);
  EXPECT_EQ(TypedReads<v1::Command>(ToJson(command)), TypedRead::kRead);
  v1::BatchRequest batch;
  for (int i = 0; i < 3; ++i) *batch.add_commands() = command;
  EXPECT_EQ(TypedReads<v1::BatchRequest>(ToJson(batch)), TypedRead::kRead);
  v1::Command& open = *batch.add_commands();
  open.set_instance_id("acme");
  open.mutable_open_account()->set_address("wallet:1");
  EXPECT_EQ(TypedReads<v1::BatchRequest>(ToJson(batch)), TypedRead::kRead);
  EXPECT_EQ(TypedReads<v1::Command>(ToJson(open)), TypedRead::kDeclined);
  EXPECT_EQ(TypedReads<v1::TransactionCreated>(
                R"({"sourceIdempk":"k","entries":[{"amount":"-9223372036854775808"}]})"),
            TypedRead::kRead);
  EXPECT_EQ(TypedReads<v1::EventEnvelope>(R"({"instanceId":"acme"})"), TypedRead::kNotTyped);
  // Declined by the typed reader, and by the walk after it: Protobuf's call.
  for (const std::string body :
       {R"({"source":"a","source":"b"})", R"({"status":"posted"})",
        R"({"entries":[{"amount":9223372036854775808}]})", R"({"metadata":{"a":"1","a":"2"}})"}) {
    EXPECT_EQ(TypedReads<v1::TransactionCreated>(body), TypedRead::kDeclined) << body;
    v1::TransactionCreated fast;
    EXPECT_FALSE(ParseJsonFast(body, fast)) << body;
  }
}

TEST(ParseJsonFastTest, TakesBothFieldNamesAndIntegersAtTheirLimits) {
  for (const std::string body : {
           R"({"sourceIdempk":"k","entries":[{"amount":9223372036854775807}]})",
           R"({"source_idempk":"k","entries":[{"amount":-9223372036854775808}]})",
           R"({"entries":[{"amount":0},{"amount":-0}]})",
           R"({"entries":[{"amount":"100"},{"amount":"-9223372036854775808"},{"amount":"0"}]})",
           R"( { "status" : "PENDING" , "metadata" : { } , "entries" : [ ] } )",
       }) {
    EXPECT_TRUE(AnswersAsProtobuf<v1::TransactionCreated>(body)) << body;
  }
  EXPECT_TRUE(AnswersAsProtobuf<v1::EventEnvelope>(R"({"schemaVersion":4294967295})"));
  EXPECT_TRUE(
      AnswersAsProtobuf<v1::EventEnvelope>(R"({"schema_version":"7","submittedAtMs":"-5"})"));
  EXPECT_TRUE(
      AnswersAsProtobuf<v1::EventEnvelope>(R"({"schema_version":"7","submittedAtMs":"-5"})"));
}

// Each of these has a reading of its own under Protobuf's mapping (or none): the quick way leaves
// it to Protobuf.
TEST(ParseJsonFastTest, DeclinesWhatProtobufMustDecide) {
  for (const std::string& body : std::vector<std::string>{
           R"({"source":null})",                  // null
           R"({"entries":[{"amount":1.0}]})",     // a float for an integer
           R"({"entries":[{"amount":"0100"}]})",  // a quoted integer not in its canonical form
           R"({"entries":[{"amount":"+1"}]})",
           R"({"entries":[{"amount":" 1"}]})",
           R"({"entries":[{"amount":"1e2"}]})",
           R"({"entries":[{"amount":"-0"}]})",
           R"({"entries":[{"amount":"9223372036854775808"}]})",
           R"({"entries":[{"amount":9223372036854775808}]})",  // beyond int64
           R"({"status":"posted"})",                           // another spelling of an enum
           R"({"status":2})",                                  // an enum by number
           R"({"status":"NO_SUCH_STATUS"})",                   // an unknown enum name
           R"({"sourse":"typo"})",                             // an unknown field
           R"({"source":"a","source":"b"})",                   // a field named twice
           R"({"source":"a","source_idempk":"k","sourceIdempk":"k"})",  // twice, by both names
           R"({"metadata":{"a":"1","a":"2"}})",                         // a map key twice
           R"({"metadata":{"a":1}})",                                   // a map value not a string
           R"({"entries":{"amount":1}})",                               // an object for a repeated
           R"({"entries":[[{"amount":1}]]})",                           // an array in an array
           R"({"source":["a"]})",                                       // an array for a singular
           R"({"source":1})",                                           // a number for a string
           R"({"status":true})",                                        // a bool for an enum
           R"(["source"])",                                             // not an object
           R"({"source":"a"} {"source":"b"})",                          // two documents
           R"({"source":"a",})",                                        // a trailing comma
           R"({'source':'a'})",                                         // single quotes
           "\xEF\xBB\xBF{\"source\":\"a\"}",                            // a byte-order mark
           std::string("{\"source\":\"a\"}\0{", 16),  // a NUL, where nlohmann's input ends
           "{\"source\":\"\xC3\x28\"}",               // ill-formed UTF-8
           R"({"source":"\ud800"})",                  // a lone surrogate
           "",
       }) {
    v1::TransactionCreated fast;
    EXPECT_FALSE(ParseJsonFast(body, fast)) << body << " -> " << fast.ShortDebugString();
    EXPECT_EQ(fast.ByteSizeLong(), 0u) << body;
  }
  v1::Command two_commands;
  EXPECT_FALSE(ParseJsonFast(R"({"open_account":{},"close_account":{}})", two_commands));
  v1::EventEnvelope envelope;  // uint32 beyond its range, and negative
  EXPECT_FALSE(ParseJsonFast(R"({"schemaVersion":4294967296})", envelope));
  EXPECT_FALSE(ParseJsonFast(R"({"schemaVersion":-1})", envelope));
}

// ParseJson's errors are still Protobuf's, worded as before.
TEST(ParseJsonFastTest, ParseJsonStillAnswersWithProtobufsErrors) {
  v1::TransactionCreated message;
  const Status unknown = ParseJson(R"({"sourse":"typo"})", message);
  EXPECT_EQ(unknown.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.message().find("sourse"), std::string::npos) << unknown.message();
  EXPECT_TRUE(ParseJson(R"({"status":"posted"})", message).ok());  // Protobuf's leniency kept
  EXPECT_EQ(message.status(), v1::POSTED);
  EXPECT_TRUE(ParseJson(R"({"entries":[{"amount":"100"}]})", message).ok());
  EXPECT_EQ(message.entries(0).amount(), 100);
}

// Random edits of valid bodies (bytes changed, dropped or doubled; tokens swapped): wherever the
// quick way answers, it answers as Protobuf does.
TEST(ParseJsonFastTest, RandomEditsOfValidBodiesNeverReadOtherwiseThanProtobuf) {
  v1::BatchRequest batch;
  *batch.add_commands() = Transfer();
  v1::Command& open = *batch.add_commands();
  open.set_instance_id("acme");
  open.mutable_open_account()->set_address("wallet:1");
  open.mutable_open_account()->set_credit_limit(250);
  const std::vector<std::string> seeds = {ToJson(batch), ToJson(Transfer()),
                                          ToJson(Transfer().create_transaction())};
  const std::vector<std::string> tokens = {"null", "true", "1.5", "-1",    "\"POSTED\"", "[]",
                                           "{}",   "\"\"", "0",   "\"x\"", "\"DEBIT\"",  ","};
  std::mt19937_64 rng(20261205);
  int answered = 0;
  int typed = 0;
  const int rounds = 20000;
  for (int i = 0; i < rounds; ++i) {
    std::string body = seeds[rng() % seeds.size()];
    for (int edits = 1 + static_cast<int>(rng() % 3); edits > 0 && !body.empty(); --edits) {
      const size_t at = rng() % body.size();
      switch (rng() % 4) {
        case 0:
          body[at] = static_cast<char>(rng() % 128);
          break;
        case 1:
          body.erase(at, 1);
          break;
        case 2:
          body.insert(at, 1, body[at]);
          break;
        default: {  // a value replaced by another token
          const size_t colon = body.find(':', at);
          if (colon == std::string::npos) break;
          const size_t end = body.find_first_of(",}]", colon + 1);
          if (end == std::string::npos) break;
          body.replace(colon + 1, end - colon - 1, tokens[rng() % tokens.size()]);
        }
      }
    }
    if (AnswersAsProtobuf<v1::BatchRequest>(body)) ++answered;
    if (AnswersAsProtobuf<v1::Command>(body)) ++answered;
    if (AnswersAsProtobuf<v1::TransactionCreated>(body)) ++answered;
    if (TypedReads<v1::BatchRequest>(body) == TypedRead::kRead) ++typed;
    if (TypedReads<v1::Command>(body) == TypedRead::kRead) ++typed;
    if (TypedReads<v1::TransactionCreated>(body) == TypedRead::kRead) ++typed;
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(answered, rounds / 20) << "the edits should leave many documents it reads";
  EXPECT_GT(typed, rounds / 40) << "the edits should leave many documents read typed";
}

}  // namespace
}  // namespace kledger::http::internal
