// The benchmark's phases, in order: ceilings (raw Kafka, raw RocksDB), the command and apply
// paths measured apart in rounds, a paced latency phase with both running, verification.
#include "app/benchmark/run.h"

#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>

#include "app/benchmark/ceilings.h"
#include "app/benchmark/http_batch.h"
#include "app/benchmark/resources.h"
#include "app/topic_layout.h"
#include "command-side/command_client.h"
#include "command-side/gateway/routes.h"
#include "common/auth.h"
#include "common/domain/event_id.h"
#include "common/http.h"
#include "common/kafka/admin.h"
#include "common/kafka/embedded_broker.h"
#include "common/progress.h"
#include "processors/processor.h"

namespace kledger::app::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

// The topics of a run: kledger's, and one for the raw Kafka ceiling.
struct RunTopics {
  std::string prefix;
  std::string events() const { return prefix + ".events"; }
  std::string dlt() const { return prefix + ".events.dlt"; }
  std::string owners() const { return prefix + ".owners"; }
  std::string outcomes() const { return prefix + ".outcomes"; }
  std::string ceiling() const { return prefix + ".bench.ceiling"; }
};
constexpr size_t kPoolSize = 4096;  // distinct sample records the ceilings cycle through
// Bytes the broker stores per record beyond key, value and headers (record batch framing).
constexpr int64_t kRecordOverhead = 70;
// Commands per round at most: a round's commands are generated before it is timed and held in
// memory meanwhile (~0.5 KiB each).
constexpr int64_t kMaxRoundCommands = 50'000;
// Commands of the HTTP phase at most: its JSON bodies and answers (~0.5 KiB a command) are held
// in memory while it runs, inside the second half whose RSS must stay flat.
constexpr int64_t kMaxHttpCommands = 20'000;
// How long a command waits for Kafka's acknowledgement on a cluster (on the embedded broker, the
// client's default): what `kledger command --ack-timeout-ms` would be set to in a deployment
// that rides out a broker's pause rather than answering 503.
constexpr std::chrono::milliseconds kClusterAckTimeout{30'000};

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

Result<Pool> MakePool(const WorkloadOptions& options, const std::string& ceiling_topic) {
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
    record.topic = ceiling_topic;
    record.key = event.envelope.instance_id();
    record.value = event.envelope.SerializeAsString();
    record.headers = command::EventHeaders(event.envelope, event.event_type);
    record.partition = item.partition;
    bytes += static_cast<int64_t>(record.key.size() + record.value.size());
    for (const auto& h : record.headers)
      bytes += static_cast<int64_t>(h.key.size() + h.value.size());
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
               const RunTopics& topics, const std::string& dir, int partitions) {
    partitions_ = partitions;
    for (int i = 0; i < options.processors; ++i) {
      processors::ProcessorOptions p;
      p.group = topics.prefix + "-processors";
      p.events_topic = topics.events();
      p.dlt_topic = topics.dlt();
      p.owners_topic = topics.owners();
      p.outcomes_topic = options.outcomes ? topics.outcomes() : "";
      p.data_dir = dir + "/processor-" + std::to_string(i);
      p.max_batch_records = static_cast<size_t>(options.batch_size);
      p.pipelined_writes = options.apply_writes == "pipelined";
      p.store = options.store;
      registries_.push_back(std::make_shared<prometheus::Registry>());
      ASSIGN_OR_RETURN(auto processor,
                       processors::Processor::Create(props, p, *registries_.back()));
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

  // Holds (true) or releases every processor; see Processor::Hold.
  void Hold(bool hold) {
    for (auto& p : processors_) p->Hold(hold);
  }

  // How long a processor may take to notice a Hold: its apply loop checks between polls.
  std::chrono::milliseconds HoldLatency() const {
    std::chrono::milliseconds longest{0};
    for (const auto& p : processors_) longest = std::max(longest, p->options().poll_timeout);
    return longest;
  }

  void Stop() {
    for (auto& p : processors_) p->Stop();
  }

 private:
  int partitions_ = 0;
  std::vector<std::shared_ptr<prometheus::Registry>> registries_;
  std::vector<std::unique_ptr<processors::Processor>> processors_;
};

// Polls the fleet's progress every 200 µs on its own thread: the total applied and the next
// offset of every partition.
class ApplyMonitor {
 public:
  explicit ApplyMonitor(const Fleet& fleet) : fleet_(fleet) {
    thread_ = std::thread([this] {
      std::vector<int64_t> next;
      while (!stop_) {
        const int64_t total = fleet_.Snapshot(next);
        {
          std::lock_guard lock(mu_);
          next_ = next;
        }
        applied_atomic_ = total;
        // Idle while the processors are held: polling them costs the command phase CPU.
        std::this_thread::sleep_for(idle_ ? std::chrono::microseconds(5000)
                                          : std::chrono::microseconds(200));
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
  // Polls every 5 ms instead of every 200 µs, for phases where nothing should be applied.
  void Idle(bool idle) { idle_ = idle; }

 private:
  const Fleet& fleet_;
  mutable std::mutex mu_;
  std::vector<int64_t> next_;
  std::atomic<int64_t> applied_atomic_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> idle_{false};
  std::thread thread_;
};

// Waits until `monitor` reports `target` applied; Timeout when nothing moved for 60 s, or the
// processors' failure. `first_move`, when given, gets the seconds until the count first moved.
Status WaitApplied(const ApplyMonitor& monitor, const Fleet& fleet, int64_t target,
                   ProgressBar* bar, int64_t base, double* first_move = nullptr) {
  const auto start = Clock::now();
  const int64_t initial = monitor.applied();
  int64_t last = -1;
  auto last_change = Clock::now();
  while (monitor.applied() < target) {
    const int64_t now = monitor.applied();
    if (now != last) {
      if (first_move != nullptr && now != initial && last == initial) *first_move = Since(start);
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

// Receives the command path's acks (CommandClient::SubmitAsync) and books them: tag i is the
// i-th command of the current batch of `items`. The acks arrive on the producer's delivery thread
// (ack_thread kOwn), or on the submitting thread inside CommandClient::Poll (kCaller).
//
// A run that fails returns with commands still in flight; the client reports them when it is
// destroyed (its producer's flush). So Acks outlives the client, and each batch ends (Batch)
// before its items go: a report after that is dropped, never booked into freed memory.
class Acks : public command::AckHandler {
 public:
  struct Item {
    int64_t posted_amount = 0;
    int32_t partition = -1;
    Clock::time_point submitted{};
  };
  // Called for each acked command after it was booked (under the lock), e.g. by the latency phase.
  using OnBooked = std::function<void(const command::Ack&, const Item&, Clock::time_point acked)>;

  explicit Acks(Ledger& ledger) : ledger_(ledger) {}

  // The next batch: `items` must stay put until WaitFor(items.size()) returned or End().
  void Begin(const std::vector<Item>* items, OnBooked on_booked = nullptr) {
    std::lock_guard lock(mu_);
    items_ = items;
    on_booked_ = std::move(on_booked);
    done_ = 0;
  }

  // Forgets the batch, and what its OnBooked captured: reports still to come are dropped.
  void End() {
    std::lock_guard lock(mu_);
    items_ = nullptr;
    on_booked_ = nullptr;
  }

  // Ends the batch of `acks` when it goes out of scope: declared right after the items it
  // guards, so it runs before they are destroyed, on the way out of a failed phase too.
  class Batch {
   public:
    explicit Batch(Acks& acks) : acks_(acks) {}
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    ~Batch() { acks_.End(); }

   private:
    Acks& acks_;
  };

  void OnAck(uint64_t tag, Result<command::Ack> ack) override {
    const auto acked = Clock::now();
    int64_t done;
    {
      std::lock_guard lock(mu_);
      if (items_ == nullptr) return;  // the batch ended: a failed run's report, at its close
      const Item& item = (*items_)[tag];
      if (!ack.ok()) {
        if (error_.ok()) error_ = ack.status().WithContext("a benchmark command was not accepted");
      } else {
        ledger_.Acked(*ack, item.posted_amount, item.partition);
        if (on_booked_) on_booked_(*ack, item, acked);
      }
      done = done_.fetch_add(1) + 1;
    }
    // seq_cst with WaitFor's store and load, so that one of the two sees the other.
    if (done >= wake_at_.load()) {
      std::lock_guard lock(wait_mu_);
      wake_.notify_one();
    }
  }

  int64_t done() const { return done_.load(); }

  // Waits until `n` acks of this batch arrived, or the first failed one; 60 s without any is a
  // Timeout (the producer's own timeout is shorter). With `polled` (a client whose ack_thread is
  // kCaller), serves the acks on this thread meanwhile instead of sleeping until they are booked.
  Status WaitFor(int64_t n, command::CommandClient* polled = nullptr) {
    constexpr auto kStall = std::chrono::seconds(60);
    auto stalled = [&] {
      return Status::Timeout("the command path acknowledged " + std::to_string(done()) + " of " +
                             std::to_string(n) + " commands and then nothing for 60 s");
    };
    if (polled != nullptr) {
      auto last_progress = Clock::now();
      while (done() < n) {
        if (Status e = error(); !e.ok()) return e;
        if (polled->Poll(std::chrono::milliseconds(10)) > 0) {
          last_progress = Clock::now();
        } else if (Clock::now() - last_progress > kStall) {
          return stalled();
        }
      }
      return error();
    }
    std::unique_lock lock(wait_mu_);
    wake_at_.store(n);
    int64_t last = -1;
    while (done() < n) {
      if (Status e = error(); !e.ok()) return e;
      const int64_t now = done();
      if (now == last) return stalled();
      last = now;
      wake_.wait_for(lock, kStall, [&] { return done() >= n; });
    }
    wake_at_.store(std::numeric_limits<int64_t>::max());
    return error();
  }

  Status error() const {
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  Ledger& ledger_;
  mutable std::mutex mu_;  // guards the ledger, items_, on_booked_, error_
  const std::vector<Item>* items_ = nullptr;
  OnBooked on_booked_;
  Status error_;
  std::atomic<int64_t> done_{0};
  std::mutex wait_mu_;
  std::condition_variable wake_;
  std::atomic<int64_t> wake_at_{std::numeric_limits<int64_t>::max()};
};

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
  if (count("applied") != ledger.events ||
      count("rejected") + count("duplicate") + count("dead_lettered") != 0) {
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
  j["parameters"] = {
      {"accounts", wo.accounts},
      {"transfers", wo.transfers},
      {"distribution", wo.distribution == Distribution::kZipfian ? "zipfian" : "uniform"},
      {"pending_ratio", wo.pending_ratio},
      {"partitions", partitions},
      {"batch_size", options.batch_size},
      {"processors", options.processors},
      {"in_flight", options.in_flight},
      {"apply_writes", options.apply_writes},
      {"store_write_buffer_mb", options.store.write_buffer_mb},
      {"store_compaction",
       options.store.compaction == projections::StoreOptions::Compaction::kUniversal ? "universal"
                                                                                     : "leveled"},
      {"store_compaction_priority",
       options.store.compaction_priority == projections::StoreOptions::CompactionPriority::kIdle
           ? "idle"
           : "normal"},
      {"allocator", KLEDGER_ALLOCATOR}};  // the build's malloc (CMake)

  ScratchDir scratch;
  {
    std::string pattern = (fs::temp_directory_path() / "kledger-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return Status::IoError("cannot create a scratch dir");
    scratch.path = pattern;
  }
  // On the embedded broker kledger's topics are named as `kledger dev` has them; on a cluster
  // that outlives the run, a name of their own keeps runs apart.
  RunTopics topics{options.bootstrap.empty()
                       ? "kledger"
                       : "kledger-bench-" + std::to_string(std::time(nullptr))};
  std::vector<kafka::TopicSpec> specs = KledgerTopics(
      topics.prefix, {.partitions = partitions, .replication_factor = options.replication_factor});
  specs.push_back({topics.ceiling(), partitions, options.replication_factor});
  std::unique_ptr<kafka::EmbeddedBroker> broker;
  // On the embedded broker, the fast failover of `kledger dev`. On a cluster, what a deployment
  // runs: librdkafka's client defaults (a 45 s group session) and acknowledgements awaited
  // kClusterAckTimeout. A pause of a few seconds of the broker or of this process (a busy 2-core
  // host, a JVM's JIT or GC) then shows in the latency figures, as a deployment would live
  // through it, instead of losing the group session and failing the run.
  const bool on_cluster = !options.bootstrap.empty();
  kafka::Properties props = on_cluster ? kafka::Properties{} : kafka::DevClientDefaults();
  props = kafka::Merge(std::move(props), options.overrides);
  const std::chrono::milliseconds ack_timeout =
      on_cluster ? kClusterAckTimeout : command::CommandClientOptions{}.ack_timeout;
  if (options.bootstrap.empty()) {
    kafka::EmbeddedBrokerOptions broker_options;
    broker_options.topics = specs;
    ASSIGN_OR_RETURN(broker, kafka::EmbeddedBroker::Start(broker_options));
    props["bootstrap.servers"] = broker->bootstrap();
    j["parameters"]["broker"] = "embedded";
  } else {
    props["bootstrap.servers"] = options.bootstrap;
    ASSIGN_OR_RETURN(std::vector<std::string> created,
                     CreateMissingTopics(props, specs, std::chrono::seconds(60)));
    if (created.size() != specs.size()) {
      return Status::FailedPrecondition("topics named " + topics.prefix + ".* exist already on " +
                                        options.bootstrap +
                                        "; a run needs topics of its own: run it again");
    }
    j["parameters"]["broker"] = "kafka";
    j["parameters"]["bootstrap"] = options.bootstrap;
    j["parameters"]["topic_prefix"] = topics.prefix;
  }

  Workload workload(wo);
  const int64_t total = workload.total();
  ASSIGN_OR_RETURN(Pool pool, MakePool(wo, topics.ceiling()));
  // Rounds: no partition gets more than backlog_bytes_per_partition of records (what the broker
  // retains before dropping silently, halved), and no round more than kMaxRoundCommands.
  // Kafka keeps what it is given: only the round cap applies there.
  const int64_t backlog_bytes =
      options.bootstrap.empty() ? options.backlog_bytes_per_partition : int64_t{1} << 40;
  const int64_t per_partition = std::max<int64_t>(
      100, backlog_bytes / static_cast<int64_t>(pool.record_bytes + kRecordOverhead));
  const RoundBudget budget(partitions, per_partition, kMaxRoundCommands);
  j["parameters"]["events"] = total;
  j["parameters"]["round_records_per_partition"] = per_partition;
  j["parameters"]["round_records_max"] = kMaxRoundCommands;
  j["parameters"]["record_bytes"] = pool.record_bytes;

  // 1. Ceilings.
  KafkaCeiling kafka_ceiling;
  {
    ProgressBar bar("ceiling: raw librdkafka produce, then read, in rounds", total);
    ASSIGN_OR_RETURN(
        kafka_ceiling,
        MeasureKafkaCeiling(props, topics.ceiling(), partitions, pool.records, total,
                            options.in_flight, budget, [&](int64_t done) { bar.Update(done); }));
    bar.Finish();
  }
  RocksDbCeiling rocks_ceiling;
  {
    ProgressBar bar("ceiling: raw RocksDB WriteBatch", total);
    projections::StoreOptions store_options = options.store;
    store_options.path = scratch.path + "/ceiling-rocksdb";
    v1::EventEnvelope envelope;
    auto make_puts = [&](int64_t i) {
      // A distinct transaction and event per write, as the log has.
      envelope = pool.envelopes[static_cast<size_t>(i) % pool.envelopes.size()];
      auto& m = *envelope.mutable_transaction_created();
      m.set_source_idempk(m.source_idempk() + "/" + std::to_string(i));
      envelope.set_event_id(domain::DeriveEventId(envelope));
      return TransferPuts(envelope,
                          pool.partitions[static_cast<size_t>(i) % pool.partitions.size()],
                          i / partitions);
    };
    ASSIGN_OR_RETURN(rocks_ceiling,
                     MeasureRocksDbCeiling(store_options, total, options.batch_size, make_puts,
                                           [&](int64_t done) { bar.Update(done); }));
    bar.Finish();
    std::error_code ec;
    fs::remove_all(store_options.path, ec);
  }
  // CPU microseconds per item by thread group: steadier than rates on a busy machine.
  auto cpu_per_item = [](const std::map<std::string, double>& cpu_seconds, int64_t items) {
    json out = json::object();
    for (const auto& [group, seconds] : cpu_seconds) {
      out[group] = seconds * 1e6 / static_cast<double>(items);
    }
    return out;
  };
  j["ceilings"] = {{"kafka_produce_per_s", kafka_ceiling.produce_per_s},
                   {"kafka_produce_cpu_us_per_record",
                    cpu_per_item(kafka_ceiling.produce_cpu_seconds, kafka_ceiling.records)},
                   {"kafka_consume_per_s", kafka_ceiling.consume_per_s},
                   {"kafka_rounds", kafka_ceiling.rounds},
                   {"rocksdb_events_per_s", rocks_ceiling.events_per_s},
                   {"rocksdb_puts_per_s", rocks_ceiling.puts_per_s},
                   {"rocksdb_bytes_per_event", rocks_ceiling.bytes_per_event}};

  // 2 + 3. The command path and the apply path, in rounds: a round's commands are submitted with
  // every processor held (nothing is applied while the command path runs), then the processors
  // are released and apply the round with no producer running.
  Fleet fleet;
  {
    spdlog::info("benchmark: starting {} processor(s); the first group join takes seconds",
                 options.processors);
    RETURN_IF_ERROR(fleet.Start(props, options, topics, scratch.path, partitions));
  }
  ApplyMonitor monitor(fleet);
  prometheus::Registry client_registry;
  const bool use_futures = options.command_api == "future";
  // The callback form serves its acks on the submitting thread (CommandClient::Poll after each
  // submit and while it waits), as the raw ceiling serves its delivery reports; futures need the
  // producer's own delivery thread.
  command::CommandClientOptions client_options;
  client_options.events_topic = topics.events();
  client_options.ack_timeout = ack_timeout;
  client_options.ack_thread =
      use_futures ? kafka::DeliveryThread::kOwn : kafka::DeliveryThread::kCaller;
  Ledger ledger(partitions);
  Acks acks(ledger);  // before the client, which reports to it until destroyed (see Acks)
  ASSIGN_OR_RETURN(auto client,
                   command::CommandClient::Create(props, client_options, client_registry));
  command::CommandClient* const polled = use_futures ? nullptr : client.get();
  std::atomic<int64_t> submitted{0};
  RssSampler rss(submitted, std::chrono::milliseconds(250));
  // Submits `commands` (tags 0..n-1 of the acks' current batch) as the raw ceiling's loop
  // produces: a free slot among `in_flight` waited for serving acks, the acks that are ready
  // served after each submit; `before_each`, when set, may hold a submit back (and fail).
  auto submit_async = [&](std::vector<v1::Command>& commands,
                          const std::function<Status()>& before_each) -> Status {
    for (int64_t i = 0; i < static_cast<int64_t>(commands.size()); ++i) {
      if (i - acks.done() >= options.in_flight) {
        RETURN_IF_ERROR(acks.WaitFor(i + 1 - options.in_flight, polled));
      }
      if (before_each) RETURN_IF_ERROR(before_each());
      client->SubmitAsync(std::move(commands[static_cast<size_t>(i)]), acks,
                          static_cast<uint64_t>(i));
      if (polled != nullptr) polled->Poll(std::chrono::milliseconds(0));
      submitted.fetch_add(1, std::memory_order_relaxed);
    }
    return Status::Ok();
  };
  double command_seconds = 0, apply_seconds = 0, http_seconds = 0;
  std::vector<double> http_request_ms;  // the HTTP phase's, request sent -> answer read
  ThreadCpu http_cpu;
  int64_t applied_while_held = 0;
  int64_t warm_up_events = 0;
  std::vector<double> release_to_first_applied;  // seconds, per timed round
  int rounds = 0;
  ThreadCpu command_cpu, apply_cpu;  // the timed phases only
  // Hold, and give every processor time to notice before anything is produced.
  auto hold = [&] {
    fleet.Hold(true);
    monitor.Idle(true);
    std::this_thread::sleep_for(3 * fleet.HoldLatency());
  };
  hold();
  {
    ProgressBar bar("command + apply paths, in rounds", total);
    RoundBudget round_budget = budget;
    std::vector<v1::Command> commands;
    std::vector<Acks::Item> items;
    Acks::Batch batch_end(acks);  // ends before `items` go
    std::optional<Workload::Item> carry;
    Workload::Item item;
    for (;;) {
      // The round's commands are generated before its clock starts: the workload generator is
      // not the API under test (the raw ceiling replays prepared records too). Account openings
      // make a round of their own: transfers name accounts that must be applied first.
      // The first round warms up, not timed: one account opening per partition opens the
      // producer's connections and id (about a second on the embedded broker) and the
      // processors' fetch sessions, as a long-running deployment has them.
      const bool warm_up = rounds == 0;
      round_budget.NextRound();
      commands.clear();
      items.clear();
      while (carry || workload.Next(item)) {
        Workload::Item& next = carry ? *carry : item;
        const int64_t gathered = submitted + static_cast<int64_t>(commands.size());
        const bool accounts_done = gathered == workload.account_commands();
        if ((accounts_done && !commands.empty()) || (warm_up && gathered == partitions) ||
            !round_budget.Take(next.partition)) {
          if (!carry) carry = std::move(item);
          break;
        }
        commands.push_back(std::move(next.command));
        items.push_back({next.posted_amount, next.partition, {}});
        carry.reset();
      }
      if (commands.empty()) break;
      const auto n = static_cast<int64_t>(commands.size());

      // Command phase: every processor held.
      const int64_t applied_before = monitor.applied();
      acks.Begin(&items);
      if (!warm_up) command_cpu.Start();
      const auto command_start = Clock::now();
      if (use_futures) {
        // The future form: the oldest future settles first, on this thread.
        std::deque<std::future<Result<command::Ack>>> futures;
        for (int64_t i = 0; i < n; ++i) {
          futures.push_back(client->Submit(commands[static_cast<size_t>(i)]));
          submitted.fetch_add(1, std::memory_order_relaxed);
          if (static_cast<int64_t>(futures.size()) >= options.in_flight) {
            acks.OnAck(static_cast<uint64_t>(i + 1 - static_cast<int64_t>(futures.size())),
                       futures.front().get());
            futures.pop_front();
          }
        }
        for (int64_t i = n - static_cast<int64_t>(futures.size()); i < n; ++i) {
          acks.OnAck(static_cast<uint64_t>(i), futures.front().get());
          futures.pop_front();
        }
      } else {
        RETURN_IF_ERROR(submit_async(commands, nullptr));
      }
      RETURN_IF_ERROR(acks.WaitFor(n, polled));
      if (!warm_up) {
        command_seconds += Since(command_start);
        command_cpu.Stop();
      }
      applied_while_held += monitor.applied() - applied_before;

      // Apply phase: from the release to the last record of the round applied.
      if (!warm_up) apply_cpu.Start();
      const auto apply_start = Clock::now();
      monitor.Idle(false);
      fleet.Hold(false);
      double first_applied = 0;
      RETURN_IF_ERROR(WaitApplied(monitor, fleet, submitted.load(), nullptr, 0, &first_applied));
      if (warm_up) {
        warm_up_events = n;
      } else {
        apply_seconds += Since(apply_start);
        apply_cpu.Stop();
        release_to_first_applied.push_back(first_applied);
      }
      bar.Update(submitted);
      ++rounds;
      hold();
    }
    bar.Finish();
  }
  const int64_t timed_events = total - warm_up_events;
  const double commands_per_s = static_cast<double>(timed_events) / command_seconds;
  const double txn_per_s = static_cast<double>(timed_events) / apply_seconds;
  j["command"] = {{"commands_per_s", commands_per_s},
                  {"commands", timed_events},
                  {"warm_up_commands", warm_up_events},
                  {"seconds", command_seconds},
                  {"rounds", rounds - 1},
                  {"cpu_us_per_command", cpu_per_item(command_cpu.seconds(), timed_events)},
                  {"api", use_futures ? "CommandClient::Submit (future)"
                                      : "CommandClient::SubmitAsync (callback)"}};
  j["apply"] = {{"txn_per_s", txn_per_s},
                {"txn_per_s_per_processor", txn_per_s / options.processors},
                {"events", timed_events},
                {"seconds", apply_seconds},
                {"rounds", rounds - 1},
                {"cpu_us_per_event", cpu_per_item(apply_cpu.seconds(), timed_events)},
                // Per round, from the release to the first record applied: the processors'
                // wake-up (poll timeout, resume, first fetch), inside `seconds`.
                {"release_to_first_applied_s", release_to_first_applied},
                // Records applied while the processors were held: 0 unless a processor noticed
                // its hold late; the command phases then had company.
                {"applied_while_held", applied_while_held}};

  // 3b. The command path over HTTP, as `kledger command` serves it: POST /v1/batch to an
  // in-process gateway (its routes, its CommandClient with futures on the producer's delivery
  // thread), `http_batch` commands a request from `http_clients` connections, with every
  // processor still held. The bodies are made before the clock starts and the answers read
  // after it stops: the client's JSON is not the API under test. Then the processors apply the
  // round, untimed.
  int64_t extra_index = 0;  // ExtraTransfer numbers, unique over the phases that follow
  int64_t http_count = 0;
  {
    prometheus::Registry gateway_registry;
    command::CommandClientOptions gateway_options;
    gateway_options.events_topic = topics.events();
    gateway_options.ack_timeout = ack_timeout;
    ASSIGN_OR_RETURN(auto gateway_client,
                     command::CommandClient::Create(props, gateway_options, gateway_registry));
    http::Server gateway;
    // With its route metrics, as `kledger command` serves it.
    http::RouteMetrics gateway_metrics(gateway_registry);
    command::RegisterCommandRoutes(gateway.routes(), *gateway_client, auth::Authorizer::AllowAll(),
                                   &gateway_metrics);
    RETURN_IF_ERROR(gateway.Start({"127.0.0.1", 0}));
    // One round, within what the broker keeps per partition like the C++ API's rounds, and of
    // at most kMaxHttpCommands: its bodies and answers are held in memory meanwhile.
    http_count = std::min<int64_t>({wo.transfers, kMaxHttpCommands, per_partition * partitions});
    const auto batch = static_cast<int64_t>(options.http_batch);
    auto phase = [&](int64_t count, ThreadCpu* cpu, ProgressBar* bar) -> Result<double> {
      std::vector<Acks::Item> items;
      Acks::Batch batch_end(acks);  // ends before `items` go
      std::vector<std::string> bodies;
      v1::BatchRequest request;
      for (int64_t i = 0; i < count; ++i) {
        Workload::Item extra = workload.ExtraTransfer(extra_index++);
        items.push_back({extra.posted_amount, extra.partition, {}});
        *request.add_commands() = std::move(extra.command);
        if (request.commands_size() == batch || i + 1 == count) {
          bodies.push_back(http::ToJson(request));
          request.Clear();
        }
      }
      std::mutex bar_mu;  // the connections answer on threads of their own
      ASSIGN_OR_RETURN(PostedBatches posted,
                       PostBatches("127.0.0.1", gateway.port(), "/v1/batch", bodies,
                                   options.http_clients, cpu, [&](int64_t answered) {
                                     if (bar == nullptr) return;
                                     std::lock_guard lock(bar_mu);
                                     bar->Update(std::min(answered * batch, count));
                                   }));
      // Booked in offset order per partition, as Ledger checks them: the connections' answers
      // arrive in any order.
      std::vector<std::pair<command::Ack, uint64_t>> acked;
      for (size_t r = 0; r < posted.answers.size(); ++r) {
        v1::BatchResponse response;
        RETURN_IF_ERROR(http::ParseJson(posted.answers[r], response)
                            .WithContext("the answer of POST /v1/batch"));
        for (int k = 0; k < response.results_size(); ++k) {
          const uint64_t tag = r * static_cast<uint64_t>(batch) + static_cast<uint64_t>(k);
          const v1::BatchItemResult& result = response.results(k);
          if (result.status() != 202) {
            return Status::Unavailable("a benchmark command over HTTP was answered " +
                                       std::to_string(result.status()) + ": " +
                                       result.error().message());
          }
          acked.push_back(
              {{result.ack().event_id(), result.ack().partition(), result.ack().offset()}, tag});
        }
      }
      if (acked.size() != items.size()) {
        return Status::Internal("POST /v1/batch answered " + std::to_string(acked.size()) +
                                " results for " + std::to_string(items.size()) + " commands");
      }
      std::sort(acked.begin(), acked.end(), [](const auto& a, const auto& b) {
        return std::tie(a.first.partition, a.first.offset) <
               std::tie(b.first.partition, b.first.offset);
      });
      acks.Begin(&items);
      for (auto& [ack, tag] : acked) acks.OnAck(tag, std::move(ack));
      RETURN_IF_ERROR(acks.error());  // all booked above: nothing to wait for
      submitted.fetch_add(count);
      http_request_ms = std::move(posted.request_ms);
      return posted.seconds;
    };
    // Warm-up, not timed: the gateway's producer connects and gets its id.
    RETURN_IF_ERROR(phase(partitions, nullptr, nullptr).status());
    ProgressBar bar("command path over HTTP: POST /v1/batch", http_count);
    ASSIGN_OR_RETURN(http_seconds, phase(http_count, &http_cpu, &bar));
    bar.Finish();
  }
  monitor.Idle(false);
  fleet.Hold(false);
  RETURN_IF_ERROR(WaitApplied(monitor, fleet, submitted.load(), nullptr, 0));
  const double http_per_s = static_cast<double>(http_count) / http_seconds;
  j["command"]["http_batch"] = {
      {"commands_per_s", http_per_s},
      {"commands", http_count},
      {"seconds", http_seconds},
      {"batch", options.http_batch},
      {"clients", options.http_clients},
      {"requests", http_request_ms.size()},
      {"request_ms_p50", Percentile(http_request_ms, 0.50)},
      {"request_ms_p99", Percentile(http_request_ms, 0.99)},
      {"cpu_us_per_command", cpu_per_item(http_cpu.seconds(), http_count)},
      {"api", "POST /v1/batch to the command gateway (http::Server, CommandClient futures)"}};

  // 4. End-to-end: first the maximum sustained throughput with both paths running at once (on
  // a small machine they share the cores, so it is below the slower path alone): a round's
  // worth of transfers submitted as fast as the command path takes them while no more than
  // `in_flight` wait to be applied, timed until the last one is applied. Then latency, paced at
  // half that rate.
  fleet.Hold(false);
  monitor.Idle(false);
  int64_t sustained_count = 0;
  double sustained_per_s = 0;
  {
    // The applied backlog is bounded, so the broker's retention does not bound the count.
    sustained_count = std::max<int64_t>(kMaxRoundCommands, 4 * options.in_flight);
    std::vector<Acks::Item> items;
    Acks::Batch batch_end(acks);  // ends before `items` go
    std::vector<v1::Command> commands;
    for (int64_t i = 0; i < sustained_count; ++i) {
      Workload::Item extra = workload.ExtraTransfer(extra_index++);
      items.push_back({extra.posted_amount, extra.partition, {}});
      commands.push_back(std::move(extra.command));
    }
    const int64_t applied_target = submitted.load() + sustained_count;
    acks.Begin(&items);
    const auto sustained_start = Clock::now();
    RETURN_IF_ERROR(submit_async(commands, [&]() -> Status {
      // At most `in_flight` waiting to be applied.
      while (submitted.load() - monitor.applied() >= options.in_flight) {
        if (!fleet.Failure().empty()) return Status::Internal(fleet.Failure());
        if (polled == nullptr || polled->Poll(std::chrono::milliseconds(1)) == 0) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
      }
      return Status::Ok();
    }));
    RETURN_IF_ERROR(acks.WaitFor(sustained_count, polled));
    RETURN_IF_ERROR(WaitApplied(monitor, fleet, applied_target, nullptr, 0));
    sustained_per_s = static_cast<double>(sustained_count) / Since(sustained_start);
  }
  j["sustained"] = {{"transfers_per_s", sustained_per_s},
                    {"transfers", sustained_count},
                    {"measured",
                     "submitted as fast as taken, processors applying meanwhile, "
                     "until the last one was applied"}};

  const double rate = 0.5 * sustained_per_s;
  const auto latency_count =
      std::max<int64_t>(100, static_cast<int64_t>(rate * options.latency_seconds));
  std::vector<double> e2e_ms, ack_ms;
  ThreadCpu latency_cpu;  // both paths at once
  e2e_ms.reserve(static_cast<size_t>(latency_count));
  ack_ms.reserve(static_cast<size_t>(latency_count));
  {
    ProgressBar bar("latency: paced at half the sustained rate", latency_count);
    struct Watched {
      int32_t partition;
      int64_t offset;
      Clock::time_point submitted;
    };
    std::mutex mu;
    std::vector<Watched> acked;  // guarded by mu: acked, not yet seen applied
    std::vector<Acks::Item> items(static_cast<size_t>(latency_count));
    Acks::Batch batch_end(acks);  // ends before `items` go
    acks.Begin(&items, [&](const command::Ack& ack, const Acks::Item& item, Clock::time_point at) {
      std::lock_guard lock(mu);
      ack_ms.push_back(std::chrono::duration<double, std::milli>(at - item.submitted).count());
      acked.push_back({ack.partition, ack.offset, item.submitted});
    });
    std::atomic<bool> submitting{true};
    // Watches each acked record until a query would see it.
    std::thread collector([&] {
      std::vector<Watched> watched;
      for (;;) {
        // Read before taking the acked ones: an ack is booked (pushed) before it is counted.
        const bool all_acked = !submitting && acks.done() >= latency_count;
        bool none_left;
        {
          std::lock_guard lock(mu);
          watched.insert(watched.end(), acked.begin(), acked.end());
          acked.clear();
        }
        const std::vector<int64_t> next = monitor.next();
        const auto now = Clock::now();
        std::erase_if(watched, [&](const Watched& w) {
          if (next.empty() || next[w.partition] <= w.offset) return false;
          e2e_ms.push_back(std::chrono::duration<double, std::milli>(now - w.submitted).count());
          return true;
        });
        none_left = watched.empty();
        bar.Update(static_cast<int64_t>(e2e_ms.size()));
        if (all_acked && none_left) break;
        if (!acks.error().ok() || !fleet.Failure().empty()) break;
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    });
    latency_cpu.Start();
    const auto start = Clock::now();
    for (int64_t i = 0; i < latency_count; ++i) {
      const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(static_cast<double>(i) / rate));
      // Until the command is due, the acks that arrive are served (ack_thread kCaller). Pacing
      // is by the millisecond: every command due is submitted at once, as bursts of real
      // traffic would be, rather than one wake-up per command.
      for (auto now = Clock::now(); now < due; now = Clock::now()) {
        const auto wait = std::chrono::ceil<std::chrono::milliseconds>(due - now);
        if (polled == nullptr || polled->Poll(wait) == 0) std::this_thread::sleep_until(due);
      }
      Workload::Item extra = workload.ExtraTransfer(extra_index + i);
      auto& slot = items[static_cast<size_t>(i)];
      slot = {extra.posted_amount, extra.partition, Clock::now()};
      client->SubmitAsync(std::move(extra.command), acks, static_cast<uint64_t>(i));
      submitted.fetch_add(1, std::memory_order_relaxed);
    }
    submitting = false;
    Status all_acked = acks.WaitFor(latency_count, polled);
    collector.join();
    latency_cpu.Stop();
    bar.Finish();
    RETURN_IF_ERROR(all_acked.WithContext("a latency-phase command was not accepted"));
    RETURN_IF_ERROR(acks.error().WithContext("a latency-phase command was not accepted"));
  }
  const int64_t all_events = total + partitions + http_count + sustained_count + latency_count;
  RETURN_IF_ERROR(WaitApplied(monitor, fleet, all_events, nullptr, 0));
  const size_t latency_samples = e2e_ms.size();
  j["e2e_latency_ms"] = {
      {"p50", Percentile(e2e_ms, 0.50)},
      {"p99", Percentile(e2e_ms, 0.99)},
      {"p999", Percentile(e2e_ms, 0.999)},
      {"max", e2e_ms.empty() ? 0.0 : e2e_ms.back()},
      {"ack_p50", Percentile(ack_ms, 0.50)},
      {"ack_p99", Percentile(ack_ms, 0.99)},
      {"load_per_s", rate},
      {"samples", latency_samples},
      {"measured_from", "CommandClient::SubmitAsync called"},
      {"measured_to", "the owning processor's committed offset passed it"},
      {"cpu_us_per_transfer", cpu_per_item(latency_cpu.seconds(), latency_count)}};
  rss.Stop();

  // 5. Memory.
  const RssFlatness flat = SecondHalfFlatness(rss.Samples(), total, 0.10);
  j["rss_mb"] = {{"peak", PeakRssMb()},
                 {"second_half_min", flat.min_mb},
                 {"second_half_max", flat.max_mb},
                 {"second_half_samples", flat.samples},
                 {"second_half_flat_within_10pct", flat.flat}};
  {
    // The samples over the run, thinned to at most ~200: [seconds, commands submitted, MiB].
    const std::vector<RssSampler::Sample> samples = rss.Samples();
    const size_t step = std::max<size_t>(1, samples.size() / 200);
    json timeline = json::array();
    for (size_t i = 0; i < samples.size(); i += step) {
      timeline.push_back({samples[i].seconds, samples[i].done, samples[i].rss_mb});
    }
    j["rss_mb"]["timeline"] = std::move(timeline);
  }

  j["ratios"] = {{"command_vs_produce", commands_per_s / kafka_ceiling.produce_per_s},
                 {"http_batch_vs_produce", http_per_s / kafka_ceiling.produce_per_s},
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
               "processor(s), batch %d, pending %.2f, RocksDB %s with a %d MiB memtable%s\n",
               p["transfers"].get<long long>(), p["events"].get<long long>(),
               p["distribution"].get<std::string>().c_str(), p["partitions"].get<int>(),
               p["processors"].get<int>(), p["batch_size"].get<int>(),
               p["pending_ratio"].get<double>(), p["store_compaction"].get<std::string>().c_str(),
               p["store_write_buffer_mb"].get<int>(),
               p["store_compaction_priority"] == "idle" ? ", compactions at idle priority" : "");
  std::fprintf(out, "\n%-44s %14s %14s %8s\n", "path", "per second", "ceiling", "ratio");
  std::fprintf(out, "%-44s %14.0f %14.0f %8.2f\n", "command path (C++ API, acked)",
               j["command"]["commands_per_s"].get<double>(), c["kafka_produce_per_s"].get<double>(),
               j["ratios"]["command_vs_produce"].get<double>());
  const json& h = j["command"]["http_batch"];
  const std::string http_label =
      "command path (HTTP /v1/batch of " + std::to_string(h["batch"].get<int>()) + ", acked)";
  std::fprintf(out, "%-44s %14.0f %14.0f %8.2f\n", http_label.c_str(),
               h["commands_per_s"].get<double>(), c["kafka_produce_per_s"].get<double>(),
               j["ratios"]["http_batch_vs_produce"].get<double>());
  std::fprintf(out, "%-44s %14.0f %14.0f %8.2f\n", "apply path (events, exactly-once commit)",
               j["apply"]["txn_per_s"].get<double>(), c["rocksdb_events_per_s"].get<double>(),
               j["ratios"]["apply_vs_rocksdb"].get<double>());
  std::fprintf(out, "%-44s %14.0f\n", "  ceiling: raw consume (each round read alone)",
               c["kafka_consume_per_s"].get<double>());
  std::fprintf(out, "%-44s %14lld\n", "  rounds (command, then apply)",
               j["command"]["rounds"].get<long long>());
  auto print_cpu = [&](const char* what, const json& cpu) {
    std::fprintf(out, "  CPU us per %s:", what);
    for (const auto& [group, us] : cpu.items()) {
      std::fprintf(out, " %s %.1f", group.c_str(), us.get<double>());
    }
    std::fprintf(out, "\n");
  };
  print_cpu("record produced raw (ceiling), by thread", c["kafka_produce_cpu_us_per_record"]);
  print_cpu("command, by thread", j["command"]["cpu_us_per_command"]);
  print_cpu("command over HTTP, by thread", h["cpu_us_per_command"]);
  print_cpu("event applied, by thread", j["apply"]["cpu_us_per_event"]);
  const json& l = j["e2e_latency_ms"];
  std::fprintf(out,
               "\nsustained end to end (both paths at once, submit -> applied): %.0f transfers/s\n",
               j["sustained"]["transfers_per_s"].get<double>());
  std::fprintf(out,
               "end-to-end latency, submit -> visible, at %.0f/s: p50 %.2f ms  p99 %.2f ms  "
               "p999 %.2f ms  (ack p99 %.2f ms, %zu samples)\n",
               l["load_per_s"].get<double>(), l["p50"].get<double>(), l["p99"].get<double>(),
               l["p999"].get<double>(), l["ack_p99"].get<double>(), l["samples"].get<size_t>());
  print_cpu("transfer submitted and applied, by thread", l["cpu_us_per_transfer"]);
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
  std::fprintf(out,
               "\nexactly-once: %s (%lld events acked, %lld applied, %lld duplicate, %lld "
               "rejected, %lld dead-lettered, %lld sampled outcomes checked)\n",
               report.verified ? "VERIFIED" : "FAILED", v["events_acked"].get<long long>(),
               v["applied"].get<long long>(), v["duplicate"].get<long long>(),
               v["rejected"].get<long long>(), v["dead_lettered"].get<long long>(),
               v["sampled_outcomes_ok"].get<long long>());
  if (!report.verified) std::fprintf(out, "FAILED: %s\n", report.failure.c_str());
  std::fflush(out);
}

}  // namespace kledger::app::bench
