// The names of the failure kinds, as the dead-letter headers, the outcome stream and the metric
// labels spell them (SPEC.md).
#include "processors/failure.h"

namespace kledger::processors {

std::string_view Name(PoisonCode code) {
  switch (code) {
    case PoisonCode::kUndecodable:
      return "undecodable";
    case PoisonCode::kUnsupportedSchemaVersion:
      return "unsupported_schema_version";
    case PoisonCode::kUnknownEventType:
      return "unknown_event_type";
    case PoisonCode::kKeyMismatch:
      return "key_mismatch";
    case PoisonCode::kInvalidEnvelope:
      return "invalid_envelope";
  }
  return "unknown";
}

std::string_view Name(ApplyFailure failure) {
  switch (failure) {
    case ApplyFailure::kStorage:
      return "storage";
    case ApplyFailure::kDeadLetterWrite:
      return "dead_letter_write";
  }
  return "unknown";
}

std::string_view Name(DeadLetterKind kind) {
  switch (kind) {
    case DeadLetterKind::kPoison:
      return "poison";
    case DeadLetterKind::kRetriesExhausted:
      return "retries_exhausted";
  }
  return "unknown";
}

std::optional<DeadLetterKind> ParseDeadLetterKind(std::string_view name) {
  for (DeadLetterKind kind : kDeadLetterKinds) {
    if (Name(kind) == name) return kind;
  }
  return std::nullopt;
}

}  // namespace kledger::processors
