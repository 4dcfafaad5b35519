// The phases before kledger is measured: the run's parameters, its broker and topics, the
// sample records and rounds, the ceilings, and kledger started (processors, command client).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <thread>

#include "app/benchmark/phases.h"
#include "app/topic_layout.h"
#include "common/event_id.h"
#include "common/kafka/admin.h"
#include "common/progress.h"

namespace kledger::app::bench {
namespace {

namespace fs = std::filesystem;

constexpr size_t kPoolSize = 4096;  // distinct sample records the ceilings cycle through
// Bytes the broker stores per record beyond key, value and headers (record batch framing).
constexpr int64_t kRecordOverhead = 70;
// How long a command waits for Kafka's acknowledgement on a cluster (on the embedded broker, the
// client's default): what `kledger command --ack-timeout-ms` would be set to in a deployment
// that rides out a broker's pause rather than answering 503.
constexpr std::chrono::milliseconds kClusterAckTimeout{30'000};

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

// Raw RocksDB writes of the keys and values the projections (and the relay) write per event, in
// its scratch directory, removed afterwards.
Result<RocksDbCeiling> MeasureRocksDb(BenchmarkRun& run) {
  ProgressBar bar("ceiling: raw RocksDB WriteBatch", run.total);
  projections::StoreOptions store_options = run.options.store;
  store_options.path = run.scratch.path + "/ceiling-rocksdb";
  const Pool& pool = run.pool;
  v1::EventEnvelope envelope;
  auto make_puts = [&](int64_t i) {
    // A distinct transaction and event per write, as the log has.
    envelope = pool.envelopes[static_cast<size_t>(i) % pool.envelopes.size()];
    auto& m = *envelope.mutable_transaction_created();
    m.set_source_idempk(m.source_idempk() + "/" + std::to_string(i));
    envelope.set_event_id(domain::DeriveEventId(envelope));
    return TransferPuts(envelope, pool.partitions[static_cast<size_t>(i) % pool.partitions.size()],
                        i / run.partitions, run.options.outcomes);
  };
  ASSIGN_OR_RETURN(RocksDbCeiling ceiling,
                   MeasureRocksDbCeiling(store_options, run.total, run.options.batch_size,
                                         make_puts, [&](int64_t done) { bar.Update(done); }));
  bar.Finish();
  std::error_code ec;
  fs::remove_all(store_options.path, ec);
  return ceiling;
}

}  // namespace

ScratchDir::~ScratchDir() {
  std::error_code ec;
  if (!path.empty()) fs::remove_all(path, ec);
}

BenchmarkRun::BenchmarkRun(const BenchmarkOptions& options)
    : options(options),
      wo(options.workload),
      partitions(options.workload.partitions),
      j(report.json),
      workload(options.workload),
      total(workload.total()),
      ledger(options.workload.partitions),
      acks(ledger) {}

void RecordParameters(BenchmarkRun& run) {
  const WorkloadOptions& wo = run.wo;
  const projections::StoreOptions& store = run.options.store;
  run.j["parameters"] = {
      {"accounts", wo.accounts},
      {"transfers", wo.transfers},
      {"distribution", wo.distribution == Distribution::kZipfian ? "zipfian" : "uniform"},
      {"pending_ratio", wo.pending_ratio},
      {"partitions", run.partitions},
      {"batch_size", run.options.batch_size},
      {"processors", run.options.processors},
      {"in_flight", run.options.in_flight},
      {"apply_writes", run.options.apply_writes},
      {"store_write_buffer_mb", store.write_buffer_mb},
      {"store_compaction", store.compaction == projections::StoreOptions::Compaction::kUniversal
                               ? "universal"
                               : "leveled"},
      {"store_compaction_priority",
       store.compaction_priority == projections::StoreOptions::CompactionPriority::kIdle
           ? "idle"
           : "normal"},
      {"allocator", KLEDGER_ALLOCATOR}};  // the build's malloc (CMake)
}

Status SetUp(BenchmarkRun& run) {
  const BenchmarkOptions& options = run.options;
  {
    std::string pattern = (fs::temp_directory_path() / "kledger-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return Status::IoError("cannot create a scratch dir");
    run.scratch.path = pattern;
  }
  // On the embedded broker kledger's topics are named as `kledger dev` has them; on a cluster
  // that outlives the run, a name of their own keeps runs apart.
  run.topics =
      RunTopics{options.bootstrap.empty() ? "kledger"
                                          : "kledger-bench-" + std::to_string(std::time(nullptr))};
  std::vector<kafka::TopicSpec> specs = KledgerTopics(
      run.topics.prefix,
      {.partitions = run.partitions, .replication_factor = options.replication_factor});
  specs.push_back({run.topics.ceiling(), run.partitions, options.replication_factor});
  // On the embedded broker, the fast failover of `kledger dev`. On a cluster, what a deployment
  // runs: librdkafka's client defaults (a 45 s group session) and acknowledgements awaited
  // kClusterAckTimeout. A pause of a few seconds of the broker or of this process (a busy 2-core
  // host, a JVM's JIT or GC) then shows in the latency figures, as a deployment would live
  // through it, instead of losing the group session and failing the run.
  const bool on_cluster = !options.bootstrap.empty();
  kafka::Properties props = on_cluster ? kafka::Properties{} : kafka::DevClientDefaults();
  run.props = kafka::Merge(std::move(props), options.overrides);
  run.ack_timeout = on_cluster ? kClusterAckTimeout : command::CommandClientOptions{}.ack_timeout;
  nlohmann::json& parameters = run.j["parameters"];
  if (options.bootstrap.empty()) {
    kafka::EmbeddedBrokerOptions broker_options;
    broker_options.topics = specs;
    ASSIGN_OR_RETURN(run.broker, kafka::EmbeddedBroker::Start(broker_options));
    run.props["bootstrap.servers"] = run.broker->bootstrap();
    parameters["broker"] = "embedded";
  } else {
    run.props["bootstrap.servers"] = options.bootstrap;
    ASSIGN_OR_RETURN(std::vector<std::string> created,
                     CreateMissingTopics(run.props, specs, std::chrono::seconds(60)));
    if (created.size() != specs.size()) {
      return Status::FailedPrecondition("topics named " + run.topics.prefix +
                                        ".* exist already on " + options.bootstrap +
                                        "; a run needs topics of its own: run it again");
    }
    parameters["broker"] = "kafka";
    parameters["bootstrap"] = options.bootstrap;
    parameters["topic_prefix"] = run.topics.prefix;
  }
  return Status::Ok();
}

Status PlanRounds(BenchmarkRun& run) {
  ASSIGN_OR_RETURN(run.pool, MakePool(run.wo, run.topics.ceiling()));
  // Rounds: no partition gets more than backlog_bytes_per_partition of records (what the broker
  // retains before dropping silently, halved), and no round more than kMaxRoundCommands.
  // Kafka keeps what it is given: only the round cap applies there.
  const int64_t backlog_bytes =
      run.options.bootstrap.empty() ? run.options.backlog_bytes_per_partition : int64_t{1} << 40;
  run.per_partition = std::max<int64_t>(
      100, backlog_bytes / static_cast<int64_t>(run.pool.record_bytes + kRecordOverhead));
  nlohmann::json& parameters = run.j["parameters"];
  parameters["events"] = run.total;
  parameters["round_records_per_partition"] = run.per_partition;
  parameters["round_records_max"] = kMaxRoundCommands;
  parameters["record_bytes"] = run.pool.record_bytes;
  return Status::Ok();
}

Status MeasureCeilings(BenchmarkRun& run) {
  {
    ProgressBar bar("ceiling: raw librdkafka produce, then read, in rounds", run.total);
    ASSIGN_OR_RETURN(run.kafka_ceiling,
                     MeasureKafkaCeiling(run.props, run.topics.ceiling(), run.partitions,
                                         run.pool.records, run.total, run.options.in_flight,
                                         run.Budget(), [&](int64_t done) { bar.Update(done); }));
    bar.Finish();
  }
  ASSIGN_OR_RETURN(run.rocks_ceiling, MeasureRocksDb(run));
  const KafkaCeiling& kafka = run.kafka_ceiling;
  const RocksDbCeiling& rocks = run.rocks_ceiling;
  run.j["ceilings"] = {
      {"kafka_produce_per_s", kafka.produce_per_s},
      {"kafka_produce_cpu_us_per_record", CpuPerItem(kafka.produce_cpu_seconds, kafka.records)},
      {"kafka_consume_per_s", kafka.consume_per_s},
      {"kafka_rounds", kafka.rounds},
      {"rocksdb_events_per_s", rocks.events_per_s},
      {"rocksdb_puts_per_s", rocks.puts_per_s},
      {"rocksdb_bytes_per_event", rocks.bytes_per_event}};
  return Status::Ok();
}

Status StartKledger(BenchmarkRun& run) {
  const BenchmarkOptions& options = run.options;
  spdlog::info("benchmark: starting {} processor(s); the first group join takes seconds",
               options.processors);
  RETURN_IF_ERROR(
      run.fleet.Start(run.props, options, run.topics, run.scratch.path, run.partitions));
  run.monitor.emplace(run.fleet);
  run.use_futures = options.command_api == "future";
  // The callback form serves its acks on the submitting thread (CommandClient::Poll after each
  // submit and while it waits), as the raw ceiling serves its delivery reports; futures need the
  // producer's own delivery thread.
  command::CommandClientOptions client_options;
  client_options.events_topic = run.topics.events();
  client_options.ack_timeout = run.ack_timeout;
  client_options.ack_thread =
      run.use_futures ? kafka::DeliveryThread::kOwn : kafka::DeliveryThread::kCaller;
  ASSIGN_OR_RETURN(run.client,
                   command::CommandClient::Create(run.props, client_options, run.client_registry));
  run.polled = run.use_futures ? nullptr : run.client.get();
  run.rss.emplace(run.submitted, std::chrono::milliseconds(250));
  return Status::Ok();
}

nlohmann::json CpuPerItem(const std::map<std::string, double>& cpu_seconds, int64_t items) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [group, seconds] : cpu_seconds) {
    out[group] = seconds * 1e6 / static_cast<double>(items);
  }
  return out;
}

void HoldProcessors(BenchmarkRun& run) {
  run.fleet.Hold(true);
  run.monitor->Idle(true);
  std::this_thread::sleep_for(3 * run.fleet.HoldLatency());
}

Status SubmitAsync(BenchmarkRun& run, std::vector<v1::Command>& commands,
                   const std::function<Status()>& before_each) {
  const int64_t in_flight = run.options.in_flight;
  for (int64_t i = 0; i < static_cast<int64_t>(commands.size()); ++i) {
    if (i - run.acks.done() >= in_flight) {
      RETURN_IF_ERROR(run.acks.WaitFor(i + 1 - in_flight, run.polled));
    }
    if (before_each) RETURN_IF_ERROR(before_each());
    run.client->SubmitAsync(std::move(commands[static_cast<size_t>(i)]), run.acks,
                            static_cast<uint64_t>(i));
    if (run.polled != nullptr) run.polled->Poll(std::chrono::milliseconds(0));
    run.submitted.fetch_add(1, std::memory_order_relaxed);
  }
  return Status::Ok();
}

}  // namespace kledger::app::bench
