// Stateless command and event validation; see validation.h. Every check appends to a list
// rather than returning early, so a client learns all its mistakes from one 400.
#include "common/domain/validation.h"

#include <algorithm>
#include <utility>

#include "common/domain/entries.h"
#include "common/domain/identifiers.h"
#include "common/domain/money.h"
#include "common/domain/rfc3339.h"

namespace kledger::domain {
namespace {

// Keeps error messages short even when the offending value is huge.
std::string Quote(std::string_view s) {
  constexpr std::size_t kMaxShown = 64;
  std::string out = "'";
  if (s.size() > kMaxShown) {
    out.append(s.substr(0, kMaxShown));
    out.append("...");
  } else {
    out.append(s);
  }
  out.push_back('\'');
  return out;
}

void Add(FieldErrors& errors, std::string field, std::string_view code, std::string message) {
  errors.push_back({std::move(field), std::string(code), std::move(message)});
}

// Shared shape of every identifier check: empty is "required", anything else malformed is
// "invalid_format" with the accepted pattern in the message.
void CheckIdentifier(std::string_view value, bool valid, std::string field,
                     std::string_view pattern, FieldErrors& errors) {
  if (value.empty()) {
    Add(errors, std::move(field), "required", "must not be empty");
  } else if (!valid) {
    Add(errors, std::move(field), "invalid_format",
        Quote(value) + " does not match " + std::string(pattern));
  }
}

void CheckAddress(std::string_view value, std::string field, FieldErrors& errors) {
  CheckIdentifier(value, IsValidAddress(value), std::move(field),
                  "^[A-Za-z0-9_]+(:[A-Za-z0-9_]+)*$ (at most 256 bytes)", errors);
}

void CheckCurrency(std::string_view value, std::string field, FieldErrors& errors) {
  CheckIdentifier(value, IsValidCurrency(value), std::move(field), "^[A-Z0-9]{3,12}$", errors);
}

void CheckSource(std::string_view value, FieldErrors& errors) {
  CheckIdentifier(value, IsValidSource(value), "source", "^[A-Za-z0-9_.:-]{1,128}$", errors);
}

void CheckIdempotencyKey(std::string_view value, std::string field, FieldErrors& errors) {
  CheckIdentifier(value, IsValidIdempotencyKey(value), std::move(field), "^[A-Za-z0-9_.:-]{1,256}$",
                  errors);
}

void CheckDescription(std::string_view value, const Limits& limits, FieldErrors& errors) {
  if (value.size() > limits.max_description_bytes) {
    Add(errors, "description", "too_long",
        "is " + std::to_string(value.size()) + " bytes, the limit is " +
            std::to_string(limits.max_description_bytes));
  }
}

void CheckMetadataKey(std::string_view key, const std::string& field, const Limits& limits,
                      FieldErrors& errors) {
  if (key.empty()) {
    Add(errors, field, "required", "metadata keys must not be empty");
  } else if (key.size() > limits.max_metadata_key_bytes) {
    Add(errors, field, "too_long",
        "key " + Quote(key) + " is " + std::to_string(key.size()) + " bytes, the limit is " +
            std::to_string(limits.max_metadata_key_bytes));
  }
}

void CheckMetadata(const google::protobuf::Map<std::string, std::string>& metadata,
                   const std::string& field, const Limits& limits, FieldErrors& errors) {
  if (metadata.size() > limits.max_metadata_entries) {
    Add(errors, field, "too_many",
        "has " + std::to_string(metadata.size()) + " keys, the limit is " +
            std::to_string(limits.max_metadata_entries));
  }
  // Map iteration order is unspecified; sorting keeps the error list the same on every run.
  std::vector<std::pair<std::string_view, std::string_view>> items(metadata.begin(),
                                                                   metadata.end());
  std::sort(items.begin(), items.end());
  for (const auto& [key, value] : items) {
    CheckMetadataKey(key, field, limits, errors);
    if (value.size() > limits.max_metadata_value_bytes) {
      Add(errors, field, "too_long",
          "value of key " + Quote(key) + " is " + std::to_string(value.size()) +
              " bytes, the limit is " + std::to_string(limits.max_metadata_value_bytes));
    }
  }
}

void CheckCreditLimit(bool has_credit_limit, int64_t credit_limit, bool allow_negative,
                      FieldErrors& errors) {
  if (!has_credit_limit) return;
  if (credit_limit < 0) {
    Add(errors, "credit_limit", "invalid_value",
        "must be >= 0 (minor units the balance may go below zero), got " +
            std::to_string(credit_limit));
  }
  if (allow_negative) {
    Add(errors, "allow_negative", "invalid_value",
        "allow_negative (no limit) and credit_limit (a limit) exclude each other; set one");
  }
}

std::string EntryPath(int i, std::string_view field) {
  return "entries[" + std::to_string(i) + "]." + std::string(field);
}

// Words what CheckEntries finds as field errors, every one of them. Paths are built only for a
// field that is wrong: every command of the hot path has entries, and building four strings per
// entry cost ~8% of CommandClient::SubmitAsync.
class EntryErrors final : public EntryFindings {
 public:
  EntryErrors(int entry_count, FieldErrors& errors) : entry_count_(entry_count), errors_(errors) {}

  bool OnFaultyEntry(int i, const v1::Entry& e, const EntryFaults& faults) override {
    if (faults.account) CheckAddress(e.account(), EntryPath(i, "account"), errors_);
    if (faults.direction && e.direction() == v1::SIDE_UNSPECIFIED) {
      Add(errors_, EntryPath(i, "direction"), "required", "must be DEBIT or CREDIT");
    } else if (faults.direction) {
      Add(errors_, EntryPath(i, "direction"), "invalid_value",
          "must be DEBIT or CREDIT, got " + std::to_string(e.direction()));
    }
    if (faults.amount) {
      Add(errors_, EntryPath(i, "amount"), "not_positive",
          "must be > 0 minor units, got " + std::to_string(e.amount()));
    }
    if (faults.currency) CheckCurrency(e.currency(), EntryPath(i, "currency"), errors_);
    return true;
  }

  // Reported per currency by OnCurrency, which sees both directions.
  bool OnOverflow(int, const v1::Entry&) override { return true; }

  bool OnCurrency(std::string_view currency, const CheckedSum& debits,
                  const CheckedSum& credits) override {
    // Too few entries is reported on its own; an `unbalanced` on top of it would be noise.
    if (entry_count_ < 2) return false;
    const std::string name(currency);
    if (debits.overflowed() || credits.overflowed()) {
      Add(errors_, "entries", "overflow",
          "the " + std::string(debits.overflowed() ? "debits" : "credits") + " in " + name +
              " add up to more than 9223372036854775807 minor units");
    } else if (*debits.value() != *credits.value()) {
      Add(errors_, "entries", "unbalanced",
          "in " + name + " debits sum to " + std::to_string(*debits.value()) + " but credits to " +
              std::to_string(*credits.value()));
    }
    return true;
  }

 private:
  int entry_count_;
  FieldErrors& errors_;
};

// The entry rules shared by TransactionCreated and the edited amounts of TransactionUpdated:
// count, then each entry's fields and per-currency balance (CheckEntries).
void ValidateEntries(const google::protobuf::RepeatedPtrField<v1::Entry>& entries,
                     const Limits& limits, FieldErrors& errors) {
  if (entries.size() < 2) {
    Add(errors, "entries", "required",
        "a transaction needs at least two entries, got " + std::to_string(entries.size()));
  } else if (static_cast<std::size_t>(entries.size()) > limits.max_entries) {
    Add(errors, "entries", "too_many",
        "has " + std::to_string(entries.size()) + " entries, the limit is " +
            std::to_string(limits.max_entries));
  }
  EntryErrors findings(entries.size(), errors);
  CheckEntries(entries, EntryIdentifiers::kStrict, findings);
}

void PrefixPaths(FieldErrors& errors, std::string_view prefix) {
  for (FieldError& e : errors) e.field = std::string(prefix) + "." + e.field;
}

}  // namespace

void ValidateInstanceId(std::string_view instance_id, FieldErrors& errors) {
  CheckIdentifier(instance_id, IsValidInstanceId(instance_id), "instance_id",
                  "^[A-Za-z0-9_.:-]{1,128}$", errors);
}

void ValidateCorrelationId(std::string_view correlation_id, FieldErrors& errors) {
  if (correlation_id.size() > kMaxCorrelationIdBytes) {
    Add(errors, "correlation_id", "too_long",
        "is " + std::to_string(correlation_id.size()) + " bytes, the limit is " +
            std::to_string(kMaxCorrelationIdBytes));
    return;
  }
  const bool printable = std::all_of(correlation_id.begin(), correlation_id.end(),
                                     [](char c) { return c >= 0x20 && c <= 0x7e; });
  if (!printable) {
    Add(errors, "correlation_id", "invalid_format",
        "must be printable ASCII (no control characters or non-ASCII bytes)");
  }
}

FieldErrors ValidateInstanceCreated(const v1::InstanceCreated& event, const Limits& limits) {
  FieldErrors errors;
  CheckDescription(event.description(), limits, errors);
  CheckMetadata(event.metadata(), "metadata", limits, errors);
  return errors;
}

FieldErrors ValidateAccountOpened(const v1::AccountOpened& event, const Limits& limits) {
  FieldErrors errors;
  CheckAddress(event.address(), "address", errors);
  if (event.type() == v1::ACCOUNT_TYPE_UNSPECIFIED) {
    Add(errors, "type", "required", "must be one of ASSET, LIABILITY, EQUITY, REVENUE, EXPENSE");
  } else if (NormalBalanceFor(event.type()) == v1::SIDE_UNSPECIFIED) {
    Add(errors, "type", "invalid_value",
        "must be one of ASSET, LIABILITY, EQUITY, REVENUE, EXPENSE, got " +
            std::to_string(event.type()));
  }
  // SIDE_UNSPECIFIED is allowed: it means "derive from the type".
  if (event.normal_balance() != v1::SIDE_UNSPECIFIED && event.normal_balance() != v1::DEBIT &&
      event.normal_balance() != v1::CREDIT) {
    Add(errors, "normal_balance", "invalid_value",
        "must be DEBIT, CREDIT or omitted, got " + std::to_string(event.normal_balance()));
  }
  CheckCurrency(event.currency(), "currency", errors);
  CheckCreditLimit(event.has_credit_limit(), event.credit_limit(), event.allow_negative(), errors);
  CheckMetadata(event.metadata(), "metadata", limits, errors);
  return errors;
}

FieldErrors ValidateAccountUpdated(const v1::AccountUpdated& event, const Limits& limits) {
  FieldErrors errors;
  CheckAddress(event.address(), "address", errors);
  CheckIdempotencyKey(event.update_idempk(), "update_idempk", errors);
  CheckCreditLimit(event.has_credit_limit(), event.credit_limit(),
                   event.has_allow_negative() && event.allow_negative(), errors);
  CheckMetadata(event.metadata_set(), "metadata_set", limits, errors);
  if (static_cast<std::size_t>(event.metadata_removed_size()) > limits.max_metadata_entries) {
    Add(errors, "metadata_removed", "too_many",
        "has " + std::to_string(event.metadata_removed_size()) + " keys, the limit is " +
            std::to_string(limits.max_metadata_entries));
  }
  for (int i = 0; i < event.metadata_removed_size(); ++i) {
    CheckMetadataKey(event.metadata_removed(i), "metadata_removed[" + std::to_string(i) + "]",
                     limits, errors);
  }
  return errors;
}

FieldErrors ValidateAccountClosed(const v1::AccountClosed& event) {
  FieldErrors errors;
  CheckAddress(event.address(), "address", errors);
  return errors;
}

FieldErrors ValidateTransactionCreated(const v1::TransactionCreated& event, const Limits& limits) {
  FieldErrors errors;
  CheckSource(event.source(), errors);
  CheckIdempotencyKey(event.source_idempk(), "source_idempk", errors);
  if (event.status() == v1::TRANSACTION_STATUS_UNSPECIFIED) {
    Add(errors, "status", "required", "must be PENDING or POSTED");
  } else if (event.status() != v1::PENDING && event.status() != v1::POSTED) {
    Add(errors, "status", "invalid_value",
        "a transaction is created PENDING or POSTED, got " +
            (v1::TransactionStatus_IsValid(event.status())
                 ? v1::TransactionStatus_Name(event.status())
                 : std::to_string(event.status())));
  }
  ValidateEntries(event.entries(), limits, errors);
  CheckDescription(event.description(), limits, errors);
  CheckMetadata(event.metadata(), "metadata", limits, errors);
  // effective_at is informational, so a syntax check is all it needs.
  if (!event.effective_at().empty() && !ParseRfc3339(event.effective_at())) {
    Add(errors, "effective_at", "invalid_format",
        Quote(event.effective_at()) + " is not an RFC 3339 date-time like 2024-01-31T12:00:00Z");
  }
  return errors;
}

FieldErrors ValidateTransactionUpdated(const v1::TransactionUpdated& event, const Limits& limits) {
  FieldErrors errors;
  CheckSource(event.source(), errors);
  CheckIdempotencyKey(event.source_idempk(), "source_idempk", errors);
  CheckIdempotencyKey(event.update_idempk(), "update_idempk", errors);
  switch (event.action()) {
    case v1::UPDATE_ACTION_UNSPECIFIED:
      Add(errors, "action", "required", "must be POST, ARCHIVE or EDIT");
      break;
    case v1::ARCHIVE:
      if (event.entries_size() > 0) {
        Add(errors, "entries", "invalid_value",
            "ARCHIVE voids the transaction and takes no entries");
      }
      break;
    case v1::EDIT:
      if (event.entries_size() == 0) {
        Add(errors, "entries", "required", "EDIT needs the entries with their new amounts");
        break;
      }
      ValidateEntries(event.entries(), limits, errors);
      break;
    case v1::POST:
      // Without entries the pending amounts are posted as they are.
      if (event.entries_size() > 0) ValidateEntries(event.entries(), limits, errors);
      break;
    default:
      Add(errors, "action", "invalid_value",
          "must be POST, ARCHIVE or EDIT, got " + std::to_string(event.action()));
      break;
  }
  return errors;
}

FieldErrors ValidatePayload(const v1::EventEnvelope& envelope, const Limits& limits) {
  switch (envelope.event_case()) {
    case v1::EventEnvelope::kInstanceCreated:
      return ValidateInstanceCreated(envelope.instance_created(), limits);
    case v1::EventEnvelope::kAccountOpened:
      return ValidateAccountOpened(envelope.account_opened(), limits);
    case v1::EventEnvelope::kAccountUpdated:
      return ValidateAccountUpdated(envelope.account_updated(), limits);
    case v1::EventEnvelope::kAccountClosed:
      return ValidateAccountClosed(envelope.account_closed());
    case v1::EventEnvelope::kTransactionCreated:
      return ValidateTransactionCreated(envelope.transaction_created(), limits);
    case v1::EventEnvelope::kTransactionUpdated:
      return ValidateTransactionUpdated(envelope.transaction_updated(), limits);
    case v1::EventEnvelope::EVENT_NOT_SET:
      break;
  }
  return {{"event", "required",
           "no known event type is set (unknown to schema version " +
               std::to_string(kSchemaVersion) + ", or missing)"}};
}

FieldErrors ValidateEnvelopeWithId(const v1::EventEnvelope& envelope,
                                   std::string_view expected_event_id, const Limits& limits) {
  FieldErrors errors;
  ValidateInstanceId(envelope.instance_id(), errors);
  if (envelope.schema_version() != kSchemaVersion) {
    Add(errors, "schema_version", "invalid_value",
        "this build reads schema version " + std::to_string(kSchemaVersion) + ", got " +
            std::to_string(envelope.schema_version()));
  }
  FieldErrors payload = ValidatePayload(envelope, limits);
  if (envelope.event_case() != v1::EventEnvelope::EVENT_NOT_SET) {
    PrefixPaths(payload, EventTypeName(envelope));
    if (envelope.event_id().empty()) {
      Add(errors, "event_id", "required", "must be " + std::string(expected_event_id));
    } else if (envelope.event_id() != expected_event_id) {
      Add(errors, "event_id", "mismatch",
          Quote(envelope.event_id()) + " is not the id derived from the idempotency key, " +
              std::string(expected_event_id));
    }
  }
  errors.insert(errors.end(), std::make_move_iterator(payload.begin()),
                std::make_move_iterator(payload.end()));
  return errors;
}

Status FieldErrorsToStatus(const FieldErrors& errors) {
  if (errors.empty()) return Status::Ok();
  std::string message;
  for (const FieldError& e : errors) {
    if (!message.empty()) message += "; ";
    message += e.field + ": " + e.code;
    if (!e.message.empty()) message += " (" + e.message + ")";
  }
  return Status::InvalidArgument(std::move(message));
}

v1::Side NormalBalanceFor(v1::AccountType type) {
  switch (type) {
    case v1::ASSET:
    case v1::EXPENSE:
      return v1::DEBIT;
    case v1::LIABILITY:
    case v1::EQUITY:
    case v1::REVENUE:
      return v1::CREDIT;
    default:
      return v1::SIDE_UNSPECIFIED;
  }
}

v1::Side ResolvedNormalBalance(const v1::AccountOpened& account) {
  if (account.normal_balance() == v1::DEBIT || account.normal_balance() == v1::CREDIT) {
    return account.normal_balance();
  }
  return NormalBalanceFor(account.type());
}

std::string_view EventTypeName(v1::EventEnvelope::EventCase event_case) {
  switch (event_case) {
    case v1::EventEnvelope::kInstanceCreated:
      return "instance_created";
    case v1::EventEnvelope::kAccountOpened:
      return "account_opened";
    case v1::EventEnvelope::kAccountUpdated:
      return "account_updated";
    case v1::EventEnvelope::kAccountClosed:
      return "account_closed";
    case v1::EventEnvelope::kTransactionCreated:
      return "transaction_created";
    case v1::EventEnvelope::kTransactionUpdated:
      return "transaction_updated";
    case v1::EventEnvelope::EVENT_NOT_SET:
      break;
  }
  return "unknown";
}

std::string_view EventTypeName(const v1::EventEnvelope& envelope) {
  return EventTypeName(envelope.event_case());
}

}  // namespace kledger::domain
