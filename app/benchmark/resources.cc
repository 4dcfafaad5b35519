// RSS sampling and percentiles for the benchmark.
#include "app/benchmark/resources.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace kledger::app::bench {

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

double Percentile(std::vector<double>& values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

}  // namespace kledger::app::bench
