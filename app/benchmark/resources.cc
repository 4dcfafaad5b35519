// RSS sampling and percentiles for the benchmark.
#include "app/benchmark/resources.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace kledger::app::bench {

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double PeakRssMb() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

double CurrentRssMb() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long size = 0, resident = 0;
  const int read = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  if (read != 2) return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) /
         (1024.0 * 1024.0);
}

RssSampler::RssSampler(const std::atomic<int64_t>& progress, std::chrono::milliseconds interval)
    : progress_(progress) {
  thread_ = std::thread([this, interval] {
    const auto start = std::chrono::steady_clock::now();
    while (!stop_) {
      const double rss = CurrentRssMb();
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      {
        std::lock_guard lock(mu_);
        samples_.push_back({seconds, progress_.load(), rss});
      }
      // Short sleeps, so that Stop() does not wait out a whole interval.
      const auto until = std::chrono::steady_clock::now() + interval;
      while (!stop_ && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  });
}

RssSampler::~RssSampler() { Stop(); }

void RssSampler::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::vector<RssSampler::Sample> RssSampler::Samples() const {
  std::lock_guard lock(mu_);
  return samples_;
}

RssFlatness SecondHalfFlatness(const std::vector<RssSampler::Sample>& samples, int64_t total,
                               double tolerance) {
  RssFlatness out;
  for (const auto& s : samples) {
    if (s.done * 2 < total || s.rss_mb <= 0) continue;
    out.min_mb = out.samples == 0 ? s.rss_mb : std::min(out.min_mb, s.rss_mb);
    out.max_mb = std::max(out.max_mb, s.rss_mb);
    ++out.samples;
  }
  out.flat = out.samples > 0 && out.max_mb <= out.min_mb * (1.0 + tolerance);
  return out;
}

namespace {

std::string GroupOf(const std::string& thread_name) {
  if (thread_name == "kl-apply") return "apply";
  if (thread_name == "kl-write") return "apply-write";
  if (thread_name == "kl-relay") return "relay";  // the outcome stream's
  // An HTTP server's event loop and its workers
  if (thread_name == "kl-http" || thread_name == "kl-http-work") return "http";
  if (thread_name == "kl-load") return "load";  // the benchmark's own HTTP clients
  if (thread_name.rfind("rocksdb:", 0) == 0) return "rocksdb";
  // The embedded broker's own thread, and the one that sets TCP_NODELAY on its connections
  // (kafka/embedded_broker.cc): neither runs beside a real Kafka.
  if (thread_name == "rdk:mock" || thread_name == "kl-nodelay") return "broker";
  if (thread_name.rfind("rdk:", 0) == 0) return "librdkafka";
  return "other";
}

// The CPU time thread `tid` has used, in seconds: from its schedstat (nanoseconds) where the
// kernel keeps one, else from the clock ticks of its stat line (`after_name`: the fields after
// "(name) "), which are 10 ms coarse: too coarse for the benchmark's shorter phases.
double ThreadCpuSeconds(const std::string& tid, const std::string& after_name) {
  std::ifstream schedstat("/proc/self/task/" + tid + "/schedstat");
  uint64_t nanoseconds = 0;
  if (schedstat >> nanoseconds) return static_cast<double>(nanoseconds) / 1e9;
  // utime and stime are fields 14 and 15, the 12th and 13th after the name.
  std::istringstream rest(after_name);
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// tid -> (group, CPU seconds so far) for every live thread of this process.
std::map<int, std::pair<std::string, double>> SnapshotThreads() {
  std::map<int, std::pair<std::string, double>> out;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream in(std::string("/proc/self/task/") + entry->d_name + "/stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    // "tid (name) state ppid ...": the name may hold spaces and parentheses, so split at the
    // last ')'.
    const size_t open = line.find('(');
    const size_t close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    out[std::atoi(entry->d_name)] = {GroupOf(line.substr(open + 1, close - open - 1)),
                                     ThreadCpuSeconds(entry->d_name, line.substr(close + 2))};
  }
  closedir(dir);
  return out;
}

}  // namespace

void ThreadCpu::Start() { started_ = SnapshotThreads(); }

void ThreadCpu::Stop() {
  for (const auto& [tid, now] : SnapshotThreads()) {
    auto before = started_.find(tid);
    const double was = before == started_.end() ? 0 : before->second.second;
    seconds_[now.first] += now.second - was;
  }
  started_.clear();
}

double Percentile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

}  // namespace kledger::app::bench
