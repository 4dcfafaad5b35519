// The ledger state machine: turns one EventEnvelope into an outcome and balance changes.
// Pure: it sees storage only through LedgerState, so the same log prefix gives the same state.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/status.h"
#include "kledger/v1/api.pb.h"
#include "kledger/v1/events.pb.h"

namespace kledger::projections {

// Rejection reason codes recorded in EventOutcomeView.reason.
inline constexpr std::string_view kReasonInvalidEvent = "invalid_event";
inline constexpr std::string_view kReasonAccountExists = "account_exists";
inline constexpr std::string_view kReasonUnknownAccount = "unknown_account";
inline constexpr std::string_view kReasonAccountClosed = "account_closed";
inline constexpr std::string_view kReasonAccountNotEmpty = "account_not_empty";
inline constexpr std::string_view kReasonCurrencyMismatch = "currency_mismatch";
inline constexpr std::string_view kReasonUnbalanced = "unbalanced";
inline constexpr std::string_view kReasonOverflow = "overflow";
inline constexpr std::string_view kReasonInsufficientFunds = "insufficient_funds";
inline constexpr std::string_view kReasonUnknownTransaction = "unknown_transaction";
inline constexpr std::string_view kReasonNotPending = "not_pending";
inline constexpr std::string_view kReasonEntriesMismatch = "entries_mismatch";

// The records the state machine reads and writes. Implementations buffer writes (e.g. in a
// RocksDB WriteBatchWithIndex) and must return their own buffered writes from the Find calls.
// Every identifier passed in is free of 0x00 bytes (the state machine rejects events carrying
// one), so implementations may use 0x00 as a key separator.
class LedgerState {
 public:
  virtual ~LedgerState() = default;

  // On success returns the account, or nullptr when it does not exist. On error (storage
  // failure or undecodable record) returns the Status. The account stays the state's: it is read
  // in place, not copied (nearly every event reads two), and the pointer stays valid and the
  // account unchanged until this state next writes that same account (PutAccount, PutBalances)
  // or the state is committed or destroyed. So accounts found one after another can be read
  // together.
  virtual Result<const v1::AccountView*> FindAccount(std::string_view instance,
                                                     std::string_view address) = 0;
  // Stores the account under (account.instance_id(), account.address()), replacing any. By
  // value: a caller done with its copy moves it in.
  virtual Status PutAccount(v1::AccountView account) = 0;
  // Replaces the balances of an account FindAccount found, keeping the rest of it: transactions
  // change nothing else, so they write balances without copying the account. Internal error when
  // the state has no such account. The balances must be those after the account's last
  // AppendHistory of the same event: a state may keep an account's balances in its history alone
  // (ProjectionStore does), so balances changed without a history item would not be kept.
  virtual Status PutBalances(std::string_view instance, std::string_view address,
                             const v1::Balances& balances) = 0;

  virtual Result<std::optional<v1::TransactionView>> FindTransaction(
      std::string_view instance, std::string_view source, std::string_view source_idempk) = 0;
  // Stores the transaction under (instance_id, source, source_idempk), replacing any.
  virtual Status PutTransaction(const v1::TransactionView& transaction) = 0;
  // The same, from a caller done with its copy (the state machine always is): a state that keeps
  // the transaction takes it instead of copying it (ChangeRecorder, for the outcome record).
  virtual Status PutTransaction(v1::TransactionView&& transaction) {
    return PutTransaction(static_cast<const v1::TransactionView&>(transaction));
  }

  virtual Result<std::optional<v1::EventOutcomeView>> FindOutcome(std::string_view instance,
                                                                  std::string_view event_id) = 0;
  // Stores the outcome under (instance_id, event_id), replacing any.
  virtual Status PutOutcome(const v1::EventOutcomeView& outcome) = 0;

  // Appends one history item to the account's history. (item.offset(), entry_index) is unique
  // per account and grows with the log, so the history can be listed newest first.
  virtual Status AppendHistory(std::string_view instance, std::string_view address,
                               int32_t entry_index, const v1::HistoryItem& item) = 0;

  // Trial-balance totals of posted amounts for one (instance, currency); nullopt when none yet.
  virtual Result<std::optional<v1::CurrencyTotals>> FindCurrencyTotals(
      std::string_view instance, std::string_view currency) = 0;
  // Stores the totals under (instance, totals.currency()), replacing any. By value, as PutAccount.
  virtual Status PutCurrencyTotals(std::string_view instance, v1::CurrencyTotals totals) = 0;
};

// Applies one event, read from `partition` at `offset`, to `state`.
//
// On success returns the event's outcome: APPLIED; REJECTED with a reason code (kReason*) and
// a human-readable message; or DUPLICATE when the event id, the transaction's (source,
// source_idempk) or the update's update_idempk was seen before — then `reason` carries the
// original outcome's reason and `message` names the original. Every outcome except a repeated
// event id is also stored in `state`, so each event id has exactly one recorded outcome.
// A rejection changes nothing but the outcome record.
//
// On error (only a storage failure from `state`) returns that Status; `state` may then hold part
// of the event's writes, so the caller must discard its whole buffered batch and retry later.
//
// The input is treated as untrusted: malformed events are rejected ("invalid_event"), never
// applied, and arithmetic never wraps ("overflow").
Result<v1::EventOutcomeView> ApplyEvent(const v1::EventEnvelope& event, int32_t partition,
                                        int64_t offset, LedgerState& state);

}  // namespace kledger::projections
