// The ceilings: librdkafka's C API and RocksDB used directly, with none of kledger's layers.
#include "app/benchmark/ceilings.h"

#include <librdkafka/rdkafka.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <map>
#include <memory>
#include <thread>

namespace kledger::app::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

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

// Reads `topic`'s partitions from `start` offsets until `until` (per partition, exclusive) is
// reached or `stop` says so, checking every partition's offsets are gap-free. Counts into
// `consumed`.
Status ConsumeRange(const kafka::Properties& props, const std::string& topic,
                    const std::map<int32_t, std::pair<int64_t, int64_t>>& ranges,
                    std::atomic<int64_t>& consumed, const std::atomic<bool>& abort) {
  ASSIGN_OR_RETURN(KafkaPtr rk, NewClient(RD_KAFKA_CONSUMER, props, nullptr, nullptr));
  rd_kafka_poll_set_consumer(rk.get());
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(ranges.size());
  std::map<int32_t, int64_t> next;
  int64_t remaining = 0;
  for (const auto& [p, range] : ranges) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = range.first;
    next[p] = range.first;
    remaining += range.second - range.first;
  }
  rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err) return Status::Unavailable(std::string("ceiling consumer assign: ") + rd_kafka_err2str(err));
  Status result;
  auto last_record = Clock::now();
  while (remaining > 0 && !abort) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 100);
    if (m == nullptr) {
      if (Since(last_record) > 30) {
        result = Status::Timeout("ceiling consumer: no record for 30 s, " +
                                 std::to_string(remaining) + " missing");
        break;
      }
      continue;
    }
    last_record = Clock::now();
    if (m->err) {
      const bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
      if (!eof) {
        // Offset resets (the broker dropped what was not read yet) end the run: never skip.
        result = Status::OutOfRange(std::string("ceiling consumer: ") + rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        break;
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    int64_t& expected = next[m->partition];
    if (m->offset != expected) {
      result = Status::Internal("ceiling consumer: partition " + std::to_string(m->partition) +
                                " jumped from offset " + std::to_string(expected) + " to " +
                                std::to_string(m->offset));
      rd_kafka_message_destroy(m);
      break;
    }
    ++expected;
    if (expected <= ranges.at(m->partition).second) --remaining;
    consumed.fetch_add(1, std::memory_order_relaxed);
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk.get());
  return result;
}

}  // namespace

Result<KafkaCeiling> MeasureKafkaCeiling(const kafka::Properties& props, const std::string& topic,
                                         int partitions,
                                         const std::vector<kafka::ProducerRecord>& pool,
                                         int64_t count, int64_t in_flight, int64_t backlog,
                                         const OnProgress& progress) {
  if (pool.empty()) return Status::InvalidArgument("the ceiling needs sample records");
  KafkaCeiling out;
  out.records = count;
  Deliveries deliveries;
  ASSIGN_OR_RETURN(KafkaPtr producer,
                   NewClient(RD_KAFKA_PRODUCER, kafka::Merge(kafka::ProducerDefaults(), props),
                             &OnDelivery, &deliveries));
  kafka::Properties consumer_props = kafka::Merge(kafka::ConsumerDefaults(), props);
  consumer_props["group.id"] = "kledger-bench-ceiling";
  // Only the cooperative assignor cares; these consumers assign partitions themselves.
  consumer_props.erase("partition.assignment.strategy");

  // The drain: from offset 0 up to the count produced. The partitioner is murmur2 over the key,
  // so the per-partition counts are known before producing.
  std::map<int32_t, std::pair<int64_t, int64_t>> ranges;
  for (int32_t p = 0; p < partitions; ++p) ranges[p] = {0, 0};
  std::vector<int32_t> partition_of(pool.size());
  for (size_t i = 0; i < pool.size(); ++i) partition_of[i] = *pool[i].partition;
  for (int64_t i = 0; i < count; ++i) ranges[partition_of[i % pool.size()]].second++;
  std::atomic<int64_t> drained{0};
  std::atomic<bool> abort{false};
  Status drain_status;
  const auto start = Clock::now();
  double drain_seconds = 0;
  std::thread drain([&] {
    drain_status = ConsumeRange(consumer_props, topic, ranges, drained, abort);
    drain_seconds = Since(start);
  });

  Status produce_status;
  for (int64_t i = 0; i < count && produce_status.ok(); ++i) {
    // Bounded: in-flight acknowledgements, and the backlog the broker would otherwise drop.
    while (i - deliveries.ok - deliveries.failed >= in_flight || i - drained >= backlog) {
      rd_kafka_poll(producer.get(), 1);
      if (!drain_status.ok() || deliveries.failed > 0) break;
    }
    if (deliveries.failed > 0) {
      produce_status = Status::Unavailable("ceiling producer: delivery failed: " +
                                           deliveries.first_error);
      break;
    }
    const kafka::ProducerRecord& r = pool[i % pool.size()];
    rd_kafka_headers_t* headers = rd_kafka_headers_new(r.headers.size());
    for (const auto& h : r.headers) {
      rd_kafka_header_add(headers, h.key.data(), static_cast<ssize_t>(h.key.size()), h.value.data(),
                          static_cast<ssize_t>(h.value.size()));
    }
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(
                producer.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
                RD_KAFKA_V_KEY(r.key.data(), r.key.size()),
                RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
                RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer.get(), 1);
    }
    if (err) {
      rd_kafka_headers_destroy(headers);
      produce_status = Status::Unavailable(std::string("ceiling producer: ") + rd_kafka_err2str(err));
      break;
    }
    rd_kafka_poll(producer.get(), 0);
    if ((i & 1023) == 0) progress(deliveries.ok);
  }
  while (produce_status.ok() && deliveries.ok + deliveries.failed < count) {
    rd_kafka_poll(producer.get(), 10);
    if (Since(start) > 600) produce_status = Status::Timeout("ceiling producer: not acknowledged");
  }
  const double produce_seconds = Since(start);
  progress(deliveries.ok);
  if (produce_status.ok() && deliveries.failed > 0) {
    produce_status = Status::Unavailable("ceiling producer: " + deliveries.first_error);
  }
  if (!produce_status.ok()) abort = true;
  drain.join();
  RETURN_IF_ERROR(produce_status);
  RETURN_IF_ERROR(drain_status);
  if (drained != count) {
    return Status::Internal("ceiling: produced " + std::to_string(count) + ", drained " +
                            std::to_string(drained.load()));
  }
  out.produce_per_s = static_cast<double>(count) / produce_seconds;
  out.drain_per_s = static_cast<double>(count) / drain_seconds;

  // The consume ceiling: what the broker still holds, read alone from its start.
  std::map<int32_t, std::pair<int64_t, int64_t>> tail;
  for (int32_t p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(producer.get(), topic.c_str(), p, &low, &high, 5000);
    if (err) return Status::Unavailable(std::string("ceiling watermarks: ") + rd_kafka_err2str(err));
    tail[p] = {low, high};
    out.consumed_tail += high - low;
  }
  std::atomic<int64_t> tail_read{0};
  const auto tail_start = Clock::now();
  RETURN_IF_ERROR(ConsumeRange(consumer_props, topic, tail, tail_read, abort));
  out.consume_per_s = static_cast<double>(tail_read) / Since(tail_start);
  return out;
}

std::vector<Put> TransferPuts(const v1::EventEnvelope& envelope, int32_t partition,
                              int64_t offset) {
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
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  };
  const std::string& instance = envelope.instance_id();
  const v1::TransactionCreated& m = envelope.transaction_created();
  std::vector<Put> puts;
  puts.reserve(7);
  for (int i = 0; i < m.entries_size(); ++i) {
    const v1::Entry& e = m.entries(i);
    v1::AccountView account;
    account.set_instance_id(instance);
    account.set_address(e.account());
    account.set_type(v1::ASSET);
    account.set_normal_balance(v1::DEBIT);
    account.set_currency(e.currency());
    account.set_allow_negative(true);
    account.set_status(v1::OPEN);
    // Balances of a busy account: totals in the millions, as after a long run.
    v1::Balances& b = *account.mutable_balances();
    b.mutable_posted()->set_debit(123'456'789 + offset);
    b.mutable_posted()->set_credit(98'765'432 + offset);
    b.mutable_posted()->set_amount(24'691'357);
    b.mutable_pending();
    b.set_available(24'691'357);
    puts.push_back({key('a', {instance, e.account()}), account.SerializeAsString()});
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
  puts.push_back({key('t', {instance, m.source(), m.source_idempk()}), tx.SerializeAsString()});
  v1::EventOutcomeView outcome;
  outcome.set_event_id(envelope.event_id());
  outcome.set_instance_id(instance);
  outcome.set_outcome(v1::APPLIED);
  outcome.set_partition(partition);
  outcome.set_offset(offset);
  outcome.set_event_type("transaction_created");
  puts.push_back({key('e', {instance, envelope.event_id()}), outcome.SerializeAsString()});
  return puts;
}

Result<RocksDbCeiling> MeasureRocksDbCeiling(
    const projections::StoreOptions& store_options, int64_t events, int batch_events,
    const std::function<std::vector<Put>(int64_t)>& make_puts, const OnProgress& progress) {
  rocksdb::Options options;
  rocksdb::WriteOptions write_options;
  projections::ToRocksDbOptions(store_options, options, write_options);
  options.error_if_exists = true;  // a fresh database, as a new processor has
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, store_options.path, &raw);
  if (!s.ok()) return Status::IoError("ceiling database: " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);

  RocksDbCeiling out;
  out.events = events;
  double timed = 0;
  int64_t puts = 0, bytes = 0;
  std::vector<std::vector<Put>> chunk;
  for (int64_t first = 0; first < events; first += batch_events) {
    const int64_t n = std::min<int64_t>(batch_events, events - first);
    chunk.clear();
    for (int64_t i = 0; i < n; ++i) chunk.push_back(make_puts(first + i));  // not timed
    const auto start = Clock::now();
    rocksdb::WriteBatch batch;
    for (const auto& event_puts : chunk) {
      for (const Put& put : event_puts) {
        batch.Put(put.key, put.value);
        ++puts;
        bytes += static_cast<int64_t>(put.key.size() + put.value.size());
      }
    }
    std::string offset;
    for (int i = 7; i >= 0; --i) offset.push_back(static_cast<char>(((first + n) >> (8 * i)) & 0xff));
    batch.Put(std::string("o\0\0\0\0", 5), offset);
    s = db->Write(write_options, &batch);
    timed += Since(start);
    if (!s.ok()) return Status::IoError("ceiling write: " + s.ToString());
    progress(first + n);
  }
  out.events_per_s = static_cast<double>(events) / timed;
  out.puts_per_s = static_cast<double>(puts) / timed;
  out.bytes_per_event = static_cast<double>(bytes) / static_cast<double>(std::max<int64_t>(events, 1));
  return out;
}

}  // namespace kledger::app::bench
