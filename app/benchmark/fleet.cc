// The benchmark's processors (in this process, one consumer group) and the watch on their
// progress that every phase times itself by.
#include "app/benchmark/fleet.h"

#include <algorithm>

#include "app/benchmark/resources.h"

namespace kledger::app::bench {

Status Fleet::Start(const kafka::Properties& props, const BenchmarkOptions& options,
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

int64_t Fleet::Snapshot(std::vector<int64_t>& next) const {
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

std::string Fleet::Failure() const {
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

int64_t Fleet::RelayLag() const {
  int64_t lag = 0;
  for (const auto& p : processors_) {
    for (const auto& [partition, progress] : p->RelayProgressSnapshot()) lag += progress.Lag();
  }
  return lag;
}

processors::Processor* Fleet::Owner(std::string_view instance) const {
  for (const auto& p : processors_) {
    if (p->Route(instance).owned) return p.get();
  }
  return nullptr;
}

std::map<std::string, double> Fleet::Outcomes() const {
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

void Fleet::Hold(bool hold) {
  for (auto& p : processors_) p->Hold(hold);
}

std::chrono::milliseconds Fleet::HoldLatency() const {
  std::chrono::milliseconds longest{0};
  for (const auto& p : processors_) longest = std::max(longest, p->options().poll_timeout);
  return longest;
}

void Fleet::Stop() {
  for (auto& p : processors_) p->Stop();
}

ApplyMonitor::ApplyMonitor(const Fleet& fleet) : fleet_(fleet) {
  thread_ = std::thread([this] {
    std::vector<int64_t> next;
    while (!stop_) {
      const int64_t total = fleet_.Snapshot(next);
      bool changed = false;
      {
        std::lock_guard lock(mu_);
        if (next != next_) {
          next_ = next;
          ++changes_;
          changed = true;
        }
      }
      applied_atomic_ = total;
      if (changed) changed_.notify_all();
      // Idle while the processors are held: polling them costs the command phase CPU.
      std::this_thread::sleep_for(idle_ ? std::chrono::microseconds(5000)
                                        : std::chrono::microseconds(1000));
    }
  });
}

ApplyMonitor::~ApplyMonitor() {
  stop_ = true;
  thread_.join();
}

std::vector<int64_t> ApplyMonitor::next() const {
  std::lock_guard lock(mu_);
  return next_;
}

std::vector<int64_t> ApplyMonitor::WaitNext(uint64_t& seen,
                                            std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, timeout, [&] { return changes_ != seen; });
  seen = changes_;
  return next_;
}

Status WaitApplied(const ApplyMonitor& monitor, const Fleet& fleet, int64_t target,
                   ProgressBar* bar, int64_t base, double* first_move) {
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

Status WaitPublished(const Fleet& fleet) {
  int64_t lowest = fleet.RelayLag();
  auto last_fall = Clock::now();
  for (int64_t lag = lowest; lag > 0; lag = fleet.RelayLag()) {
    if (lag < lowest) {
      lowest = lag;
      last_fall = Clock::now();
    }
    if (std::string why = fleet.Failure(); !why.empty()) return Status::Internal(why);
    if (Since(last_fall) > 60) {
      return Status::Timeout("the outcome relay left " + std::to_string(lag) +
                             " outcomes unpublished and published none for 60 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return Status::Ok();
}

}  // namespace kledger::app::bench
