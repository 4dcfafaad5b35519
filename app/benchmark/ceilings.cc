// The ceilings: librdkafka's C API and RocksDB used directly, with none of kledger's layers.
#include "app/benchmark/ceilings.h"

#include <librdkafka/rdkafka.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "app/benchmark/resources.h"
#include "kledger/v1/outcomes.pb.h"
#include "projections/store_encoding.h"

namespace kledger::app::bench {
namespace {

using KafkaPtr = std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)>;

Result<KafkaPtr> NewClient(rd_kafka_type_t type, const kafka::Properties& props,
                           void (*on_delivery)(rd_kafka_t*, const rd_kafka_message_t*, void*),
                           void* opaque) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [key, value] : props) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument("ceiling client: " + key + ": " + err);
    }
  }
  if (on_delivery != nullptr) rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, opaque);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("ceiling client: ") + err);
  }
  return KafkaPtr(rk, &rd_kafka_destroy);
}

struct Deliveries {
  std::atomic<int64_t> ok{0};
  std::atomic<int64_t> failed{0};
  std::string first_error;  // written by the polling thread only
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Deliveries*>(opaque);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (d->failed++ == 0) d->first_error = rd_kafka_err2str(m->err);
  } else {
    d->ok++;
  }
}

// A lone consumer of every partition of `topic` from offset 0, paused while a round is produced
// and resumed to read it: the raw counterpart of the held and released processors. Checks that
// every partition's offsets are gap-free and never skips an offset reset.
class RoundReader {
 public:
  static Result<std::unique_ptr<RoundReader>> Open(const kafka::Properties& props,
                                                   const std::string& topic, int partitions) {
    ASSIGN_OR_RETURN(KafkaPtr rk, NewClient(RD_KAFKA_CONSUMER, props, nullptr, nullptr));
    rd_kafka_poll_set_consumer(rk.get());
    std::unique_ptr<RoundReader> reader(new RoundReader(std::move(rk), topic, partitions));
    rd_kafka_topic_partition_list_t* list = reader->List();
    for (int32_t p = 0; p < partitions; ++p) {
      rd_kafka_topic_partition_list_find(list, topic.c_str(), p)->offset = 0;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(reader->rk_.get(), list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err)
      return Status::Unavailable(std::string("ceiling consumer assign: ") + rd_kafka_err2str(err));
    RETURN_IF_ERROR(reader->Pause(true));
    return reader;
  }

  ~RoundReader() { rd_kafka_consumer_close(rk_.get()); }

  // Stops (true) or resumes fetching every partition.
  Status Pause(bool pause) {
    rd_kafka_topic_partition_list_t* list = List();
    rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(rk_.get(), list)
                                    : rd_kafka_resume_partitions(rk_.get(), list);
    if (!err && !pause) {
      // librdkafka 2.0.2 does not wake the fetcher on resume: the first fetch went out up to
      // ~1 s later (measured: 0.75-0.9 s a round). A seek to where it stands starts it at once.
      for (size_t p = 0; p < next_.size(); ++p) list->elems[p].offset = next_[p];
      if (rd_kafka_error_t* e = rd_kafka_seek_partitions(rk_.get(), list, -1)) {
        Status s =
            Status::Unavailable(std::string("ceiling consumer seek: ") + rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rd_kafka_topic_partition_list_destroy(list);
        return s;
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (err)
      return Status::Unavailable(std::string("ceiling consumer pause: ") + rd_kafka_err2str(err));
    return Status::Ok();
  }

  // Reads until every partition p's next offset reaches `until[p]`, counting into `consumed`.
  Status ReadUntil(const std::vector<int64_t>& until, std::atomic<int64_t>& consumed) {
    int64_t remaining = 0;
    for (size_t p = 0; p < until.size(); ++p)
      remaining += std::max<int64_t>(0, until[p] - next_[p]);
    auto last_record = Clock::now();
    while (remaining > 0) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 100);
      if (m == nullptr) {
        if (Since(last_record) > 30) {
          return Status::Timeout("ceiling consumer: no record for 30 s, " +
                                 std::to_string(remaining) + " missing");
        }
        continue;
      }
      last_record = Clock::now();
      std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)> owned(
          m, &rd_kafka_message_destroy);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      if (m->err) {
        // Offset resets (the broker dropped what was not read yet) end the run: never skip.
        return Status::OutOfRange(std::string("ceiling consumer: ") + rd_kafka_message_errstr(m));
      }
      int64_t& expected = next_.at(static_cast<size_t>(m->partition));
      if (m->offset != expected) {
        return Status::Internal("ceiling consumer: partition " + std::to_string(m->partition) +
                                " jumped from offset " + std::to_string(expected) + " to " +
                                std::to_string(m->offset));
      }
      ++expected;
      if (expected <= until[static_cast<size_t>(m->partition)]) --remaining;
      consumed.fetch_add(1, std::memory_order_relaxed);
    }
    return Status::Ok();
  }

 private:
  RoundReader(KafkaPtr rk, std::string topic, int partitions)
      : rk_(std::move(rk)), topic_(std::move(topic)), next_(static_cast<size_t>(partitions), 0) {}

  rd_kafka_topic_partition_list_t* List() const {
    auto* list = rd_kafka_topic_partition_list_new(static_cast<int>(next_.size()));
    for (size_t p = 0; p < next_.size(); ++p) {
      rd_kafka_topic_partition_list_add(list, topic_.c_str(), static_cast<int32_t>(p));
    }
    return list;
  }

  KafkaPtr rk_;
  std::string topic_;
  std::vector<int64_t> next_;  // per partition, the next offset expected
};

// The raw produce and read of the ceiling, in rounds as the command path has them: a round is
// produced with no consumer running (every record acknowledged), then read with no producer
// running.
class CeilingRounds {
 public:
  static Result<std::unique_ptr<CeilingRounds>> Open(const kafka::Properties& props,
                                                     const std::string& topic, int partitions,
                                                     int64_t in_flight,
                                                     const OnProgress& progress) {
    std::unique_ptr<CeilingRounds> rounds(
        new CeilingRounds(topic, partitions, in_flight, progress));
    // The producer reports to `deliveries_`, which outlives it (declared before it).
    ASSIGN_OR_RETURN(rounds->producer_,
                     NewClient(RD_KAFKA_PRODUCER, kafka::Merge(kafka::ProducerDefaults(), props),
                               &OnDelivery, &rounds->deliveries_));
    kafka::Properties consumer_props = kafka::Merge(kafka::ConsumerDefaults(), props);
    consumer_props["group.id"] = "kledger-bench-ceiling";
    // Only the cooperative assignor cares; this consumer assigns partitions itself.
    consumer_props.erase("partition.assignment.strategy");
    ASSIGN_OR_RETURN(rounds->reader_, RoundReader::Open(consumer_props, topic, partitions));
    return rounds;
  }

  // Produces the records `next()` gives until it gives nullptr, and waits for every ack.
  template <typename Next>
  Status ProduceRound(const Next& next) {
    while (const kafka::ProducerRecord* r = next()) {
      while (sent_ - deliveries_.ok - deliveries_.failed >= in_flight_ && deliveries_.failed == 0) {
        rd_kafka_poll(producer_.get(), 1);
      }
      if (deliveries_.failed > 0) break;
      RETURN_IF_ERROR(Produce(*r));
    }
    return AwaitAcks();
  }

  Status ReadRound() {
    RETURN_IF_ERROR(reader_->Pause(false));
    RETURN_IF_ERROR(reader_->ReadUntil(produced_, consumed_));
    return reader_->Pause(true);
  }

  // Warm-up, not timed: one record per partition opens the connections and the idempotent
  // producer's id (about a second on the embedded broker), as a long-running service has them.
  Status WarmUp(const std::vector<kafka::ProducerRecord>& pool) {
    std::vector<const kafka::ProducerRecord*> firsts(produced_.size(), nullptr);
    for (const auto& r : pool) {
      if (!firsts[static_cast<size_t>(*r.partition)])
        firsts[static_cast<size_t>(*r.partition)] = &r;
    }
    std::erase(firsts, nullptr);
    size_t k = 0;
    RETURN_IF_ERROR(ProduceRound([&] { return k < firsts.size() ? firsts[k++] : nullptr; }));
    return ReadRound();
  }

  int64_t sent() const { return sent_; }  // records handed to the producer, warm-up included
  int64_t acked() const { return deliveries_.ok; }
  int64_t consumed() const { return consumed_; }

 private:
  CeilingRounds(std::string topic, int partitions, int64_t in_flight, const OnProgress& progress)
      : topic_(std::move(topic)),
        in_flight_(in_flight),
        progress_(progress),
        produced_(static_cast<size_t>(partitions), 0) {}

  // Hands `r` to the producer, waiting while its queue is full.
  Status Produce(const kafka::ProducerRecord& r) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(r.headers.size());
    for (const auto& h : r.headers) {
      rd_kafka_header_add(headers, h.key.data(), static_cast<ssize_t>(h.key.size()), h.value.data(),
                          static_cast<ssize_t>(h.value.size()));
    }
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(
                producer_.get(), RD_KAFKA_V_TOPIC(topic_.c_str()),
                RD_KAFKA_V_KEY(r.key.data(), r.key.size()),
                RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
                RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer_.get(), 1);
    }
    if (err) {
      rd_kafka_headers_destroy(headers);
      return Status::Unavailable(std::string("ceiling producer: ") + rd_kafka_err2str(err));
    }
    ++produced_[static_cast<size_t>(*r.partition)];
    rd_kafka_poll(producer_.get(), 0);
    if ((++sent_ & 1023) == 0) progress_(deliveries_.ok);
    return Status::Ok();
  }

  // Waits until every record sent was acknowledged, or one failed.
  Status AwaitAcks() {
    const auto ack_deadline = Clock::now() + std::chrono::seconds(60);
    while (deliveries_.ok + deliveries_.failed < sent_ && deliveries_.failed == 0) {
      rd_kafka_poll(producer_.get(), 1);
      if (Clock::now() > ack_deadline) return Status::Timeout("ceiling producer: not acknowledged");
    }
    if (deliveries_.failed > 0) {
      return Status::Unavailable("ceiling producer: delivery failed: " + deliveries_.first_error);
    }
    return Status::Ok();
  }

  const std::string topic_;
  const int64_t in_flight_;
  const OnProgress& progress_;  // MeasureKafkaCeiling's, which outlives this
  Deliveries deliveries_;
  KafkaPtr producer_{nullptr, &rd_kafka_destroy};
  std::unique_ptr<RoundReader> reader_;  // closed before the producer goes, as it was opened
  std::vector<int64_t> produced_;        // per partition, records produced so far
  std::atomic<int64_t> consumed_{0};
  int64_t sent_ = 0;
};

}  // namespace

Result<KafkaCeiling> MeasureKafkaCeiling(const kafka::Properties& props, const std::string& topic,
                                         int partitions,
                                         const std::vector<kafka::ProducerRecord>& pool,
                                         int64_t count, int64_t in_flight, RoundBudget budget,
                                         const OnProgress& progress) {
  if (pool.empty()) return Status::InvalidArgument("the ceiling needs sample records");
  KafkaCeiling out;
  out.records = count;
  ASSIGN_OR_RETURN(std::unique_ptr<CeilingRounds> rounds,
                   CeilingRounds::Open(props, topic, partitions, in_flight, progress));
  RETURN_IF_ERROR(rounds->WarmUp(pool));
  const int64_t warm_up = rounds->sent();

  double produce_seconds = 0, consume_seconds = 0;
  ThreadCpu produce_cpu;
  int64_t i = 0;
  while (i < count) {
    budget.NextRound();
    produce_cpu.Start();
    const auto produce_start = Clock::now();
    RETURN_IF_ERROR(rounds->ProduceRound([&]() -> const kafka::ProducerRecord* {
      if (i >= count) return nullptr;
      const kafka::ProducerRecord& r = pool[static_cast<size_t>(i) % pool.size()];
      if (!budget.Take(*r.partition)) return nullptr;
      ++i;
      return &r;
    }));
    produce_seconds += Since(produce_start);
    produce_cpu.Stop();
    progress(rounds->acked() - warm_up);

    const auto read_start = Clock::now();
    RETURN_IF_ERROR(rounds->ReadRound());
    consume_seconds += Since(read_start);
    ++out.rounds;
  }
  if (rounds->consumed() != count + warm_up) {
    return Status::Internal("ceiling: produced " + std::to_string(count + warm_up) + ", read " +
                            std::to_string(rounds->consumed()));
  }
  out.produce_per_s = static_cast<double>(count) / produce_seconds;
  out.consume_per_s = static_cast<double>(count) / consume_seconds;
  out.produce_cpu_seconds = produce_cpu.seconds();
  return out;
}

std::vector<Put> TransferPuts(const v1::EventEnvelope& envelope, int32_t partition, int64_t offset,
                              bool outbox) {
  // The key layout of projections/store.cc (projections/README.md): a kind byte, then parts
  // separated by 0x00; history keys end with the complemented (offset, entry) position.
  auto key = [](char kind, std::initializer_list<std::string_view> parts) {
    std::string k(1, kind);
    bool first = true;
    for (std::string_view part : parts) {
      if (!first) k.push_back('\0');
      k.append(part);
      first = false;
    }
    return k;
  };
  auto big_endian = [](std::string& out, uint64_t value, int bytes) {
    for (int i = bytes - 1; i >= 0; --i)
      out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  };
  const std::string& instance = envelope.instance_id();
  const v1::TransactionCreated& m = envelope.transaction_created();
  std::vector<Put> puts;
  puts.reserve(6);
  v1::OutcomeRecord record;  // the outbox entry: the transaction and each moved balance after it
  for (int i = 0; i < m.entries_size(); ++i) {
    const v1::Entry& e = m.entries(i);
    // Balances of a busy account: totals in the millions, as after a long run. The store keeps
    // them in the account's history item alone: a transfer writes no account record.
    v1::Balances b;
    b.mutable_posted()->set_debit(123'456'789 + offset);
    b.mutable_posted()->set_credit(98'765'432 + offset);
    b.mutable_posted()->set_amount(24'691'357);
    b.mutable_pending();
    b.set_available(24'691'357);
    v1::AccountBalances& moved = *record.add_balances();
    moved.set_address(e.account());
    moved.set_currency(e.currency());
    *moved.mutable_balances() = b;
    v1::HistoryItem item;
    item.set_event_id(envelope.event_id());
    item.set_source(m.source());
    item.set_source_idempk(m.source_idempk());
    item.set_direction(e.direction());
    item.set_amount(e.amount());
    item.set_status(m.status());
    *item.mutable_balances_after() = b;
    item.set_offset(offset);
    std::string history_key = key('h', {instance, e.account(), ""});
    big_endian(history_key, ~static_cast<uint64_t>(offset), 8);
    big_endian(history_key, ~static_cast<uint32_t>(i), 4);
    puts.push_back({std::move(history_key), item.SerializeAsString()});
  }
  v1::CurrencyTotals totals;
  totals.set_currency(m.entries(0).currency());
  totals.set_debits(1'234'567'890 + offset);
  totals.set_credits(1'234'567'890 + offset);
  puts.push_back({key('b', {instance, ""}) + totals.currency(), totals.SerializeAsString()});
  v1::TransactionView tx;
  tx.set_instance_id(instance);
  tx.set_source(m.source());
  tx.set_source_idempk(m.source_idempk());
  tx.set_status(m.status());
  *tx.mutable_entries() = m.entries();
  tx.set_event_id(envelope.event_id());
  v1::EventOutcomeView outcome;
  outcome.set_event_id(envelope.event_id());
  outcome.set_instance_id(instance);
  outcome.set_outcome(v1::APPLIED);
  outcome.set_partition(partition);
  outcome.set_offset(offset);
  outcome.set_event_type("transaction_created");
  // The event's record holds its outcome and the transaction it created, encoded as the store
  // encodes it.
  puts.push_back({key('e', {instance, envelope.event_id()}),
                  projections::store_encoding::EncodeEventRecord(outcome.SerializeAsString(),
                                                                 tx.SerializeAsString())});
  std::string log_key = key('l', {instance, ""});
  big_endian(log_key, static_cast<uint64_t>(offset), 8);
  puts.push_back({std::move(log_key), envelope.event_id()});
  if (outbox) {
    record.set_schema_version(1);
    record.set_event_id(envelope.event_id());
    record.set_instance_id(instance);
    record.set_event_type("transaction_created");
    record.set_correlation_id(envelope.correlation_id());
    record.set_submitted_at_ms(envelope.submitted_at_ms());
    record.set_source_partition(partition);
    record.set_source_offset(offset);
    record.set_outcome(v1::APPLIED);
    *record.mutable_transaction() = std::move(tx);
    std::string outbox_key(1, 'q');
    big_endian(outbox_key, static_cast<uint32_t>(partition), 4);
    big_endian(outbox_key, static_cast<uint64_t>(offset), 8);
    puts.push_back({std::move(outbox_key), record.SerializeAsString()});
  }
  return puts;
}

Result<RocksDbCeiling> MeasureRocksDbCeiling(
    const projections::StoreOptions& store_options, int64_t events, int batch_events,
    const std::function<std::vector<Put>(int64_t)>& make_puts, const OnProgress& progress) {
  rocksdb::Options options;
  rocksdb::WriteOptions write_options;
  projections::ToRocksDbOptions(store_options, options, write_options);
  options.error_if_exists = true;  // a fresh database, as a new processor has
  // The store's column families: the state in the default one, the outbox in its own.
  const std::vector<rocksdb::ColumnFamilyDescriptor> families =
      projections::StoreColumnFamilies(options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, store_options.path, families, &handles, &raw);
  if (!s.ok()) return Status::IoError("ceiling database: " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::unique_ptr<rocksdb::ColumnFamilyHandle> outbox(handles[1]);  // deleted before db
  delete handles[0];                                                // DefaultColumnFamily()

  RocksDbCeiling out;
  out.events = events;
  double timed = 0;
  int64_t puts = 0, bytes = 0;
  std::vector<std::vector<Put>> chunk;
  projections::DisableRocksDbPerfCounters();  // as the store does on its threads
  for (int64_t first = 0; first < events; first += batch_events) {
    const int64_t n = std::min<int64_t>(batch_events, events - first);
    chunk.clear();
    for (int64_t i = 0; i < n; ++i) chunk.push_back(make_puts(first + i));  // not timed
    const auto start = Clock::now();
    // As the store commits: each key once (an account or total touched by several events of the
    // batch is written with its last value), in key order.
    std::vector<const Put*> ordered;
    for (const auto& event_puts : chunk) {
      for (const Put& put : event_puts) ordered.push_back(&put);
    }
    std::stable_sort(ordered.begin(), ordered.end(),
                     [](const Put* a, const Put* b) { return a->key < b->key; });
    rocksdb::WriteBatch batch;
    // The relay's deletes of the outbox entries it published: as the store's DeleteOutbox, one
    // range per partition ('q' partition(4) offset(8)), from its first entry to past its last.
    rocksdb::WriteBatch published;
    const std::string* range_begin = nullptr;
    for (size_t i = 0; i < ordered.size(); ++i) {
      if (i + 1 < ordered.size() && ordered[i + 1]->key == ordered[i]->key) continue;
      const std::string& key = ordered[i]->key;
      if (key.front() == 'q') {  // as the store: the outbox in its column family
        batch.Put(outbox.get(), key, ordered[i]->value);
        if (range_begin == nullptr) range_begin = &key;
        // The next key is another partition's, or not the outbox's: 'q' and the partition.
        const bool range_ends =
            i + 1 == ordered.size() || ordered[i + 1]->key.compare(0, 5, key, 0, 5) != 0;
        if (range_ends) {
          published.DeleteRange(outbox.get(), *range_begin, key + std::string(1, '\0'));
          range_begin = nullptr;
        }
      } else {
        batch.Put(key, ordered[i]->value);
      }
      ++puts;
      bytes += static_cast<int64_t>(key.size() + ordered[i]->value.size());
    }
    std::string offset;
    for (int i = 7; i >= 0; --i)
      offset.push_back(static_cast<char>(((first + n) >> (8 * i)) & 0xff));
    batch.Put(std::string("o\0\0\0\0", 5), offset);
    s = db->Write(write_options, &batch);
    if (s.ok() && published.Count() > 0) s = db->Write(write_options, &published);
    timed += Since(start);
    if (!s.ok()) return Status::IoError("ceiling write: " + s.ToString());
    progress(first + n);
  }
  out.events_per_s = static_cast<double>(events) / timed;
  out.puts_per_s = static_cast<double>(puts) / timed;
  out.bytes_per_event =
      static_cast<double>(bytes) / static_cast<double>(std::max<int64_t>(events, 1));
  return out;
}

}  // namespace kledger::app::bench
