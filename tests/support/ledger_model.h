// An independent model of one ledger instance, written from SPEC §2 and the documented rules
// (projections/README.md) for tests to compare the processors' projections against. It shares
// no code with projections/: plain structs in, plain structs out, 128-bit arithmetic, so a bug
// in the product's state machine does not hide behind the same bug here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace kledger::testing::model {

enum class Side { kDebit, kCredit };
enum class TxStatus { kPending, kPosted, kArchived };
enum class Action { kPost, kArchive, kEdit };
enum class Outcome { kApplied, kRejected, kDuplicate };

struct Entry {
  std::string account;
  Side direction = Side::kDebit;
  int64_t amount = 0;
  std::string currency;
};

struct OpenAccount {
  std::string address;
  Side normal = Side::kDebit;  // already resolved from the account type
  std::string currency;
  bool allow_negative = false;
  std::optional<int64_t> credit_limit;
};

struct CreateTransaction {
  std::string source;
  std::string source_idempk;
  TxStatus status = TxStatus::kPosted;  // kPending or kPosted
  std::vector<Entry> entries;
};

struct UpdateTransaction {
  std::string source;
  std::string source_idempk;
  std::string update_idempk;
  Action action = Action::kPost;
  std::vector<Entry> entries;  // empty: amounts stay
};

using Command = std::variant<OpenAccount, CreateTransaction, UpdateTransaction>;

struct BalanceSide {
  int64_t debit = 0;
  int64_t credit = 0;
  int64_t amount = 0;  // signed in the account's normal direction
  bool operator==(const BalanceSide&) const = default;
};

struct Balances {
  BalanceSide posted;
  BalanceSide pending;
  int64_t available = 0;
  bool operator==(const Balances&) const = default;
};

struct HistoryItem {
  std::string event_id;
  std::string source;
  std::string source_idempk;
  Side direction = Side::kDebit;
  int64_t amount = 0;
  TxStatus status = TxStatus::kPending;  // how this entry moved the balance
  Balances balances_after;
  int64_t offset = 0;
};

struct Account {
  OpenAccount opened;
  Balances balances;
  std::vector<HistoryItem> history;  // oldest first
};

struct Transaction {
  CreateTransaction created;  // entries carry the current (possibly edited) amounts
  TxStatus status = TxStatus::kPending;
  std::vector<std::string> update_idempks;
};

// What became of one event.
struct Verdict {
  Outcome outcome = Outcome::kApplied;
  std::string reason;  // for kRejected: "insufficient_funds", "not_pending", ...
  bool operator==(const Verdict&) const = default;
};

struct Totals {
  int64_t debits = 0;
  int64_t credits = 0;
  bool operator==(const Totals&) const = default;
};

// One ledger instance. Feed it the instance's events in log order.
class LedgerModel {
 public:
  // Applies the event `event_id` read at `offset`. An event id seen before is a duplicate and
  // changes nothing, not even the recorded outcome; otherwise the verdict is recorded under
  // `event_id`. A rejection changes nothing else.
  Verdict Apply(const std::string& event_id, int64_t offset, const Command& command);

  // The outcome a query for `event_id` should answer: that of its first occurrence.
  std::optional<Verdict> RecordedOutcome(const std::string& event_id) const;

  const std::map<std::string, Account>& accounts() const { return accounts_; }
  const std::map<std::string, Transaction>& transactions() const { return transactions_; }
  // Posted totals per currency (the trial balance).
  const std::map<std::string, Totals>& trial_balance() const { return trial_balance_; }

  // Transactions are keyed by source + '\n' + source_idempk.
  static std::string TransactionKey(const std::string& source, const std::string& source_idempk);

 private:
  Verdict Open(const OpenAccount& command);
  Verdict Create(const std::string& event_id, int64_t offset, const CreateTransaction& command);
  Verdict Update(const std::string& event_id, int64_t offset, const UpdateTransaction& command);

  std::map<std::string, Account> accounts_;
  std::map<std::string, Transaction> transactions_;
  std::map<std::string, Totals> trial_balance_;
  std::map<std::string, Verdict> outcomes_;
};

// Stable names for messages: "DEBIT", "POSTED", "APPLIED", ...
const char* Name(Side side);
const char* Name(TxStatus status);
const char* Name(Outcome outcome);

}  // namespace kledger::testing::model
