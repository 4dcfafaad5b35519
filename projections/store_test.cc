// Tests of ProjectionStore's writes on a temporary RocksDB: atomic commits of state and offset,
// fault injection, the account cache, pipelined batches, reopen, digests and the outbox. Queries
// are in store_query_test.cc, storage settings in store_settings_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>

#include "projections/store_encoding.h"
#include "projections/store_test_fixture.h"

namespace kledger::projections {
namespace {

using namespace testutil;  // NOLINT: the event builders
using ::testing::HasSubstr;

TEST_F(StoreTest, OpenNeedsAPath) {
  Result<std::unique_ptr<ProjectionStore>> store = ProjectionStore::Open(StoreOptions());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, CommitMakesStateAndOffsetVisibleTogether) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  Result<std::optional<int64_t>> offset = store->NextOffset(0);
  ASSERT_TRUE(offset.ok());
  EXPECT_FALSE(offset->has_value());

  auto batch = store->BeginBatch(0);
  ApplyAll(*batch, Workload(), 0);
  // The batch read its own writes: the transactions found the accounts opened in it.
  Result<const v1::AccountView*> in_batch = batch->FindAccount("acme", "cash");
  ASSERT_TRUE(in_batch.ok());
  ASSERT_NE(*in_batch, nullptr);
  EXPECT_EQ((*in_batch)->balances().posted().amount(), 70);
  // Nothing is visible before the commit.
  EXPECT_EQ(store->GetAccount("acme", "cash").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(store->NextOffset(0)->has_value());

  ASSERT_TRUE(store->Commit(*batch, 9).ok());
  EXPECT_EQ(batch->Count(), 0);
  EXPECT_EQ(store->NextOffset(0)->value_or(-1), 9);
  EXPECT_FALSE(store->NextOffset(1)->has_value());
  Result<v1::AccountView> cash = store->GetAccount("acme", "cash");
  ASSERT_TRUE(cash.ok());
  EXPECT_EQ(cash->balances().posted().amount(), 70);
  EXPECT_EQ(cash->balances().available(), 70);
}

TEST_F(StoreTest, FailedCommitWritesNeitherStateNorOffset) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto first = store->BeginBatch(0);
  ApplyAll(*first, {OpenAccount("acme", "cash", v1::ASSET, "USD")}, 0);
  ASSERT_TRUE(store->Commit(*first, 1).ok());
  Result<std::string> digest = store->Digest();
  ASSERT_TRUE(digest.ok());

  store->SetWriteFaultForTesting([](const ProjectionStore::Batch&, int64_t) {
    return Status::IoError("injected: disk full");
  });
  auto batch = store->BeginBatch(0);
  std::vector<v1::EventEnvelope> rest = Workload();
  rest.erase(rest.begin());
  ApplyAll(*batch, rest, 1);
  Status s = store->Commit(*batch, 9);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_THAT(s.message(), HasSubstr("disk full"));
  EXPECT_EQ(store->NextOffset(0)->value_or(-1), 1);
  EXPECT_EQ(store->GetAccount("acme", "sales").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*store->Digest(), *digest);

  // The processor's recovery: drop the batch, re-apply from the stored offset.
  store->SetWriteFaultForTesting(nullptr);
  auto retry = store->BeginBatch(0);
  ApplyAll(*retry, rest, *store->NextOffset(0).value());
  ASSERT_TRUE(store->Commit(*retry, 9).ok());
  EXPECT_EQ(store->GetAccount("acme", "cash")->balances().posted().amount(), 70);
}

TEST_F(StoreTest, BatchesOfSeveralPartitionsCommitInOneWriteOrNotAtAll) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto acme = store->BeginBatch(0);
  ApplyAll(*acme, Workload(), 0);
  auto globex = store->BeginBatch(1);
  ApplyAll(*globex, {OpenAccount("globex", "cash", v1::ASSET, "USD")}, 0);

  store->SetWriteFaultForTesting([](const ProjectionStore::Batch& batch, int64_t) {
    return batch.partition() == 1 ? Status::IoError("injected: partition 1 cannot write")
                                  : Status::Ok();
  });
  Status failed = store->Commit({{acme.get(), 9}, {globex.get(), 1}});
  EXPECT_EQ(failed.code(), StatusCode::kIoError);
  EXPECT_FALSE(store->NextOffset(0)->has_value());
  EXPECT_FALSE(store->NextOffset(1)->has_value());
  EXPECT_EQ(store->GetAccount("acme", "cash").status().code(), StatusCode::kNotFound);

  store->SetWriteFaultForTesting(nullptr);
  auto twin = store->BeginBatch(1);
  EXPECT_EQ(store->Commit({{globex.get(), 1}, {twin.get(), 1}}).code(),
            StatusCode::kInvalidArgument);
  acme = store->BeginBatch(0);
  ApplyAll(*acme, Workload(), 0);
  globex = store->BeginBatch(1);
  ApplyAll(*globex, {OpenAccount("globex", "cash", v1::ASSET, "USD")}, 0);
  ASSERT_TRUE(store->Commit({{acme.get(), 9}, {globex.get(), 1}}).ok());
  EXPECT_EQ(store->NextOffset(0)->value_or(-1), 9);
  EXPECT_EQ(store->NextOffset(1)->value_or(-1), 1);
  EXPECT_EQ(store->GetAccount("acme", "cash")->balances().posted().amount(), 70);
  EXPECT_TRUE(store->GetAccount("globex", "cash").ok());
  EXPECT_EQ(acme->Count(), 0);
  EXPECT_EQ(globex->Count(), 0);
}

TEST_F(StoreTest, TheAccountCacheNeverChangesWhatIsApplied) {
  // One event per commit, so that every read after the first goes through the committed-record
  // cache: absent (0), evicting at every insert (1), and roomy (default).
  std::vector<std::string> digests;
  for (size_t entries : {size_t{0}, size_t{1}, StoreOptions().cache_entries}) {
    auto store = OpenStore("cache" + std::to_string(entries), entries);
    ASSERT_TRUE(store);
    const std::vector<v1::EventEnvelope> events = Workload();
    for (size_t i = 0; i < events.size(); ++i) {
      auto batch = store->BeginBatch(0);
      ApplyAll(*batch, {events[i]}, static_cast<int64_t>(i));
      ASSERT_TRUE(store->Commit(*batch, static_cast<int64_t>(i) + 1).ok());
    }
    EXPECT_EQ(store->GetAccount("acme", "cash")->balances().posted().amount(), 70);
    digests.push_back(*store->Digest());
  }
  EXPECT_EQ(digests[0], digests[1]);
  EXPECT_EQ(digests[0], digests[2]);
}

TEST_F(StoreTest, WorkOfAFailedOrAbandonedBatchNeverReachesTheCache) {
  // A batch changes the accounts of the store's account table in place. A batch whose commit
  // fails, or that is dropped, must leave later batches reading the committed balance, not its
  // own.
  auto store = StoreWithCashAndSales();  // cash and sales now cached
  ASSERT_TRUE(store);
  const std::vector<v1::EventEnvelope> events = Workload();
  const v1::EventEnvelope t1 = events[4];  // cash +100
  store->SetWriteFaultForTesting(
      [](const ProjectionStore::Batch&, int64_t) { return Status::IoError("disk full"); });
  {
    auto failed = store->BeginBatch(0);
    ApplyAll(*failed, {t1}, 2);
    ASSERT_FALSE(store->Commit(*failed, 3).ok());
  }
  store->SetWriteFaultForTesting(nullptr);
  auto batch = store->BeginBatch(0);
  ApplyAll(*batch, {t1}, 2);
  ASSERT_TRUE(store->Commit(*batch, 3).ok());
  EXPECT_EQ(store->GetAccount("acme", "cash")->balances().posted().amount(), 100);

  const v1::EventEnvelope t9 =
      CreateTx("acme", "t9", v1::POSTED,
               {MakeEntry("cash", v1::DEBIT, 5), MakeEntry("sales", v1::CREDIT, 5)});
  {
    auto abandoned = store->BeginBatch(0);
    ApplyAll(*abandoned, {t9}, 3);
  }
  auto next = store->BeginBatch(0);
  ApplyAll(*next, {t9}, 3);
  ASSERT_TRUE(store->Commit(*next, 4).ok());
  EXPECT_EQ(store->GetAccount("acme", "cash")->balances().posted().amount(), 105);
  EXPECT_EQ(store->GetAccount("acme", "sales")->balances().posted().amount(), 105);
}

TEST_F(StoreTest, TheRetryOfAFailedWriteReadsCommittedAccountsWhileTheBatchOnItLives) {
  // The processor retries the records of a write that failed while the batch it staged on top of
  // that write is still alive (it drops that batch afterwards). Both batches changed the same
  // accounts in place; the retry must read them as committed, and the batch staged on the retry
  // must read the retry's writes, whenever the failed batches are dropped.
  auto store = StoreWithCashAndSales();  // cash and sales now in the table
  ASSERT_TRUE(store);
  const std::vector<v1::EventEnvelope> events = Workload();
  const v1::EventEnvelope t1 = events[4];  // cash +100
  const v1::EventEnvelope t9 =
      CreateTx("acme", "t9", v1::POSTED,
               {MakeEntry("cash", v1::DEBIT, 5), MakeEntry("sales", v1::CREDIT, 5)});
  store->SetWriteFaultForTesting(
      [](const ProjectionStore::Batch&, int64_t) { return Status::IoError("disk full"); });
  auto below = store->BeginBatch(0);
  ApplyAll(*below, {t1}, 2);
  auto prepared = store->PrepareCommit({{below.get(), 3}});
  ASSERT_TRUE(prepared.ok());
  auto stacked = store->BeginBatch(0, below.get());
  ApplyAll(*stacked, {t9}, 3);  // cash 105 as the stacked batch sees it
  ASSERT_FALSE(store->WritePrepared(**prepared).ok());
  store->FinishCommit(**prepared, /*written=*/false);
  store->SetWriteFaultForTesting(nullptr);

  // The retry is written while the next batch is staged on it, and the two failed batches are
  // dropped in between: the next batch must read the retry's writes.
  auto retry = store->BeginBatch(0);
  ApplyAll(*retry, {t1}, 2);
  auto retried = store->PrepareCommit({{retry.get(), 3}});
  ASSERT_TRUE(retried.ok());
  stacked.reset();  // dropped, as the processor drops the poll staged on the failed write
  below.reset();
  auto next = store->BeginBatch(0, retry.get());
  ApplyAll(*next, {t9}, 3);
  ASSERT_TRUE(store->WritePrepared(**retried).ok());
  store->FinishCommit(**retried, /*written=*/true);
  EXPECT_EQ(store->GetAccount("acme", "cash")->balances().posted().amount(), 100);
  ProjectionStore::DetachBelow(*next);
  ASSERT_TRUE(store->Commit(*next, 4).ok());
  EXPECT_EQ(store->GetAccount("acme", "cash")->balances().posted().amount(), 105);
  EXPECT_EQ(store->GetAccount("acme", "sales")->balances().posted().amount(), 105);
}

TEST_F(StoreTest, AnAccountReadThenRewrittenInOneBatchIsCachedAsRewritten) {
  // A rejected transfer only reads cash; the update that follows in the same batch rewrites it.
  // The commit caches the rewrite, never the copy that was only read.
  auto store = StoreWithCashAndSales();  // cash may not go negative
  ASSERT_TRUE(store);
  const std::vector<v1::EventEnvelope> events = Workload();
  v1::EventEnvelope allow = Envelope("acme", "allow-negative");
  allow.mutable_account_updated()->set_address("cash");
  allow.mutable_account_updated()->set_allow_negative(true);
  const v1::EventEnvelope refused =
      CreateTx("acme", "refused", v1::POSTED,
               {MakeEntry("sales", v1::DEBIT, 9), MakeEntry("cash", v1::CREDIT, 9)});
  {
    auto batch = store->BeginBatch(0);
    ApplyAll(*batch, {refused, allow}, 2);
    EXPECT_EQ(batch->Count(), 5)
        << "two outcomes, their two event-log keys and cash: a read leaves nothing to write";
    ASSERT_TRUE(store->Commit(*batch, 4).ok());
  }
  EXPECT_EQ(store->GetOutcome("acme", refused.event_id())->reason(), kReasonInsufficientFunds);
  const v1::EventEnvelope accepted =
      CreateTx("acme", "accepted", v1::POSTED,
               {MakeEntry("sales", v1::DEBIT, 9), MakeEntry("cash", v1::CREDIT, 9)});
  auto batch = store->BeginBatch(0);
  ApplyAll(*batch, {accepted}, 4);
  ASSERT_TRUE(store->Commit(*batch, 5).ok());
  EXPECT_EQ(store->GetOutcome("acme", accepted.event_id())->outcome(), v1::APPLIED);
  EXPECT_EQ(store->GetAccount("acme", "cash")->balances().posted().amount(), -9);
}

TEST_F(StoreTest, BalancesAreWrittenInPlaceOfAnAccountFoundFirstAndKeptInItsHistory) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  {
    auto batch = store->BeginBatch(0);
    ApplyAll(*batch, {Workload()[0]}, 0);
    ASSERT_TRUE(store->Commit(*batch, 1).ok());
  }
  auto batch = store->BeginBatch(0);
  v1::Balances balances;
  balances.mutable_posted()->set_debit(5);
  EXPECT_EQ(batch->PutBalances("acme", "cash", balances).code(), StatusCode::kInternal)
      << "balances of an account the batch has not found";
  Result<const v1::AccountView*> found = batch->FindAccount("acme", "cash");
  ASSERT_TRUE(found.ok());
  ASSERT_NE(*found, nullptr);
  EXPECT_EQ(batch->Count(), 0) << "an account only read is not written";
  ASSERT_TRUE(batch->PutBalances("acme", "cash", balances).ok());
  // The account lent out before is the one written: same place, new balances, rest kept.
  EXPECT_EQ((*found)->balances().posted().debit(), 5);
  EXPECT_EQ((*found)->currency(), "USD");
  EXPECT_EQ(batch->Count(), 0) << "balances are kept in the history, not the account's record";
  v1::HistoryItem item;
  item.set_offset(1);
  item.set_amount(5);
  *item.mutable_balances_after() = balances;
  ASSERT_TRUE(batch->AppendHistory("acme", "cash", 0, item).ok());
  EXPECT_EQ(batch->Count(), 1);
  ASSERT_TRUE(store->Commit(*batch, 2).ok());
  EXPECT_EQ(store->GetAccount("acme", "cash")->balances().posted().debit(), 5);
  EXPECT_EQ(store->GetAccount("acme", "cash")->currency(), "USD");

  // Read back from the database alone (the cache is the process's): the balances come from the
  // newest history item, the rest from the account's record, which holds no balances.
  store.reset();
  store = OpenStore();
  ASSERT_TRUE(store);
  auto reread = store->BeginBatch(0);
  found = reread->FindAccount("acme", "cash");
  ASSERT_TRUE(found.ok());
  ASSERT_NE(*found, nullptr);
  EXPECT_EQ((*found)->balances().posted().debit(), 5);
  EXPECT_EQ((*found)->currency(), "USD");
  Result<v1::AccountPage> page = store->ListAccounts("acme", {}, 0, "");
  ASSERT_TRUE(page.ok());
  bool listed = false;
  for (const v1::AccountView& account : page->items()) {
    if (account.address() != "cash") continue;
    listed = true;
    EXPECT_EQ(account.balances().posted().debit(), 5);
  }
  EXPECT_TRUE(listed);
}

TEST_F(StoreTest, AStoreWhoseAccountRecordsHoldBalancesReadsAndDigestsAsThisLayout) {
  // Stores written before balances lived in the history alone held them in the account records
  // too. Such a store reads the same balances (from the history) and has the same digest.
  auto store = OpenStore();
  ASSERT_TRUE(store);
  std::map<std::string, v1::AccountView> accounts;
  {
    auto batch = store->BeginBatch(0);
    ApplyAll(*batch, Workload(), 0);
    ASSERT_TRUE(store->Commit(*batch, static_cast<int64_t>(Workload().size())).ok());
  }
  Result<std::string> digest = store->Digest();
  ASSERT_TRUE(digest.ok());
  for (const char* address : {"cash", "sales", "eur", "eur_eq"}) {
    Result<v1::AccountView> account = store->GetAccount("acme", address);
    ASSERT_TRUE(account.ok()) << address;
    accounts[address] = *account;
  }
  ASSERT_NE(accounts["cash"].balances().posted().amount(), 0) << "the workload moves cash";
  store.reset();
  {
    // The older layout: each account record with its balances (stale ones here, to show they are
    // not read: the history's are).
    RawStore raw = RawStore::Open((root_ / "db").string(), rocksdb::Options());
    ASSERT_TRUE(raw.db);
    rocksdb::DB* db = raw.db.get();
    for (auto [address, account] : accounts) {
      account.mutable_balances()->mutable_posted()->set_debit(424242);
      account.mutable_balances()->set_available(-1);
      const std::string key = std::string("a") + "acme" + '\0' + address;
      std::string old;
      ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), key, &old).ok()) << address;
      v1::AccountView stored;
      ASSERT_TRUE(stored.ParseFromString(old));
      EXPECT_FALSE(stored.has_balances()) << address << ": this layout writes none";
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, account.SerializeAsString()).ok());
    }
  }
  store = OpenStore();
  ASSERT_TRUE(store);
  for (const auto& [address, account] : accounts) {
    Result<v1::AccountView> reread = store->GetAccount("acme", address);
    ASSERT_TRUE(reread.ok()) << address;
    EXPECT_EQ(reread->SerializeAsString(), account.SerializeAsString()) << address;
  }
  Result<std::string> again = store->Digest();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *digest);
}

TEST_F(StoreTest, AnOlderStoresTransactionsMoveIntoTheirEventsRecordsWhenOpened) {
  // Stores written before transactions lived in their creating events' records kept each under
  // `t` instance 00 source 00 source_idempk, the event's record holding its outcome alone. Opened,
  // such a store moves them: the same transactions, pages and digest as this layout's, none of
  // the old keys left, and a transaction submitted again is still a duplicate.
  auto store = OpenStore();
  ASSERT_TRUE(store);
  const std::vector<v1::EventEnvelope> workload = Workload();
  {
    auto batch = store->BeginBatch(0);
    ApplyAll(*batch, workload, 0);
    ASSERT_TRUE(store->Commit(*batch, static_cast<int64_t>(workload.size())).ok());
  }
  Result<std::string> digest = store->Digest();
  ASSERT_TRUE(digest.ok());
  Result<v1::TransactionPage> transactions = store->ListTransactions("acme", {}, 100, "");
  ASSERT_TRUE(transactions.ok());
  ASSERT_EQ(transactions->items_size(), 3) << "t1, t2 (posted later) and t3; t4 was rejected";
  store.reset();
  int moved_back = 0;
  {
    RawStore raw = RawStore::Open((root_ / "db").string(), rocksdb::Options());
    ASSERT_TRUE(raw.db);
    rocksdb::DB* db = raw.db.get();
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    rocksdb::WriteBatch older;
    for (it->Seek("e"); it->Valid() && it->key().starts_with("e"); it->Next()) {
      Result<store_encoding::EventRecord> record =
          store_encoding::DecodeEventRecord(it->value().ToStringView());
      ASSERT_TRUE(record.ok());
      if (record->transaction.empty()) continue;
      v1::TransactionView tx;
      ASSERT_TRUE(tx.ParseFromString(std::string(record->transaction)));
      ASSERT_TRUE(
          older
              .Put(std::string("t") + "acme" + '\0' + tx.source() + '\0' + tx.source_idempk(),
                   record->transaction)
              .ok());
      ASSERT_TRUE(older.Put(it->key(), record->outcome).ok());
      ++moved_back;
    }
    ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &older).ok());
  }
  ASSERT_EQ(moved_back, 3);
  store = OpenStore();
  ASSERT_TRUE(store);
  Result<std::string> again = store->Digest();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *digest);
  Result<v1::TransactionPage> listed = store->ListTransactions("acme", {}, 100, "");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->SerializeAsString(), transactions->SerializeAsString());
  Result<v1::TransactionView> t2 = store->GetTransaction("acme", "src", "t2");
  ASSERT_TRUE(t2.ok()) << t2.status().ToString();
  EXPECT_EQ(t2->status(), v1::POSTED);
  auto batch = store->BeginBatch(0);
  Result<v1::EventOutcomeView> resubmitted =
      ApplyEvent(workload[4], 0, static_cast<int64_t>(workload.size()), *batch);
  ASSERT_TRUE(resubmitted.ok());
  EXPECT_EQ(resubmitted->outcome(), v1::DUPLICATE);
  store.reset();
  RawStore raw = RawStore::Open((root_ / "db").string(), rocksdb::Options());
  ASSERT_TRUE(raw.db);
  std::unique_ptr<rocksdb::Iterator> it(raw.db->NewIterator(rocksdb::ReadOptions()));
  it->Seek("t");
  EXPECT_FALSE(it->Valid() && it->key().starts_with("t")) << "an older transaction key is left";
}

TEST_F(StoreTest, ABatchStackedOnOneBeingWrittenReadsItsWritesAsCommitted) {
  // The processor's pipeline: batch 2 is applied on top of batch 1 while batch 1 is written.
  // The result must be what two commits one after the other give.
  const std::vector<v1::EventEnvelope> events = Workload();
  const std::vector<v1::EventEnvelope> first(events.begin(), events.begin() + 5);
  const std::vector<v1::EventEnvelope> second(events.begin() + 5, events.end());
  auto serial = OpenStore("serial");
  ASSERT_TRUE(serial);
  {
    auto batch = serial->BeginBatch(0);
    ApplyAll(*batch, first, 0);
    ASSERT_TRUE(serial->Commit(*batch, 5).ok());
    batch = serial->BeginBatch(0);
    ApplyAll(*batch, second, 5);
    ASSERT_TRUE(serial->Commit(*batch, 9).ok());
  }
  auto stacked = OpenStore("stacked");
  ASSERT_TRUE(stacked);
  auto below = stacked->BeginBatch(0);
  ApplyAll(*below, first, 0);
  auto prepared = stacked->PrepareCommit({{below.get(), 5}});
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  auto above = stacked->BeginBatch(0, below.get());
  ApplyAll(*above, second, 5);  // reads cash, sales and t2 from `below` only
  EXPECT_EQ(stacked->NextOffset(0)->value_or(-1), -1) << "nothing is written before WritePrepared";
  ASSERT_TRUE(stacked->WritePrepared(**prepared).ok());
  stacked->FinishCommit(**prepared, true);
  ProjectionStore::DetachBelow(*above);
  ASSERT_TRUE(stacked->Commit(*above, 9).ok());
  EXPECT_EQ(stacked->NextOffset(0)->value_or(-1), 9);
  EXPECT_EQ(stacked->GetAccount("acme", "cash")->balances().posted().amount(), 70);
  EXPECT_EQ(*stacked->Digest(), *serial->Digest());
  auto outcome = stacked->GetOutcome("acme", events[7].event_id());  // t2 posted on top of below
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->outcome(), v1::APPLIED);
}

TEST_F(StoreTest, ReadsAheadAnswerAsReadsAndGiveWayToNewerWrites) {
  const std::vector<v1::EventEnvelope> events = Workload();
  const v1::EventEnvelope& t1 = events[4];  // a created transaction
  auto store = OpenStore();
  ASSERT_TRUE(store);
  {
    auto batch = store->BeginBatch(0);
    ApplyAll(*batch, {events.begin(), events.begin() + 5}, 0);
    ASSERT_TRUE(store->Commit(*batch, 5).ok());
  }
  const v1::EventEnvelope t9 =
      CreateTx("acme", "t9", v1::POSTED,
               {MakeEntry("cash", v1::DEBIT, 1), MakeEntry("sales", v1::CREDIT, 1)});

  // Stored and absent keys read ahead answer as reads do.
  auto batch = store->BeginBatch(0);
  ASSERT_TRUE(batch->Prefetch({&t1, &t9}).ok());
  auto stored = batch->FindOutcome("acme", t1.event_id());
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->outcome(), v1::APPLIED);
  EXPECT_EQ((*stored)->offset(), 4);
  auto by_key = batch->FindTransaction("acme", "src", "t1");
  ASSERT_TRUE(by_key.ok());
  EXPECT_TRUE(by_key->has_value());
  auto absent = batch->FindOutcome("acme", t9.event_id());
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
  // The batch's own writes come first.
  ApplyAll(*batch, {t9}, 5);
  auto written = batch->FindOutcome("acme", t9.event_id());
  ASSERT_TRUE(written.ok() && written->has_value());
  EXPECT_EQ((*written)->offset(), 5);

  // A batch stacked on one being written reads ahead while that one's write has not landed: it
  // finds the batch below's writes there, and in the store once detached from it.
  auto prepared = store->PrepareCommit({{batch.get(), 6}});
  ASSERT_TRUE(prepared.ok());
  auto above = store->BeginBatch(0, batch.get());
  ASSERT_TRUE(above->Prefetch({&t9}).ok());
  auto from_below = above->FindOutcome("acme", t9.event_id());
  ASSERT_TRUE(from_below.ok() && from_below->has_value()) << "the batch below's write";
  ASSERT_TRUE(store->WritePrepared(**prepared).ok());
  store->FinishCommit(**prepared, true);
  ProjectionStore::DetachBelow(*above);
  auto after = above->FindOutcome("acme", t9.event_id());
  ASSERT_TRUE(after.ok());
  ASSERT_TRUE(after->has_value()) << "not an answer read ahead before the write below landed";
  EXPECT_EQ((*after)->offset(), 5);
}

// A random ledger workload that reads and rewrites the same few accounts often: transfers that
// apply or are refused (insufficient funds, unknown or closed accounts), pending ones posted or
// archived later, account updates and closes, and repeated events and idempotency keys.
std::vector<v1::EventEnvelope> RandomWorkload(uint64_t seed, int count) {
  std::mt19937_64 rng(seed);
  std::vector<v1::EventEnvelope> events;
  const int kAccounts = 6;
  auto account = [&] { return "acct" + std::to_string(rng() % (kAccounts + 1)); };  // +1: unknown
  for (int i = 0; i < kAccounts; ++i) {
    events.push_back(OpenAccount("acme", "acct" + std::to_string(i), v1::ASSET, "USD",
                                 /*allow_negative=*/i < 2));
  }
  std::vector<std::string> pending;
  while (static_cast<int>(events.size()) < count) {
    const int n = static_cast<int>(events.size());
    switch (rng() % 10) {
      case 0: {  // allow or forbid going negative: rewrites an account read before
        v1::EventEnvelope e = Envelope("acme", "update:" + std::to_string(n));
        e.mutable_account_updated()->set_address(account());
        e.mutable_account_updated()->set_allow_negative(rng() % 2 == 0);
        events.push_back(e);
        break;
      }
      case 1:
        if (!pending.empty()) {
          const std::string key = pending[rng() % pending.size()];
          events.push_back(
              UpdateTx("acme", key, "u" + std::to_string(n), rng() % 2 ? v1::POST : v1::ARCHIVE));
          break;
        }
        [[fallthrough]];
      case 2:
        if (n > kAccounts) {
          events.push_back(events[kAccounts + rng() % (n - kAccounts)]);  // a repeated event
          break;
        }
        [[fallthrough]];
      case 3:
        if (rng() % 8 == 0) {
          events.push_back(CloseAccount("acme", account()));  // mostly refused: not empty
          break;
        }
        [[fallthrough]];
      default: {
        const int64_t amount = 1 + static_cast<int64_t>(rng() % 500);
        const bool is_pending = rng() % 4 == 0;
        // A key used before now and then: a duplicate idempotency key.
        const std::string key = "t" + std::to_string(rng() % 8 == 0 ? rng() % (n + 1) : n);
        events.push_back(CreateTx(
            "acme", key, is_pending ? v1::PENDING : v1::POSTED,
            {MakeEntry(account(), v1::DEBIT, amount), MakeEntry(account(), v1::CREDIT, amount)}));
        if (is_pending) pending.push_back(key);
      }
    }
  }
  return events;
}

TEST_F(StoreTest, PipelinedBatchesFailedWritesAndAnyCacheSizeGiveTheStateOfOneCommitPerEvent) {
  // The reference: one event per commit, no cache, so every read comes from the database.
  for (uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::vector<v1::EventEnvelope> events = RandomWorkload(seed, 600);
    const int64_t total = static_cast<int64_t>(events.size());
    auto reference = OpenStore("reference" + std::to_string(seed), /*cache_entries=*/0);
    ASSERT_TRUE(reference);
    for (int64_t i = 0; i < total; ++i) {
      auto batch = reference->BeginBatch(0);
      ApplyAll(*batch, {events[i]}, i);
      ASSERT_TRUE(reference->Commit(*batch, i + 1).ok());
    }
    const std::string expected = *reference->Digest();

    // As the processor writes: each batch is staged on top of the one being written, and now
    // and then that write fails, so both are dropped and the events applied again.
    std::mt19937_64 rng(seed);
    for (size_t cache_entries : {size_t{0}, size_t{2}, StoreOptions().cache_entries}) {
      SCOPED_TRACE("cache_entries " + std::to_string(cache_entries));
      auto store = OpenStore(
          "pipelined" + std::to_string(seed) + "_" + std::to_string(cache_entries), cache_entries);
      ASSERT_TRUE(store);
      std::unique_ptr<ProjectionStore::Batch> below;
      std::unique_ptr<ProjectionStore::PreparedCommit> prepared;
      int64_t next = 0;
      int failed = 0;
      while (next < total || below) {
        std::unique_ptr<ProjectionStore::Batch> batch;
        int64_t end = next;
        if (next < total) {
          batch = store->BeginBatch(0, below.get());
          end = std::min(total, next + 1 + static_cast<int64_t>(rng() % 40));
          ApplyAll(*batch, {events.begin() + next, events.begin() + end}, next);
        }
        if (below) {
          const bool fail = rng() % 6 == 0;
          store->SetWriteFaultForTesting(
              fail ? ProjectionStore::WriteFault([](const ProjectionStore::Batch&, int64_t) {
                return Status::IoError("injected");
              })
                   : nullptr);
          const Status written = store->WritePrepared(*prepared);
          store->FinishCommit(*prepared, written.ok());
          prepared.reset();
          below.reset();
          if (!written.ok()) {
            ++failed;
            batch.reset();  // it read the failed batch's writes
            next = store->NextOffset(0)->value_or(0);
            continue;
          }
          if (batch) ProjectionStore::DetachBelow(*batch);
        }
        if (batch) {
          auto commit = store->PrepareCommit({{batch.get(), end}});
          ASSERT_TRUE(commit.ok()) << commit.status().ToString();
          prepared = std::move(commit).value();
          below = std::move(batch);
          next = end;
        }
      }
      store->SetWriteFaultForTesting(nullptr);
      EXPECT_GT(failed, 0) << "the workload never exercised a failed write";
      EXPECT_EQ(store->NextOffset(0)->value_or(-1), total);
      EXPECT_EQ(*store->Digest(), expected);
    }
  }
}

TEST_F(StoreTest, AFailedPreparedWriteWritesNothing) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto batch = store->BeginBatch(2);
  ApplyAll(*batch, Workload(), 0);
  auto prepared = store->PrepareCommit({{batch.get(), 9}});
  ASSERT_TRUE(prepared.ok());
  store->SetWriteFaultForTesting(
      [](const ProjectionStore::Batch&, int64_t) { return Status::IoError("disk full"); });
  Status written = store->WritePrepared(**prepared);
  EXPECT_EQ(written.code(), StatusCode::kIoError);
  store->FinishCommit(**prepared, false);
  store->SetWriteFaultForTesting(nullptr);
  EXPECT_EQ(batch->Count(), 0);
  EXPECT_EQ(store->NextOffset(2)->value_or(-1), -1);
  EXPECT_EQ(store->GetAccount("acme", "cash").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->PrepareCommit({{batch.get(), -1}}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, ReopenShowsCommittedStateAndOffset) {
  std::string digest;
  {
    auto store = OpenStore();
    ASSERT_TRUE(store);
    auto batch = store->BeginBatch(3);
    ApplyAll(*batch, Workload(), 0);
    ASSERT_TRUE(store->Commit(*batch, 9).ok());
    // Uncommitted work is lost on close, as after a crash.
    auto lost = store->BeginBatch(3);
    ApplyAll(*lost, {OpenAccount("acme", "ghost", v1::ASSET, "USD")}, 9);
    digest = *store->Digest();
  }
  auto store = OpenStore();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->NextOffset(3)->value_or(-1), 9);
  EXPECT_EQ(store->GetAccount("acme", "cash")->balances().posted().amount(), 70);
  EXPECT_EQ(store->GetAccount("acme", "ghost").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*store->Digest(), digest);
}

TEST_F(StoreTest, SameEventsGiveTheSameDigestWhateverTheOffsets) {
  auto a = OpenStore("a");
  auto b = OpenStore("b");
  ASSERT_TRUE(a && b);
  const std::vector<v1::EventEnvelope> events = Workload();

  auto batch = a->BeginBatch(0);
  ApplyAll(*batch, events, 0);
  ASSERT_TRUE(a->Commit(*batch, 9).ok());

  // Store b gets the same events in batches of one, plus a commit of another partition.
  for (size_t i = 0; i < events.size(); ++i) {
    auto one = b->BeginBatch(0);
    ApplyAll(*one, {events[i]}, static_cast<int64_t>(i));
    ASSERT_TRUE(b->Commit(*one, static_cast<int64_t>(i) + 1).ok());
  }
  auto other = b->BeginBatch(7);
  ASSERT_TRUE(b->Commit(*other, 12345).ok());

  Result<std::string> da = a->Digest();
  Result<std::string> db = b->Digest();
  ASSERT_TRUE(da.ok() && db.ok());
  EXPECT_EQ(da->size(), 64u);
  EXPECT_EQ(*da, *db);

  // A redelivered event is a duplicate and changes nothing, so the digest stays.
  auto dup = b->BeginBatch(0);
  ApplyAll(*dup, {events[4]}, 9);
  ASSERT_TRUE(b->Commit(*dup, 10).ok());
  EXPECT_EQ(*b->Digest(), *da);

  // Any new state changes it.
  auto more = b->BeginBatch(0);
  ApplyAll(*more, {OpenAccount("acme", "new", v1::ASSET, "USD")}, 10);
  ASSERT_TRUE(b->Commit(*more, 11).ok());
  EXPECT_NE(*b->Digest(), *da);
}

TEST_F(StoreTest, TheOutboxCommitsWithItsBatchReadsInOffsetOrderAndIsNotState) {
  auto store = OpenStore();
  ASSERT_TRUE(store);
  const std::string digest_before = *store->Digest();
  // Two partitions' entries, committed with their batches; a failed commit writes none.
  auto batch = store->BeginBatch(3);
  for (int64_t offset : {12, 10, 11, 15}) batch->PutOutbox(offset, "p3@" + std::to_string(offset));
  auto other = store->BeginBatch(4);
  other->PutOutbox(10, "p4@10");
  ASSERT_TRUE(store->Commit({{batch.get(), 16}, {other.get(), 11}}).ok());
  store->SetWriteFaultForTesting(
      [](const ProjectionStore::Batch&, int64_t) { return Status::IoError("injected"); });
  auto failed = store->BeginBatch(3);
  failed->PutOutbox(16, "p3@16");
  EXPECT_FALSE(store->Commit(*failed, 17).ok());
  store->SetWriteFaultForTesting(nullptr);

  auto read = store->ReadOutbox(3, 0, 100, 1 << 20);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  std::vector<int64_t> offsets;
  for (const auto& entry : *read) {
    offsets.push_back(entry.offset);
    EXPECT_EQ(entry.record, "p3@" + std::to_string(entry.offset));
  }
  EXPECT_EQ(offsets, (std::vector<int64_t>{10, 11, 12, 15}));
  // From an offset, at most so many, and at most so many bytes past the first.
  EXPECT_EQ(store->ReadOutbox(3, 11, 100, 1 << 20)->front().offset, 11);
  EXPECT_EQ(store->ReadOutbox(3, 0, 2, 1 << 20)->size(), 2u);
  EXPECT_EQ(store->ReadOutbox(3, 0, 100, 1)->size(), 1u);

  // Deleting a range leaves the rest and the other partition alone.
  ASSERT_TRUE(store->DeleteOutbox(3, 0, 11).ok());
  offsets.clear();
  auto left = store->ReadOutbox(3, 0, 100, 1 << 20);
  ASSERT_TRUE(left.ok());
  for (const auto& entry : *left) offsets.push_back(entry.offset);
  EXPECT_EQ(offsets, (std::vector<int64_t>{12, 15}));
  EXPECT_EQ(store->ReadOutbox(4, 0, 100, 1 << 20)->size(), 1u);

  // Bookkeeping, not ledger state: the digest does not see it.
  EXPECT_EQ(*store->Digest(), digest_before);
}

TEST_F(StoreTest, AKeyWrittenTwiceInABatchIsPutOnceWithItsLaterValue) {
  // A batch that writes a key twice commits one Put, of its later value (here an outbox
  // entry's: the relay reads and publishes it once).
  auto store = OpenStore();
  ASSERT_TRUE(store);
  auto entries = [&] { return *store->IntProperty("rocksdb.num-entries-active-mem-table"); };
  const uint64_t before = entries();
  auto batch = store->BeginBatch(0);
  batch->PutOutbox(5, "first");
  batch->PutOutbox(5, "second");
  ASSERT_EQ(batch->Count(), 2) << "counted as written";
  ASSERT_TRUE(store->Commit(*batch, 6).ok());
  EXPECT_EQ(entries() - before, 2u) << "the outbox entry once, and the partition's offset";
  auto read = store->ReadOutbox(0, 0, 100, 1 << 20);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ(read->front().record, "second");
}

}  // namespace
}  // namespace kledger::projections
