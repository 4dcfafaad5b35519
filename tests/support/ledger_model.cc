// The ledger model's rules, re-derived from SPEC §2 and projections/README.md: balances in the
// account's normal direction, available = posted minus pending that reduces it, limits on the
// net effect per account, every sum exact (128-bit) and refused when it leaves int64.
#include "tests/support/ledger_model.h"

#include <limits>

namespace kledger::testing::model {
namespace {

using Wide = __int128;

bool FitsInt64(Wide v) {
  return v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max();
}

Verdict Applied() { return {Outcome::kApplied, ""}; }
Verdict Rejected(const char* reason) { return {Outcome::kRejected, reason}; }

// An account's balances while a transaction is being decided, wide so nothing can wrap.
struct WideBalances {
  Wide posted_debit = 0, posted_credit = 0, pending_debit = 0, pending_credit = 0;
};

WideBalances Widen(const Balances& b) {
  return {b.posted.debit, b.posted.credit, b.pending.debit, b.pending.credit};
}

// Signed in the normal direction.
Wide Signed(Side normal, Wide debit, Wide credit) {
  return normal == Side::kDebit ? debit - credit : credit - debit;
}

Wide Available(Side normal, const WideBalances& w) {
  // Pending money flowing against the normal direction is already spoken for; pending money
  // flowing with it has not arrived yet, so it does not count either way.
  const Wide reserved = normal == Side::kDebit ? w.pending_credit : w.pending_debit;
  return Signed(normal, w.posted_debit, w.posted_credit) - reserved;
}

// The narrow balances, or nullopt when one of them leaves int64 or a total goes negative.
std::optional<Balances> Narrow(Side normal, const WideBalances& w) {
  const Wide posted_amount = Signed(normal, w.posted_debit, w.posted_credit);
  const Wide pending_amount = Signed(normal, w.pending_debit, w.pending_credit);
  const Wide available = Available(normal, w);
  for (Wide v : {w.posted_debit, w.posted_credit, w.pending_debit, w.pending_credit}) {
    if (v < 0 || !FitsInt64(v)) return std::nullopt;
  }
  for (Wide v : {posted_amount, pending_amount, available}) {
    if (!FitsInt64(v)) return std::nullopt;
  }
  Balances b;
  b.posted = {static_cast<int64_t>(w.posted_debit), static_cast<int64_t>(w.posted_credit),
              static_cast<int64_t>(posted_amount)};
  b.pending = {static_cast<int64_t>(w.pending_debit), static_cast<int64_t>(w.pending_credit),
               static_cast<int64_t>(pending_amount)};
  b.available = static_cast<int64_t>(available);
  return b;
}

// What one entry does to its account.
struct Movement {
  int64_t pending_out = 0;  // pending amount released
  int64_t pending_in = 0;   // pending amount added
  int64_t posted_in = 0;    // posted amount added
  TxStatus status = TxStatus::kPending;
  int64_t history_amount = 0;  // 0: no history item
};

// Amounts positive and known directions; per currency debits equal credits, in exact sums.
std::optional<Verdict> CheckShapes(const std::vector<Entry>& entries) {
  std::map<std::string, std::pair<Wide, Wide>> sums;
  for (const Entry& e : entries) {
    if (e.amount <= 0 || e.account.empty() || e.currency.empty()) {
      return Rejected("invalid_event");
    }
    (e.direction == Side::kDebit ? sums[e.currency].first : sums[e.currency].second) += e.amount;
  }
  for (const auto& [currency, sum] : sums) {
    if (!FitsInt64(sum.first) || !FitsInt64(sum.second)) return Rejected("overflow");
    if (sum.first != sum.second) return Rejected("unbalanced");
  }
  return std::nullopt;
}

// Moves the money of `entries` as `moves` say, or returns why not and changes nothing.
std::optional<Verdict> MoveMoney(const std::string& event_id, int64_t offset,
                                 const std::string& source, const std::string& source_idempk,
                                 const std::vector<Entry>& entries,
                                 const std::vector<Movement>& moves,
                                 std::map<std::string, Account>& accounts,
                                 std::map<std::string, Totals>& trial_balance) {
  // Accounts first, in entry order: the first problem names the rejection.
  for (const Entry& e : entries) {
    auto it = accounts.find(e.account);
    if (it == accounts.end()) return Rejected("unknown_account");
    if (it->second.opened.currency != e.currency) return Rejected("currency_mismatch");
  }

  // Work on copies of the balances; nothing is kept unless every check passes.
  std::map<std::string, Balances> touched;
  std::vector<std::pair<std::string, HistoryItem>> history;
  std::map<std::string, std::pair<Wide, Wide>> posted_sums;  // currency -> (debits, credits)
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    const Movement& m = moves[i];
    Balances& balances =
        touched.try_emplace(e.account, accounts.at(e.account).balances).first->second;
    WideBalances w = Widen(balances);
    Wide& pending = e.direction == Side::kDebit ? w.pending_debit : w.pending_credit;
    Wide& posted = e.direction == Side::kDebit ? w.posted_debit : w.posted_credit;
    pending += Wide{m.pending_in} - m.pending_out;
    posted += m.posted_in;
    std::optional<Balances> after = Narrow(accounts.at(e.account).opened.normal, w);
    if (!after) return Rejected("overflow");
    balances = *after;
    if (m.posted_in != 0) {
      (e.direction == Side::kDebit ? posted_sums[e.currency].first
                                   : posted_sums[e.currency].second) += m.posted_in;
    }
    if (m.history_amount != 0) {
      history.push_back({e.account, HistoryItem{event_id, source, source_idempk, e.direction,
                                                m.history_amount, m.status, balances, offset}});
    }
  }

  // Limits judge the net effect on each account: lowering the available balance below the
  // floor is refused; raising it, even while below the floor, is fine.
  for (const auto& [address, after] : touched) {
    const Account& account = accounts.at(address);
    if (account.opened.allow_negative) continue;
    const int64_t floor = -account.opened.credit_limit.value_or(0);
    if (after.available < account.balances.available && after.available < floor) {
      return Rejected("insufficient_funds");
    }
  }

  std::map<std::string, Totals> new_totals;
  for (const auto& [currency, sums] : posted_sums) {
    auto found = trial_balance.find(currency);
    const Totals old = found == trial_balance.end() ? Totals{} : found->second;
    const Wide debits = Wide{old.debits} + sums.first;
    const Wide credits = Wide{old.credits} + sums.second;
    if (!FitsInt64(debits) || !FitsInt64(credits)) return Rejected("overflow");
    new_totals[currency] = {static_cast<int64_t>(debits), static_cast<int64_t>(credits)};
  }

  for (const auto& [address, balances] : touched) accounts.at(address).balances = balances;
  for (auto& [address, item] : history) accounts.at(address).history.push_back(std::move(item));
  for (auto& [currency, totals] : new_totals) trial_balance[currency] = totals;
  return std::nullopt;
}

}  // namespace

std::string LedgerModel::TransactionKey(const std::string& source,
                                        const std::string& source_idempk) {
  return source + '\n' + source_idempk;
}

Verdict LedgerModel::Apply(const std::string& event_id, int64_t offset, const Command& command) {
  if (outcomes_.count(event_id) != 0) return {Outcome::kDuplicate, outcomes_.at(event_id).reason};
  Verdict verdict;
  if (const auto* open = std::get_if<OpenAccount>(&command)) {
    verdict = Open(*open);
  } else if (const auto* create = std::get_if<CreateTransaction>(&command)) {
    verdict = Create(event_id, offset, *create);
  } else {
    verdict = Update(event_id, offset, std::get<UpdateTransaction>(command));
  }
  outcomes_.emplace(event_id, verdict);
  return verdict;
}

std::optional<Verdict> LedgerModel::RecordedOutcome(const std::string& event_id) const {
  auto it = outcomes_.find(event_id);
  if (it == outcomes_.end()) return std::nullopt;
  return it->second;
}

Verdict LedgerModel::Open(const OpenAccount& command) {
  if (command.credit_limit && *command.credit_limit < 0) return Rejected("invalid_event");
  if (accounts_.count(command.address) != 0) return Rejected("account_exists");
  accounts_[command.address].opened = command;
  return Applied();
}

Verdict LedgerModel::Create(const std::string& event_id, int64_t offset,
                            const CreateTransaction& command) {
  const std::string key = TransactionKey(command.source, command.source_idempk);
  if (transactions_.count(key) != 0) return {Outcome::kDuplicate, ""};
  if (command.status == TxStatus::kArchived) return Rejected("invalid_event");
  if (command.entries.size() < 2) return Rejected("invalid_event");
  if (auto rejected = CheckShapes(command.entries)) return *rejected;

  const bool posted = command.status == TxStatus::kPosted;
  std::vector<Movement> moves;
  for (const Entry& e : command.entries) {
    moves.push_back({0, posted ? 0 : e.amount, posted ? e.amount : 0, command.status, e.amount});
  }
  // Moving the money also checks the accounts (exist, currency) and limits.
  if (auto rejected = MoveMoney(event_id, offset, command.source, command.source_idempk,
                                command.entries, moves, accounts_, trial_balance_)) {
    return *rejected;
  }
  transactions_[key] = {command, command.status, {}};
  return Applied();
}

Verdict LedgerModel::Update(const std::string& event_id, int64_t offset,
                            const UpdateTransaction& command) {
  auto it = transactions_.find(TransactionKey(command.source, command.source_idempk));
  if (it == transactions_.end()) return Rejected("unknown_transaction");
  Transaction& tx = it->second;
  for (const std::string& done : tx.update_idempks) {
    if (done == command.update_idempk) return {Outcome::kDuplicate, ""};
  }
  if (tx.status != TxStatus::kPending) return Rejected("not_pending");
  const std::vector<Entry>& old_entries = tx.created.entries;
  if (!command.entries.empty()) {
    // An update changes amounts only: the same accounts, directions and currencies, in order.
    bool same = command.entries.size() == old_entries.size();
    for (size_t i = 0; same && i < old_entries.size(); ++i) {
      same = command.entries[i].account == old_entries[i].account &&
             command.entries[i].direction == old_entries[i].direction &&
             command.entries[i].currency == old_entries[i].currency;
    }
    if (!same) return Rejected("entries_mismatch");
    if (auto rejected = CheckShapes(command.entries)) return *rejected;
  }
  const bool edited = !command.entries.empty() && command.action != Action::kArchive;

  std::vector<Movement> moves;
  for (size_t i = 0; i < old_entries.size(); ++i) {
    const int64_t was = old_entries[i].amount;
    const int64_t now = edited ? command.entries[i].amount : was;
    switch (command.action) {
      case Action::kPost:
        moves.push_back({was, 0, now, TxStatus::kPosted, now});
        break;
      case Action::kArchive:
        moves.push_back({was, 0, 0, TxStatus::kArchived, was});
        break;
      case Action::kEdit:
        // An edit that keeps an entry's amount leaves that account's history alone.
        moves.push_back({was, now, 0, TxStatus::kPending, now == was ? 0 : now});
        break;
    }
  }
  if (auto rejected = MoveMoney(event_id, offset, command.source, command.source_idempk,
                                old_entries, moves, accounts_, trial_balance_)) {
    return *rejected;
  }
  if (edited) {
    for (size_t i = 0; i < old_entries.size(); ++i) {
      tx.created.entries[i].amount = command.entries[i].amount;
    }
  }
  if (command.action == Action::kPost) tx.status = TxStatus::kPosted;
  if (command.action == Action::kArchive) tx.status = TxStatus::kArchived;
  tx.update_idempks.push_back(command.update_idempk);
  return Applied();
}

const char* Name(Side side) { return side == Side::kDebit ? "DEBIT" : "CREDIT"; }

const char* Name(TxStatus status) {
  switch (status) {
    case TxStatus::kPending:
      return "PENDING";
    case TxStatus::kPosted:
      return "POSTED";
    case TxStatus::kArchived:
      return "ARCHIVED";
  }
  return "?";
}

const char* Name(Outcome outcome) {
  switch (outcome) {
    case Outcome::kApplied:
      return "APPLIED";
    case Outcome::kRejected:
      return "REJECTED";
    case Outcome::kDuplicate:
      return "DUPLICATE";
  }
  return "?";
}

}  // namespace kledger::testing::model
