// ProjectionStore's outbox of the outcome stream: reading committed entries for the relay and
// deleting the published ones (store.h; the writes are Batch::PutOutbox, committed with state).
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <limits>
#include <memory>

#include "projections/store.h"
#include "projections/store_encoding.h"

namespace kledger::projections {

using namespace store_encoding;

Result<std::vector<ProjectionStore::OutboxEntry>> ProjectionStore::ReadOutbox(int32_t partition,
                                                                              int64_t from_offset,
                                                                              size_t max_entries,
                                                                              size_t max_bytes) {
  DisableRocksDbPerfCounters();
  std::vector<OutboxEntry> entries;
  const std::string end = OutboxKey(partition, std::numeric_limits<int64_t>::max());
  const rocksdb::Slice upper(end);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, outbox_));
  size_t bytes = 0;
  for (it->Seek(OutboxKey(partition, std::max<int64_t>(0, from_offset)));
       it->Valid() && entries.size() < max_entries && (entries.empty() || bytes < max_bytes);
       it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() != 13) return Status::Corruption("an outbox key is not 13 bytes");
    entries.push_back({static_cast<int64_t>(ReadBigEndian(key.substr(5))), it->value().ToString()});
    bytes += entries.back().record.size();
  }
  if (!it->status().ok()) {
    return FromRocks(it->status(), "reading the outbox of partition " + std::to_string(partition));
  }
  return entries;
}

Status ProjectionStore::DeleteOutbox(int32_t partition, int64_t from_offset,
                                     int64_t through_offset) {
  DisableRocksDbPerfCounters();
  if (through_offset < from_offset) return Status::Ok();
  // One range tombstone over the published span, not a delete per entry: each point delete was
  // one more memtable insert at the relay (~half its CPU), where a range is one. In the outbox's
  // own column family its tombstones slow only the relay's reads, a few per memtable (one per
  // transaction), and a flush drops the entries a tombstone covers in the same memtable (as
  // SingleDelete did), writing out only the tombstone. Whatever is in the span was published:
  // the relay read it all, and the apply path writes outbox entries only above what it has
  // committed, which is above the span. Unlogged: a crash that loses the delete leaves the
  // entries, and the relay, starting again, deletes everything up to the position it recovers
  // from the topic (OutcomeRelay::Init).
  const std::string begin = OutboxKey(partition, std::max<int64_t>(0, from_offset));
  const std::string end = OutboxKey(partition, through_offset + 1);
  rocksdb::WriteOptions write_options = Writing();
  write_options.sync = false;
  rocksdb::Status s = db_->DeleteRange(write_options, outbox_, begin, end);
  if (!s.ok()) {
    return FromRocks(s,
                     "deleting published outbox entries of partition " + std::to_string(partition));
  }
  return Status::Ok();
}

Status ProjectionStore::MoveOutboxFromDefaultFamily() {
  // A store written before the outbox had a column family of its own kept it beside the state:
  // its unpublished entries move over once, in one write. Unlogged, a crash before the next flush
  // loses the move and leaves them where they were, to be moved again.
  const std::string begin(1, kOutboxPrefix);
  const std::string end(1, static_cast<char>(kOutboxPrefix + 1));
  const rocksdb::Slice upper(end);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options));
  rocksdb::WriteBatch moves;
  for (it->Seek(begin); it->Valid(); it->Next()) {
    rocksdb::Status s = moves.Put(outbox_, it->key(), it->value());
    if (s.ok()) s = moves.Delete(it->key());
    if (!s.ok()) return FromRocks(s, "moving the outbox to its column family");
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the outbox of an older store");
  if (moves.Count() == 0) return Status::Ok();
  const rocksdb::Status s = db_->Write(Writing(), &moves);
  if (!s.ok()) return FromRocks(s, "moving the outbox to its column family");
  return Status::Ok();
}

}  // namespace kledger::projections
