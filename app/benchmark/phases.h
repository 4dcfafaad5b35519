// The benchmark as phases: what the phases of a run share (BenchmarkRun) and one function per
// phase, in the order RunBenchmark (run.cc) calls them. Internal to app/benchmark/.
#pragma once

#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/benchmark/acks.h"
#include "app/benchmark/ceilings.h"
#include "app/benchmark/fleet.h"
#include "app/benchmark/resources.h"
#include "app/benchmark/run.h"
#include "app/benchmark/workload.h"
#include "command-side/command_client.h"
#include "common/kafka/embedded_broker.h"
#include "common/kafka/properties.h"
#include "common/kafka/record.h"
#include "common/status.h"

namespace kledger::app::bench {

// Commands per round at most: a round's commands are generated before it is timed and held in
// memory meanwhile (~0.5 KiB each).
inline constexpr int64_t kMaxRoundCommands = 50'000;

// A scratch directory removed when the run ends, whatever way it ends.
struct ScratchDir {
  std::string path;
  ~ScratchDir();
};

// Sample events of the workload's transfers, as the command side makes them.
struct Pool {
  std::vector<kafka::ProducerRecord> records;
  std::vector<v1::EventEnvelope> envelopes;
  std::vector<int32_t> partitions;
  double record_bytes = 0;  // key + value + headers, average
};

// What the phases of one run share, in the order they come to need it. Members are destroyed in
// reverse order, and the run relies on it, on the way out of a failed phase too: whatever
// reports to, polls or reads a member is declared after it, so that it goes first.
struct BenchmarkRun {
  explicit BenchmarkRun(const BenchmarkOptions& options);
  BenchmarkRun(const BenchmarkRun&) = delete;
  BenchmarkRun& operator=(const BenchmarkRun&) = delete;

  // A fresh cut into rounds: per_partition records a partition, kMaxRoundCommands a round.
  RoundBudget Budget() const { return RoundBudget(partitions, per_partition, kMaxRoundCommands); }

  const BenchmarkOptions& options;
  const WorkloadOptions& wo;  // options.workload
  const int partitions;
  BenchmarkReport report;
  nlohmann::json& j;  // report.json, which each phase adds its figures to

  // SetUp and PlanRounds.
  ScratchDir scratch;  // the processors' stores live in it: removed after they are gone
  RunTopics topics;
  std::unique_ptr<kafka::EmbeddedBroker> broker;  // none on a cluster; outlives every client
  kafka::Properties props;                        // every client's: broker, defaults, -X
  std::chrono::milliseconds ack_timeout{};        // the command clients'
  Workload workload;
  const int64_t total;  // the workload's commands: workload.total()
  Pool pool;
  int64_t per_partition = 0;  // records a round may append to one partition

  // MeasureCeilings.
  KafkaCeiling kafka_ceiling;
  RocksDbCeiling rocks_ceiling;

  // StartKledger.
  Fleet fleet;
  std::optional<ApplyMonitor> monitor;   // polls the fleet: stopped before it goes
  prometheus::Registry client_registry;  // the client's metrics: outlives the client
  bool use_futures = false;              // --command-api future
  Ledger ledger;
  Acks acks;  // before the client, which reports to it until destroyed (see Acks)
  std::unique_ptr<command::CommandClient> client;
  // The client when its acks are served by CommandClient::Poll (ack_thread kCaller), else null.
  command::CommandClient* polled = nullptr;
  std::atomic<int64_t> submitted{0};  // commands submitted so far, over every phase
  std::optional<RssSampler> rss;      // reads `submitted`: stopped before it goes

  // Figures a phase leaves to those after it.
  double commands_per_s = 0;   // MeasureCommandAndApply
  double txn_per_s = 0;        // MeasureCommandAndApply
  double http_per_s = 0;       // MeasureHttpBatch
  int64_t http_count = 0;      // MeasureHttpBatch
  int64_t extra_index = 0;     // Workload::ExtraTransfer numbers, unique over the later phases
  double sustained_per_s = 0;  // MeasureSustained
  int64_t sustained_count = 0;
  bool rss_flat = false;  // RecordMemory
};

// The phases, in the order RunBenchmark calls them, by the file that holds them. Those that
// return a Status end the run when they fail.

// phases_setup.cc: before kledger is measured.
// The run's parameters, as --json reports them.
void RecordParameters(BenchmarkRun& run);
// The scratch directory, the run's topics and the embedded broker, or the topics on a cluster.
Status SetUp(BenchmarkRun& run);
// The ceilings' sample records, and how many records a round may append to a partition.
Status PlanRounds(BenchmarkRun& run);
// 1. The ceilings: raw librdkafka produce and read, then raw RocksDB writes.
Status MeasureCeilings(BenchmarkRun& run);
// kledger itself: the processors, their monitor, the command client and the RSS sampler.
Status StartKledger(BenchmarkRun& run);

// Also in phases_setup.cc, what the measuring phases share.
// CPU microseconds per item by thread group: steadier than rates on a busy machine.
nlohmann::json CpuPerItem(const std::map<std::string, double>& cpu_seconds, int64_t items);
// Holds the processors, and gives every one time to notice before anything is produced.
void HoldProcessors(BenchmarkRun& run);
// Submits `commands` (tags 0..n-1 of the acks' current batch) as the raw ceiling's loop
// produces: a free slot among `in_flight` waited for serving acks, the acks that are ready
// served after each submit; `before_each`, when set, may hold a submit back (and fail).
Status SubmitAsync(BenchmarkRun& run, std::vector<v1::Command>& commands,
                   const std::function<Status()>& before_each);

// phases_paths.cc: one path running at a time.
// 2 + 3. The command path and the apply path, measured apart in rounds.
Status MeasureCommandAndApply(BenchmarkRun& run);

// phases_http.cc: the command path over HTTP, to an in-process gateway.
// 3b. POST /v1/batch of many commands.
Status MeasureHttpBatch(BenchmarkRun& run);
// 3c. One transfer a request, from many connections.
Status MeasureHttpSingle(BenchmarkRun& run);

// phases_end_to_end.cc: both paths running at once.
// 4. End to end: the sustained throughput...
Status MeasureSustained(BenchmarkRun& run);
// ... then the latency, paced at half that rate (or at --latency-rate).
Status MeasureLatency(BenchmarkRun& run);

// phases_verify.cc: the closing phases.
// 5. Memory over the run.
void RecordMemory(BenchmarkRun& run);
// The ratios to the ceilings and the targets.
void RecordTargets(BenchmarkRun& run);
// Exactly once, or the run failed: sets report.verified and report.failure.
void Verify(BenchmarkRun& run);

}  // namespace kledger::app::bench
