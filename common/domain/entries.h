// The stateless checks of a transaction's entries, written once for the two places that judge
// them: command validation (every problem, as field errors) and the ledger state machine (the
// first problem, as a rejection). Each caller words the problems its own way.
#pragma once

#include <string_view>

#include "common/domain/money.h"
#include "kledger/v1/events.pb.h"

namespace kledger::domain {

// Which account and currency strings an entry may carry.
enum class EntryIdentifiers {
  kStrict,   // IsValidAddress and IsValidCurrency: what a command must carry
  kKeySafe,  // IsKeySafe: what the state machine needs of events already in the log
};

// What is wrong with one entry.
struct EntryFaults {
  bool account = false;    // not an identifier of the EntryIdentifiers asked for
  bool direction = false;  // neither DEBIT nor CREDIT
  bool amount = false;     // not > 0
  bool currency = false;   // not an identifier of the EntryIdentifiers asked for

  bool any() const { return account || direction || amount || currency; }
};

// Receives what CheckEntries finds, in the order it finds it. Every call returns whether to go
// on: a caller that wants only the first problem returns false.
class EntryFindings {
 public:
  virtual ~EntryFindings() = default;

  // Entry `index` has `faults` (at least one). From here on no entry enters the sums.
  virtual bool OnFaultyEntry(int index, const v1::Entry& entry, const EntryFaults& faults) = 0;
  // Adding entry `index` made the debits or the credits in its currency overflow int64; called
  // once per currency and direction, when the overflow happens.
  virtual bool OnOverflow(int index, const v1::Entry& entry) = 0;
  // After the last entry, only when none was faulty: each currency in byte order with the sums
  // of its debits and of its credits (either may have overflowed).
  virtual bool OnCurrency(std::string_view currency, const CheckedSum& debits,
                          const CheckedSum& credits) = 0;
};

// Walks `entries` in order: each entry's account, direction, amount and currency, then its
// amount into the running, overflow-checked sums of its currency; at the end, each currency's
// sums (debits = credits is the caller's to judge). How many entries there must be is the
// caller's rule too: a command and an update of one differ on it.
void CheckEntries(const google::protobuf::RepeatedPtrField<v1::Entry>& entries,
                  EntryIdentifiers identifiers, EntryFindings& findings);

}  // namespace kledger::domain
