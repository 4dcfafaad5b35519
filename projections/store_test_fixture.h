// The fixture of ProjectionStore's tests (store_test.cc, store_query_test.cc,
// store_settings_test.cc): a temporary RocksDB per test, a store opened on it, and a small
// workload of every event type.
#pragma once

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "projections/ledger.h"
#include "projections/store.h"
#include "projections/test_util.h"

namespace kledger::projections {

// A store's RocksDB opened directly, every column family with it: the state's (default) and the
// outbox's (kOutboxColumnFamily).
struct RawStore {
  std::unique_ptr<rocksdb::DB> db;
  std::unique_ptr<rocksdb::ColumnFamilyHandle> state;   // deleted before db
  std::unique_ptr<rocksdb::ColumnFamilyHandle> outbox;  // deleted before db

  static RawStore Open(const std::string& path, const rocksdb::Options& options) {
    const std::vector<rocksdb::ColumnFamilyDescriptor> families = StoreColumnFamilies(options);
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(options, path, families, &handles, &raw);
    EXPECT_TRUE(s.ok()) << s.ToString();
    RawStore out;
    out.db.reset(raw);
    if (s.ok()) {
      out.state.reset(handles[0]);
      out.outbox.reset(handles[1]);
    }
    return out;
  }
};

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

  // A store (OpenStore) with Workload()'s cash and sales accounts opened and committed (offsets
  // 0 and 1); nullptr on failure.
  std::unique_ptr<ProjectionStore> StoreWithCashAndSales() {
    std::unique_ptr<ProjectionStore> store = OpenStore();
    if (!store) return nullptr;
    const std::vector<v1::EventEnvelope> events = Workload();
    auto batch = store->BeginBatch(0);
    ApplyAll(*batch, {events[0], events[1]}, 0);
    Status committed = store->Commit(*batch, 2);
    EXPECT_TRUE(committed.ok()) << committed.ToString();
    return committed.ok() ? std::move(store) : nullptr;
  }

  // One of each kind of event, the last a rejection.
  static std::vector<v1::EventEnvelope> Workload() {
    using namespace testutil;  // NOLINT: the event builders
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

}  // namespace kledger::projections
