// Tests of ProjectionStore on a temporary RocksDB: atomic commits of state and offset, fault
// injection, reopen, digests, queries and history pagination.
#include "projections/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/table_properties.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "projections/test_util.h"

namespace kledger::projections {
namespace {

using namespace testutil;  // NOLINT: the event builders
using ::testing::HasSubstr;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::path(::testing::TempDir()) /
            ("kledger_store_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::unique_ptr<ProjectionStore> OpenStore(const std::string& name = "db",
                                             size_t cache_entries = StoreOptions().cache_entries) {
    StoreOptions options;
    options.path = (root_ / name).string();
    options.cache_entries = cache_entries;
    options.max_history_page = 100;
    Result<std::unique_ptr<ProjectionStore>> store = ProjectionStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Applies events at offsets first_offset... into `batch`, expecting no storage error.
  static void ApplyAll(ProjectionStore::Batch& batch, const std::vector<v1::EventEnvelope>& events,
                       int64_t first_offset) {
    for (size_t i = 0; i < events.size(); ++i) {
      Result<v1::EventOutcomeView> r =
          ApplyEvent(events[i], batch.partition(), first_offset + static_cast<int64_t>(i), batch);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
  }

  static std::vector<v1::EventEnvelope> Workload() {
    return {OpenAccount("acme", "cash", v1::ASSET, "USD"),
            OpenAccount("acme", "sales", v1::REVENUE, "USD", true),
            OpenAccount("acme", "eur", v1::ASSET, "EUR"),
            OpenAccount("acme", "eur_eq", v1::EQUITY, "EUR", true),
            CreateTx("acme", "t1", v1::POSTED,
                     {MakeEntry("cash", v1::DEBIT, 100), MakeEntry("sales", v1::CREDIT, 100)}),
            CreateTx("acme", "t2", v1::PENDING,
                     {MakeEntry("sales", v1::DEBIT, 30), MakeEntry("cash", v1::CREDIT, 30)}),
            CreateTx(
                "acme", "t3", v1::POSTED,
                {MakeEntry("eur", v1::DEBIT, 7, "EUR"), MakeEntry("eur_eq", v1::CREDIT, 7, "EUR")}),
            UpdateTx("acme", "t2", "post", v1::POST),
            CreateTx("acme", "t4", v1::POSTED,  // rejected: insufficient funds
                     {MakeEntry("sales", v1::DEBIT, 1000), MakeEntry("cash", v1::CREDIT, 1000)})};
  }

  std::filesystem::path root_;
};

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
  // The cache hands a committed account to the batch that reads it; only that batch's commit
  // puts it back. A batch whose commit fails, or that is dropped, must leave later batches
  // reading the committed balance, not its own.
  auto store = OpenStore();
  ASSERT_TRUE(store);
  const std::vector<v1::EventEnvelope> events = Workload();
  {
    auto batch = store->BeginBatch(0);
    ApplyAll(*batch, {events[0], events[1]}, 0);
    ASSERT_TRUE(store->Commit(*batch, 2).ok());  // cash and sales now cached
  }
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

TEST_F(StoreTest, AnAccountReadThenRewrittenInOneBatchIsCachedAsRewritten) {
  // A rejected transfer only reads cash; the update that follows in the same batch rewrites it.
  // The commit caches the rewrite, never the copy that was only read.
  auto store = OpenStore();
  ASSERT_TRUE(store);
  const std::vector<v1::EventEnvelope> events = Workload();
  {
    auto batch = store->BeginBatch(0);
    ApplyAll(*batch, {events[0], events[1]}, 0);  // cash may not go negative
    ASSERT_TRUE(store->Commit(*batch, 2).ok());
  }
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

TEST_F(StoreTest, BalancesAreWrittenInPlaceOfAnAccountFoundFirst) {
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
  EXPECT_EQ(batch->Count(), 1);
  ASSERT_TRUE(store->Commit(*batch, 2).ok());
  EXPECT_EQ(store->GetAccount("acme", "cash")->balances().posted().debit(), 5);
  EXPECT_EQ(store->GetAccount("acme", "cash")->currency(), "USD");
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

  Result<v1::EventOutcomeView> outcome = store->GetOutcome("acme", "tx:src:t4");
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->outcome(), v1::REJECTED);
  EXPECT_EQ(outcome->reason(), kReasonInsufficientFunds);
  EXPECT_EQ(outcome->offset(), 8);
  EXPECT_EQ(store->GetOutcome("other", "tx:src:t4").status().code(), StatusCode::kNotFound);

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
TEST_F(StoreTest, TransactionPagesFollowTheFilterInSourceAndKeyOrder) {
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
    std::sort(expected.begin(), expected.end());
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
  // A cursor of one source does not serve another.
  auto shop = store->ListTransactions("acme", {.source = "shop"}, 1, "");
  ASSERT_TRUE(shop.ok());
  ASSERT_FALSE(shop->next_cursor().empty());
  EXPECT_EQ(
      store->ListTransactions("acme", {.source = "bank"}, 1, shop->next_cursor()).status().code(),
      StatusCode::kInvalidArgument);
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
TEST_F(StoreTest, StorageSettingsReachRocksDbAndLeaveTheStateAlone) {
  rocksdb::Options db;
  rocksdb::WriteOptions write;
  StoreOptions settings;
  settings.write_buffer_mb = 8;
  settings.compaction = StoreOptions::Compaction::kUniversal;
  settings.sync = true;
  ToRocksDbOptions(settings, db, write);
  EXPECT_EQ(db.write_buffer_size, size_t{8} << 20);
  EXPECT_EQ(db.compaction_style, rocksdb::kCompactionStyleUniversal);
  EXPECT_TRUE(write.sync);

  std::vector<std::string> digests;
  for (StoreOptions::Compaction style :
       {StoreOptions::Compaction::kLeveled, StoreOptions::Compaction::kUniversal}) {
    settings.path = (root_ / ("style-" + std::to_string(digests.size()))).string();
    settings.compaction = style;
    auto store = ProjectionStore::Open(settings);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto batch = (*store)->BeginBatch(0);
    ApplyAll(*batch, Workload(), 0);
    ASSERT_TRUE((*store)->Commit(*batch, 9).ok());
    digests.push_back(*(*store)->Digest());
  }
  EXPECT_EQ(digests[0], digests[1]);

  settings.write_buffer_mb = 0;
  auto refused = ProjectionStore::Open(settings);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("write_buffer_mb"));

  EXPECT_EQ(*ParseCompaction("universal"), StoreOptions::Compaction::kUniversal);
  EXPECT_THAT(ParseCompaction("tiered").status().message(), HasSubstr("leveled or universal"));
}

// The scheduling policy of a job run by RocksDB's compaction pool (the default environment's LOW
// pool, which every store of the process shares).
int CompactionPoolPolicy() {
  std::promise<int> policy;
  rocksdb::Env::Default()->Schedule(
      [](void* arg) { static_cast<std::promise<int>*>(arg)->set_value(sched_getscheduler(0)); },
      &policy, rocksdb::Env::Priority::LOW);
  return policy.get_future().get();
}

// The priority cannot be raised again in a process, so this test checks "normal" first; ctest
// runs each test in a process of its own.
TEST_F(StoreTest, IdleCompactionPriorityRunsCompactionsOnlyOnIdleCpu) {
  auto normal = OpenStore("normal");
  ASSERT_TRUE(normal);
  EXPECT_EQ(CompactionPoolPolicy(), SCHED_OTHER);

  StoreOptions settings;
  settings.path = (root_ / "idle").string();
  settings.compaction_priority = StoreOptions::CompactionPriority::kIdle;
  auto idle = ProjectionStore::Open(settings);
  ASSERT_TRUE(idle.ok()) << idle.status().ToString();
  EXPECT_EQ(CompactionPoolPolicy(), SCHED_IDLE);

  EXPECT_EQ(*ParseCompactionPriority("idle"), StoreOptions::CompactionPriority::kIdle);
  EXPECT_EQ(*ParseCompactionPriority("normal"), StoreOptions::CompactionPriority::kNormal);
  EXPECT_THAT(ParseCompactionPriority("low").status().message(), HasSubstr("normal or idle"));
}

// Flushed tables (level 0) are written uncompressed; deeper levels compressed when RocksDB can.
TEST_F(StoreTest, FlushedTablesAreUncompressedAndDeepLevelsCompressed) {
  rocksdb::Options options;
  rocksdb::WriteOptions write;
  ToRocksDbOptions(StoreOptions(), options, write);
  options.create_if_missing = true;
  ASSERT_GE(options.compression_per_level.size(), 3u);
  EXPECT_EQ(options.compression_per_level[1], rocksdb::kNoCompression);
  const auto supported = rocksdb::GetSupportedCompressions();
  if (std::find(supported.begin(), supported.end(), rocksdb::kLZ4Compression) != supported.end()) {
    EXPECT_EQ(options.compression_per_level.back(), rocksdb::kLZ4Compression);
  }

  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, (root_ / "raw").string(), &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(db->Put(write, "k" + std::to_string(i), std::string(200, 'x')).ok());
  }
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  rocksdb::TablePropertiesCollection tables;
  ASSERT_TRUE(db->GetPropertiesOfAllTables(&tables).ok());
  ASSERT_EQ(tables.size(), 1u);
  EXPECT_EQ(tables.begin()->second->compression_name, "NoCompression");
}

// RocksDB's per-operation perf counters (on by default, read by nobody) are off on every thread
// that applies, commits or queries; each step runs on a fresh thread, whose level is the default.
TEST_F(StoreTest, ThreadsThatUseTheStoreDoNotKeepRocksDbPerfCounters) {
  std::unique_ptr<ProjectionStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  auto level_after = [](const std::function<void()>& step) {
    rocksdb::PerfLevel before = rocksdb::PerfLevel::kUninitialized;
    rocksdb::PerfLevel after = rocksdb::PerfLevel::kUninitialized;
    std::thread([&] {
      before = rocksdb::GetPerfLevel();
      step();
      after = rocksdb::GetPerfLevel();
    }).join();
    EXPECT_NE(before, rocksdb::PerfLevel::kDisable) << "the test needs counters on at first";
    return after;
  };
  std::unique_ptr<ProjectionStore::Batch> batch;
  EXPECT_EQ(level_after([&] { batch = store->BeginBatch(0); }), rocksdb::PerfLevel::kDisable);
  ApplyAll(*batch, Workload(), 0);
  EXPECT_EQ(level_after([&] { ASSERT_TRUE(store->Commit(*batch, 9).ok()); }),
            rocksdb::PerfLevel::kDisable);
  EXPECT_EQ(level_after([&] { EXPECT_TRUE(store->GetAccount("acme", "cash").ok()); }),
            rocksdb::PerfLevel::kDisable);
  EXPECT_EQ(level_after([&] { EXPECT_TRUE(store->GetHistory("acme", "cash", 10, "").ok()); }),
            rocksdb::PerfLevel::kDisable);
  EXPECT_EQ(level_after([&] { EXPECT_TRUE(store->GetTrialBalance("acme").ok()); }),
            rocksdb::PerfLevel::kDisable);
  EXPECT_EQ(level_after([&] { EXPECT_TRUE(store->Digest().ok()); }), rocksdb::PerfLevel::kDisable);
}

}  // namespace
}  // namespace kledger::projections
