// Tests of ProjectionStore's storage settings on a temporary RocksDB: the settings reach RocksDB
// and leave the state alone, idle-priority compactions, compression by level, no RocksDB perf
// counters kept on the store's threads, what a crash leaves without a write-ahead log, and what
// the outbox leaves in the files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/table_properties.h>
#include <sched.h>

#include <filesystem>
#include <future>
#include <thread>

#include "projections/store_encoding.h"
#include "projections/store_test_fixture.h"

namespace kledger::projections {
namespace {

using namespace testutil;  // NOLINT: the event builders
using ::testing::HasSubstr;

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
  EXPECT_FALSE(write.disableWAL) << "sync needs the write-ahead log";
  settings.sync = false;
  ToRocksDbOptions(settings, db, write);
  EXPECT_TRUE(write.disableWAL) << "no write-ahead log by default";
  settings.write_ahead_log = true;
  ToRocksDbOptions(settings, db, write);
  EXPECT_FALSE(write.disableWAL);
  EXPECT_FALSE(write.sync);

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

// What a process crash leaves of the store: the files as written so far (the kernel keeps what
// was written; the memtable dies with the process), copied while the store is open.
std::filesystem::path CrashCopy(const std::filesystem::path& from,
                                const std::filesystem::path& to) {
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
  return to;
}

// Without a write-ahead log a crash takes the store back to an earlier commit, state and offset
// together; a durable batch's commit (a dead letter's) survives it with everything before it.
TEST_F(StoreTest, WithoutAWriteAheadLogACrashLeavesAnEarlierCommitAndKeepsDurableOnes) {
  const std::vector<v1::EventEnvelope> events = Workload();
  auto commit = [&](ProjectionStore& store, size_t from, size_t to, bool durable) {
    auto batch = store.BeginBatch(0);
    ApplyAll(*batch, {events.begin() + from, events.begin() + to}, static_cast<int64_t>(from));
    if (durable) batch->MakeDurable();
    ASSERT_TRUE(store.Commit(*batch, static_cast<int64_t>(to)).ok());
  };
  auto open = [&](const std::filesystem::path& path, bool write_ahead_log) {
    StoreOptions options;
    options.path = path.string();
    options.write_ahead_log = write_ahead_log;
    auto store = ProjectionStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  };
  auto next_offset = [](ProjectionStore& store) { return *store.NextOffset(0); };

  // The reference: the first two commits only.
  auto reference = open(root_ / "reference", false);
  commit(*reference, 0, 4, false);
  commit(*reference, 4, 6, false);
  const std::string two_commits = *reference->Digest();

  auto store = open(root_ / "unlogged", false);
  commit(*store, 0, 4, false);
  auto nothing = open(CrashCopy(root_ / "unlogged", root_ / "crash-0"), false);
  EXPECT_EQ(next_offset(*nothing), std::nullopt) << "an unlogged commit is not on disk yet";
  nothing.reset();

  commit(*store, 4, 6, /*durable=*/true);
  commit(*store, 6, 9, false);
  EXPECT_EQ(next_offset(*store), 9);
  auto crashed = open(CrashCopy(root_ / "unlogged", root_ / "crash-1"), false);
  EXPECT_EQ(next_offset(*crashed), 6) << "the durable commit and the one before it survive";
  EXPECT_EQ(*crashed->Digest(), two_commits) << "and nothing after them";
  EXPECT_EQ(crashed->GetOutcome("acme", events[6].event_id()).status().code(),
            StatusCode::kNotFound);
  // Applied again from offset 6, as a processor does after the crash: the same state.
  commit(*crashed, 6, 9, false);
  EXPECT_EQ(*crashed->Digest(), *store->Digest());

  // A clean close writes the memtable out.
  store.reset();
  EXPECT_EQ(next_offset(*open(root_ / "unlogged", false)), 9);

  // With the log, every commit survives the crash.
  auto logged = open(root_ / "logged", true);
  commit(*logged, 0, 4, false);
  EXPECT_EQ(next_offset(*open(CrashCopy(root_ / "logged", root_ / "crash-2"), true)), 4);
}

// The relay's deletes of published outbox entries: one range tombstone per DeleteOutbox, not one
// per entry; a flush drops the entries it covers in the same memtable, and a compaction takes the
// rest and the tombstone away. Also across a crash that loses deletes and commits, which are then
// done again.
TEST_F(StoreTest, PublishedOutboxEntriesLeaveNothingInTheFilesAcrossACrash) {
  constexpr int32_t kPartition = 3;
  auto commit = [](ProjectionStore& store, int64_t from, int64_t to, bool durable) {
    auto batch = store.BeginBatch(kPartition);
    for (int64_t offset = from; offset < to; ++offset) {
      batch->PutOutbox(offset, "outcome@" + std::to_string(offset));
    }
    if (durable) batch->MakeDurable();  // flushed: its entries are in a file
    ASSERT_TRUE(store.Commit(*batch, to).ok());
  };
  auto open = [](const std::filesystem::path& path) {
    StoreOptions options;
    options.path = path.string();
    auto store = ProjectionStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  };
  auto entries = [](ProjectionStore& store) {
    std::vector<int64_t> offsets;
    auto read = store.ReadOutbox(kPartition, 0, 1000, 1 << 20);
    EXPECT_TRUE(read.ok()) << read.status().ToString();
    if (!read.ok()) return offsets;
    for (const auto& entry : *read) offsets.push_back(entry.offset);
    return offsets;
  };
  auto offsets = [](int64_t from, int64_t to) {
    std::vector<int64_t> out;
    for (int64_t offset = from; offset < to; ++offset) out.push_back(offset);
    return out;
  };
  // What the outbox's files of a closed store hold, by the tables' own counts, after a full
  // compaction when `compact`.
  struct InFiles {
    uint64_t puts = 0, point_deletes = 0, range_deletes = 0;
  };
  auto in_files = [](const std::filesystem::path& path, bool compact) {
    rocksdb::Options options;
    rocksdb::WriteOptions unused;
    ToRocksDbOptions(StoreOptions{}, options, unused);
    RawStore raw = RawStore::Open(path.string(), options);
    InFiles out;
    if (!raw.db) return out;
    if (compact) {
      const rocksdb::Status s =
          raw.db->CompactRange(rocksdb::CompactRangeOptions(), raw.outbox.get(), nullptr, nullptr);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    rocksdb::TablePropertiesCollection tables;
    EXPECT_TRUE(raw.db->GetPropertiesOfAllTables(raw.outbox.get(), &tables).ok());
    for (const auto& [file, table] : tables) {
      // RocksDB counts a range tombstone among the entries and the deletions too.
      out.puts += table->num_entries - table->num_deletions;
      out.point_deletes += table->num_deletions - table->num_range_deletions;
      out.range_deletes += table->num_range_deletions;
    }
    return out;
  };

  auto store = open(root_ / "store");
  commit(*store, 0, 10, /*durable=*/true);
  commit(*store, 10, 20, /*durable=*/true);  // flushes 0..9 into a file first, then is logged
  commit(*store, 20, 30, /*durable=*/false);
  ASSERT_TRUE(store->DeleteOutbox(kPartition, 0, 29).ok());
  EXPECT_THAT(entries(*store), ::testing::IsEmpty());
  auto crashed = open(CrashCopy(root_ / "store", root_ / "crash"));
  store.reset();  // a clean close: the memtable is flushed
  // Entries 10..29 were put and deleted in one memtable: the flush wrote none of them, and the
  // one range tombstone. 0..9 were in a file already; a compaction takes them and the tombstone.
  const InFiles flushed = in_files(root_ / "store", false);
  EXPECT_EQ(flushed.puts, 10u);
  EXPECT_EQ(flushed.point_deletes, 0u);
  EXPECT_EQ(flushed.range_deletes, 1u);
  const InFiles compacted = in_files(root_ / "store", true);
  EXPECT_EQ(compacted.puts + compacted.point_deletes + compacted.range_deletes, 0u);

  // The crash lost the deletes and the last commit: entries 0..19 are back, and the processor
  // applies 20..29 again; the relay deletes them all once more.
  EXPECT_EQ(entries(*crashed), offsets(0, 20));
  EXPECT_EQ(*crashed->NextOffset(kPartition), 20);
  commit(*crashed, 20, 30, /*durable=*/false);
  EXPECT_EQ(entries(*crashed), offsets(0, 30));
  ASSERT_TRUE(crashed->DeleteOutbox(kPartition, 0, 29).ok());
  EXPECT_THAT(entries(*crashed), ::testing::IsEmpty());
  crashed.reset();
  const InFiles recompacted = in_files(root_ / "crash", true);
  EXPECT_EQ(recompacted.puts + recompacted.point_deletes + recompacted.range_deletes, 0u);
}

// A store written before the outbox had a column family of its own kept its entries beside the
// state; opened now, its unpublished entries are read, published and deleted as any.
TEST_F(StoreTest, AnOlderStoresOutboxMovesToItsColumnFamilyWhenOpened) {
  constexpr int32_t kPartition = 2;
  const std::string path = (root_ / "older").string();
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, path, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    for (int64_t offset = 5; offset < 8; ++offset) {
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), store_encoding::OutboxKey(kPartition, offset),
                          "outcome@" + std::to_string(offset))
                      .ok());
    }
    std::string offset;
    store_encoding::AppendBigEndian(offset, 8, 8);
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), store_encoding::OffsetKey(kPartition), offset).ok());
  }
  StoreOptions options;
  options.path = path;
  auto store = ProjectionStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(*(*store)->NextOffset(kPartition), 8);
  auto read = (*store)->ReadOutbox(kPartition, 0, 100, 1 << 20);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), 3u);
  EXPECT_EQ(read->front().offset, 5);
  EXPECT_EQ(read->front().record, "outcome@5");
  EXPECT_EQ(read->back().offset, 7);
  ASSERT_TRUE((*store)->DeleteOutbox(kPartition, 5, 6).ok());
  store->reset();

  rocksdb::Options raw_options;
  RawStore raw = RawStore::Open(path, raw_options);
  ASSERT_TRUE(raw.db);
  auto keys = [&](rocksdb::ColumnFamilyHandle* family) {
    std::vector<std::string> out;
    std::unique_ptr<rocksdb::Iterator> it(raw.db->NewIterator(rocksdb::ReadOptions(), family));
    for (it->Seek("q"); it->Valid() && it->key().starts_with("q"); it->Next()) {
      out.push_back(it->key().ToString());
    }
    return out;
  };
  EXPECT_THAT(keys(raw.state.get()), ::testing::IsEmpty()) << "moved out of the state's family";
  EXPECT_THAT(keys(raw.outbox.get()),
              ::testing::ElementsAre(store_encoding::OutboxKey(kPartition, 7)));
}

}  // namespace
}  // namespace kledger::projections
