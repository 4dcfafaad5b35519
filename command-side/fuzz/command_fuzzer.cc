// libFuzzer target over the command side's input path: a JSON body through Protobuf's JSON
// mapping (http::ParseJson) into every body message, then PrepareEvent's validation — no Kafka.
// Besides "does not crash", it checks what PrepareEvent promises: an accepted command makes an
// envelope the processors accept too, with the event id its idempotency key derives; and what
// ParseJson's quick way promises: wherever it reads a body, Protobuf's JSON mapping reads the
// same message.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "command-side/command_client.h"
#include "common/domain/validation.h"
#include "common/event_id.h"
#include "common/http.h"
#include "common/internal/json_fast.h"

namespace {

using kledger::command::CommandClientOptions;
using kledger::command::PrepareEvent;
namespace v1 = kledger::v1;
namespace domain = kledger::domain;

// Fuzzing runs with assertions on; this one also fires under NDEBUG.
void Check(bool condition) {
  if (!condition) std::abort();
}

void Prepare(const v1::Command& command) {
  static const CommandClientOptions options;
  domain::FieldErrors errors;
  auto prepared = PrepareEvent(command, options, errors);
  Check(prepared.ok() == errors.empty());
  if (!prepared.ok()) return;
  const v1::EventEnvelope& envelope = prepared->envelope;
  Check(domain::ValidateEnvelope(envelope, options.limits).empty());
  Check(envelope.event_id() == domain::DeriveEventId(envelope));
  std::string bytes;
  Check(envelope.SerializeToString(&bytes));
  v1::EventEnvelope decoded;
  Check(decoded.ParseFromString(bytes));
  Check(domain::DeriveEventId(decoded) == envelope.event_id());
}

// Where the quick way reads `body` as a `Message`, Protobuf reads the same.
template <typename Message>
void QuickReadsAsProtobuf(std::string_view body) {
  Message quick;
  if (!kledger::http::internal::ParseJsonFast(body, quick)) return;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  options.case_insensitive_enum_parsing = true;
  Message slow;
  Check(google::protobuf::util::JsonStringToMessage(
            google::protobuf::StringPiece(body.data(), body.size()), &slow, options)
            .ok());
  Check(google::protobuf::util::MessageDifferencer::Equals(quick, slow));
}

// Parses `body` as the operation of a single-command endpoint and prepares it.
template <typename Body>
void TryEndpoint(std::string_view body, Body* (v1::Command::*mutable_body)()) {
  v1::Command command;
  command.set_instance_id("fuzz");
  if (!kledger::http::ParseJson(body, *(command.*mutable_body)()).ok()) return;
  (void)kledger::http::ToJson(command);
  Prepare(command);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  QuickReadsAsProtobuf<v1::TransactionCreated>(body);
  QuickReadsAsProtobuf<v1::AccountOpened>(body);
  QuickReadsAsProtobuf<v1::BatchRequest>(body);
  TryEndpoint(body, &v1::Command::mutable_open_account);
  TryEndpoint(body, &v1::Command::mutable_create_transaction);
  TryEndpoint(body, &v1::Command::mutable_update_transaction);
  v1::BatchRequest batch;
  if (kledger::http::ParseJson(body, batch).ok()) {
    for (const v1::Command& command : batch.commands()) Prepare(command);
  }
  return 0;
}
