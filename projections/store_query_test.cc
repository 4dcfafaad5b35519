// Tests of ProjectionStore's reads on a temporary RocksDB: point queries, the pages of accounts,
// transactions, events and instances with their filters, balances at an offset, history
// pagination, and readers during commits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "common/event_id.h"
#include "projections/store_test_fixture.h"

namespace kledger::projections {
namespace {

using namespace testutil;  // NOLINT: the event builders
using ::testing::HasSubstr;

TEST_F(StoreTest, Queries) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto batch = store->BeginBatch(0);
  std::vector<v1::EventEnvelope> events = Workload();
  events.push_back(OpenAccount("acme", "aud", v1::ASSET, "AUD", true));
  events.push_back(OpenAccount("acme", "aud_eq", v1::EQUITY, "AUD", true));
  events.push_back(
      CreateTx("acme", "t5", v1::POSTED,
               {MakeEntry("aud", v1::DEBIT, 5, "AUD"), MakeEntry("aud_eq", v1::CREDIT, 5, "AUD")}));
  ApplyAll(*batch, events, 0);
  ASSERT_TRUE(store->Commit(*batch, static_cast<int64_t>(events.size())).ok());

  Result<v1::TransactionView> tx = store->GetTransaction("acme", "src", "t2");
  ASSERT_TRUE(tx.ok());
  EXPECT_EQ(tx->status(), v1::POSTED);
  EXPECT_EQ(tx->update_idempks(0), "post");
  Result<v1::TransactionView> missing_tx = store->GetTransaction("acme", "src", "nope");
  EXPECT_EQ(missing_tx.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing_tx.status().message(), HasSubstr("'nope'"));

  const std::string t4 = domain::TransactionCreatedEventId("acme", "src", "t4");
  Result<v1::EventOutcomeView> outcome = store->GetOutcome("acme", t4);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->outcome(), v1::REJECTED);
  EXPECT_EQ(outcome->reason(), kReasonInsufficientFunds);
  EXPECT_EQ(outcome->offset(), 8);
  EXPECT_EQ(store->GetOutcome("other", t4).status().code(), StatusCode::kNotFound);

  Result<v1::AccountView> missing = store->GetAccount("acme", "nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("account 'nope' in instance 'acme'"));

  Result<v1::TrialBalance> trial = store->GetTrialBalance("acme");
  ASSERT_TRUE(trial.ok());
  ASSERT_EQ(trial->currencies_size(), 3);
  EXPECT_EQ(trial->currencies(0).currency(), "AUD");
  EXPECT_EQ(trial->currencies(1).currency(), "EUR");
  EXPECT_EQ(trial->currencies(2).currency(), "USD");
  EXPECT_EQ(trial->currencies(2).debits(), 130);
  for (const v1::CurrencyTotals& c : trial->currencies()) EXPECT_EQ(c.debits(), c.credits());
  // Another instance whose name starts like this one shares nothing.
  EXPECT_EQ(store->GetTrialBalance("acm")->currencies_size(), 0);
}

// 60 accounts over two instances (one named as a prefix of the other), of mixed types, currencies
// and statuses; every filter, paged at several sizes, equals a plain filter over what was opened.
TEST_F(StoreTest, AccountPagesFollowTheFilterInAddressOrder) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto batch = store->BeginBatch(0);
  struct Opened {
    std::string instance, address, currency;
    v1::AccountType type;
    bool closed;
  };
  std::vector<Opened> opened;
  std::vector<v1::EventEnvelope> events;
  const v1::AccountType types[] = {v1::ASSET, v1::LIABILITY, v1::REVENUE};
  for (int i = 0; i < 60; ++i) {
    Opened a{.instance = i % 4 == 0 ? "acm" : "acme",
             .address = (i % 2 ? "liabilities:wallets:" : "assets:bank:") + std::to_string(100 - i),
             .currency = i % 3 ? "USD" : "EUR",
             .type = types[i % 3],
             .closed = i % 5 == 0};
    events.push_back(OpenAccount(a.instance, a.address, a.type, a.currency, true));
    if (a.closed) events.push_back(CloseAccount(a.instance, a.address));
    opened.push_back(a);
  }
  ApplyAll(*batch, events, 0);
  ASSERT_TRUE(store->Commit(*batch, static_cast<int64_t>(events.size())).ok());

  using Filter = ProjectionStore::AccountFilter;
  const std::vector<Filter> filters = {
      {},
      {.address_prefix = "liabilities:wallets:"},
      {.address_prefix = "assets:", .type = v1::ASSET},
      {.currency = "EUR"},
      {.status = v1::CLOSED},
      {.address_prefix = "liabilities:", .currency = "USD", .status = v1::OPEN},
      {.address_prefix = "nothing:"},
  };
  for (size_t f = 0; f < filters.size(); ++f) {
    const Filter& filter = filters[f];
    std::vector<std::string> expected;
    for (const Opened& a : opened) {
      if (a.instance == "acme" && a.address.starts_with(filter.address_prefix) &&
          (!filter.type || *filter.type == a.type) &&
          (!filter.currency || *filter.currency == a.currency) &&
          (!filter.status || *filter.status == (a.closed ? v1::CLOSED : v1::OPEN))) {
        expected.push_back(a.address);
      }
    }
    std::sort(expected.begin(), expected.end());
    for (int limit : {1, 7, 45, 100}) {
      std::vector<std::string> listed;
      std::string cursor;
      int pages = 0;
      do {
        Result<v1::AccountPage> page = store->ListAccounts("acme", filter, limit, cursor);
        ASSERT_TRUE(page.ok()) << page.status().ToString();
        ASSERT_LE(page->items_size(), limit);
        for (const v1::AccountView& a : page->items()) {
          EXPECT_EQ(a.instance_id(), "acme");
          listed.push_back(a.address());
        }
        cursor = page->next_cursor();
        ++pages;
        ASSERT_LT(pages, 100) << "the cursor does not advance";
      } while (!cursor.empty());
      EXPECT_EQ(listed, expected) << "filter " << f << ", limit " << limit;
      // Full pages until the last, and no empty last page after an exact fit.
      EXPECT_EQ(pages, std::max<int>(1, (static_cast<int>(expected.size()) + limit - 1) / limit))
          << "filter " << f << ", limit " << limit;
    }
  }
  // Balances come with each item.
  auto all = store->ListAccounts("acme", {}, 100, "");
  ASSERT_TRUE(all.ok());
  ASSERT_GT(all->items_size(), 0);
  EXPECT_TRUE(all->items(0).has_balances());
  EXPECT_EQ(store->ListAccounts("nobody", {}, 10, "")->items_size(), 0);
  for (const char* bad : {"zz", "abc", "6e6f7468696e673a"}) {  // the last: "nothing:"
    EXPECT_EQ(store->ListAccounts("acme", {.address_prefix = "assets:"}, 10, bad).status().code(),
              StatusCode::kInvalidArgument)
        << bad;
  }
}

// Transactions of two sources, pending, posted and voided, over four accounts; every filter,
// paged at several sizes, equals a plain filter over what was created.
TEST_F(StoreTest, TransactionPagesFollowTheFilterInTheirCreatingEventsIdOrder) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto batch = store->BeginBatch(0);
  std::vector<v1::EventEnvelope> events;
  const char* accounts[] = {"a", "b", "c", "d"};
  for (const char* a : accounts) events.push_back(OpenAccount("acme", a, v1::ASSET, "USD", true));
  struct Made {
    std::string source, key, from, to;
    v1::TransactionStatus status;
  };
  std::vector<Made> made;
  for (int i = 0; i < 40; ++i) {
    Made m{.source = i % 3 ? "shop" : "bank",
           .key = "k" + std::to_string(100 + i),
           .from = accounts[i % 4],
           .to = accounts[(i + 1) % 4],
           .status = i % 2 ? v1::POSTED : v1::PENDING};
    events.push_back(CreateTx("acme", m.key, m.status,
                              {MakeEntry(m.from, v1::DEBIT, 1), MakeEntry(m.to, v1::CREDIT, 1)},
                              m.source));
    if (i % 4 == 0) {  // pending, voided: archived
      events.push_back(UpdateTx("acme", m.key, "void", v1::ARCHIVE, {}, m.source));
      m.status = v1::ARCHIVED;
    }
    made.push_back(m);
  }
  events.push_back(CreateTx("acm", "other", v1::POSTED,  // another instance: never listed
                            {MakeEntry("a", v1::DEBIT, 1), MakeEntry("b", v1::CREDIT, 1)}));
  ApplyAll(*batch, events, 0);
  ASSERT_TRUE(store->Commit(*batch, static_cast<int64_t>(events.size())).ok());

  using Filter = ProjectionStore::TransactionFilter;
  const std::vector<Filter> filters = {{},
                                       {.source = "shop"},
                                       {.status = v1::PENDING},
                                       {.status = v1::ARCHIVED},
                                       {.account = "c"},
                                       {.source = "bank", .status = v1::POSTED, .account = "d"},
                                       {.source = "nobody"}};
  for (size_t f = 0; f < filters.size(); ++f) {
    const Filter& filter = filters[f];
    std::vector<std::pair<std::string, std::string>> expected;
    for (const Made& m : made) {
      if ((!filter.source || *filter.source == m.source) &&
          (!filter.status || *filter.status == m.status) &&
          (!filter.account || *filter.account == m.from || *filter.account == m.to)) {
        expected.emplace_back(m.source, m.key);
      }
    }
    // A transaction lives in its creating event's record, so they are listed in that id's order.
    std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
      return domain::TransactionCreatedEventId("acme", a.first, a.second) <
             domain::TransactionCreatedEventId("acme", b.first, b.second);
    });
    for (int limit : {1, 6, 100}) {
      std::vector<std::pair<std::string, std::string>> listed;
      std::string cursor;
      int pages = 0;
      do {
        auto page = store->ListTransactions("acme", filter, limit, cursor);
        ASSERT_TRUE(page.ok()) << page.status().ToString();
        for (const v1::TransactionView& tx : page->items()) {
          EXPECT_EQ(tx.entries_size(), 2);
          listed.emplace_back(tx.source(), tx.source_idempk());
        }
        cursor = page->next_cursor();
        ASSERT_LT(++pages, 100) << "the cursor does not advance";
      } while (!cursor.empty());
      EXPECT_EQ(listed, expected) << "filter " << f << ", limit " << limit;
      EXPECT_EQ(pages, std::max<int>(1, (static_cast<int>(expected.size()) + limit - 1) / limit))
          << "filter " << f << ", limit " << limit;
    }
  }
  EXPECT_EQ(store->ListTransactions("acme", {}, 1, "xyz").status().code(),
            StatusCode::kInvalidArgument);
}

// Two instances (one named as a prefix of the other) interleaved in one partition, with
// rejections, duplicates and a dead letter redriven later; every filter, paged at several sizes,
// equals a plain filter over the outcomes ApplyEvent returned.
TEST_F(StoreTest, EventPagesFollowTheFilterInLogOrder) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto batch = store->BeginBatch(0);
  std::vector<v1::EventOutcomeView> recorded;  // the model: one outcome per event id, by offset
  int64_t offset = 0;
  auto apply = [&](const v1::EventEnvelope& event) {
    Result<v1::EventOutcomeView> r = ApplyEvent(event, 0, offset++, *batch);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (r->outcome() != v1::DUPLICATE) recorded.push_back(*r);
  };
  for (const char* instance : {"acme", "acm"}) {
    apply(OpenAccount(instance, "cash", v1::ASSET, "USD"));
    apply(OpenAccount(instance, "sales", v1::REVENUE, "USD", true));
  }
  // The processor's placeholder for a dead-lettered record, redriven (and applied) below.
  v1::EventEnvelope redriven =
      CreateTx("acme", "late", v1::POSTED,
               {MakeEntry("cash", v1::DEBIT, 1), MakeEntry("sales", v1::CREDIT, 1)});
  v1::EventOutcomeView letter;
  letter.set_event_id(redriven.event_id());
  letter.set_instance_id("acme");
  letter.set_outcome(v1::DEAD_LETTERED);
  letter.set_partition(0);
  letter.set_offset(offset++);
  letter.set_event_type("transaction_created");
  ASSERT_TRUE(batch->PutOutcome(letter).ok());
  for (int i = 0; i < 30; ++i) {
    const char* instance = i % 3 ? "acme" : "acm";
    // A sale; every fifth a refund of more than the cash holds: rejected.
    const bool refund = i % 5 == 4;
    const std::vector<v1::Entry> entries =
        refund ? std::vector{MakeEntry("sales", v1::DEBIT, 1'000'000),
                             MakeEntry("cash", v1::CREDIT, 1'000'000)}
               : std::vector{MakeEntry("cash", v1::DEBIT, 10), MakeEntry("sales", v1::CREDIT, 10)};
    apply(CreateTx(instance, "k" + std::to_string(i), v1::POSTED, entries));
    if (i % 7 == 0) {  // submitted twice: the second is a duplicate and records nothing
      apply(CreateTx(instance, "k" + std::to_string(i), v1::POSTED, entries));
    }
  }
  apply(redriven);  // its outcome replaces the placeholder's
  ASSERT_TRUE(store->Commit(*batch, offset).ok());
  ASSERT_GT(std::count_if(recorded.begin(), recorded.end(),
                          [](const auto& o) { return o.outcome() == v1::REJECTED; }),
            5);

  using Filter = ProjectionStore::EventFilter;
  const std::vector<Filter> filters = {{},
                                       {.outcome = v1::REJECTED},
                                       {.outcome = v1::APPLIED, .type = "transaction_created"},
                                       {.type = "account_opened"},
                                       {.outcome = v1::DEAD_LETTERED},
                                       {.from_offset = 7, .to_offset = 20},
                                       {.outcome = v1::REJECTED, .from_offset = 12},
                                       {.from_offset = 9, .to_offset = 9}};
  for (const std::string instance : {"acme", "acm"}) {
    for (size_t f = 0; f < filters.size(); ++f) {
      const Filter& filter = filters[f];
      std::vector<std::string> expected;
      for (const v1::EventOutcomeView& o : recorded) {
        if (o.instance_id() == instance && (!filter.outcome || *filter.outcome == o.outcome()) &&
            (!filter.type || *filter.type == o.event_type()) && o.offset() >= filter.from_offset &&
            (!filter.to_offset || o.offset() < *filter.to_offset)) {
          expected.push_back(o.ShortDebugString());
        }
      }
      for (int limit : {1, 4, 100}) {
        std::vector<std::string> listed;
        std::string cursor;
        int pages = 0;
        do {
          auto page = store->ListEvents(instance, filter, limit, cursor);
          ASSERT_TRUE(page.ok()) << page.status().ToString();
          for (const v1::EventOutcomeView& o : page->items())
            listed.push_back(o.ShortDebugString());
          cursor = page->next_cursor();
          ASSERT_LT(++pages, 100) << "the cursor does not advance";
        } while (!cursor.empty());
        EXPECT_EQ(listed, expected) << instance << ", filter " << f << ", limit " << limit;
      }
    }
  }
  // The redriven event is listed once, at its new offset, with its new outcome.
  auto dead = store->ListEvents("acme", {.outcome = v1::DEAD_LETTERED}, 10, "");
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(dead->items_size(), 0);
  EXPECT_EQ(store->ListEvents("acme", {}, 1, "zz").status().code(), StatusCode::kInvalidArgument);
}

// Committed one event at a time, each account's balances after every offset are the model;
// BalancesAt must give them back for every offset, pending views included.
TEST_F(StoreTest, InstancesAreListedOnceEachInIdOrderWithTheirFilterAndPages) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto batch = store->BeginBatch(0);
  int64_t offset = 0;
  auto apply = [&](const v1::EventEnvelope& event) {
    ASSERT_TRUE(ApplyEvent(event, 0, offset++, *batch).ok());
  };
  // Ids that prefix one another, and one instance with many events (one seek skips them all).
  for (const char* instance : {"acme0", "b", "acm", "acme", "zz"}) {
    apply(OpenAccount(instance, "cash", v1::ASSET, "USD"));
  }
  apply(OpenAccount("acme", "sales", v1::REVENUE, "USD", true));
  for (int i = 0; i < 20; ++i) {
    apply(CreateTx("acme", "k" + std::to_string(i), v1::POSTED,
                   {MakeEntry("cash", v1::DEBIT, 1), MakeEntry("sales", v1::CREDIT, 1)}));
  }
  // An instance whose only event was rejected (no such account) is listed too: it has a log.
  apply(CreateTx("rejected-only", "k", v1::POSTED,
                 {MakeEntry("cash", v1::DEBIT, 1), MakeEntry("sales", v1::CREDIT, 1)}));
  ASSERT_TRUE(store->Commit(*batch, offset).ok());

  auto all = [](std::string_view) { return true; };
  using Ids = std::vector<std::string>;
  const Ids everything = {"acm", "acme", "acme0", "b", "rejected-only", "zz"};
  EXPECT_EQ(store->ListInstances("", 100, all).value(), everything);
  EXPECT_EQ(store->ListInstances("", 0, all).value(), everything) << "0: the maximum page";
  EXPECT_EQ(store->ListInstances("", 100, [](std::string_view id) { return id != "acme"; }).value(),
            (Ids{"acm", "acme0", "b", "rejected-only", "zz"}));
  // Pages of two, each after the last id of the one before; filtered ids do not fill a page.
  Ids paged;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    Ids ids = store->ListInstances(after, 2, [](std::string_view id) { return id != "b"; }).value();
    ASSERT_LE(ids.size(), 2u);
    if (ids.empty()) break;
    paged.insert(paged.end(), ids.begin(), ids.end());
    after = ids.back();
  }
  EXPECT_EQ(paged, (Ids{"acm", "acme", "acme0", "rejected-only", "zz"}));
  EXPECT_TRUE(store->ListInstances("zz", 100, all).value().empty());
  EXPECT_EQ(store->ListInstances("acme", 100, all).value(),
            (Ids{"acme0", "b", "rejected-only", "zz"}));
}

TEST_F(StoreTest, BalancesAtAnOffsetAreThoseAfterItsLastEntry) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  std::vector<v1::EventEnvelope> events = Workload();  // t2 pending at 5, posted at 7
  events.push_back(CreateTx("acme", "t6", v1::PENDING,
                            {MakeEntry("cash", v1::DEBIT, 9), MakeEntry("sales", v1::CREDIT, 9)}));
  events.push_back(UpdateTx("acme", "t6", "void", v1::ARCHIVE));
  const std::vector<std::string> accounts = {"cash", "sales", "eur", "eur_eq"};
  std::map<std::pair<std::string, int64_t>, std::string> model;  // (account, offset) -> balances
  auto batch = store->BeginBatch(0);
  for (size_t i = 0; i < events.size(); ++i) {
    const auto offset = static_cast<int64_t>(i);
    ASSERT_TRUE(ApplyEvent(events[i], 0, offset, *batch).ok());
    ASSERT_TRUE(store->Commit(*batch, offset + 1).ok());
    for (const std::string& a : accounts) {
      auto account = store->GetAccount("acme", a);
      model[{a, offset}] = account.ok() ? account->balances().ShortDebugString() : "";
    }
  }
  for (const std::string& a : accounts) {
    for (int64_t offset = 0; offset < static_cast<int64_t>(events.size()); ++offset) {
      const std::string& expected = model[{a, offset}];
      if (expected.empty()) continue;  // not opened yet at this offset
      auto at = store->BalancesAt("acme", a, offset);
      ASSERT_TRUE(at.ok()) << at.status().ToString();
      EXPECT_EQ(at->balances().ShortDebugString(), expected) << a << " at " << offset;
      EXPECT_EQ(at->at_offset(), offset);
      EXPECT_LE(at->last_entry_offset(), offset);
    }
  }
  // The pending view of t2 before its post: cash credited 30 pending, nothing posted yet.
  auto before_post = store->BalancesAt("acme", "cash", 6);
  ASSERT_TRUE(before_post.ok());
  EXPECT_EQ(before_post->balances().pending().credit(), 30);
  EXPECT_EQ(before_post->last_entry_offset(), 5);
  EXPECT_EQ(store->BalancesAt("acme", "cash", 7)->balances().posted().credit(), 30);
  EXPECT_EQ(store->BalancesAt("acme", "cash", 7)->balances().pending().credit(), 0);
  // Before its first entry an account has zero balances; an unknown one is not found.
  auto before = store->BalancesAt("acme", "eur", 3);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->last_entry_offset(), -1);
  EXPECT_EQ(before->balances().ShortDebugString(), "posted { } pending { }");
  EXPECT_EQ(store->BalancesAt("acme", "nope", 3).status().code(), StatusCode::kNotFound);
}

TEST_F(StoreTest, HistoryPagesNewestFirstWithCursor) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto batch = store->BeginBatch(0);
  std::vector<v1::EventEnvelope> events = {OpenAccount("acme", "cash", v1::ASSET, "USD"),
                                           OpenAccount("acme", "eq", v1::EQUITY, "USD", true),
                                           OpenAccount("acme", "cash2", v1::ASSET, "USD")};
  for (int i = 1; i <= 7; ++i) {
    events.push_back(CreateTx("acme", "t" + std::to_string(i), v1::POSTED,
                              {MakeEntry("cash", v1::DEBIT, i), MakeEntry("eq", v1::CREDIT, i)}));
  }
  events.push_back(CreateTx("acme", "x", v1::POSTED,
                            {MakeEntry("cash2", v1::DEBIT, 1), MakeEntry("eq", v1::CREDIT, 1)}));
  ApplyAll(*batch, events, 0);
  ASSERT_TRUE(store->Commit(*batch, static_cast<int64_t>(events.size())).ok());

  std::vector<int64_t> amounts;
  std::vector<int> page_sizes;
  std::string cursor;
  do {
    Result<v1::HistoryPage> page = store->GetHistory("acme", "cash", 3, cursor);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    page_sizes.push_back(page->items_size());
    for (const v1::HistoryItem& item : page->items()) amounts.push_back(item.amount());
    cursor = page->next_cursor();
  } while (!cursor.empty());
  EXPECT_EQ(page_sizes, (std::vector<int>{3, 3, 1}));
  EXPECT_EQ(amounts, (std::vector<int64_t>{7, 6, 5, 4, 3, 2, 1}));

  Result<v1::HistoryPage> first = store->GetHistory("acme", "cash", 0, "");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->items_size(), 7);
  EXPECT_TRUE(first->next_cursor().empty());
  EXPECT_EQ(first->items(0).balances_after().posted().amount(), 28);
  EXPECT_EQ(first->items(6).balances_after().posted().amount(), 1);

  // An exact fit: the last full page has no cursor.
  Result<v1::HistoryPage> exact = store->GetHistory("acme", "cash", 7, "");
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->items_size(), 7);
  EXPECT_TRUE(exact->next_cursor().empty());

  Result<v1::HistoryPage> page1 = store->GetHistory("acme", "cash", 6, "");
  ASSERT_TRUE(page1.ok());
  Result<v1::HistoryPage> last = store->GetHistory("acme", "cash", 6, page1->next_cursor());
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->items_size(), 1);
  EXPECT_TRUE(last->next_cursor().empty());

  for (const char* bad : {"zz", "abc", "00", "not a cursor", "0000000000000000000000000g"}) {
    EXPECT_EQ(store->GetHistory("acme", "cash", 3, bad).status().code(),
              StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(store->GetHistory("acme", "nope", 3, "").status().code(), StatusCode::kNotFound);
  // cash2's history is not mixed into cash's, nor the other way round.
  EXPECT_EQ(store->GetHistory("acme", "cash2", 0, "")->items_size(), 1);
}

TEST_F(StoreTest, ReadersSeeWholeCommitsWhileTheWriterCommits) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto setup = store->BeginBatch(0);
  ApplyAll(*setup,
           {OpenAccount("acme", "cash", v1::ASSET, "USD"),
            OpenAccount("acme", "eq", v1::EQUITY, "USD", true)},
           0);
  ASSERT_TRUE(store->Commit(*setup, 2).ok());

  std::atomic<bool> done = false;
  std::atomic<int> reads = 0;
  std::thread reader([&] {
    while (!done) {
      Result<v1::TrialBalance> trial = store->GetTrialBalance("acme");
      ASSERT_TRUE(trial.ok());
      for (const auto& c : trial->currencies()) ASSERT_EQ(c.debits(), c.credits());
      // Each commit holds ten transactions of 1, so a committed balance is a multiple of 10.
      Result<v1::AccountView> cash = store->GetAccount("acme", "cash");
      ASSERT_TRUE(cash.ok());
      ASSERT_EQ(cash->balances().posted().amount() % 10, 0);
      ++reads;
    }
  });
  int64_t offset = 2;
  for (int commit = 0; commit < 50; ++commit) {
    auto batch = store->BeginBatch(0);
    for (int i = 0; i < 10; ++i) {
      ApplyAll(*batch,
               {CreateTx("acme", std::to_string(offset), v1::POSTED,
                         {MakeEntry("cash", v1::DEBIT, 1), MakeEntry("eq", v1::CREDIT, 1)})},
               offset);
      ++offset;
    }
    ASSERT_TRUE(store->Commit(*batch, offset).ok());
  }
  done = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(store->GetAccount("acme", "cash")->balances().posted().amount(), 500);
}

// The operator's RocksDB settings change how data is laid out, never what it says.

}  // namespace
}  // namespace kledger::projections
