// The benchmark's processors: the fleet applying what the command path appended, the monitor
// polling its progress, and the wait for a count of records applied.
#pragma once

#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "app/benchmark/run.h"
#include "common/kafka/properties.h"
#include "common/progress.h"
#include "common/status.h"
#include "processors/processor.h"

namespace kledger::app::bench {

// The topics of a run: kledger's, and one for the raw Kafka ceiling.
struct RunTopics {
  std::string prefix;
  std::string events() const { return prefix + ".events"; }
  std::string dlt() const { return prefix + ".events.dlt"; }
  std::string owners() const { return prefix + ".owners"; }
  std::string outcomes() const { return prefix + ".outcomes"; }
  std::string ceiling() const { return prefix + ".bench.ceiling"; }
};

// The processors of the run and a cheap view of their progress.
class Fleet {
 public:
  // Starts `options.processors` processors with their stores under `dir`, and waits until the
  // group settled: every partition owned, every processor ready.
  Status Start(const kafka::Properties& props, const BenchmarkOptions& options,
               const RunTopics& topics, const std::string& dir, int partitions);

  // Next offset to apply per partition, over every processor; also the total applied.
  int64_t Snapshot(std::vector<int64_t>& next) const;

  // Why a processor failed or halted a partition; empty while they all run.
  std::string Failure() const;

  // Outcomes applied and not yet published to the outcomes topic, over every processor's relay
  // (0 without the outcome stream).
  int64_t RelayLag() const;

  // The processor owning `instance`'s partition.
  processors::Processor* Owner(std::string_view instance) const;

  // kledger_events_processed_total summed by outcome over every processor.
  std::map<std::string, double> Outcomes() const;

  // Holds (true) or releases every processor; see Processor::Hold.
  void Hold(bool hold);

  // How long a processor may take to notice a Hold: its apply loop checks between polls.
  std::chrono::milliseconds HoldLatency() const;

  void Stop();

 private:
  int partitions_ = 0;
  // Before the processors, which count into them until destroyed.
  std::vector<std::shared_ptr<prometheus::Registry>> registries_;
  std::vector<std::unique_ptr<processors::Processor>> processors_;
};

// Polls the fleet's progress every millisecond on its own thread: the total applied and the
// next offset of every partition. Stops (joins its thread) when destroyed, so it must go before
// the fleet. Whoever watches the next offsets waits for them to change (WaitNext) instead of
// polling too. Every millisecond, not more often: the benchmark's own wake-ups take the cores
// from what it measures (docs/performance.md, "The benchmark's own wake-ups").
class ApplyMonitor {
 public:
  explicit ApplyMonitor(const Fleet& fleet);
  ~ApplyMonitor();
  ApplyMonitor(const ApplyMonitor&) = delete;
  ApplyMonitor& operator=(const ApplyMonitor&) = delete;

  int64_t applied() const { return applied_atomic_; }
  const std::atomic<int64_t>& applied_counter() const { return applied_atomic_; }
  std::vector<int64_t> next() const;
  // The next offsets once they differ from those of the `seen`-th change (0: none seen yet), or
  // as they are after `timeout`; sets `seen` to the change returned.
  std::vector<int64_t> WaitNext(uint64_t& seen, std::chrono::milliseconds timeout) const;
  // Polls every 5 ms instead of every millisecond, for phases where nothing should be applied.
  void Idle(bool idle) { idle_ = idle; }

 private:
  const Fleet& fleet_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;  // notified when next_ changes
  std::vector<int64_t> next_;                // guarded by mu_
  uint64_t changes_ = 0;                     // guarded by mu_: how often next_ changed
  std::atomic<int64_t> applied_atomic_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> idle_{false};
  std::thread thread_;
};

// Waits until `monitor` reports `target` applied; Timeout when nothing moved for 60 s, or the
// processors' failure. `first_move`, when given, gets the seconds until the count first moved.
Status WaitApplied(const ApplyMonitor& monitor, const Fleet& fleet, int64_t target,
                   ProgressBar* bar, int64_t base, double* first_move = nullptr);

// Waits until every outcome applied is published (Fleet::RelayLag 0), so that the relay's work
// is counted with the apply that gave it, not with the phase after; Timeout when the lag did not
// fall for 60 s, or the processors' failure.
Status WaitPublished(const Fleet& fleet);

}  // namespace kledger::app::bench
