// ProjectionStore: the RocksDB-backed read models (accounts, transactions, outcomes, history,
// trial balance) plus each partition's next offset, committed together in one atomic write.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kledger/v1/api.pb.h"
#include "kledger/v1/events.pb.h"
#include "projections/ledger.h"

namespace rocksdb {
struct ColumnFamilyDescriptor;
class ColumnFamilyHandle;
class DB;
struct Options;
struct WriteOptions;
}  // namespace rocksdb

namespace kledger::projections {

struct StoreOptions {
  // Directory of the RocksDB database. Default: "" (must be set).
  std::string path;
  // Create the database when it does not exist. Default: true.
  bool create_if_missing = true;
  // Fail Open when the database already exists (e.g. a rebuild into a fresh directory).
  // Default: false.
  bool error_if_exists = false;
  // Write RocksDB's write-ahead log. Off (the default), a commit lives in the memtable until
  // RocksDB flushes it to a table file, and a crash of the process or the machine loses the
  // commits since the last flush: the store comes back as it was after an earlier commit
  // (a prefix of the commits: one column family, and a WriteBatch is never split between
  // memtables), state and offsets together, and those events are applied again from Kafka, as
  // Kafka Streams' stores do. A commit whose batch asks for durability (Batch::MakeDurable: its
  // outcome is not a pure function of the log) is written with the log after a flush of what
  // came before. A clean close flushes. On, every commit is logged (as sync needs).
  // Default: false.
  bool write_ahead_log = false;
  // fsync the write-ahead log on every Commit (turns write_ahead_log on). Off, a machine crash
  // may lose the last commits; state and offset still agree, so the lost events are simply
  // consumed again. Default: false.
  bool sync = false;
  // Whole-key bloom filters in the memtable and the SST files, so that the apply path's point
  // reads of keys that do not exist yet (a new event's record) stay cheap. Default: true.
  bool bloom_filters = true;
  // Maximum number of history items GetHistory returns per page. Default: 1000.
  int max_history_page = 1000;
  // Accounts and trial-balance totals kept decoded in memory for the apply path, as committed,
  // beyond the accounts the batches in progress hold (ProjectionStore's account table). 0 keeps
  // none. About 0.5 KiB per entry. Default: 200000.
  size_t cache_entries = 200000;
  // RocksDB's memtable size in MiB. Smaller inserts faster but flushes and compacts more often
  // (docs/performance.md, "Fifth pass"). Default: 64 (RocksDB's default).
  size_t write_buffer_mb = 64;
  // RocksDB's compaction style. Leveled keeps space and memory steady; universal compacts with
  // less CPU but may need twice the disk while it rewrites everything now and then.
  enum class Compaction { kLeveled, kUniversal };
  Compaction compaction = Compaction::kLeveled;
  // The CPU priority of RocksDB's compaction threads. kIdle (Linux SCHED_IDLE) runs them only on
  // CPU that nothing else wants, so that compaction does not take the CPU that applying events
  // and answering queries need (docs/performance.md, "Ninth pass"). Compaction that cannot run
  // piles up; RocksDB then slows writes, and so the apply path, until it has caught up. The
  // compaction threads are shared by every store of the process: the lowest priority any store
  // asks for applies to them all, for the life of the process. Default: kNormal.
  enum class CompactionPriority { kNormal, kIdle };
  CompactionPriority compaction_priority = CompactionPriority::kNormal;
};

// "leveled" / "universal", for flags; InvalidArgument naming the choices otherwise.
Result<StoreOptions::Compaction> ParseCompaction(std::string_view text);
// "normal" / "idle", for flags; InvalidArgument naming the choices otherwise.
Result<StoreOptions::CompactionPriority> ParseCompactionPriority(std::string_view text);

// The RocksDB options ProjectionStore::Open and Commit use for `options`, for tools that must
// write exactly as the store does (the benchmark's RocksDB ceiling); open with
// StoreColumnFamilies. With CompactionPriority::kIdle it also lowers the priority of the
// compaction threads of `db.env`.
void ToRocksDbOptions(const StoreOptions& options, rocksdb::Options& db,
                      rocksdb::WriteOptions& write);

// RocksDB keeps per-operation perf counters in thread-local storage, on by default
// (PerfLevel::kEnableCount). kledger never reads them, and on the write path they cost about a
// fifth of a commit (docs/performance.md, "Sixth pass"). Turns them off for the calling thread.
// The store calls it where its threads write and read (BeginBatch, Commit, WritePrepared, the
// queries); tools writing as the store does (the benchmark's RocksDB ceiling) call it too.
void DisableRocksDbPerfCounters();

// The column family of the outcome stream's outbox (Batch::PutOutbox): its entries are written
// and deleted within seconds, and apart from the state they neither fill the state's memtable
// nor pass through its compactions, and the relay's reads do not merge the state's files
// (docs/performance.md, "Lever: the outbox in a column family of its own"). The state is in the
// default column family.
inline constexpr char kOutboxColumnFamily[] = "outbox";

// The store's column families as Open opens them, first the state's (RocksDB's default), then the
// outbox's, both with the options of `db` (ToRocksDbOptions'), for tools that open the store's
// database or write as the store does.
std::vector<rocksdb::ColumnFamilyDescriptor> StoreColumnFamilies(const rocksdb::Options& db);

class ProjectionStore {
  struct CachedAccount;  // an entry of the account table (account_cache_)

 public:
  // A set of uncommitted state changes for one partition. The state machine writes into it
  // through LedgerState and reads its own writes back. Not thread-safe; one writer at a time.
  class Batch : public LedgerState {
   public:
    ~Batch() override;

    int32_t partition() const { return partition_; }
    // Number of records the commit will write (each key once, however often it changed, but
    // for a history item, event-log entry or outbox entry written twice: see appended_).
    int Count() const;

    Result<const v1::AccountView*> FindAccount(std::string_view instance,
                                               std::string_view address) override;
    Status PutAccount(v1::AccountView account) override;
    Status PutBalances(std::string_view instance, std::string_view address,
                       const v1::Balances& balances) override;
    Result<std::optional<v1::TransactionView>> FindTransaction(
        std::string_view instance, std::string_view source,
        std::string_view source_idempk) override;
    using LedgerState::PutTransaction;
    Status PutTransaction(const v1::TransactionView& transaction) override;
    Result<std::optional<v1::EventOutcomeView>> FindOutcome(std::string_view instance,
                                                            std::string_view event_id) override;
    Status PutOutcome(const v1::EventOutcomeView& outcome) override;
    Status AppendHistory(std::string_view instance, std::string_view address, int32_t entry_index,
                         const v1::HistoryItem& item) override;
    Result<std::optional<v1::CurrencyTotals>> FindCurrencyTotals(
        std::string_view instance, std::string_view currency) override;
    Status PutCurrencyTotals(std::string_view instance, v1::CurrencyTotals totals) override;

    // The key space of pluggable projections (projection.h): raw values under
    // (projection, key), this batch's own writes included.
    Result<std::optional<std::string>> GetExtension(std::string_view projection,
                                                    std::string_view key);
    Status PutExtension(std::string_view projection, std::string_view key, std::string_view value);

    // Reads ahead, in one RocksDB MultiGet, the records ApplyEvent looks up first for `events`
    // (their records by event id, which hold a created transaction too), most of which do
    // not exist yet: batched, their bloom-filter probes and table searches cost less than one
    // Get each (docs/performance.md, "Lever: a poll's point reads in one MultiGet"). Later
    // reads of those keys take the answer (after this batch's and the batch below's own
    // writes, as any read). Answers stay valid while only this batch and the batch below write
    // the partition's keys; DetachBelow drops them. On error, nothing is read ahead.
    Status Prefetch(const std::vector<const v1::EventEnvelope*>& events);

    // The outbox of the outcome stream: `record` (a serialized v1::OutcomeRecord) of this
    // partition's record at `offset`, committed with the state it describes and read back by the
    // relay (ReadOutbox) until it is published (DeleteOutbox).
    void PutOutbox(int64_t offset, std::string record);

    // This batch's commit must survive a crash once written: what it records cannot be derived
    // again from the log (a dead letter's outcome: its retries depended on the moment; an
    // operator's acceptance of a gap in the log). Without a write-ahead log, its commit flushes
    // the memtable first and is then logged (StoreOptions::write_ahead_log).
    void MakeDurable() { durable_ = true; }
    bool durable() const { return durable_; }

   private:
    friend class ProjectionStore;
    Batch(ProjectionStore& store, int32_t partition);

    // This batch's serialized writes first, then those of the batch below, then the store.
    Result<std::optional<std::string>> Read(const std::string& key);
    template <typename T>
    Result<std::optional<T>> Find(const std::string& key);
    // An event record's outcome or transaction (store_encoding.h, EncodeEventRecord) as Read
    // finds it; nullopt when the record or that part of it is absent.
    template <typename T>
    Result<std::optional<T>> FindEventRecordPart(const std::string& key, bool transaction);
    // Replaces the outcome or the transaction of the event record under `key`, keeping the other
    // part as Read finds it.
    Status PutEventRecordPart(std::string key, std::string part, bool transaction);
    // TransactionKey (a SHA-256), remembered for the last transaction asked: the ledger finds a
    // transaction, then writes it.
    const std::string& TransactionKeyOf(std::string_view instance, std::string_view source,
                                        std::string_view source_idempk);
    // Trial-balance totals under `key`: this batch's, then the batch below's, then the store's
    // cache's, then the store's.
    Result<std::optional<v1::CurrencyTotals>> FindTotals(const std::string& key);

    ProjectionStore& store_;
    int32_t partition_;
    // A batch of the same partition being written meanwhile (BeginBatch); read, never changed.
    const Batch* below_ = nullptr;
    // Accounts and trial-balance totals are read and rewritten by nearly every event: this batch
    // keeps them decoded and serializes what it must once, at commit. Every account the batch
    // found or wrote, as the ledger sees it (balances included): the store's account table's
    // entry (account_cache_), held by this batch until it settles, lent out by FindAccount and
    // changed in place, so that a transfer's account costs one search of the table per batch
    // and nothing at commit. Keyed by views of the table's own keys, which stay put while the
    // entry is held. Only accounts whose own settings were written (settings_written_, by
    // PutAccount) are written at commit, without their balances, which live in their history.
    struct HeldAccount {
      CachedAccount* entry;
      uint64_t generation;  // the entry's when this batch took hold of it
    };
    std::unordered_map<std::string_view, HeldAccount> accounts_;
    std::unordered_set<std::string> settings_written_;
    std::unordered_map<std::string, v1::CurrencyTotals> totals_;
    // Every other write that may be read back or written again in this batch (event records,
    // with their outcomes and created transactions, and extensions), serialized, by key (the
    // last write of a key wins).
    std::unordered_map<std::string, std::string> records_;
    // Writes under keys that name an offset this batch applies once (history items, the event
    // log, the outbox): new by construction and never read back through the batch, so they are
    // appended without a search (docs/performance.md, "Lever: keys new by construction
    // appended"). Written twice, the later write is the one put (WritePrepared).
    std::vector<std::pair<std::string, std::string>> appended_;
    // Prefetch's answers by key: the stored value, or nullopt for a key that does not exist.
    std::unordered_map<std::string, std::optional<std::string>> prefetched_;
    struct {
      std::string instance, source, source_idempk, key;
    } last_transaction_key_;
    bool durable_ = false;
  };

  // On success returns the open store. On error (bad options, locked or corrupt database)
  // returns IoError/InvalidArgument naming the path.
  static Result<std::unique_ptr<ProjectionStore>> Open(const StoreOptions& options);

  ~ProjectionStore();
  ProjectionStore(const ProjectionStore&) = delete;
  ProjectionStore& operator=(const ProjectionStore&) = delete;

  // On success returns the next offset of `partition` to consume, or nullopt when nothing of it
  // was ever committed (start from the beginning). On error returns IoError or Corruption.
  Result<std::optional<int64_t>> NextOffset(int32_t partition);

  // Starts an empty batch for `partition`. The store must outlive the batch. `below`, when set,
  // is a batch of the same partition that is being committed meanwhile (PrepareCommit, then
  // WritePrepared on another thread): the new batch reads its writes as if committed. It must
  // stay unchanged and alive until DetachBelow() or this batch's commit is prepared — and when
  // its write fails, everything staged on top of it must be discarded too.
  std::unique_ptr<Batch> BeginBatch(int32_t partition, const Batch* below = nullptr);
  // Ends `batch`'s reading through its batch below (that one was committed or discarded), and
  // its reads ahead (Batch::Prefetch), which may predate the batch below's write.
  static void DetachBelow(Batch& batch) {
    batch.below_ = nullptr;
    batch.prefetched_.clear();
  }

  // Writes the batch's changes and `next_offset` as the partition's next offset in one atomic
  // write: after a crash both or neither are visible. On success the batch is emptied and may be
  // reused. On error nothing was written; discard the batch and re-apply from NextOffset().
  Status Commit(Batch& batch, int64_t next_offset);

  // One batch of a commit that spans partitions.
  struct PartitionCommit {
    Batch* batch;
    int64_t next_offset;
  };
  // Commit for several batches (of different partitions) in one atomic write: all of them, with
  // their offsets, or none. One write per poll instead of one per partition.
  Status Commit(const std::vector<PartitionCommit>& commits);

  // Commit in three steps, so that the database write can run on another thread while the
  // caller stages the next batches on top of these (BeginBatch's `below`).
  class PreparedCommit {
   public:
    ~PreparedCommit();
    PreparedCommit(const PreparedCommit&) = delete;
    PreparedCommit& operator=(const PreparedCommit&) = delete;

   private:
    friend class ProjectionStore;
    PreparedCommit();
    std::vector<PartitionCommit> commits_;
    // What to write: views into the batches (unchanged until FinishCommit) and into
    // serialized_ (accounts, totals, offsets) and offset_keys_. WritePrepared sorts them and
    // builds RocksDB's batch from them on the thread that writes.
    std::vector<std::pair<std::string_view, std::string_view>> writes_;
    std::vector<std::string> serialized_;
    std::vector<std::string> offset_keys_;
  };
  // Checks `commits` and gathers their writes without changing the batches (the thread that
  // stages batches does this part; WritePrepared sorts them and builds RocksDB's batch).
  // InvalidArgument for a negative offset or two batches of one partition.
  Result<std::unique_ptr<PreparedCommit>> PrepareCommit(
      const std::vector<PartitionCommit>& commits);
  // Writes a prepared commit, atomically, once; from any one thread. On error nothing was
  // written. A commit of a durable batch (Batch::MakeDurable) flushes the memtable first when the
  // store writes no write-ahead log, and waits for that flush.
  Status WritePrepared(PreparedCommit& commit);
  // After WritePrepared returned (or instead of it): empties the batches, moving their accounts
  // and totals into the cache when `written`. On the thread that stages batches.
  void FinishCommit(PreparedCommit& commit, bool written);

  // Queries for the HTTP API; safe to call from any thread while a batch commits.
  // Each returns NotFound with a message naming what was looked for when it does not exist,
  // and IoError/Corruption on storage failure.
  Result<v1::AccountView> GetAccount(std::string_view instance, std::string_view address);
  Result<v1::TransactionView> GetTransaction(std::string_view instance, std::string_view source,
                                             std::string_view source_idempk);
  Result<v1::EventOutcomeView> GetOutcome(std::string_view instance, std::string_view event_id);
  // Currencies in ascending order; an instance with no posted transaction has none (not an
  // error: the store cannot tell an unknown instance from an empty one).
  Result<v1::TrialBalance> GetTrialBalance(std::string_view instance);
  // One page of the account's history, newest first. `limit` <= 0 means the maximum page size;
  // larger values are clamped to it. `cursor` is "" for the first page, else a next_cursor from
  // an earlier page (of the same account). next_cursor is "" on the last page. Returns
  // InvalidArgument for a malformed cursor and NotFound for an unknown account.
  Result<v1::HistoryPage> GetHistory(std::string_view instance, std::string_view address, int limit,
                                     std::string_view cursor);

  // Which accounts ListAccounts returns: those whose address starts with `address_prefix`, and
  // of the given type, currency and status when set.
  struct AccountFilter {
    std::string address_prefix{};
    std::optional<v1::AccountType> type{};
    std::optional<std::string> currency{};
    std::optional<v1::AccountStatus> status{};
  };
  // One page of `instance`'s accounts that pass `filter`, in ascending address order (bytewise),
  // each with its balances. `limit` as GetHistory's (max_history_page at most); `cursor` "" for
  // the first page, else a next_cursor from an earlier page of the same instance and filter.
  // next_cursor is "" on the last page. An instance without accounts has an empty page.
  // InvalidArgument for a malformed cursor.
  Result<v1::AccountPage> ListAccounts(std::string_view instance, const AccountFilter& filter,
                                       int limit, std::string_view cursor);

  // Which transactions ListTransactions returns: of `source` when set, with the given status
  // when set, and with an entry on `account` when set.
  struct TransactionFilter {
    std::optional<std::string> source{};
    std::optional<v1::TransactionStatus> status{};
    std::optional<std::string> account{};
  };
  // One page of `instance`'s transactions that pass `filter`, in the order of their creating
  // events' ids (bytewise; a transaction lives in its creating event's record), each with its
  // entries; `limit` and `cursor` as ListAccounts'. Every filter, `source` too, is applied to a
  // scan of the instance's event records. InvalidArgument for a malformed cursor.
  Result<v1::TransactionPage> ListTransactions(std::string_view instance,
                                               const TransactionFilter& filter, int limit,
                                               std::string_view cursor);

  // Which events ListEvents returns: with the given outcome and event type (the oneof member
  // name, "transaction_created") when set, at offsets in [from_offset, to_offset).
  struct EventFilter {
    std::optional<v1::Outcome> outcome{};
    std::optional<std::string> type{};
    int64_t from_offset = 0;
    std::optional<int64_t> to_offset{};
  };
  // One page of `instance`'s recorded outcomes that pass `filter`, in ascending offset order:
  // one per event id, at the offset its outcome was recorded (duplicates and records without a
  // usable event id record none). `limit` and `cursor` as ListAccounts'. InvalidArgument for a
  // malformed cursor.
  Result<v1::EventPage> ListEvents(std::string_view instance, const EventFilter& filter, int limit,
                                   std::string_view cursor);

  // Up to `limit` (clamped as ListAccounts') instance ids that have a recorded outcome and that
  // `keep` accepts, in ascending order (bytewise), each after `after` ("" for the first). One
  // seek per instance met, whatever its number of events. On error returns IoError.
  Result<std::vector<std::string>> ListInstances(std::string_view after, int limit,
                                                 const std::function<bool(std::string_view)>& keep);

  // The account's balances after every entry of its instance's log up to and including
  // `at_offset` (zero before its first entry): from its newest history item at or below it.
  // The caller makes sure `at_offset` is applied. NotFound for an unknown account.
  Result<v1::BalancesAt> BalancesAt(std::string_view instance, std::string_view address,
                                    int64_t at_offset);

  // On success returns the SHA-256 (lower-case hex) of every state key and value in key order,
  // excluding the partitions' offsets and the outbox: two stores that applied the same events agree
  // on it whatever their offsets. On error returns IoError.
  Result<std::string> Digest();

  // The outbox (Batch::PutOutbox): committed entries of `partition` at offsets >= `from_offset`,
  // in offset order, at most `max_entries` of them and, past the first, at most `max_bytes` of
  // values. On error returns IoError.
  struct OutboxEntry {
    int64_t offset;
    std::string record;
  };
  Result<std::vector<OutboxEntry>> ReadOutbox(int32_t partition, int64_t from_offset,
                                              size_t max_entries, size_t max_bytes);
  // Deletes `partition`'s outbox entries at offsets in [from_offset, through_offset] (published,
  // or known to be). A write of its own, outside any commit: keys no batch writes again.
  Status DeleteOutbox(int32_t partition, int64_t from_offset, int64_t through_offset);

  // A pluggable projection's committed value under `key`; nullopt when it has none. On error
  // returns IoError.
  Result<std::optional<std::string>> ReadExtension(std::string_view projection,
                                                   std::string_view key);

  // On success returns RocksDB's integer property `name` (e.g. "rocksdb.estimate-live-data-size")
  // for the metrics probe. NotFound when RocksDB does not know the property.
  Result<uint64_t> IntProperty(std::string_view name);

  // When set, Commit calls `hook` with its arguments first and, if it returns non-OK, fails with
  // that Status without writing anything. Pass nullptr to clear. For fault-injection tests, which
  // pick their victims by batch.partition(), batch.Count() and the offset committed.
  using WriteFault = std::function<Status(const Batch& batch, int64_t next_offset)>;
  void SetWriteFaultForTesting(WriteFault hook);

 private:
  ProjectionStore(StoreOptions options, std::unique_ptr<rocksdb::DB> db,
                  rocksdb::ColumnFamilyHandle* outbox);

  // Moves outbox entries left in the default column family by an older store to outbox_.
  Status MoveOutboxFromDefaultFamily();
  // Moves the transactions of a store written before they lived in their creating events'
  // records (kLegacyTransactionPrefix) into those records, in atomic steps that each move some
  // and delete their old keys: interrupted, it carries on at the next Open.
  Status MoveTransactionsIntoEvents();

  // The options of every write: the commits' and the outbox's deletes (ToRocksDbOptions').
  rocksdb::WriteOptions Writing() const;

  // Empties the committed (or failed) batches: lets go of their accounts (ReleaseAccountsLocked)
  // and moves their totals into the cache when `committed`.
  void Settle(const std::vector<PartitionCommit>& commits, bool committed);

  // The account table (account_cache_) is where the apply path's accounts live, decoded: every
  // account a batch found or wrote, for as long as the batch is not settled, plus up to
  // StoreOptions::cache_entries more (with the totals cache), as committed. A batch holds the
  // entries it uses (CachedAccount::holders) and reads and changes them in place; a batch stacked
  // on one being written (BeginBatch's `below`) holds the same entries, so it reads that batch's
  // writes. An entry is `stale` when a batch that held it failed or was dropped: it may hold
  // changes that were never committed. A stale entry is read again from the database by the
  // next batch that asks for it (its generation then grows, so that the batches that failed no
  // longer count it as theirs), and is erased once nobody holds it.
  struct CachedAccount {
    v1::AccountView view;
    int holders = 0;
    bool stale = false;
    uint64_t generation = 0;
  };
  // Holds `key`'s entry for `batch` (once per batch): as the table has it, or, when absent or
  // stale, the committed account read from the database. nullptr when the account does not
  // exist. IoError or Corruption on storage failure.
  Result<CachedAccount*> HoldAccount(Batch& batch, std::string key, std::string_view instance,
                                     std::string_view address);
  // Holds `key`'s entry for `batch`, which is about to replace the whole account: created
  // when absent, taken over (not stale any more) when stale.
  CachedAccount& HoldAccountToReplace(Batch& batch, std::string key);
  // Holds the table's entry `slot` for `batch`, at the entry's current generation. Under
  // cache_mu_.
  static void HoldLocked(Batch& batch, std::pair<const std::string, CachedAccount>& slot);
  // Lets go of every entry `batch` holds, marking them stale unless `committed` (unless read
  // again since the batch took hold), erasing those stale and no longer held, then what is over
  // the table's size. Under cache_mu_.
  void ReleaseAccountsLocked(Batch& batch, bool committed);
  // Erases unheld accounts (then totals, when no account is left to erase) until the cache is
  // within StoreOptions::cache_entries, or `room` below it. Under cache_mu_.
  void EvictLocked(size_t room);

  // One part of an event record (store_encoding.h, EncodeEventRecord); NotFound naming `what`
  // when the record or that part of it is absent.
  template <typename T>
  Result<T> GetEventRecordPart(const std::string& key, bool transaction, std::string_view what);
  // The committed account: its record, with the balances of its newest history item (zero, as
  // a new account's, when it has none), both read from one snapshot. nullopt when it does not
  // exist. IoError or Corruption on storage failure.
  Result<std::optional<v1::AccountView>> ReadAccount(std::string_view instance,
                                                     std::string_view address);

  // The committed-record cache of trial-balance totals (StoreOptions::cache_entries, with the
  // account table), filled only by commits. Take moves a record's node out on a hit (under
  // cache_mu_; empty on a miss): the batch that took it puts it back when it commits, and until
  // then a reader finds the committed value in the database. InsertLocked (cache_mu_ held) adopts
  // a committed batch's node, replacing any entry of its key and evicting one when full. Nodes
  // move whole, key and record, between the cache and the batches: no copy, no allocation.
  std::unordered_map<std::string, v1::CurrencyTotals>::node_type TotalsTake(const std::string& key);
  void TotalsInsertLocked(std::unordered_map<std::string, v1::CurrencyTotals>::node_type node);

  const StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  // The outbox's column family (kOutboxColumnFamily), owned by db_'s handles; destroyed first.
  rocksdb::ColumnFamilyHandle* outbox_ = nullptr;
  // Batches of different partitions may commit from different threads.
  std::mutex cache_mu_;
  // The table's structure, and its entries' holders, stale and generation, are guarded by
  // cache_mu_; an entry's view belongs to the batches that hold it (one partition's, on the
  // thread that stages them).
  std::unordered_map<std::string, CachedAccount> account_cache_;
  std::unordered_map<std::string, v1::CurrencyTotals> totals_cache_;  // guarded by cache_mu_
  std::mutex fault_mu_;
  WriteFault write_fault_;  // guarded by fault_mu_
};

}  // namespace kledger::projections
