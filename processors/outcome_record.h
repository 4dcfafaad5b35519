// What the outcome stream (kledger.outcomes) carries for one record of kledger.events: a
// v1::OutcomeRecord, built where the record's outcome is decided (the applier; the processor for
// retries exhausted) and written to the outbox in the same commit; and its Kafka form (key and
// headers) for the relay and `kledger outcomes tail`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/kafka/record.h"
#include "common/status.h"
#include "internal/outcome_headline.pb.h"  // generated from processors/internal/
#include "kledger/v1/events.pb.h"
#include "kledger/v1/outcomes.pb.h"
#include "processors/dead_letter.h"
#include "projections/ledger.h"

namespace kledger::processors {

inline constexpr int32_t kOutcomeSchemaVersion = 1;

// Headers of a kledger.outcomes record, beside those of the events topic (kledger-event-id,
// kledger-event-type, kledger-schema-version, kledger-correlation-id, content-type).
inline constexpr char kOutcomeHeader[] = "kledger-outcome";  // applied | rejected | ...
inline constexpr char kSourcePartitionHeader[] = "kledger-source-partition";
inline constexpr char kSourceOffsetHeader[] = "kledger-source-offset";

// A LedgerState that passes every call to another and keeps what one event changed: the
// transaction and the account it wrote, and the accounts whose balances it moved. Clear() it
// before each event; after an APPLIED outcome, FillChanges() writes the changes into a record.
class ChangeRecorder final : public projections::LedgerState {
 public:
  explicit ChangeRecorder(projections::LedgerState& state) : state_(state) {}

  void Clear();
  // Moves the transaction and account written since Clear() into `record`, and adds each moved
  // account's balances as the state now holds them, in the order they were first moved. Once per
  // event. On error (a storage failure reading an account back) returns it.
  Status FillChanges(v1::OutcomeRecord& record);

  Result<const v1::AccountView*> FindAccount(std::string_view instance,
                                             std::string_view address) override;
  Status PutAccount(v1::AccountView account) override;
  Status PutBalances(std::string_view instance, std::string_view address,
                     const v1::Balances& balances) override;
  Result<std::optional<v1::TransactionView>> FindTransaction(
      std::string_view instance, std::string_view source, std::string_view source_idempk) override;
  Status PutTransaction(const v1::TransactionView& transaction) override;
  Status PutTransaction(v1::TransactionView&& transaction) override;
  Result<std::optional<v1::EventOutcomeView>> FindOutcome(std::string_view instance,
                                                          std::string_view event_id) override;
  Status PutOutcome(const v1::EventOutcomeView& outcome) override;
  Status AppendHistory(std::string_view instance, std::string_view address, int32_t entry_index,
                       const v1::HistoryItem& item) override;
  Result<std::optional<v1::CurrencyTotals>> FindCurrencyTotals(std::string_view instance,
                                                               std::string_view currency) override;
  Status PutCurrencyTotals(std::string_view instance, v1::CurrencyTotals totals) override;

 private:
  projections::LedgerState& state_;
  std::optional<v1::TransactionView> transaction_;
  std::optional<v1::AccountView> account_;
  std::vector<std::pair<std::string, std::string>> moved_;  // (instance, address), no repeats
};

// The record of an event decided at `partition` and `offset`: ids, source position, outcome and
// reason; no changes yet.
v1::OutcomeRecord DecidedOutcome(const v1::EventEnvelope& event,
                                 const v1::EventOutcomeView& outcome, int32_t partition,
                                 int64_t offset);

// The record of a dead-lettered record (`why`), with what can be read of its envelope: the ids
// when it parses at all, the instance from the record key otherwise.
v1::OutcomeRecord DeadLetteredOutcome(const kafka::ConsumedRecord& record,
                                      const DeadLetterReason& why);

// The lower-case name of an outcome as the metrics and headers write it ("applied", ...).
std::string_view OutcomeName(v1::Outcome outcome);

// The headers a kledger.outcomes record carries for `record`: a serialized v1::OutcomeRecord
// read as its headline (internal/outcome_headline.proto), without decoding what changed.
kafka::Headers OutcomeHeaders(const internal::OutcomeHeadline& record);

}  // namespace kledger::processors
