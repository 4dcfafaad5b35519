// The ledger state machine. Every handler first reads and decides, and writes only once the
// event is known to apply, so a rejection leaves nothing behind but its outcome record.
#include "projections/ledger.h"

#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/domain/entries.h"
#include "common/domain/identifiers.h"
#include "common/domain/money.h"
#include "common/domain/validation.h"

namespace kledger::projections {
namespace {

using domain::CheckedAdd;
using domain::CheckedSub;
using domain::EventTypeName;
using domain::IsKeySafe;  // identifiers become key parts separated by 0x00
using domain::NormalBalanceFor;
using EntryList = google::protobuf::RepeatedPtrField<v1::Entry>;

// What became of an event, before it is turned into an EventOutcomeView.
struct Verdict {
  v1::Outcome outcome = v1::APPLIED;
  std::string reason;
  std::string message;
};

Verdict Applied() { return {}; }
Verdict Rejected(std::string_view reason, std::string message) {
  return {v1::REJECTED, std::string(reason), std::move(message)};
}

// The event being applied and where it came from.
struct Context {
  const v1::EventEnvelope& event;
  int32_t partition;
  int64_t offset;
  LedgerState& state;
  const std::string& instance() const { return event.instance_id(); }
};

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

bool IsSide(v1::Side side) { return side == v1::DEBIT || side == v1::CREDIT; }

// ---- Balance arithmetic -------------------------------------------------------------------

// Recomputes the derived amounts from the debit/credit totals. Returns false when a total is
// negative (the books would be inconsistent) or a result does not fit in int64.
bool RecomputeDerived(v1::Balances& b, v1::Side normal_balance) {
  const bool debit_normal = normal_balance == v1::DEBIT;
  for (v1::BalanceSide* side : {b.mutable_posted(), b.mutable_pending()}) {
    if (side->debit() < 0 || side->credit() < 0) return false;
    auto amount = debit_normal ? CheckedSub(side->debit(), side->credit())
                               : CheckedSub(side->credit(), side->debit());
    if (!amount) return false;
    side->set_amount(*amount);
  }
  // Pending entries against the normal direction already reserve funds; pending entries in the
  // normal direction are not money yet, so they never raise what is available.
  const int64_t reserved = debit_normal ? b.pending().credit() : b.pending().debit();
  auto available = CheckedSub(b.posted().amount(), reserved);
  if (!available) return false;
  b.set_available(*available);
  return true;
}

// Adds `delta` (negative to remove) to the posted or pending total of `direction`.
bool AddToSide(v1::BalanceSide& side, v1::Side direction, int64_t delta) {
  const int64_t current = direction == v1::DEBIT ? side.debit() : side.credit();
  auto next = CheckedAdd(current, delta);
  if (!next || *next < 0) return false;
  direction == v1::DEBIT ? side.set_debit(*next) : side.set_credit(*next);
  return true;
}

// The lowest available balance an account may reach by a change that lowers it; nullopt when
// it may go negative without limit.
std::optional<int64_t> AvailableFloor(const v1::AccountView& account) {
  if (account.allow_negative()) return std::nullopt;
  // A negative limit is rejected on input; clamping keeps the negation below safe regardless.
  const int64_t limit =
      account.has_credit_limit() && account.credit_limit() > 0 ? account.credit_limit() : 0;
  return -limit;
}

// How one entry of a transaction moves its account's balances.
struct EntryChange {
  int64_t remove_pending = 0;
  int64_t add_pending = 0;
  int64_t add_posted = 0;
  v1::TransactionStatus history_status = v1::TRANSACTION_STATUS_UNSPECIFIED;
  int64_t history_amount = 0;  // 0: the entry does not change the balance, no history item
};

// An account a transaction moves: the stored account, read in place, and its balances as the
// transaction changes them, written back (PutBalances) only once the transaction is accepted.
struct LoadedAccount {
  const v1::AccountView* stored;
  v1::Balances balances;
};
// By address. The keys view the entries' own strings, which outlive the map.
using LoadedAccounts = std::map<std::string_view, LoadedAccount>;

// ---- Entry validation ---------------------------------------------------------------------

// Turns the first problem domain::CheckEntries finds in the entries' own shape (identifiers,
// directions, positive amounts, and per currency debits = credits, which the trial balance
// relies on) into the rejection.
class FirstEntryRejection final : public domain::EntryFindings {
 public:
  bool OnFaultyEntry(int index, const v1::Entry& e, const domain::EntryFaults& faults) override {
    const std::string where = "entries[" + std::to_string(index) + "]";
    if (faults.account || faults.currency || faults.direction) {
      verdict = Rejected(kReasonInvalidEvent,
                         where + " needs an account, a currency and a direction DEBIT or CREDIT");
    } else {
      verdict = Rejected(kReasonInvalidEvent,
                         where + ".amount must be > 0, got " + std::to_string(e.amount()));
    }
    return false;
  }
  bool OnOverflow(int, const v1::Entry& e) override {
    verdict = Rejected(kReasonOverflow,
                       "the entries' total in " + e.currency() + " does not fit in int64");
    return false;
  }
  bool OnCurrency(std::string_view currency, const domain::CheckedSum& debits,
                  const domain::CheckedSum& credits) override {
    // No sum has overflowed: OnOverflow ended the walk at the first that did.
    if (*debits.value() == *credits.value()) return true;
    verdict = Rejected(kReasonUnbalanced, "debits (" + std::to_string(*debits.value()) +
                                              ") and credits (" + std::to_string(*credits.value()) +
                                              ") differ in " + std::string(currency));
    return false;
  }

  std::optional<Verdict> verdict;
};

// The rejection of `entries`' shape, if any. Identifiers need only be key-safe: the events were
// validated before they entered the log, maybe under older rules that the state machine must
// go on applying as it did.
std::optional<Verdict> CheckEntryShapes(const EntryList& entries) {
  FirstEntryRejection first;
  domain::CheckEntries(entries, domain::EntryIdentifiers::kKeySafe, first);
  return std::move(first.verdict);
}

// Loads every account the entries name into `accounts`, checking each exists, is open and holds
// the entry's currency. Returns the first rejection in entry order, if any.
Result<std::optional<Verdict>> LoadAccounts(const Context& ctx, const EntryList& entries,
                                            LoadedAccounts& accounts) {
  for (int i = 0; i < entries.size(); ++i) {
    const v1::Entry& e = entries[i];
    auto it = accounts.find(e.account());
    if (it == accounts.end()) {
      ASSIGN_OR_RETURN(const v1::AccountView* found,
                       ctx.state.FindAccount(ctx.instance(), e.account()));
      if (found == nullptr) {
        return {
            Rejected(kReasonUnknownAccount, "account " + Quote(e.account()) + " does not exist")};
      }
      it = accounts.emplace(e.account(), LoadedAccount{found, found->balances()}).first;
    }
    const v1::AccountView& account = *it->second.stored;
    if (account.status() == v1::CLOSED) {
      return {Rejected(kReasonAccountClosed, "account " + Quote(e.account()) + " is closed")};
    }
    if (account.currency() != e.currency()) {
      return {Rejected(kReasonCurrencyMismatch,
                       "entries[" + std::to_string(i) + "] is in " + e.currency() +
                           " but account " + Quote(e.account()) + " holds " + account.currency())};
    }
  }
  return {std::nullopt};
}

// ---- The shared transaction step ----------------------------------------------------------

// Applies `changes` (one per entry) to the loaded accounts, checks balance limits, then writes
// accounts, history and trial-balance totals. Returns a rejection before any write, if any.
Result<std::optional<Verdict>> MoveBalances(const Context& ctx, const std::string& source,
                                            const std::string& source_idempk,
                                            const EntryList& entries,
                                            const std::vector<EntryChange>& changes,
                                            LoadedAccounts& accounts) {
  std::vector<std::pair<int32_t, v1::HistoryItem>> history;
  history.reserve(entries.size());
  std::map<std::string, std::pair<int64_t, int64_t>> posted;  // currency -> (debits, credits)

  for (int i = 0; i < entries.size(); ++i) {
    const v1::Entry& e = entries[i];
    const EntryChange& c = changes[i];
    LoadedAccount& account = accounts.at(e.account());
    v1::Balances& b = account.balances;
    const bool ok = AddToSide(*b.mutable_pending(), e.direction(), -c.remove_pending) &&
                    AddToSide(*b.mutable_pending(), e.direction(), c.add_pending) &&
                    AddToSide(*b.mutable_posted(), e.direction(), c.add_posted) &&
                    RecomputeDerived(b, account.stored->normal_balance());
    if (!ok) {
      return {Rejected(kReasonOverflow,
                       "a balance of account " + Quote(e.account()) + " would leave int64")};
    }
    if (c.add_posted != 0) {
      auto& [debits, credits] = posted[e.currency()];
      int64_t& total = e.direction() == v1::DEBIT ? debits : credits;
      auto sum = CheckedAdd(total, c.add_posted);
      if (!sum) return {Rejected(kReasonOverflow, "the posted total would leave int64")};
      total = *sum;
    }
    if (c.history_amount != 0) {
      v1::HistoryItem item;
      item.set_event_id(ctx.event.event_id());
      item.set_source(source);
      item.set_source_idempk(source_idempk);
      item.set_direction(e.direction());
      item.set_amount(c.history_amount);
      item.set_status(c.history_status);
      *item.mutable_balances_after() = b;
      item.set_offset(ctx.offset);
      history.emplace_back(i, std::move(item));
    }
  }

  // Limits apply to the net effect per account: a transaction that lowers an account's
  // available balance must leave it at or above the floor. One that raises it is always fine,
  // even for an account already below its floor (e.g. after its credit limit was lowered).
  for (const auto& [address, account] : accounts) {
    const int64_t was = account.stored->balances().available();
    const int64_t now = account.balances.available();
    const std::optional<int64_t> floor = AvailableFloor(*account.stored);
    if (floor && now < was && now < *floor) {
      return {Rejected(kReasonInsufficientFunds,
                       "account " + Quote(address) + " would have " + std::to_string(now) +
                           " available, below its floor of " + std::to_string(*floor))};
    }
  }

  std::map<std::string, v1::CurrencyTotals> new_totals;
  for (const auto& [currency, sums] : posted) {
    ASSIGN_OR_RETURN(std::optional<v1::CurrencyTotals> found,
                     ctx.state.FindCurrencyTotals(ctx.instance(), currency));
    v1::CurrencyTotals totals = found ? std::move(*found) : v1::CurrencyTotals();
    totals.set_currency(currency);
    auto debits = CheckedAdd(totals.debits(), sums.first);
    auto credits = CheckedAdd(totals.credits(), sums.second);
    if (!debits || !credits) {
      return {Rejected(kReasonOverflow,
                       "the trial balance total in " + currency + " would leave int64")};
    }
    totals.set_debits(*debits);
    totals.set_credits(*credits);
    new_totals.emplace(currency, std::move(totals));
  }

  // Decided: from here on only writes.
  for (const auto& [address, account] : accounts) {
    RETURN_IF_ERROR(ctx.state.PutBalances(ctx.instance(), address, account.balances));
  }
  for (const auto& [index, item] : history) {
    RETURN_IF_ERROR(ctx.state.AppendHistory(ctx.instance(), entries[index].account(), index, item));
  }
  for (auto& [currency, totals] : new_totals) {
    RETURN_IF_ERROR(ctx.state.PutCurrencyTotals(ctx.instance(), std::move(totals)));
  }
  return {std::nullopt};
}

// ---- Handlers -----------------------------------------------------------------------------

Result<Verdict> ApplyAccountOpened(const Context& ctx, const v1::AccountOpened& m) {
  if (!IsKeySafe(m.address()) || !IsKeySafe(m.currency())) {
    return Rejected(kReasonInvalidEvent, "an account needs an address and a currency");
  }
  const v1::Side normal =
      m.normal_balance() == v1::SIDE_UNSPECIFIED ? NormalBalanceFor(m.type()) : m.normal_balance();
  if (NormalBalanceFor(m.type()) == v1::SIDE_UNSPECIFIED || !IsSide(normal)) {
    return Rejected(kReasonInvalidEvent,
                    "account " + Quote(m.address()) + " has an unknown type or normal balance");
  }
  if (m.has_credit_limit() && m.credit_limit() < 0) {
    return Rejected(kReasonInvalidEvent, "credit_limit must be >= 0");
  }
  ASSIGN_OR_RETURN(const v1::AccountView* existing,
                   ctx.state.FindAccount(ctx.instance(), m.address()));
  if (existing != nullptr) {
    return Rejected(kReasonAccountExists, "account " + Quote(m.address()) + " already exists");
  }
  v1::AccountView account;
  account.set_instance_id(ctx.instance());
  account.set_address(m.address());
  account.set_type(m.type());
  account.set_normal_balance(normal);
  account.set_currency(m.currency());
  account.set_allow_negative(m.allow_negative());
  if (m.has_credit_limit()) account.set_credit_limit(m.credit_limit());
  *account.mutable_metadata() = m.metadata();
  account.set_status(v1::OPEN);
  v1::Balances& b = *account.mutable_balances();
  b.mutable_posted();
  b.mutable_pending();
  RETURN_IF_ERROR(ctx.state.PutAccount(std::move(account)));
  return Applied();
}

// Loads an account that an update or close names, or returns the rejection.
Result<std::variant<v1::AccountView, Verdict>> LoadOpenAccount(const Context& ctx,
                                                               const std::string& address) {
  if (!IsKeySafe(address)) return {Rejected(kReasonInvalidEvent, "an address is required")};
  ASSIGN_OR_RETURN(const v1::AccountView* account, ctx.state.FindAccount(ctx.instance(), address));
  if (account == nullptr) {
    return {Rejected(kReasonUnknownAccount, "account " + Quote(address) + " does not exist")};
  }
  if (account->status() == v1::CLOSED) {
    return {Rejected(kReasonAccountClosed, "account " + Quote(address) + " is closed")};
  }
  return {*account};  // a copy: the caller changes it
}

Result<Verdict> ApplyAccountUpdated(const Context& ctx, const v1::AccountUpdated& m) {
  if (m.has_credit_limit() && m.credit_limit() < 0) {
    return Rejected(kReasonInvalidEvent, "credit_limit must be >= 0");
  }
  ASSIGN_OR_RETURN(auto loaded, LoadOpenAccount(ctx, m.address()));
  if (auto* verdict = std::get_if<Verdict>(&loaded)) return std::move(*verdict);
  v1::AccountView& account = std::get<v1::AccountView>(loaded);
  if (m.has_allow_negative()) account.set_allow_negative(m.allow_negative());
  if (m.has_credit_limit()) account.set_credit_limit(m.credit_limit());
  // Removals first, so a key both removed and set in one update ends up set.
  for (const std::string& key : m.metadata_removed()) account.mutable_metadata()->erase(key);
  for (const auto& [key, value] : m.metadata_set()) (*account.mutable_metadata())[key] = value;
  RETURN_IF_ERROR(ctx.state.PutAccount(std::move(account)));
  return Applied();
}

Result<Verdict> ApplyAccountClosed(const Context& ctx, const v1::AccountClosed& m) {
  ASSIGN_OR_RETURN(auto loaded, LoadOpenAccount(ctx, m.address()));
  if (auto* verdict = std::get_if<Verdict>(&loaded)) return std::move(*verdict);
  v1::AccountView& account = std::get<v1::AccountView>(loaded);
  const v1::Balances& b = account.balances();
  if (b.posted().amount() != 0 || b.pending().debit() != 0 || b.pending().credit() != 0) {
    return Rejected(kReasonAccountNotEmpty,
                    "account " + Quote(m.address()) + " has posted amount " +
                        std::to_string(b.posted().amount()) + " and pending debits " +
                        std::to_string(b.pending().debit()) + " / credits " +
                        std::to_string(b.pending().credit()) + "; it can close only at zero");
  }
  account.set_status(v1::CLOSED);
  RETURN_IF_ERROR(ctx.state.PutAccount(std::move(account)));
  return Applied();
}

Result<Verdict> ApplyTransactionCreated(const Context& ctx, const v1::TransactionCreated& m) {
  if (!IsKeySafe(m.source()) || !IsKeySafe(m.source_idempk())) {
    return Rejected(kReasonInvalidEvent, "a transaction needs a source and a source_idempk");
  }
  auto key = [&m] {
    return "transaction (" + Quote(m.source()) + ", " + Quote(m.source_idempk()) + ")";
  };
  ASSIGN_OR_RETURN(std::optional<v1::TransactionView> existing,
                   ctx.state.FindTransaction(ctx.instance(), m.source(), m.source_idempk()));
  if (existing) {
    return Verdict{v1::DUPLICATE, "",
                   key() + " already exists, created by event " + Quote(existing->event_id()) +
                       " with outcome APPLIED"};
  }
  if (m.status() != v1::PENDING && m.status() != v1::POSTED) {
    return Rejected(kReasonInvalidEvent, "a new transaction's status must be PENDING or POSTED");
  }
  if (m.entries_size() < 2) {
    return Rejected(kReasonInvalidEvent, "a transaction needs at least two entries");
  }
  if (auto rejected = CheckEntryShapes(m.entries())) return std::move(*rejected);

  LoadedAccounts accounts;
  ASSIGN_OR_RETURN(std::optional<Verdict> rejected, LoadAccounts(ctx, m.entries(), accounts));
  if (rejected) return std::move(*rejected);

  std::vector<EntryChange> changes(m.entries_size());
  for (int i = 0; i < m.entries_size(); ++i) {
    const int64_t amount = m.entries(i).amount();
    EntryChange& c = changes[i];
    (m.status() == v1::POSTED ? c.add_posted : c.add_pending) = amount;
    c.history_status = m.status();
    c.history_amount = amount;
  }
  ASSIGN_OR_RETURN(
      rejected, MoveBalances(ctx, m.source(), m.source_idempk(), m.entries(), changes, accounts));
  if (rejected) return std::move(*rejected);

  v1::TransactionView tx;
  tx.set_instance_id(ctx.instance());
  tx.set_source(m.source());
  tx.set_source_idempk(m.source_idempk());
  tx.set_status(m.status());
  *tx.mutable_entries() = m.entries();
  tx.set_description(m.description());
  *tx.mutable_metadata() = m.metadata();
  tx.set_effective_at(m.effective_at());
  tx.set_event_id(ctx.event.event_id());
  RETURN_IF_ERROR(ctx.state.PutTransaction(std::move(tx)));
  return Applied();
}

Result<Verdict> ApplyTransactionUpdated(const Context& ctx, const v1::TransactionUpdated& m) {
  if (!IsKeySafe(m.source()) || !IsKeySafe(m.source_idempk()) || !IsKeySafe(m.update_idempk())) {
    return Rejected(kReasonInvalidEvent,
                    "an update needs a source, a source_idempk and an update_idempk");
  }
  auto key = [&m] {
    return "transaction (" + Quote(m.source()) + ", " + Quote(m.source_idempk()) + ")";
  };
  ASSIGN_OR_RETURN(std::optional<v1::TransactionView> found,
                   ctx.state.FindTransaction(ctx.instance(), m.source(), m.source_idempk()));
  if (!found) return Rejected(kReasonUnknownTransaction, key() + " does not exist");
  v1::TransactionView& tx = *found;
  for (const std::string& applied : tx.update_idempks()) {
    if (applied == m.update_idempk()) {
      return Verdict{v1::DUPLICATE, "",
                     "update " + Quote(m.update_idempk()) + " was already applied to " + key() +
                         " with outcome APPLIED"};
    }
  }
  if (tx.status() != v1::PENDING) {
    return Rejected(kReasonNotPending, key() + " is " + v1::TransactionStatus_Name(tx.status()) +
                                           "; only a PENDING transaction can be updated");
  }
  if (m.action() != v1::POST && m.action() != v1::ARCHIVE && m.action() != v1::EDIT) {
    return Rejected(kReasonInvalidEvent, "an update's action must be POST, ARCHIVE or EDIT");
  }
  if (m.entries_size() > 0) {
    bool same = m.entries_size() == tx.entries_size();
    for (int i = 0; same && i < m.entries_size(); ++i) {
      const v1::Entry& a = m.entries(i);
      const v1::Entry& b = tx.entries(i);
      same = a.account() == b.account() && a.direction() == b.direction() &&
             a.currency() == b.currency();
    }
    if (!same) {
      return Rejected(kReasonEntriesMismatch,
                      "the edited entries must name the same accounts, directions and currencies "
                      "in the same order as " +
                          key());
    }
    if (auto rejected = CheckEntryShapes(m.entries())) return std::move(*rejected);
  }
  // Stored entries passed validation when created; re-checking guards against a corrupt record.
  if (auto rejected = CheckEntryShapes(tx.entries())) return std::move(*rejected);

  LoadedAccounts accounts;
  ASSIGN_OR_RETURN(std::optional<Verdict> rejected, LoadAccounts(ctx, tx.entries(), accounts));
  if (rejected) return std::move(*rejected);

  const bool edited = m.entries_size() > 0 && m.action() != v1::ARCHIVE;
  std::vector<EntryChange> changes(tx.entries_size());
  for (int i = 0; i < tx.entries_size(); ++i) {
    const int64_t old_amount = tx.entries(i).amount();
    const int64_t new_amount = edited ? m.entries(i).amount() : old_amount;
    EntryChange& c = changes[i];
    c.remove_pending = old_amount;
    switch (m.action()) {
      case v1::POST:
        c.add_posted = new_amount;
        c.history_status = v1::POSTED;
        c.history_amount = new_amount;
        break;
      case v1::ARCHIVE:
        c.history_status = v1::ARCHIVED;
        c.history_amount = old_amount;
        break;
      default:  // EDIT
        c.add_pending = new_amount;
        c.history_status = v1::PENDING;
        c.history_amount = new_amount == old_amount ? 0 : new_amount;
        break;
    }
  }
  ASSIGN_OR_RETURN(
      rejected, MoveBalances(ctx, m.source(), m.source_idempk(), tx.entries(), changes, accounts));
  if (rejected) return std::move(*rejected);

  if (edited) {
    for (int i = 0; i < tx.entries_size(); ++i) {
      tx.mutable_entries(i)->set_amount(m.entries(i).amount());
    }
  }
  if (m.action() == v1::POST) tx.set_status(v1::POSTED);
  if (m.action() == v1::ARCHIVE) tx.set_status(v1::ARCHIVED);
  tx.add_update_idempks(m.update_idempk());
  RETURN_IF_ERROR(ctx.state.PutTransaction(std::move(tx)));
  return Applied();
}

Result<Verdict> Dispatch(const Context& ctx) {
  const v1::EventEnvelope& e = ctx.event;
  switch (e.event_case()) {
    case v1::EventEnvelope::kInstanceCreated:
      return Applied();  // instances come into being with their records; nothing to store
    case v1::EventEnvelope::kAccountOpened:
      return ApplyAccountOpened(ctx, e.account_opened());
    case v1::EventEnvelope::kAccountUpdated:
      return ApplyAccountUpdated(ctx, e.account_updated());
    case v1::EventEnvelope::kAccountClosed:
      return ApplyAccountClosed(ctx, e.account_closed());
    case v1::EventEnvelope::kTransactionCreated:
      return ApplyTransactionCreated(ctx, e.transaction_created());
    case v1::EventEnvelope::kTransactionUpdated:
      return ApplyTransactionUpdated(ctx, e.transaction_updated());
    case v1::EventEnvelope::EVENT_NOT_SET:
      break;
  }
  return Rejected(kReasonInvalidEvent, "the envelope carries no known event");
}

}  // namespace

Result<v1::EventOutcomeView> ApplyEvent(const v1::EventEnvelope& event, int32_t partition,
                                        int64_t offset, LedgerState& state) {
  v1::EventOutcomeView outcome;
  outcome.set_event_id(event.event_id());
  outcome.set_instance_id(event.instance_id());
  outcome.set_partition(partition);
  outcome.set_offset(offset);
  outcome.set_event_type(std::string(EventTypeName(event)));

  // Without a usable event id and instance there is no key to record an outcome under.
  if (!IsKeySafe(event.event_id()) || !IsKeySafe(event.instance_id())) {
    outcome.set_outcome(v1::REJECTED);
    outcome.set_reason(std::string(kReasonInvalidEvent));
    outcome.set_message("an event needs an event_id and an instance_id without NUL bytes");
    return outcome;
  }

  ASSIGN_OR_RETURN(std::optional<v1::EventOutcomeView> original,
                   state.FindOutcome(event.instance_id(), event.event_id()));
  // A dead-lettered event was never applied: a redrive of it is its first real processing, and
  // its outcome replaces the DEAD_LETTERED placeholder (still one outcome per event id).
  if (original && original->outcome() != v1::DEAD_LETTERED) {
    // The original record stays as it is: an event id has exactly one recorded outcome.
    outcome.set_outcome(v1::DUPLICATE);
    outcome.set_reason(original->reason());
    outcome.set_message(
        "event " + Quote(event.event_id()) + " was already processed at partition " +
        std::to_string(original->partition()) + " offset " + std::to_string(original->offset()) +
        " with outcome " + v1::Outcome_Name(original->outcome()) +
        (original->reason().empty() ? "" : " (" + original->reason() + ")"));
    return outcome;
  }

  const Context ctx{event, partition, offset, state};
  ASSIGN_OR_RETURN(Verdict verdict, Dispatch(ctx));
  outcome.set_outcome(verdict.outcome);
  outcome.set_reason(std::move(verdict.reason));
  outcome.set_message(std::move(verdict.message));
  RETURN_IF_ERROR(state.PutOutcome(outcome));
  return outcome;
}

}  // namespace kledger::projections
