// Stateless validation of ledger commands and events: everything that can be decided from one
// message alone (syntax, limits, balanced entries). Rules that need state (does the account
// exist, is the transaction pending) belong to the processors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kledger/v1/events.pb.h"

namespace kledger::domain {

// The only EventEnvelope.schema_version this code reads and writes.
inline constexpr uint32_t kSchemaVersion = 1;

// One problem with one field. `field` is a path into the message ("entries[1].amount",
// "metadata"); `code` is a stable machine-readable word (below); `message` is for humans.
// Codes: required, invalid_format, not_positive, unbalanced, overflow, too_many, too_long,
// invalid_value, mismatch.
struct FieldError {
  std::string field;
  std::string code;
  std::string message;

  bool operator==(const FieldError&) const = default;
};

// All problems found; empty means valid.
using FieldErrors = std::vector<FieldError>;

// Size limits on what a single command may carry; they keep records and projections bounded.
struct Limits {
  std::size_t max_entries = 100;                // entries in one transaction; default 100
  std::size_t max_metadata_entries = 64;        // keys in one metadata map; default 64
  std::size_t max_metadata_key_bytes = 128;     // bytes in one metadata key; default 128
  std::size_t max_metadata_value_bytes = 1024;  // bytes in one metadata value; default 1024
  std::size_t max_description_bytes = 1024;     // bytes in a description; default 1024
};

// Appends an error on field "instance_id" unless `instance_id` is valid.
void ValidateInstanceId(std::string_view instance_id, FieldErrors& errors);

// Longest correlation id a command may carry, in bytes.
inline constexpr std::size_t kMaxCorrelationIdBytes = 256;

// Appends an error on field "correlation_id" unless `correlation_id` is empty (the command side
// then uses the event id) or at most kMaxCorrelationIdBytes of printable ASCII: it travels in
// every event's Kafka headers and log lines ("too_long", "invalid_format").
void ValidateCorrelationId(std::string_view correlation_id, FieldErrors& errors);

// Each returns every problem with the message, with paths relative to the message itself (the
// HTTP command bodies are these messages).
FieldErrors ValidateInstanceCreated(const v1::InstanceCreated& event, const Limits& limits = {});
FieldErrors ValidateAccountOpened(const v1::AccountOpened& event, const Limits& limits = {});
FieldErrors ValidateAccountUpdated(const v1::AccountUpdated& event, const Limits& limits = {});
FieldErrors ValidateAccountClosed(const v1::AccountClosed& event);
FieldErrors ValidateTransactionCreated(const v1::TransactionCreated& event,
                                       const Limits& limits = {});
FieldErrors ValidateTransactionUpdated(const v1::TransactionUpdated& event,
                                       const Limits& limits = {});

// Validates the event carried by `envelope` with the function above for its type; paths are
// relative to the event message. An envelope without an event gives an "event" / "required"
// error.
FieldErrors ValidatePayload(const v1::EventEnvelope& envelope, const Limits& limits = {});

// A whole envelope, as the processors receive it: instance_id, schema_version == kSchemaVersion,
// an event set and valid (its paths prefixed by the event's field name, e.g.
// "transaction_created.entries[0].amount"), and event_id equal to `expected_event_id`
// ("required", "mismatch"). The expected id is the hash of the envelope's EventIdPreimage, which
// this library cannot compute (it links no hash): ValidateEnvelope (common/event_id.h) computes
// it and calls this.
FieldErrors ValidateEnvelopeWithId(const v1::EventEnvelope& envelope,
                                   std::string_view expected_event_id, const Limits& limits = {});

// OK when `errors` is empty, else InvalidArgument listing every "field: code (message)".
Status FieldErrorsToStatus(const FieldErrors& errors);

// The normal balance an account of `type` has unless overridden: ASSET and EXPENSE -> DEBIT;
// LIABILITY, EQUITY and REVENUE -> CREDIT; SIDE_UNSPECIFIED for an unknown type.
v1::Side NormalBalanceFor(v1::AccountType type);

// The account's normal balance: its explicit override (contra accounts) or the one of its type.
v1::Side ResolvedNormalBalance(const v1::AccountOpened& account);

// "instance_created", "account_opened", "account_updated", "account_closed",
// "transaction_created", "transaction_updated"; "unknown" when no event is set. Used in Kafka
// headers, metric labels and event ids, so these strings never change.
std::string_view EventTypeName(v1::EventEnvelope::EventCase event_case);
std::string_view EventTypeName(const v1::EventEnvelope& envelope);

}  // namespace kledger::domain
