// The entry walk shared by command validation and the ledger state machine; see entries.h.
#include "common/domain/entries.h"

#include <map>

#include "common/domain/identifiers.h"

namespace kledger::domain {

void CheckEntries(const google::protobuf::RepeatedPtrField<v1::Entry>& entries,
                  EntryIdentifiers identifiers, EntryFindings& findings) {
  const bool strict = identifiers == EntryIdentifiers::kStrict;
  struct Sums {
    CheckedSum debits;
    CheckedSum credits;
  };
  // Ordered: the findings come out in the same order on every run (and replay of the log).
  std::map<std::string_view, Sums> by_currency;
  bool all_sound = true;
  for (int i = 0; i < entries.size(); ++i) {
    const v1::Entry& e = entries[i];
    EntryFaults faults;
    faults.account = !(strict ? IsValidAddress(e.account()) : IsKeySafe(e.account()));
    faults.direction = e.direction() != v1::DEBIT && e.direction() != v1::CREDIT;
    faults.amount = e.amount() <= 0;
    faults.currency = !(strict ? IsValidCurrency(e.currency()) : IsKeySafe(e.currency()));
    if (faults.any()) {
      all_sound = false;
      if (!findings.OnFaultyEntry(i, e, faults)) return;
    }
    // A broken entry makes the sums meaningless; its own finding already says what to fix.
    if (!all_sound) continue;
    Sums& sums = by_currency[e.currency()];
    CheckedSum& sum = e.direction() == v1::DEBIT ? sums.debits : sums.credits;
    const bool overflowed_before = sum.overflowed();
    sum.Add(e.amount());
    if (sum.overflowed() && !overflowed_before && !findings.OnOverflow(i, e)) return;
  }
  if (!all_sound) return;
  for (const auto& [currency, sums] : by_currency) {
    if (!findings.OnCurrency(currency, sums.debits, sums.credits)) return;
  }
}

}  // namespace kledger::domain
