// Why a record failed, as types. The processor routes a failure by its kind (a poison record is
// dead-lettered at once; a failed apply is retried with backoff, then dead-lettered or halts);
// the strings that Kafka headers (kledger-dlt-reason, kledger-dlt-error-code), the outcome
// stream's reason and the metric labels carry are rendered from these enums by Name(), only at
// those boundaries. SPEC.md and docs/dead-letters.md list the strings.
#pragma once

#include <cassert>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "common/status.h"

namespace kledger::processors {

// Why a record can never be applied, whatever is retried (kledger-dlt-error-code of a poison
// dead letter).
enum class PoisonCode {
  kUndecodable,               // the value is not an EventEnvelope
  kUnsupportedSchemaVersion,  // a schema version this build does not read
  kUnknownEventType,          // no event type this build knows
  kKeyMismatch,               // the record key is not the envelope's instance id
  kInvalidEnvelope,           // the envelope fails validation
};

// Where applying a well-formed record failed (kledger_retries_total{error_code}, and the
// kledger-dlt-error-code of a retries_exhausted dead letter).
enum class ApplyFailure {
  kStorage,          // RocksDB: staging or committing the batch
  kDeadLetterWrite,  // a poison record's dead letter was not acknowledged
};

// Why a record went to the dead-letter topic (kledger-dlt-reason).
enum class DeadLetterKind { kPoison, kRetriesExhausted };

std::string_view Name(PoisonCode code);
std::string_view Name(ApplyFailure failure);
std::string_view Name(DeadLetterKind kind);
std::optional<DeadLetterKind> ParseDeadLetterKind(std::string_view name);

inline constexpr ApplyFailure kApplyFailures[] = {ApplyFailure::kStorage,
                                                  ApplyFailure::kDeadLetterWrite};
inline constexpr DeadLetterKind kDeadLetterKinds[] = {DeadLetterKind::kPoison,
                                                      DeadLetterKind::kRetriesExhausted};

// A Status that, when it is an error, also says which kind (`Kind`, one of the enums above).
template <typename Kind>
class [[nodiscard]] TypedStatus {
 public:
  TypedStatus() = default;  // OK
  TypedStatus(Kind kind, Status status) : status_(std::move(status)), kind_(kind) {
    assert(!status_.ok() && "a TypedStatus made from a Status must carry an error");
  }
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  Kind kind() const {
    assert(!ok());
    return kind_;
  }

 private:
  Status status_;
  Kind kind_{};
};

// Either a value, or an error and its kind: a Result<T> whose errors are routed by kind.
template <typename T, typename Kind>
class [[nodiscard]] TypedResult : public Result<T> {
 public:
  TypedResult(T value) : Result<T>(std::move(value)) {}  // NOLINT: implicit, like Result<T>
  TypedResult(Kind kind, Status status) : Result<T>(std::move(status)), kind_(kind) {}
  TypedResult(const TypedStatus<Kind>& error)  // NOLINT
      : Result<T>(error.status()), kind_(error.kind()) {}

  Kind kind() const {
    assert(!this->ok());
    return kind_;
  }
  TypedStatus<Kind> error() const { return {kind(), this->status()}; }

 private:
  Kind kind_{};
};

// What a dead letter records about why: its code says its kind (a PoisonCode for poison, the
// last ApplyFailure for retries_exhausted), so the two cannot disagree.
struct DeadLetterReason {
  std::variant<PoisonCode, ApplyFailure> code;
  std::string error_message;  // for a human
  int attempts = 1;
  int64_t first_failure_ms = 0;

  DeadLetterKind kind() const {
    return std::holds_alternative<PoisonCode>(code) ? DeadLetterKind::kPoison
                                                    : DeadLetterKind::kRetriesExhausted;
  }
  // kledger-dlt-error-code.
  std::string_view code_name() const {
    return std::visit([](auto c) { return Name(c); }, code);
  }
};

}  // namespace kledger::processors
