// Tests of the entry walk: which faults each identifier rule finds, the order of the findings,
// when the sums are reported, and that a finding returning false ends the walk.
#include "common/domain/entries.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kledger::domain {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Entries = google::protobuf::RepeatedPtrField<v1::Entry>;

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

void AddEntry(Entries& entries, std::string account, v1::Side direction, int64_t amount,
              std::string currency = "USD") {
  v1::Entry* e = entries.Add();
  e->set_account(std::move(account));
  e->set_direction(direction);
  e->set_amount(amount);
  e->set_currency(std::move(currency));
}

std::string Sum(const CheckedSum& sum) {
  return sum.overflowed() ? "overflow" : std::to_string(*sum.value());
}

// Writes down every finding as a line; stops after `stop_after` of them.
class Recorder final : public EntryFindings {
 public:
  explicit Recorder(std::size_t stop_after = 1000) : stop_after_(stop_after) {}

  bool OnFaultyEntry(int index, const v1::Entry&, const EntryFaults& f) override {
    std::string line = "faulty " + std::to_string(index) + ":";
    if (f.account) line += " account";
    if (f.direction) line += " direction";
    if (f.amount) line += " amount";
    if (f.currency) line += " currency";
    return Record(line);
  }
  bool OnOverflow(int index, const v1::Entry& e) override {
    return Record("overflow " + std::to_string(index) + " " + e.currency());
  }
  bool OnCurrency(std::string_view currency, const CheckedSum& debits,
                  const CheckedSum& credits) override {
    return Record(std::string(currency) + " " + Sum(debits) + "/" + Sum(credits));
  }

  std::vector<std::string> lines;

 private:
  bool Record(std::string line) {
    lines.push_back(std::move(line));
    return lines.size() < stop_after_;
  }
  std::size_t stop_after_;
};

std::vector<std::string> Walk(const Entries& entries, EntryIdentifiers identifiers,
                              std::size_t stop_after = 1000) {
  Recorder recorder(stop_after);
  CheckEntries(entries, identifiers, recorder);
  return recorder.lines;
}

TEST(CheckEntriesTest, SoundEntriesGiveEachCurrencysSumsInByteOrder) {
  Entries entries;
  AddEntry(entries, "cash", v1::DEBIT, 5, "USD");
  AddEntry(entries, "fx", v1::CREDIT, 7, "EUR");
  AddEntry(entries, "revenue", v1::CREDIT, 3, "USD");
  AddEntry(entries, "fx", v1::DEBIT, 7, "EUR");
  for (auto identifiers : {EntryIdentifiers::kStrict, EntryIdentifiers::kKeySafe}) {
    EXPECT_THAT(Walk(entries, identifiers), ElementsAre("EUR 7/7", "USD 5/3"));
  }
  EXPECT_THAT(Walk(Entries(), EntryIdentifiers::kStrict), IsEmpty());
}

TEST(CheckEntriesTest, IdentifierRulesDiffer) {
  Entries entries;
  AddEntry(entries, "Not an address!", v1::DEBIT, 5, "usd");
  AddEntry(entries, "cash", v1::CREDIT, 5, "usd");
  EXPECT_THAT(Walk(entries, EntryIdentifiers::kStrict),
              ElementsAre("faulty 0: account currency", "faulty 1: currency"));
  EXPECT_THAT(Walk(entries, EntryIdentifiers::kKeySafe), ElementsAre("usd 5/5"));

  entries.Mutable(0)->set_account(std::string("ca\0sh", 5));
  entries.Mutable(1)->clear_currency();
  EXPECT_THAT(Walk(entries, EntryIdentifiers::kKeySafe),
              ElementsAre("faulty 0: account", "faulty 1: currency"));
}

TEST(CheckEntriesTest, EveryFaultOfAnEntryAtOnceAndNoSumsAfterOne) {
  Entries entries;
  AddEntry(entries, "", v1::SIDE_UNSPECIFIED, 0, "");
  AddEntry(entries, "cash", static_cast<v1::Side>(7), -1);
  AddEntry(entries, "a", v1::DEBIT, kMax);
  AddEntry(entries, "b", v1::DEBIT, kMax);  // would overflow, but sums stopped at entry 0
  EXPECT_THAT(
      Walk(entries, EntryIdentifiers::kStrict),
      ElementsAre("faulty 0: account direction amount currency", "faulty 1: direction amount"));
}

TEST(CheckEntriesTest, OverflowIsFoundWhereItHappensOncePerCurrencyAndDirection) {
  Entries entries;
  AddEntry(entries, "a", v1::DEBIT, kMax);
  AddEntry(entries, "b", v1::DEBIT, 1);  // debits overflow here
  AddEntry(entries, "c", v1::DEBIT, 1);  // no second finding for the same sum
  AddEntry(entries, "d", v1::CREDIT, kMax, "EUR");
  AddEntry(entries, "e", v1::CREDIT, kMax, "EUR");
  EXPECT_THAT(Walk(entries, EntryIdentifiers::kKeySafe),
              ElementsAre("overflow 1 USD", "overflow 4 EUR", "EUR 0/overflow", "USD overflow/0"));
  // A fault after an overflow is still found; then there are no sums.
  AddEntry(entries, "", v1::DEBIT, 1);
  EXPECT_THAT(Walk(entries, EntryIdentifiers::kKeySafe),
              ElementsAre("overflow 1 USD", "overflow 4 EUR", "faulty 5: account"));
}

TEST(CheckEntriesTest, FalseEndsTheWalk) {
  Entries entries;
  AddEntry(entries, "a", v1::DEBIT, kMax);
  AddEntry(entries, "b", v1::DEBIT, 1);
  AddEntry(entries, "", v1::CREDIT, 1);
  AddEntry(entries, "", v1::CREDIT, 1);
  EXPECT_THAT(Walk(entries, EntryIdentifiers::kStrict, 1), ElementsAre("overflow 1 USD"));
  EXPECT_THAT(Walk(entries, EntryIdentifiers::kStrict, 2),
              ElementsAre("overflow 1 USD", "faulty 2: account"));

  Entries unbalanced;
  AddEntry(unbalanced, "a", v1::DEBIT, 2, "EUR");
  AddEntry(unbalanced, "b", v1::CREDIT, 1, "EUR");
  AddEntry(unbalanced, "c", v1::DEBIT, 2, "USD");
  EXPECT_THAT(Walk(unbalanced, EntryIdentifiers::kStrict, 1), ElementsAre("EUR 2/1"));
}

}  // namespace
}  // namespace kledger::domain
