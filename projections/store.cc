// ProjectionStore on RocksDB: batches, deterministic encoding, atomic commits and the committed-
// record cache. The key layout is in store_encoding.h (and projections/README.md: keep both in
// step); the queries are in store_queries.cc.
#include "projections/store.h"

#include <openssl/evp.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <utility>
#include <vector>

#include "projections/store_encoding.h"

namespace kledger::projections {

using namespace store_encoding;

namespace {

// A rocksdb::WriteBatch's bytes: a 12-byte header (sequence, count), then per Put a type byte and
// the key's and the value's varint32 lengths (up to 5 bytes each) before their bytes.
constexpr size_t kWriteBatchHeaderSize = 12;
constexpr size_t kWriteBatchRecordOverhead = 11;

rocksdb::WriteOptions WriteOptionsFor(const StoreOptions& options) {
  rocksdb::WriteOptions write;
  write.sync = options.sync;
  write.disableWAL = !options.write_ahead_log && !options.sync;
  return write;
}

}  // namespace

// ---- Batch --------------------------------------------------------------------------------

ProjectionStore::Batch::Batch(ProjectionStore& store, int32_t partition)
    : store_(store), partition_(partition) {}

ProjectionStore::Batch::~Batch() {
  if (accounts_.empty()) return;
  // Never settled (dropped after a failure, or abandoned): what it changed is not committed.
  std::lock_guard lock(store_.cache_mu_);
  store_.ReleaseAccountsLocked(*this, /*committed=*/false);
}

int ProjectionStore::Batch::Count() const {
  return static_cast<int>(settings_written_.size() + totals_.size() + records_.size() +
                          appended_.size());
}

Result<std::optional<std::string>> ProjectionStore::Batch::Read(const std::string& key) {
  if (auto it = records_.find(key); it != records_.end()) {
    return {std::optional<std::string>(it->second)};
  }
  if (below_ != nullptr) {
    if (auto it = below_->records_.find(key); it != below_->records_.end()) {
      return {std::optional<std::string>(it->second)};
    }
  }
  if (auto it = prefetched_.find(key); it != prefetched_.end()) return {it->second};
  std::string value;
  rocksdb::Status s = store_.db_->Get(rocksdb::ReadOptions(), key, &value);
  if (s.IsNotFound()) return {std::nullopt};
  if (!s.ok()) return FromRocks(s, "reading the projection store");
  return {std::optional<std::string>(std::move(value))};
}

template <typename T>
Result<std::optional<T>> ProjectionStore::Batch::Find(const std::string& key) {
  ASSIGN_OR_RETURN(std::optional<std::string> value, Read(key));
  if (!value) return {std::nullopt};
  ASSIGN_OR_RETURN(T message, Parse<T>(*value, T::descriptor()->name()));
  return {std::optional<T>(std::move(message))};
}

Result<std::optional<v1::CurrencyTotals>> ProjectionStore::Batch::FindTotals(
    const std::string& key) {
  using Found = std::optional<v1::CurrencyTotals>;
  if (auto it = totals_.find(key); it != totals_.end()) return {Found(it->second)};
  if (below_ != nullptr) {
    if (auto it = below_->totals_.find(key); it != below_->totals_.end()) {
      return {Found(it->second)};
    }
  }
  if (auto node = store_.TotalsTake(key); !node.empty()) return {Found(std::move(node.mapped()))};
  // Not cached here: the cache holds what commits wrote, and these totals are cached when the
  // batch that changes them commits.
  return Find<v1::CurrencyTotals>(key);
}

Result<std::optional<std::string>> ProjectionStore::Batch::GetExtension(std::string_view projection,
                                                                        std::string_view key) {
  return Read(MakeKey(kExtensionPrefix, {projection, key}));
}

Status ProjectionStore::Batch::PutExtension(std::string_view projection, std::string_view key,
                                            std::string_view value) {
  records_.insert_or_assign(MakeKey(kExtensionPrefix, {projection, key}), std::string(value));
  return Status::Ok();
}

Status ProjectionStore::Batch::Prefetch(const std::vector<const v1::EventEnvelope*>& events) {
  std::vector<std::string> keys;
  keys.reserve(events.size());
  auto wanted = [&](std::string key) {
    if (records_.contains(key) || prefetched_.contains(key)) return;
    if (below_ != nullptr && below_->records_.contains(key)) return;
    keys.push_back(std::move(key));
  };
  for (const v1::EventEnvelope* event : events) {
    if (event->instance_id().empty() || event->event_id().empty()) continue;
    // A created transaction lives in its event's record: for a valid event id (derived from
    // the transaction's key) this key serves its idempotency check too.
    wanted(OutcomeKey(event->instance_id(), event->event_id()));
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  if (keys.empty()) return Status::Ok();
  const std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  store_.db_->MultiGet(rocksdb::ReadOptions(), store_.db_->DefaultColumnFamily(), keys.size(),
                       slices.data(), values.data(), statuses.data(), /*sorted_input=*/true);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!statuses[i].ok() && !statuses[i].IsNotFound()) {
      prefetched_.clear();
      return FromRocks(statuses[i], "reading ahead in the projection store");
    }
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    prefetched_.emplace(std::move(keys[i]), statuses[i].ok()
                                                ? std::optional<std::string>(values[i].ToString())
                                                : std::nullopt);
  }
  return Status::Ok();
}

void ProjectionStore::Batch::PutOutbox(int64_t offset, std::string record) {
  appended_.emplace_back(OutboxKey(partition_, offset), std::move(record));
}

Result<const v1::AccountView*> ProjectionStore::Batch::FindAccount(std::string_view instance,
                                                                   std::string_view address) {
  std::string key = AccountKey(instance, address);
  if (auto it = accounts_.find(key); it != accounts_.end()) return &it->second.entry->view;
  // First read in this batch: the table's entry, held, so that later reads and writes (and a
  // batch stacked on this one) use it in place.
  ASSIGN_OR_RETURN(CachedAccount * entry,
                   store_.HoldAccount(*this, std::move(key), instance, address));
  return entry == nullptr ? nullptr : &entry->view;
}

Status ProjectionStore::Batch::PutAccount(v1::AccountView account) {
  std::string key = AccountKey(account.instance_id(), account.address());
  settings_written_.insert(key);
  if (auto it = accounts_.find(key); it != accounts_.end()) {
    it->second.entry->view = std::move(account);  // in place: pointers stay valid
    return Status::Ok();
  }
  store_.HoldAccountToReplace(*this, std::move(key)).view = std::move(account);
  return Status::Ok();
}

Status ProjectionStore::Batch::PutBalances(std::string_view instance, std::string_view address,
                                           const v1::Balances& balances) {
  auto it = accounts_.find(AccountKey(instance, address));
  if (it == accounts_.end()) {
    return Status::Internal("balances of account " + Quote(address) + " in instance " +
                            Quote(instance) + " written before the account was found");
  }
  *it->second.entry->view.mutable_balances() = balances;
  return Status::Ok();
}

template <typename T>
Result<std::optional<T>> ProjectionStore::Batch::FindEventRecordPart(const std::string& key,
                                                                     bool transaction) {
  ASSIGN_OR_RETURN(std::optional<std::string> value, Read(key));
  if (!value) return {std::nullopt};
  ASSIGN_OR_RETURN(EventRecord record, DecodeEventRecord(*value));
  const std::string_view part = transaction ? record.transaction : record.outcome;
  if (part.empty()) return {std::nullopt};
  ASSIGN_OR_RETURN(T message, Parse<T>(part, T::descriptor()->name()));
  return {std::optional<T>(std::move(message))};
}

Status ProjectionStore::Batch::PutEventRecordPart(std::string key, std::string part,
                                                  bool transaction) {
  auto encode = [&](const std::string_view stored) -> Result<std::string> {
    ASSIGN_OR_RETURN(EventRecord record, DecodeEventRecord(stored));
    return transaction ? EncodeEventRecord(record.outcome, part)
                       : EncodeEventRecord(part, record.transaction);
  };
  if (auto it = records_.find(key); it != records_.end()) {
    ASSIGN_OR_RETURN(std::string value, encode(it->second));
    it->second = std::move(value);
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(std::optional<std::string> stored, Read(key));
  ASSIGN_OR_RETURN(std::string value, encode(stored ? *stored : std::string()));
  records_.emplace(std::move(key), std::move(value));
  return Status::Ok();
}

const std::string& ProjectionStore::Batch::TransactionKeyOf(std::string_view instance,
                                                            std::string_view source,
                                                            std::string_view source_idempk) {
  auto& last = last_transaction_key_;
  if (last.key.empty() || last.instance != instance || last.source != source ||
      last.source_idempk != source_idempk) {
    last.instance = instance;
    last.source = source;
    last.source_idempk = source_idempk;
    last.key = TransactionKey(instance, source, source_idempk);
  }
  return last.key;
}

Result<std::optional<v1::TransactionView>> ProjectionStore::Batch::FindTransaction(
    std::string_view instance, std::string_view source, std::string_view source_idempk) {
  return FindEventRecordPart<v1::TransactionView>(TransactionKeyOf(instance, source, source_idempk),
                                                  /*transaction=*/true);
}

Status ProjectionStore::Batch::PutTransaction(const v1::TransactionView& tx) {
  return PutEventRecordPart(TransactionKeyOf(tx.instance_id(), tx.source(), tx.source_idempk()),
                            SerializeDeterministic(tx), /*transaction=*/true);
}

Result<std::optional<v1::EventOutcomeView>> ProjectionStore::Batch::FindOutcome(
    std::string_view instance, std::string_view event_id) {
  return FindEventRecordPart<v1::EventOutcomeView>(OutcomeKey(instance, event_id),
                                                   /*transaction=*/false);
}

Status ProjectionStore::Batch::PutOutcome(const v1::EventOutcomeView& outcome) {
  if (outcome.offset() < 0) {
    return Status::Internal("an outcome's offset is non-negative, got " +
                            std::to_string(outcome.offset()));
  }
  RETURN_IF_ERROR(PutEventRecordPart(OutcomeKey(outcome.instance_id(), outcome.event_id()),
                                     SerializeDeterministic(outcome), /*transaction=*/false));
  // The event log lists outcomes by offset. A redriven dead letter's outcome replaces the
  // DEAD_LETTERED one under its event id; the older log key then names an outcome of another
  // offset, and ListEvents passes over it.
  appended_.emplace_back(EventLogKey(outcome.instance_id(), outcome.offset()), outcome.event_id());
  return Status::Ok();
}

Status ProjectionStore::Batch::AppendHistory(std::string_view instance, std::string_view address,
                                             int32_t entry_index, const v1::HistoryItem& item) {
  if (item.offset() < 0 || entry_index < 0) {
    return Status::Internal("history positions are non-negative, got offset " +
                            std::to_string(item.offset()) + " entry " +
                            std::to_string(entry_index));
  }
  appended_.emplace_back(
      HistoryPrefix(instance, address) + HistoryPosition(item.offset(), entry_index),
      SerializeDeterministic(item));
  return Status::Ok();
}

Result<std::optional<v1::CurrencyTotals>> ProjectionStore::Batch::FindCurrencyTotals(
    std::string_view instance, std::string_view currency) {
  return FindTotals(TrialBalancePrefix(instance) + std::string(currency));
}

Status ProjectionStore::Batch::PutCurrencyTotals(std::string_view instance,
                                                 v1::CurrencyTotals totals) {
  std::string key = TrialBalancePrefix(instance) + totals.currency();
  totals_.insert_or_assign(std::move(key), std::move(totals));
  return Status::Ok();
}

// ---- The account table and the totals cache ------------------------------------------------

void ProjectionStore::HoldLocked(Batch& batch, std::pair<const std::string, CachedAccount>& slot) {
  ++slot.second.holders;
  batch.accounts_.emplace(std::string_view(slot.first),
                          Batch::HeldAccount{&slot.second, slot.second.generation});
}

Result<ProjectionStore::CachedAccount*> ProjectionStore::HoldAccount(Batch& batch, std::string key,
                                                                     std::string_view instance,
                                                                     std::string_view address) {
  {
    std::lock_guard lock(cache_mu_);
    if (auto it = account_cache_.find(key); it != account_cache_.end() && !it->second.stale) {
      HoldLocked(batch, *it);
      return &it->second;
    }
  }
  // Absent, or stale: the committed account, from the database. Only this partition's batches,
  // on this thread, use this key, so nothing comes between the read and the entry.
  ASSIGN_OR_RETURN(std::optional<v1::AccountView> stored, ReadAccount(instance, address));
  std::lock_guard lock(cache_mu_);
  auto it = account_cache_.find(key);
  if (!stored) {
    // A stale entry still held belongs to batches that failed: they let go of it later.
    if (it != account_cache_.end() && it->second.holders == 0) account_cache_.erase(it);
    return nullptr;
  }
  if (it == account_cache_.end()) it = account_cache_.try_emplace(std::move(key)).first;
  CachedAccount& entry = it->second;
  entry.view = std::move(*stored);
  entry.stale = false;
  ++entry.generation;  // whoever held it before (batches that failed) no longer counts it
  HoldLocked(batch, *it);
  return &entry;
}

ProjectionStore::CachedAccount& ProjectionStore::HoldAccountToReplace(Batch& batch,
                                                                      std::string key) {
  std::lock_guard lock(cache_mu_);
  auto it = account_cache_.try_emplace(std::move(key)).first;
  if (it->second.stale) {
    it->second.stale = false;
    ++it->second.generation;
  }
  HoldLocked(batch, *it);
  return it->second;
}

void ProjectionStore::ReleaseAccountsLocked(Batch& batch, bool committed) {
  for (const auto& [key, held] : batch.accounts_) {
    CachedAccount& entry = *held.entry;
    --entry.holders;
    if (!committed && entry.generation == held.generation) entry.stale = true;
    // `key` views the entry's own key: copied before the entry goes.
    if (entry.stale && entry.holders == 0) account_cache_.erase(std::string(key));
  }
  batch.accounts_.clear();
  EvictLocked(0);
}

void ProjectionStore::EvictLocked(size_t room) {
  auto over = [&] {
    return account_cache_.size() + totals_cache_.size() + room > options_.cache_entries;
  };
  // Accounts are the many; totals (one per instance and currency) go only when no account can.
  for (auto it = account_cache_.begin(); over() && it != account_cache_.end();) {
    it = it->second.holders == 0 ? account_cache_.erase(it) : std::next(it);
  }
  while (over() && !totals_cache_.empty()) totals_cache_.erase(totals_cache_.begin());
}

std::unordered_map<std::string, v1::CurrencyTotals>::node_type ProjectionStore::TotalsTake(
    const std::string& key) {
  std::lock_guard lock(cache_mu_);
  return totals_cache_.extract(key);
}

void ProjectionStore::TotalsInsertLocked(
    std::unordered_map<std::string, v1::CurrencyTotals>::node_type node) {
  if (options_.cache_entries == 0) return;
  if (!totals_cache_.contains(node.key())) EvictLocked(1);
  // One search: a key taken out by the batch now committing (the usual case) is not there.
  auto inserted = totals_cache_.insert(std::move(node));
  if (!inserted.inserted) inserted.position->second = std::move(inserted.node.mapped());
}

// ---- ProjectionStore ----------------------------------------------------------------------

void ToRocksDbOptions(const StoreOptions& options, rocksdb::Options& db,
                      rocksdb::WriteOptions& write) {
  db.create_if_missing = options.create_if_missing;
  db.error_if_exists = options.error_if_exists;
  if (options.bloom_filters) {
    // Most point reads of the apply path miss (a new event's record, which a new transaction's
    // idempotency check reads too): whole-key bloom filters answer those without searching the
    // memtable's skiplist or reading SST blocks. Measured in docs/performance.md.
    db.memtable_prefix_bloom_size_ratio = 0.02;
    db.memtable_whole_key_filtering = true;
    rocksdb::BlockBasedTableOptions table;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = true;
    db.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  }
  // Level 0 (each flushed memtable) and level 1 are small and rewritten soon by compaction:
  // compressing them cost a third of the flush and compaction CPU, which on a small machine the
  // apply path pays in latency (docs/performance.md, "Fifth pass"). Deeper levels, which hold
  // almost all the data, are compressed with LZ4 where this RocksDB build has it.
  const std::vector<rocksdb::CompressionType> supported = rocksdb::GetSupportedCompressions();
  auto has = [&](rocksdb::CompressionType type) {
    return std::find(supported.begin(), supported.end(), type) != supported.end();
  };
  rocksdb::CompressionType deep = rocksdb::kNoCompression;
  if (has(rocksdb::kLZ4Compression)) {
    deep = rocksdb::kLZ4Compression;
  } else if (has(rocksdb::kSnappyCompression)) {
    deep = rocksdb::kSnappyCompression;
  }
  db.compression_per_level.assign(static_cast<size_t>(db.num_levels), deep);
  db.compression_per_level[0] = rocksdb::kNoCompression;
  db.compression_per_level[1] = rocksdb::kNoCompression;
  db.write_buffer_size = options.write_buffer_mb << 20;
  // A commit's keys arrive in key order (BuildWrite), so each is near the one before it of its
  // kind: with a hint per record kind (the key's first byte), the memtable's skiplist finds the
  // place from the last insert, searching up only as many levels as the gap needs, instead of
  // from the top whenever the key is not the very next one (docs/performance.md, "Lever: the
  // memtable's inserts from a hint"). The default family only (StoreColumnFamilies).
  db.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(1));
  // The outbox has a column family of its own (kOutboxColumnFamily) and no family's writes are
  // logged: flushed together, the families' files always hold the same commits.
  db.atomic_flush = true;
  db.create_missing_column_families = true;  // the outbox's, in a store from before it had one
  db.compaction_style = options.compaction == StoreOptions::Compaction::kUniversal
                            ? rocksdb::kCompactionStyleUniversal
                            : rocksdb::kCompactionStyleLevel;
  write = WriteOptionsFor(options);
  if (options.compaction_priority == StoreOptions::CompactionPriority::kIdle) {
    // Compactions run in the environment's LOW pool (flushes, in HIGH, keep their priority: a
    // full memtable stops writes at once). Each pool thread takes the priority when it next
    // picks up a job. An environment without the feature leaves it as it is.
    db.env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW, rocksdb::CpuPriority::kIdle)
        .PermitUncheckedError();
  }
}

std::vector<rocksdb::ColumnFamilyDescriptor> StoreColumnFamilies(const rocksdb::Options& db) {
  // No insert hints in the outbox's family: its keys are appended in order, which the skiplist's
  // own last-insert position serves, and it takes range tombstones (DeleteOutbox), which this
  // RocksDB (7.8) would insert with the same hint as the family's keys into the tombstones'
  // skiplist, corrupting it (fixed in later RocksDB: "Hints are for point key table only").
  rocksdb::ColumnFamilyOptions outbox(db);
  outbox.memtable_insert_with_hint_prefix_extractor.reset();
  return {{rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(db)},
          {kOutboxColumnFamily, std::move(outbox)}};
}

Result<StoreOptions::Compaction> ParseCompaction(std::string_view text) {
  if (text == "leveled") return StoreOptions::Compaction::kLeveled;
  if (text == "universal") return StoreOptions::Compaction::kUniversal;
  return Status::InvalidArgument("compaction style '" + std::string(text) +
                                 "' is unknown; use leveled or universal");
}

Result<StoreOptions::CompactionPriority> ParseCompactionPriority(std::string_view text) {
  if (text == "normal") return StoreOptions::CompactionPriority::kNormal;
  if (text == "idle") return StoreOptions::CompactionPriority::kIdle;
  return Status::InvalidArgument("compaction priority '" + std::string(text) +
                                 "' is unknown; use normal or idle");
}

ProjectionStore::ProjectionStore(StoreOptions options, std::unique_ptr<rocksdb::DB> db,
                                 rocksdb::ColumnFamilyHandle* outbox)
    : options_(std::move(options)), db_(std::move(db)), outbox_(outbox) {}

ProjectionStore::~ProjectionStore() {
  if (outbox_ != nullptr) db_->DestroyColumnFamilyHandle(outbox_).PermitUncheckedError();
}

Result<std::unique_ptr<ProjectionStore>> ProjectionStore::Open(const StoreOptions& options) {
  if (options.write_buffer_mb < 1 || options.write_buffer_mb > 4096) {
    return Status::InvalidArgument("StoreOptions.write_buffer_mb must be 1..4096 MiB, got " +
                                   std::to_string(options.write_buffer_mb));
  }
  if (options.path.empty()) {
    return Status::InvalidArgument("StoreOptions.path is empty: name the projection directory");
  }
  if (options.max_history_page <= 0) {
    return Status::InvalidArgument("StoreOptions.max_history_page must be > 0");
  }
  rocksdb::Options db_options;
  rocksdb::WriteOptions unused;
  ToRocksDbOptions(options, db_options, unused);
  const std::vector<rocksdb::ColumnFamilyDescriptor> families = StoreColumnFamilies(db_options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, families, &handles, &raw);
  if (!s.ok()) return FromRocks(s, "opening the projection store at " + Quote(options.path));
  std::unique_ptr<rocksdb::DB> db(raw);
  db->DestroyColumnFamilyHandle(handles[0]).PermitUncheckedError();  // DefaultColumnFamily()
  auto store =
      std::unique_ptr<ProjectionStore>(new ProjectionStore(options, std::move(db), handles[1]));
  RETURN_IF_ERROR(store->MoveOutboxFromDefaultFamily());
  RETURN_IF_ERROR(store->MoveTransactionsIntoEvents());
  return store;
}

Status ProjectionStore::MoveTransactionsIntoEvents() {
  constexpr int kPerWrite = 10'000;
  const std::string begin(1, kLegacyTransactionPrefix);
  const std::string end(1, static_cast<char>(kLegacyTransactionPrefix + 1));
  const rocksdb::Slice upper(end);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &upper;
  int64_t moved = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options));
  it->Seek(begin);
  while (it->Valid()) {
    rocksdb::WriteBatch moves;
    for (; it->Valid() && moves.Count() < 2 * kPerWrite; it->Next()) {
      // t instance 00 source 00 source_idempk (identifiers hold no 00).
      const std::string_view old_key = it->key().ToStringView().substr(1);
      const size_t first = old_key.find(kSeparator);
      const size_t second = old_key.find(kSeparator, first == old_key.npos ? 0 : first + 1);
      if (first == old_key.npos || second == old_key.npos) {
        return Status::Corruption("an older store's transaction key " +
                                  ToHex(it->key().ToStringView()) +
                                  " is not instance 00 source 00 source_idempk");
      }
      const std::string key =
          TransactionKey(old_key.substr(0, first), old_key.substr(first + 1, second - first - 1),
                         old_key.substr(second + 1));
      std::string outcome;  // the creating event's record: its outcome alone, in such a store
      const rocksdb::Status read = db_->Get(rocksdb::ReadOptions(), key, &outcome);
      if (!read.ok() && !read.IsNotFound()) return FromRocks(read, "moving transactions");
      ASSIGN_OR_RETURN(EventRecord record, DecodeEventRecord(outcome));
      rocksdb::Status s =
          moves.Put(key, EncodeEventRecord(record.outcome, it->value().ToStringView()));
      if (s.ok()) s = moves.Delete(it->key());
      if (!s.ok()) return FromRocks(s, "moving transactions");
    }
    if (!it->status().ok()) {
      return FromRocks(it->status(), "reading the transactions of an older store");
    }
    if (moves.Count() == 0) break;
    const rocksdb::Status s = db_->Write(Writing(), &moves);
    if (!s.ok()) return FromRocks(s, "moving transactions into their events' records");
    moved += moves.Count() / 2;
    spdlog::info("projection store {}: {} transactions moved into their events' records so far",
                 options_.path, moved);
  }
  if (moved == 0) return Status::Ok();
  // Unlogged writes, made durable at once: what a crash would lose is moved again next time,
  // but a store that had moved everything should not depend on that.
  const rocksdb::Status s =
      db_->Flush(rocksdb::FlushOptions(), {db_->DefaultColumnFamily(), outbox_});
  if (!s.ok()) return FromRocks(s, "flushing the moved transactions");
  return Status::Ok();
}

Result<std::optional<int64_t>> ProjectionStore::NextOffset(int32_t partition) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), OffsetKey(partition), &value);
  if (s.IsNotFound()) return {std::nullopt};
  if (!s.ok()) return FromRocks(s, "reading the offset of partition " + std::to_string(partition));
  if (value.size() != 8) {
    return Status::Corruption("the stored offset of partition " + std::to_string(partition) +
                              " is not 8 bytes");
  }
  return {static_cast<int64_t>(ReadBigEndian(value))};
}

void DisableRocksDbPerfCounters() { rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable); }

std::unique_ptr<ProjectionStore::Batch> ProjectionStore::BeginBatch(int32_t partition,
                                                                    const Batch* below) {
  DisableRocksDbPerfCounters();  // the batch is read on this thread
  auto batch = std::unique_ptr<Batch>(new Batch(*this, partition));
  batch->below_ = below;
  return batch;
}

ProjectionStore::PreparedCommit::PreparedCommit() = default;
ProjectionStore::PreparedCommit::~PreparedCommit() = default;

Status ProjectionStore::Commit(Batch& batch, int64_t next_offset) {
  return Commit(std::vector<PartitionCommit>{{&batch, next_offset}});
}

Status ProjectionStore::Commit(const std::vector<PartitionCommit>& commits) {
  ASSIGN_OR_RETURN(std::unique_ptr<PreparedCommit> prepared, PrepareCommit(commits));
  Status written = WritePrepared(*prepared);
  FinishCommit(*prepared, written.ok());
  return written;
}

Result<std::unique_ptr<ProjectionStore::PreparedCommit>> ProjectionStore::PrepareCommit(
    const std::vector<PartitionCommit>& commits) {
  size_t count = 0, decoded = 0;
  for (const auto& [batch, next_offset] : commits) {
    if (next_offset < 0) {
      return Status::InvalidArgument("next offset must be >= 0, got " +
                                     std::to_string(next_offset));
    }
    for (const auto& other : commits) {
      if (other.batch != batch && other.batch->partition() == batch->partition()) {
        return Status::InvalidArgument("two batches of partition " +
                                       std::to_string(batch->partition()) + " in one commit");
      }
    }
    count += batch->Count() + 1;
    decoded += batch->settings_written_.size() + batch->totals_.size() + 1;
  }
  // The batches stay as they are (a batch staged on top may be reading them) until
  // FinishCommit: records are written from views, accounts and totals serialized into the
  // prepared commit's `serialized_`, sized up front so that its strings never move.
  auto prepared = std::unique_ptr<PreparedCommit>(new PreparedCommit());
  prepared->commits_ = commits;
  std::vector<std::string>& serialized = prepared->serialized_;
  serialized.reserve(decoded);
  std::vector<std::pair<std::string_view, std::string_view>>& writes = prepared->writes_;
  writes.reserve(count);
  std::vector<std::string>& offset_keys = prepared->offset_keys_;
  offset_keys.reserve(commits.size());
  for (const auto& [batch, next_offset] : commits) {
    // An account's record holds what its own events set; its balances are those of its newest
    // history item, written with it (store_encoding.h, kAccountPrefix): a transfer writes none.
    for (const std::string& key : batch->settings_written_) {
      v1::AccountView account = batch->accounts_.at(key).entry->view;
      account.clear_balances();
      writes.emplace_back(key, serialized.emplace_back(SerializeDeterministic(account)));
    }
    for (const auto& [key, totals] : batch->totals_) {
      writes.emplace_back(key, serialized.emplace_back(SerializeDeterministic(totals)));
    }
    for (const auto& [key, value] : batch->records_) writes.emplace_back(key, value);
    for (const auto& [key, value] : batch->appended_) writes.emplace_back(key, value);
    std::string& offset = serialized.emplace_back();
    AppendBigEndian(offset, static_cast<uint64_t>(next_offset), 8);
    writes.emplace_back(offset_keys.emplace_back(OffsetKey(batch->partition())), offset);
  }
  return prepared;
}

namespace {

// The WriteBatch of a prepared commit's writes, in key order: RocksDB's memtable then inserts
// each key next to the one before it, which costs a third less than inserting in hash order
// (docs/performance.md). Built by WritePrepared, on the writing thread: the sort and the copy
// were a tenth of the apply thread's time (docs/performance.md, "Lever: the commit's sort on
// the write thread").
Result<std::unique_ptr<rocksdb::WriteBatch>> BuildWrite(
    std::vector<std::pair<std::string_view, std::string_view>>& writes,
    rocksdb::ColumnFamilyHandle* outbox) {
  // Stable, and each key put once, its last write: a key appended twice (Batch::appended_) must
  // not be put twice, as the map it replaced never did.
  std::stable_sort(writes.begin(), writes.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t kept = 0;
  for (size_t i = 0; i < writes.size(); ++i) {
    if (i + 1 < writes.size() && writes[i + 1].first == writes[i].first) continue;
    writes[kept++] = writes[i];
  }
  writes.resize(kept);
  // Sized up front: grown by doubling, the batch copied itself ~log2(size) times.
  size_t bytes = kWriteBatchHeaderSize;
  for (const auto& [key, value] : writes) {
    bytes += key.size() + value.size() + kWriteBatchRecordOverhead;
  }
  auto write = std::make_unique<rocksdb::WriteBatch>(bytes);
  for (const auto& [key, value] : writes) {
    rocksdb::Status s = key.front() == kOutboxPrefix
                            ? write->Put(outbox, rocksdb::Slice(key.data(), key.size()),
                                         rocksdb::Slice(value.data(), value.size()))
                            : write->Put(rocksdb::Slice(key.data(), key.size()),
                                         rocksdb::Slice(value.data(), value.size()));
    if (!s.ok()) return FromRocks(s, "preparing a commit");
  }
  return write;
}

}  // namespace

Status ProjectionStore::WritePrepared(PreparedCommit& commit) {
  DisableRocksDbPerfCounters();
  bool durable = false;
  for (const auto& [batch, next_offset] : commit.commits_) {
    std::lock_guard lock(fault_mu_);
    if (write_fault_) RETURN_IF_ERROR(write_fault_(*batch, next_offset));
    durable = durable || batch->durable();
  }
  ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::WriteBatch> write, BuildWrite(commit.writes_, outbox_));
  rocksdb::WriteOptions write_options = Writing();
  rocksdb::Status s;
  if (durable && write_options.disableWAL) {
    // Logged alone, this commit would come back after a crash without the unlogged commits
    // before it: those are made table files first. The relay's outbox deletes may slip in
    // between unlogged; losing them is harmless (they are redone).
    s = db_->Flush(rocksdb::FlushOptions(), {db_->DefaultColumnFamily(), outbox_});
    if (!s.ok()) {
      return FromRocks(s, "flushing the memtable before a commit that must survive a crash");
    }
    write_options.disableWAL = false;
  }
  s = db_->Write(write_options, write.get());
  if (s.ok()) return Status::Ok();
  std::string what = "committing partition";
  for (const auto& [batch, next_offset] : commit.commits_) {
    what += " " + std::to_string(batch->partition()) + " up to offset " +
            std::to_string(next_offset) + ",";
  }
  what.pop_back();
  return FromRocks(s, what);
}

void ProjectionStore::FinishCommit(PreparedCommit& commit, bool written) {
  Settle(commit.commits_, written);
}

void ProjectionStore::Settle(const std::vector<PartitionCommit>& commits, bool committed) {
  for (const auto& commit : commits) {
    Batch& batch = *commit.batch;
    {
      std::lock_guard lock(cache_mu_);
      ReleaseAccountsLocked(batch, committed);
      // Committed totals move, node and all, from the batch into the cache.
      while (committed && !batch.totals_.empty()) {
        TotalsInsertLocked(batch.totals_.extract(batch.totals_.begin()));
      }
    }
    batch.settings_written_.clear();
    batch.totals_.clear();
    batch.records_.clear();
    batch.appended_.clear();
    batch.prefetched_.clear();
    batch.durable_ = false;
  }
}

rocksdb::WriteOptions ProjectionStore::Writing() const { return WriteOptionsFor(options_); }

Result<uint64_t> ProjectionStore::IntProperty(std::string_view name) {
  uint64_t value = 0;
  // Summed over every column family: the store may spread its tables over several.
  if (!db_->GetAggregatedIntProperty(rocksdb::Slice(name.data(), name.size()), &value)) {
    return Status::NotFound("RocksDB has no integer property '" + std::string(name) + "'");
  }
  return value;
}

void ProjectionStore::SetWriteFaultForTesting(WriteFault hook) {
  std::lock_guard lock(fault_mu_);
  write_fault_ = std::move(hook);
}

}  // namespace kledger::projections
