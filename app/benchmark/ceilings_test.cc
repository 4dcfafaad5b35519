// The RocksDB ceiling writes what the store writes: for one posted transfer, TransferPuts' keys
// are exactly the keys the processors' store adds or changes when it applies that transfer
// (outcome stream on and off), so a change of the store's layout fails here until the ceiling
// follows it (issue 21: "re-derive the ceiling if the key layout changes").
#include "app/benchmark/ceilings.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/event_id.h"
#include "processors/applier.h"
#include "processors/test_records.h"
#include "projections/test_util.h"

namespace kledger::app::bench {
namespace {

using processors::testutil::EventRecord;
using projections::testutil::CreateTx;
using projections::testutil::MakeEntry;
using projections::testutil::OpenAccount;

// `event` with its id derived, as the ceiling is given it.
v1::EventEnvelope WithId(v1::EventEnvelope event) {
  event.set_event_id(domain::DeriveEventId(event));
  return event;
}

// Every key and value of the database at `path` but the partitions' offsets, read with the store
// closed (it flushed on close), from both column families. The ceiling puts the outbox's keys
// (`q`) in the outbox's family and every other key in the default one: so does the store.
std::map<std::string, std::string> Contents(const std::string& path) {
  const std::vector<rocksdb::ColumnFamilyDescriptor> families =
      projections::StoreColumnFamilies(rocksdb::Options());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status opened =
      rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path, families, &handles, &raw);
  EXPECT_TRUE(opened.ok()) << opened.ToString();
  std::unique_ptr<rocksdb::DB> db(raw);
  std::map<std::string, std::string> out;
  if (!db) return out;
  for (rocksdb::ColumnFamilyHandle* family : handles) {
    const bool outbox = family->GetName() == projections::kOutboxColumnFamily;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), family));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      EXPECT_EQ(it->key().starts_with("q"), outbox)
          << family->GetName() << ": " << it->key().ToString(true);
      if (it->key().starts_with("o")) continue;
      out.emplace(it->key().ToString(), it->value().ToString());
    }
    it.reset();
    delete family;
  }
  return out;
}

// Applies `records` from `next_offset` into the store at `path` and commits, then closes it.
void ApplyAndClose(const std::string& path, const std::vector<kafka::ConsumedRecord>& records,
                   int64_t next_offset, bool outcomes) {
  auto store = projections::ProjectionStore::Open({.path = path});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto batch = (*store)->BeginBatch(0);
  const processors::PoisonHandler no_poison = [](const auto&, const auto&) {
    ADD_FAILURE() << "no record here is poison";
    return Status::Ok();
  };
  auto run = processors::ApplyRecords(*batch, next_offset, records, no_poison, {},
                                      {.enabled = outcomes, .from_offset = 0});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_TRUE((*store)->Commit(*batch, run->next_offset).ok());
}

TEST(CeilingTest, TransferPutsWriteTheKeysTheStoreWritesForATransfer) {
  for (bool outcomes : {true, false}) {
    SCOPED_TRACE(outcomes ? "with the outcome stream" : "--no-outcomes");
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() /
        ("kledger-ceiling-test-" + std::to_string(::getpid()) + (outcomes ? "-on" : "-off"));
    std::filesystem::remove_all(dir);
    const v1::EventEnvelope transfer =
        WithId(CreateTx("acme", "t1", v1::POSTED,
                        {MakeEntry("cash", v1::DEBIT, 5), MakeEntry("bank", v1::CREDIT, 5)}));
    ApplyAndClose(dir.string(),
                  {EventRecord(OpenAccount("acme", "cash", v1::ASSET, "USD"), 0),
                   EventRecord(OpenAccount("acme", "bank", v1::LIABILITY, "USD"), 1)},
                  0, outcomes);
    const auto before = Contents(dir.string());
    ApplyAndClose(dir.string(), {EventRecord(transfer, 2)}, 2, outcomes);
    const auto after = Contents(dir.string());

    std::set<std::string> written;  // added or changed by the transfer's commit
    for (const auto& [key, value] : after) {
      auto it = before.find(key);
      if (it == before.end() || it->second != value) written.insert(key);
    }
    std::set<std::string> ceiling;
    for (const Put& put : TransferPuts(transfer, 0, 2, outcomes)) ceiling.insert(put.key);
    EXPECT_EQ(ceiling, written);
    // b, h, h, e, l (+ q): no account record (its balances are in its history items), no
    // transaction record (it is in the event's record, e)
    EXPECT_EQ(written.size(), outcomes ? 6u : 5u);
    std::filesystem::remove_all(dir);
  }
}

// As the relay after publishing, the ceiling deletes every outbox entry it put, one range per
// partition of each batch: none is left, and nothing else is deleted.
TEST(CeilingTest, TheCeilingDeletesTheOutboxEntriesItPutAndNothingElse) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("kledger-ceiling-deletes-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  constexpr int kPartitions = 3;
  constexpr int64_t kEvents = 30;
  auto make_puts = [](int64_t i) {
    const std::string n = std::to_string(i);
    const v1::EventEnvelope transfer = WithId(
        CreateTx("acme", "t" + n, v1::POSTED,
                 {MakeEntry("cash" + n, v1::DEBIT, 5), MakeEntry("bank" + n, v1::CREDIT, 5)}));
    return TransferPuts(transfer, static_cast<int32_t>(i % kPartitions), i / kPartitions, true);
  };
  std::set<std::string> state_keys;
  for (int64_t i = 0; i < kEvents; ++i) {
    for (const Put& put : make_puts(i)) {
      if (!put.key.starts_with("q")) state_keys.insert(put.key);
    }
  }
  auto ceiling =
      MeasureRocksDbCeiling({.path = dir.string()}, kEvents, 7, make_puts, [](int64_t) {});
  ASSERT_TRUE(ceiling.ok()) << ceiling.status().ToString();
  std::set<std::string> left;
  for (const auto& [key, value] : Contents(dir.string())) left.insert(key);
  EXPECT_EQ(left, state_keys);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kledger::app::bench
