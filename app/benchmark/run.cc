// The benchmark's phases, in order: ceilings (raw Kafka, raw RocksDB), the command path with
// processors applying concurrently (backlog bounded), a paced latency phase, verification.
#include "app/benchmark/run.h"

#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "app/benchmark/ceilings.h"
#include "app/benchmark/resources.h"
#include "command-side/command_client.h"
#include "common/domain/event_id.h"
#include "common/kafka/embedded_broker.h"
#include "common/progress.h"
#include "processors/processor.h"

namespace kledger::app::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr char kEventsTopic[] = "kledger.events";
constexpr char kCeilingTopic[] = "kledger.bench.ceiling";
constexpr size_t kPoolSize = 4096;  // distinct sample records the ceilings cycle through
// Bytes the broker stores per record beyond key, value and headers (record batch framing).
constexpr int64_t kRecordOverhead = 70;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A scratch directory removed when the run ends, whatever way it ends.
struct ScratchDir {
  std::string path;
  ~ScratchDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

// Sample events of the workload's transfers, as the command side makes them.
struct Pool {
  std::vector<kafka::ProducerRecord> records;
  std::vector<v1::EventEnvelope> envelopes;
  std::vector<int32_t> partitions;
  double record_bytes = 0;  // key + value + headers, average
};

Result<Pool> MakePool(const WorkloadOptions& options) {
  Workload workload(options);
  Pool pool;
  command::CommandClientOptions client_options;
  Workload::Item item;
  int64_t bytes = 0;
  while (pool.records.size() < kPoolSize && workload.Next(item)) {
    if (!item.transfer) continue;
    domain::FieldErrors errors;
    ASSIGN_OR_RETURN(command::PreparedEvent event,
                     command::PrepareEvent(item.command, client_options, errors));
    kafka::ProducerRecord record;
    record.topic = kCeilingTopic;
    record.key = event.envelope.instance_id();
    record.value = event.envelope.SerializeAsString();
    record.headers = command::EventHeaders(event.envelope, event.event_type);
    record.partition = item.partition;
    bytes += static_cast<int64_t>(record.key.size() + record.value.size());
    for (const auto& h : record.headers) bytes += static_cast<int64_t>(h.key.size() + h.value.size());
    pool.records.push_back(std::move(record));
    pool.envelopes.push_back(std::move(event.envelope));
    pool.partitions.push_back(item.partition);
  }
  if (pool.records.empty()) return Status::InvalidArgument("the workload has no transfers");
  pool.record_bytes = static_cast<double>(bytes) / static_cast<double>(pool.records.size());
  return pool;
}

// The processors of the run and a cheap view of their progress.
class Fleet {
 public:
  Status Start(const kafka::Properties& props, const BenchmarkOptions& options,
               const std::string& dir, int partitions) {
    partitions_ = partitions;
    for (int i = 0; i < options.processors; ++i) {
      processors::ProcessorOptions p;
      p.group = "kledger-bench";
      p.data_dir = dir + "/processor-" + std::to_string(i);
      p.max_batch_records = static_cast<size_t>(options.batch_size);
      registries_.push_back(std::make_shared<prometheus::Registry>());
      ASSIGN_OR_RETURN(auto processor, processors::Processor::Create(props, p, *registries_.back()));
      processors_.push_back(std::move(processor));
    }
    for (auto& p : processors_) RETURN_IF_ERROR(p->Start("http://127.0.0.1:0"));
    // Wait until the group settled: every partition owned, every processor ready.
    const auto deadline = Clock::now() + std::chrono::seconds(90);
    while (Clock::now() < deadline) {
      int owned = 0;
      bool ready = true;
      for (auto& p : processors_) {
        owned += static_cast<int>(p->Progress().size());
        ready = ready && p->NotReadyReason().empty();
      }
      if (owned == partitions && ready) return Status::Ok();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return Status::Timeout("the processors did not settle their partitions within 90 s");
  }

  // Next offset to apply per partition, over every processor; also the total applied.
  int64_t Snapshot(std::vector<int64_t>& next) const {
    next.assign(partitions_, 0);
    int64_t total = 0;
    for (const auto& p : processors_) {
      for (const auto& [partition, progress] : p->Progress()) {
        next[partition] = progress.next_offset;
        total += progress.next_offset;
      }
    }
    return total;
  }

  std::string Failure() const {
    for (const auto& p : processors_) {
      std::string why = p->Failure();
      if (why.empty()) {
        for (const auto& [partition, progress] : p->Progress()) {
          if (!progress.halted.empty()) why = progress.halted;
        }
      }
      if (!why.empty()) return why;
    }
    return "";
  }

  // The processor owning `instance`'s partition.
  processors::Processor* Owner(std::string_view instance) const {
    for (const auto& p : processors_) {
      if (p->Route(instance).owned) return p.get();
    }
    return nullptr;
  }

  // kledger_events_processed_total summed by outcome over every processor.
  std::map<std::string, double> Outcomes() const {
    std::map<std::string, double> out;
    for (const auto& registry : registries_) {
      for (const auto& family : registry->Collect()) {
        if (family.name != "kledger_events_processed_total") continue;
        for (const auto& metric : family.metric) {
          for (const auto& label : metric.label) {
            if (label.name == "outcome") out[label.value] += metric.counter.value;
          }
        }
      }
    }
    return out;
  }

  void Stop() {
    for (auto& p : processors_) p->Stop();
  }

 private:
  int partitions_ = 0;
  std::vector<std::shared_ptr<prometheus::Registry>> registries_;
  std::vector<std::unique_ptr<processors::Processor>> processors_;
};

// Polls the fleet's progress every 200 µs on its own thread: the total applied, and when it
// first moved and last reached a target.
class ApplyMonitor {
 public:
  explicit ApplyMonitor(const Fleet& fleet) : fleet_(fleet) {
    thread_ = std::thread([this] {
      std::vector<int64_t> next;
      while (!stop_) {
        const int64_t total = fleet_.Snapshot(next);
        {
          std::lock_guard lock(mu_);
          if (total > applied_ && first_move_ == Clock::time_point()) first_move_ = Clock::now();
          if (total > applied_) last_move_ = Clock::now();
          applied_ = total;
          next_ = next;
        }
        applied_atomic_ = total;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  }
  ~ApplyMonitor() {
    stop_ = true;
    thread_.join();
  }
  int64_t applied() const { return applied_atomic_; }
  const std::atomic<int64_t>& applied_counter() const { return applied_atomic_; }
  std::vector<int64_t> next() const {
    std::lock_guard lock(mu_);
    return next_;
  }
  // Seconds from the first applied record to the last one so far.
  double ApplySeconds() const {
    std::lock_guard lock(mu_);
    return std::chrono::duration<double>(last_move_ - first_move_).count();
  }
  void ResetWindow() {
    std::lock_guard lock(mu_);
    first_move_ = Clock::time_point();
  }

 private:
  const Fleet& fleet_;
  mutable std::mutex mu_;
  int64_t applied_ = 0;
  std::vector<int64_t> next_;
  Clock::time_point first_move_{}, last_move_{};
  std::atomic<int64_t> applied_atomic_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Waits until `monitor` reports `target` applied; Timeout when nothing moved for 60 s, or the
// processors' failure.
Status WaitApplied(const ApplyMonitor& monitor, const Fleet& fleet, int64_t target,
                   ProgressBar* bar, int64_t base) {
  int64_t last = -1;
  auto last_change = Clock::now();
  while (monitor.applied() < target) {
    const int64_t now = monitor.applied();
    if (now != last) {
      last = now;
      last_change = Clock::now();
      if (bar != nullptr) bar->Update(now - base);
    }
    if (std::string why = fleet.Failure(); !why.empty()) return Status::Internal(why);
    if (Since(last_change) > 60) {
      return Status::Timeout("the processors applied " + std::to_string(now) + " of " +
                             std::to_string(target) + " records and made no progress for 60 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (bar != nullptr) bar->Update(target - base);
  return Status::Ok();
}

// What the command path appended, for the verification: per partition the offsets acked (they
// must be 0..n-1, each once) and the amounts posted per instance.
struct Ledger {
  std::vector<int64_t> next_offset;  // per partition: offsets acked so far are 0..next-1
  std::vector<int64_t> posted;       // per partition (= instance): sum of amounts posted
  std::vector<std::pair<std::string, int64_t>> sampled;  // (event id, partition offset) samples
  std::vector<int32_t> sampled_partition;
  int64_t events = 0;
  std::string error;  // the first inconsistency seen

  explicit Ledger(int partitions) : next_offset(partitions, 0), posted(partitions, 0) {}

  void Acked(const command::Ack& ack, int64_t posted_amount, int32_t expected_partition) {
    ++events;
    if (ack.partition != expected_partition && error.empty()) {
      error = "event " + ack.event_id + " landed on partition " + std::to_string(ack.partition) +
              ", not its instance's " + std::to_string(expected_partition);
    }
    if (ack.partition < 0 || ack.partition >= static_cast<int32_t>(next_offset.size())) return;
    int64_t& next = next_offset[ack.partition];
    if (ack.offset != next && error.empty()) {
      error = "partition " + std::to_string(ack.partition) + " acknowledged offset " +
              std::to_string(ack.offset) + " where " + std::to_string(next) +
              " was due: a record was lost or doubled on the way in";
    }
    next = ack.offset + 1;
    posted[ack.partition] += posted_amount;
    // One in 64 outcomes is read back by id: enough to catch a mix-up, bounded in memory.
    if (events % 64 == 0) {
      sampled.emplace_back(ack.event_id, ack.offset);
      sampled_partition.push_back(ack.partition);
    }
  }
};

struct InFlight {
  std::future<Result<command::Ack>> future;
  int64_t posted_amount;
  int32_t partition;
  Clock::time_point submitted;
};

Status Settle(InFlight& f, Ledger& ledger) {
  Result<command::Ack> ack = f.future.get();
  if (!ack.ok()) return ack.status().WithContext("a benchmark command was not accepted");
  ledger.Acked(*ack, f.posted_amount, f.partition);
  return Status::Ok();
}

json Verify(const Fleet& fleet, const Workload& workload, const Ledger& ledger,
            std::string& failure) {
  json v;
  const auto outcomes = fleet.Outcomes();
  auto count = [&](const char* name) {
    auto it = outcomes.find(name);
    return it == outcomes.end() ? int64_t{0} : static_cast<int64_t>(it->second);
  };
  v["events_acked"] = ledger.events;
  v["applied"] = count("applied");
  v["rejected"] = count("rejected");
  v["duplicate"] = count("duplicate");
  v["dead_lettered"] = count("dead_lettered");
  auto fail = [&](std::string why) {
    if (failure.empty()) failure = std::move(why);
  };
  if (!ledger.error.empty()) fail(ledger.error);
  if (count("applied") != ledger.events || count("rejected") + count("duplicate") +
                                                   count("dead_lettered") != 0) {
    fail("outcomes do not match the events appended: " + v.dump());
  }
  // The offsets committed with the state must stand exactly at what the log holds.
  std::vector<int64_t> next;
  fleet.Snapshot(next);
  for (size_t p = 0; p < next.size(); ++p) {
    if (next[p] != ledger.next_offset[p]) {
      fail("partition " + std::to_string(p) + " applied up to " + std::to_string(next[p]) +
           " but " + std::to_string(ledger.next_offset[p]) + " records were appended");
    }
  }
  // Every sampled event has its one outcome, recorded for the very record that was acked.
  int64_t sampled_ok = 0;
  for (size_t i = 0; i < ledger.sampled.size(); ++i) {
    const std::string& instance = workload.instances()[ledger.sampled_partition[i]];
    processors::Processor* owner = fleet.Owner(instance);
    auto outcome = owner == nullptr ? Result<v1::EventOutcomeView>(Status::NotFound("no owner"))
                                    : owner->store().GetOutcome(instance, ledger.sampled[i].first);
    if (!outcome.ok() || outcome->outcome() != v1::APPLIED ||
        outcome->offset() != ledger.sampled[i].second) {
      fail("event " + ledger.sampled[i].first + " has no APPLIED outcome at its offset");
      continue;
    }
    ++sampled_ok;
  }
  v["sampled_outcomes_ok"] = sampled_ok;
  // Books balance, and hold exactly the money the workload posted: a transfer lost or applied
  // twice would show here.
  bool balanced = true;
  for (size_t p = 0; p < workload.instances().size(); ++p) {
    const std::string& instance = workload.instances()[p];
    processors::Processor* owner = fleet.Owner(instance);
    if (owner == nullptr) {
      balanced = false;
      continue;
    }
    auto trial = owner->store().GetTrialBalance(instance);
    int64_t debits = 0, credits = 0;
    if (trial.ok()) {
      for (const auto& c : trial->currencies()) {
        debits += c.debits();
        credits += c.credits();
      }
    }
    if (!trial.ok() || debits != credits || debits != ledger.posted[p]) {
      balanced = false;
      fail("instance " + instance + ": trial balance debits " + std::to_string(debits) +
           " credits " + std::to_string(credits) + ", posted " + std::to_string(ledger.posted[p]));
    }
  }
  v["trial_balance_zero_and_complete"] = balanced;
  v["ok"] = failure.empty();
  return v;
}

}  // namespace

Result<BenchmarkReport> RunBenchmark(const BenchmarkOptions& options) {
  const WorkloadOptions& wo = options.workload;
  const int partitions = wo.partitions;
  BenchmarkReport report;
  json& j = report.json;
  j["parameters"] = {{"accounts", wo.accounts},
                     {"transfers", wo.transfers},
                     {"distribution", wo.distribution == Distribution::kZipfian ? "zipfian"
                                                                                : "uniform"},
                     {"pending_ratio", wo.pending_ratio},
                     {"partitions", partitions},
                     {"batch_size", options.batch_size},
                     {"processors", options.processors},
                     {"in_flight", options.in_flight}};

  ScratchDir scratch;
  {
    std::string pattern = (fs::temp_directory_path() / "kledger-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return Status::IoError("cannot create a scratch dir");
    scratch.path = pattern;
  }
  kafka::EmbeddedBrokerOptions broker_options;
  broker_options.topics = {{kEventsTopic, partitions},
                           {"kledger.events.dlt", partitions},
                           {"kledger.owners", 1},
                           {kCeilingTopic, partitions}};
  ASSIGN_OR_RETURN(auto broker, kafka::EmbeddedBroker::Start(broker_options));
  kafka::Properties props = kafka::DevClientDefaults();
  props["bootstrap.servers"] = broker->bootstrap();
  props = kafka::Merge(std::move(props), options.overrides);

  Workload workload(wo);
  const int64_t total = workload.total();
  ASSIGN_OR_RETURN(Pool pool, MakePool(wo));
  const int64_t backlog = std::max<int64_t>(
      1000, options.backlog_bytes_per_partition * partitions /
                static_cast<int64_t>(pool.record_bytes + kRecordOverhead));
  j["parameters"]["events"] = total;
  j["parameters"]["backlog_records"] = backlog;
  j["parameters"]["record_bytes"] = pool.record_bytes;

  // 1. Ceilings.
  KafkaCeiling kafka_ceiling;
  {
    ProgressBar bar("ceiling: raw librdkafka produce+drain", total);
    ASSIGN_OR_RETURN(kafka_ceiling,
                     MeasureKafkaCeiling(props, kCeilingTopic, partitions, pool.records, total,
                                         options.in_flight, backlog,
                                         [&](int64_t done) { bar.Update(done); }));
    bar.Finish();
  }
  RocksDbCeiling rocks_ceiling;
  {
    ProgressBar bar("ceiling: raw RocksDB WriteBatch", total);
    projections::StoreOptions store_options;
    store_options.path = scratch.path + "/ceiling-rocksdb";
    v1::EventEnvelope envelope;
    auto make_puts = [&](int64_t i) {
      // A distinct transaction and event per write, as the log has.
      envelope = pool.envelopes[static_cast<size_t>(i) % pool.envelopes.size()];
      auto& m = *envelope.mutable_transaction_created();
      m.set_source_idempk(m.source_idempk() + "/" + std::to_string(i));
      envelope.set_event_id(domain::DeriveEventId(envelope));
      return TransferPuts(envelope, pool.partitions[static_cast<size_t>(i) % pool.partitions.size()],
                          i / partitions);
    };
    ASSIGN_OR_RETURN(rocks_ceiling,
                     MeasureRocksDbCeiling(store_options, total, options.batch_size, make_puts,
                                           [&](int64_t done) { bar.Update(done); }));
    bar.Finish();
    std::error_code ec;
    fs::remove_all(store_options.path, ec);
  }
  j["ceilings"] = {{"kafka_produce_per_s", kafka_ceiling.produce_per_s},
                   {"kafka_drain_per_s", kafka_ceiling.drain_per_s},
                   {"kafka_consume_per_s", kafka_ceiling.consume_per_s},
                   {"kafka_consume_tail_records", kafka_ceiling.consumed_tail},
                   {"rocksdb_events_per_s", rocks_ceiling.events_per_s},
                   {"rocksdb_puts_per_s", rocks_ceiling.puts_per_s},
                   {"rocksdb_bytes_per_event", rocks_ceiling.bytes_per_event}};

  // 2 + 3. The command path, with the processors applying concurrently.
  Fleet fleet;
  {
    spdlog::info("benchmark: starting {} processor(s); the first group join takes seconds",
                 options.processors);
    RETURN_IF_ERROR(fleet.Start(props, options, scratch.path, partitions));
  }
  ApplyMonitor monitor(fleet);
  prometheus::Registry client_registry;
  ASSIGN_OR_RETURN(auto client, command::CommandClient::Create(props, {}, client_registry));
  Ledger ledger(partitions);
  std::atomic<int64_t> submitted{0};
  RssSampler rss(submitted, std::chrono::milliseconds(250));
  double gated_seconds = 0;
  double command_seconds = 0;
  {
    ProgressBar bar("command path: CommandClient::Submit", total);
    std::deque<InFlight> in_flight;
    Workload::Item item;
    const auto start = Clock::now();
    while (workload.Next(item)) {
      // Transfers name accounts: the openings must be applied before the first transfer (one
      // partition's order is the submission order, so this waits once, briefly).
      const bool first_transfer = item.transfer && submitted == workload.account_commands();
      if (submitted - monitor.applied() > backlog || first_transfer) {
        const auto gate = Clock::now();
        while (!in_flight.empty()) {
          RETURN_IF_ERROR(Settle(in_flight.front(), ledger));
          in_flight.pop_front();
        }
        const int64_t target = first_transfer ? submitted.load() : submitted - backlog / 2;
        RETURN_IF_ERROR(WaitApplied(monitor, fleet, target, nullptr, 0));
        gated_seconds += Since(gate);
      }
      in_flight.push_back({client->Submit(item.command), item.posted_amount, item.partition,
                           Clock::now()});
      ++submitted;
      if (static_cast<int64_t>(in_flight.size()) >= options.in_flight) {
        RETURN_IF_ERROR(Settle(in_flight.front(), ledger));
        in_flight.pop_front();
      }
      if ((submitted & 1023) == 0) bar.Update(ledger.events);
    }
    while (!in_flight.empty()) {
      RETURN_IF_ERROR(Settle(in_flight.front(), ledger));
      in_flight.pop_front();
    }
    command_seconds = Since(start);
    bar.Update(ledger.events);
    bar.Finish();
  }
  {
    ProgressBar bar("apply path: processors catching up", total);
    RETURN_IF_ERROR(WaitApplied(monitor, fleet, total, &bar, 0));
    bar.Finish();
  }
  rss.Stop();
  const double apply_seconds = monitor.ApplySeconds();
  // While the command path waits for the processors (backlog bound, accounts first) it does not
  // run: that time is the apply path's, and is reported apart.
  const double commands_per_s =
      static_cast<double>(ledger.events) / std::max(1e-9, command_seconds - gated_seconds);
  const double txn_per_s = static_cast<double>(total) / apply_seconds;
  j["command"] = {{"commands_per_s", commands_per_s},
                  {"commands_per_s_overall", static_cast<double>(ledger.events) / command_seconds},
                  {"commands", ledger.events},
                  {"seconds", command_seconds},
                  {"waiting_for_apply_seconds", gated_seconds}};
  j["apply"] = {{"txn_per_s", txn_per_s},
                {"txn_per_s_per_processor", txn_per_s / options.processors},
                {"events", total},
                {"seconds", apply_seconds},
                // The command path waited for the processors most of the time: they were the
                // bottleneck, so this is their saturated rate.
                {"saturated", gated_seconds > 0.5 * command_seconds}};

  // 4. End-to-end latency at half the sustained throughput (the slower of the two paths).
  const double rate = 0.5 * std::min(commands_per_s, txn_per_s);
  const auto latency_count =
      std::max<int64_t>(100, static_cast<int64_t>(rate * options.latency_seconds));
  std::vector<double> e2e_ms, ack_ms;
  {
    ProgressBar bar("latency: paced at half the sustained rate", latency_count);
    std::mutex mu;
    std::deque<InFlight> queue;  // guarded by mu
    std::atomic<bool> submitting{true};
    Status collect_status;
    // Collects acks in order, then watches each acked record until a query would see it.
    std::thread collector([&] {
      struct Watched {
        int32_t partition;
        int64_t offset;
        Clock::time_point submitted;
      };
      std::vector<Watched> watched;
      while (submitting || !watched.empty() || [&] {
        std::lock_guard lock(mu);
        return !queue.empty();
      }()) {
        for (;;) {
          InFlight f;
          {
            std::lock_guard lock(mu);
            if (queue.empty() ||
                queue.front().future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
              break;
            }
            f = std::move(queue.front());
            queue.pop_front();
          }
          const auto acked = Clock::now();
          Result<command::Ack> ack = f.future.get();
          if (!ack.ok()) {
            collect_status = ack.status();
            continue;
          }
          ack_ms.push_back(std::chrono::duration<double, std::milli>(acked - f.submitted).count());
          ledger.Acked(*ack, f.posted_amount, f.partition);
          watched.push_back({ack->partition, ack->offset, f.submitted});
        }
        const std::vector<int64_t> next = monitor.next();
        const auto now = Clock::now();
        std::erase_if(watched, [&](const Watched& w) {
          if (next.empty() || next[w.partition] <= w.offset) return false;
          e2e_ms.push_back(std::chrono::duration<double, std::milli>(now - w.submitted).count());
          return true;
        });
        bar.Update(static_cast<int64_t>(e2e_ms.size()));
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        if (!fleet.Failure().empty()) break;
      }
    });
    const auto start = Clock::now();
    for (int64_t i = 0; i < latency_count; ++i) {
      const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(i) / rate));
      std::this_thread::sleep_until(due);
      Workload::Item item = workload.ExtraTransfer(i);
      InFlight f{client->Submit(item.command), item.posted_amount, item.partition, Clock::now()};
      std::lock_guard lock(mu);
      queue.push_back(std::move(f));
    }
    submitting = false;
    collector.join();
    bar.Finish();
    RETURN_IF_ERROR(collect_status.WithContext("a latency-phase command was not accepted"));
  }
  const int64_t all_events = total + latency_count;
  RETURN_IF_ERROR(WaitApplied(monitor, fleet, all_events, nullptr, 0));
  const size_t latency_samples = e2e_ms.size();
  j["e2e_latency_ms"] = {{"p50", Percentile(e2e_ms, 0.50)},
                         {"p99", Percentile(e2e_ms, 0.99)},
                         {"p999", Percentile(e2e_ms, 0.999)},
                         {"max", e2e_ms.empty() ? 0.0 : e2e_ms.back()},
                         {"ack_p50", Percentile(ack_ms, 0.50)},
                         {"ack_p99", Percentile(ack_ms, 0.99)},
                         {"load_per_s", rate},
                         {"samples", latency_samples},
                         {"measured_from", "CommandClient::Submit called"},
                         {"measured_to", "the owning processor's committed offset passed it"}};

  // 5. Memory.
  const RssFlatness flat = SecondHalfFlatness(rss.Samples(), total, 0.10);
  j["rss_mb"] = {{"peak", PeakRssMb()},
                 {"second_half_min", flat.min_mb},
                 {"second_half_max", flat.max_mb},
                 {"second_half_samples", flat.samples},
                 {"second_half_flat_within_10pct", flat.flat}};

  j["ratios"] = {{"command_vs_produce", commands_per_s / kafka_ceiling.produce_per_s},
                 {"apply_vs_rocksdb", txn_per_s / rocks_ceiling.events_per_s}};
  const double per_processor = txn_per_s / options.processors;
  j["targets"] = {
      {"apply_vs_rocksdb_ge_0.7", txn_per_s / rocks_ceiling.events_per_s >= 0.7},
      {"apply_ge_100k_per_processor", per_processor >= 100'000},
      {"command_vs_produce_ge_0.7", commands_per_s / kafka_ceiling.produce_per_s >= 0.7},
      {"e2e_p99_le_25ms", j["e2e_latency_ms"]["p99"].get<double>() <= 25.0},
      {"rss_flat_second_half", flat.flat}};

  // Exactly once, or the run failed.
  j["verification"] = Verify(fleet, workload, ledger, report.failure);
  report.verified = report.failure.empty();
  client.reset();
  fleet.Stop();
  return report;
}

void PrintReport(const BenchmarkReport& report, std::FILE* out) {
  const json& j = report.json;
  const json& c = j["ceilings"];
  const json& p = j["parameters"];
  std::fprintf(out,
               "\nkledger benchmark: %lld transfers (%lld events), %s, %d partitions, %d "
               "processor(s), batch %d, pending %.2f\n",
               p["transfers"].get<long long>(), p["events"].get<long long>(),
               p["distribution"].get<std::string>().c_str(), p["partitions"].get<int>(),
               p["processors"].get<int>(), p["batch_size"].get<int>(),
               p["pending_ratio"].get<double>());
  std::fprintf(out, "\n%-44s %14s %14s %8s\n", "path", "per second", "ceiling", "ratio");
  std::fprintf(out, "%-44s %14.0f %14.0f %8.2f\n", "command path (C++ API, acked)",
               j["command"]["commands_per_s"].get<double>(), c["kafka_produce_per_s"].get<double>(),
               j["ratios"]["command_vs_produce"].get<double>());
  std::fprintf(out, "%-44s %14.0f %14.0f %8.2f\n", "apply path (events, exactly-once commit)",
               j["apply"]["txn_per_s"].get<double>(), c["rocksdb_events_per_s"].get<double>(),
               j["ratios"]["apply_vs_rocksdb"].get<double>());
  std::fprintf(out, "%-44s %14.0f\n", "  ceiling: raw consume (retained tail alone)",
               c["kafka_consume_per_s"].get<double>());
  std::fprintf(out, "%-44s %14.0f\n", "  ceiling: raw drain while producing",
               c["kafka_drain_per_s"].get<double>());
  const json& l = j["e2e_latency_ms"];
  std::fprintf(out, "\nend-to-end latency, submit -> visible, at %.0f/s: p50 %.2f ms  p99 %.2f ms  "
               "p999 %.2f ms  (ack p99 %.2f ms, %zu samples)\n",
               l["load_per_s"].get<double>(), l["p50"].get<double>(), l["p99"].get<double>(),
               l["p999"].get<double>(), l["ack_p99"].get<double>(), l["samples"].get<size_t>());
  const json& r = j["rss_mb"];
  std::fprintf(out, "RSS: peak %.0f MiB; second half %.0f..%.0f MiB (%s)\n",
               r["peak"].get<double>(), r["second_half_min"].get<double>(),
               r["second_half_max"].get<double>(),
               r["second_half_flat_within_10pct"].get<bool>() ? "flat within 10%" : "NOT flat");
  std::fprintf(out, "\ntargets (issue 7):\n");
  for (const auto& [name, met] : j["targets"].items()) {
    std::fprintf(out, "  %-32s %s\n", name.c_str(), met.get<bool>() ? "met" : "NOT met");
  }
  const json& v = j["verification"];
  std::fprintf(out, "\nexactly-once: %s (%lld events acked, %lld applied, %lld duplicate, %lld "
               "rejected, %lld dead-lettered, %lld sampled outcomes checked)\n",
               report.verified ? "VERIFIED" : "FAILED", v["events_acked"].get<long long>(),
               v["applied"].get<long long>(), v["duplicate"].get<long long>(),
               v["rejected"].get<long long>(), v["dead_lettered"].get<long long>(),
               v["sampled_outcomes_ok"].get<long long>());
  if (!report.verified) std::fprintf(out, "FAILED: %s\n", report.failure.c_str());
  std::fflush(out);
}

}  // namespace kledger::app::bench
