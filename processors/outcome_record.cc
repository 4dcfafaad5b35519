#include "processors/outcome_record.h"

#include <algorithm>

#include "common/domain/validation.h"

namespace kledger::processors {

void ChangeRecorder::Clear() {
  transaction_.reset();
  account_.reset();
  moved_.clear();
}

Status ChangeRecorder::FillChanges(v1::OutcomeRecord& record) {
  // Moved, not copied: what was noted is this event's, and Clear() comes before the next.
  if (transaction_) record.mutable_transaction()->Swap(&*transaction_);
  if (account_) record.mutable_account()->Swap(&*account_);
  for (const auto& [instance, address] : moved_) {
    ASSIGN_OR_RETURN(const v1::AccountView* account, state_.FindAccount(instance, address));
    if (account == nullptr) {
      return Status::Internal("account " + address + " moved but cannot be read back");
    }
    v1::AccountBalances& balances = *record.add_balances();
    balances.set_address(address);
    balances.set_currency(account->currency());
    *balances.mutable_balances() = account->balances();
  }
  return Status::Ok();
}

Result<const v1::AccountView*> ChangeRecorder::FindAccount(std::string_view instance,
                                                           std::string_view address) {
  return state_.FindAccount(instance, address);
}

Status ChangeRecorder::PutAccount(v1::AccountView account) {
  account_ = account;
  return state_.PutAccount(std::move(account));
}

Status ChangeRecorder::PutBalances(std::string_view instance, std::string_view address,
                                   const v1::Balances& balances) {
  const bool known = std::any_of(moved_.begin(), moved_.end(), [&](const auto& moved) {
    return moved.first == instance && moved.second == address;
  });
  if (!known) moved_.emplace_back(std::string(instance), std::string(address));
  return state_.PutBalances(instance, address, balances);
}

Result<std::optional<v1::TransactionView>> ChangeRecorder::FindTransaction(
    std::string_view instance, std::string_view source, std::string_view source_idempk) {
  return state_.FindTransaction(instance, source, source_idempk);
}

Status ChangeRecorder::PutTransaction(const v1::TransactionView& transaction) {
  transaction_ = transaction;
  return state_.PutTransaction(transaction);
}

Status ChangeRecorder::PutTransaction(v1::TransactionView&& transaction) {
  // Written from the caller's copy, then kept by moving it: no copy of its entries and metadata
  // (docs/performance.md, "Lever: the transaction handed to the outcome record, not copied").
  RETURN_IF_ERROR(state_.PutTransaction(static_cast<const v1::TransactionView&>(transaction)));
  transaction_ = std::move(transaction);
  return Status::Ok();
}

Result<std::optional<v1::EventOutcomeView>> ChangeRecorder::FindOutcome(std::string_view instance,
                                                                        std::string_view event_id) {
  return state_.FindOutcome(instance, event_id);
}

Status ChangeRecorder::PutOutcome(const v1::EventOutcomeView& outcome) {
  return state_.PutOutcome(outcome);
}

Status ChangeRecorder::AppendHistory(std::string_view instance, std::string_view address,
                                     int32_t entry_index, const v1::HistoryItem& item) {
  return state_.AppendHistory(instance, address, entry_index, item);
}

Result<std::optional<v1::CurrencyTotals>> ChangeRecorder::FindCurrencyTotals(
    std::string_view instance, std::string_view currency) {
  return state_.FindCurrencyTotals(instance, currency);
}

Status ChangeRecorder::PutCurrencyTotals(std::string_view instance, v1::CurrencyTotals totals) {
  return state_.PutCurrencyTotals(instance, std::move(totals));
}

v1::OutcomeRecord DecidedOutcome(const v1::EventEnvelope& event,
                                 const v1::EventOutcomeView& outcome, int32_t partition,
                                 int64_t offset) {
  v1::OutcomeRecord record;
  record.set_schema_version(kOutcomeSchemaVersion);
  record.set_event_id(event.event_id());
  record.set_instance_id(event.instance_id());
  record.set_event_type(std::string(domain::EventTypeName(event)));
  record.set_correlation_id(event.correlation_id());
  record.set_submitted_at_ms(event.submitted_at_ms());
  record.set_source_partition(partition);
  record.set_source_offset(offset);
  record.set_outcome(outcome.outcome());
  record.set_reason(outcome.reason());
  record.set_message(outcome.message());
  return record;
}

v1::OutcomeRecord DeadLetteredOutcome(const kafka::ConsumedRecord& record,
                                      const DeadLetterReason& why) {
  v1::OutcomeRecord out;
  out.set_schema_version(kOutcomeSchemaVersion);
  v1::EventEnvelope envelope;
  if (envelope.ParseFromString(record.value)) {
    out.set_event_id(envelope.event_id());
    if (envelope.event_case() != v1::EventEnvelope::EVENT_NOT_SET) {
      out.set_event_type(std::string(domain::EventTypeName(envelope)));
    }
    out.set_correlation_id(envelope.correlation_id());
    out.set_submitted_at_ms(envelope.submitted_at_ms());
  }
  out.set_instance_id(record.key);
  out.set_source_partition(record.partition);
  out.set_source_offset(record.offset);
  out.set_outcome(v1::DEAD_LETTERED);
  out.set_reason(std::string(why.code_name()));
  out.set_message(why.error_message);
  return out;
}

std::string_view OutcomeName(v1::Outcome outcome) {
  switch (outcome) {
    case v1::APPLIED:
      return "applied";
    case v1::REJECTED:
      return "rejected";
    case v1::DUPLICATE:
      return "duplicate";
    case v1::DEAD_LETTERED:
      return "dead_lettered";
    default:
      return "unknown";
  }
}

kafka::Headers OutcomeHeaders(const internal::OutcomeHeadline& record) {
  return {{"kledger-event-id", record.event_id()},
          {"kledger-event-type", record.event_type()},
          {"kledger-schema-version", std::to_string(record.schema_version())},
          {"kledger-correlation-id", record.correlation_id()},
          {"content-type", "application/x-protobuf"},
          {kOutcomeHeader, std::string(OutcomeName(static_cast<v1::Outcome>(record.outcome())))},
          {kSourcePartitionHeader, std::to_string(record.source_partition())},
          {kSourceOffsetHeader, std::to_string(record.source_offset())}};
}

}  // namespace kledger::processors
