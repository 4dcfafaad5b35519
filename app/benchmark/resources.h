// What the benchmark measures besides throughput: resident memory over time (so that "flat over
// the second half of a run" can be checked) and latency percentiles.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kledger::app::bench {

using Clock = std::chrono::steady_clock;

// Seconds from `start` to now.
double Since(Clock::time_point start);

// Peak resident set size of this process so far (getrusage ru_maxrss), in MiB.
double PeakRssMb();
// Current resident set size (/proc/self/statm), in MiB; 0 when it cannot be read.
double CurrentRssMb();

// Samples CurrentRssMb() every `interval` on its own thread, tagged with the work done so far
// (an atomic the caller advances), until destroyed or Stop()ped.
class RssSampler {
 public:
  struct Sample {
    double seconds;  // since the sampler started
    int64_t done;    // the caller's progress counter at that moment
    double rss_mb;
  };

  RssSampler(const std::atomic<int64_t>& progress, std::chrono::milliseconds interval);
  ~RssSampler();
  void Stop();
  std::vector<Sample> Samples() const;

 private:
  const std::atomic<int64_t>& progress_;
  mutable std::mutex mu_;
  std::vector<Sample> samples_;  // guarded by mu_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Over the samples whose progress is at least half of `total`: the lowest and highest RSS and
// whether the highest is within `tolerance` (0.10: 10%) of the lowest.
struct RssFlatness {
  double min_mb = 0;
  double max_mb = 0;
  size_t samples = 0;
  bool flat = false;
};
RssFlatness SecondHalfFlatness(const std::vector<RssSampler::Sample>& samples, int64_t total,
                               double tolerance);

// CPU time (user + system) this process's threads used between Start() and Stop(), summed over
// several intervals and grouped by thread name: "apply" (kl-apply, the processors' apply
// threads), "apply-write" (kl-write, their RocksDB writes), "rocksdb" (its flush and compaction
// threads), "broker" (rdk:mock and kl-nodelay, the embedded broker), "librdkafka" (the other rdk:*
// threads, the clients'), "http" (kl-http, an HTTP server's workers), "load" (kl-load, the
// benchmark's own HTTP clients: the load, not kledger) and "other" (the caller's own threads). Read
// from /proc/self/task: each thread's schedstat, in nanoseconds, or where the kernel keeps none its
// clock ticks (10 ms), which serve only intervals of seconds. A thread that exits within an
// interval is not counted. On a machine shared with other work, CPU per event is steadier than
// events per second.
class ThreadCpu {
 public:
  void Start();
  void Stop();
  // Seconds per group, summed over the intervals so far.
  const std::map<std::string, double>& seconds() const { return seconds_; }

 private:
  std::map<int, std::pair<std::string, double>> started_;  // tid -> (group, seconds at Start)
  std::map<std::string, double> seconds_;
};

// Percentile `q` (0..1) of `values` by the nearest-rank method; sorts them. 0 when empty.
double Percentile(std::vector<double>& values, double q);

}  // namespace kledger::app::bench
