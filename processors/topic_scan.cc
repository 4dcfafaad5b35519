#include "processors/topic_scan.h"

#include <algorithm>

namespace kledger::processors {

using Clock = std::chrono::steady_clock;

TopicScan::TopicScan(std::string topic, ScanOptions options)
    : topic_(std::move(topic)),
      options_(std::move(options)),
      no_rebalances_(std::make_unique<kafka::NoRebalanceListener>()),
      last_progress_(Clock::now()) {}

TopicScan::~TopicScan() {
  // Never joined a group, so closing only releases the handle; nothing to report.
  if (consumer_) (void)consumer_->Close();
}

Result<std::unique_ptr<TopicScan>> TopicScan::Open(const kafka::Properties& props,
                                                   const std::string& topic,
                                                   const ScanOptions& options) {
  auto scan = std::unique_ptr<TopicScan>(new TopicScan(topic, options));
  kafka::Properties consumer_props = props;
  consumer_props["group.id"] = options.reader_group;
  ASSIGN_OR_RETURN(scan->consumer_,
                   kafka::Consumer::Create(consumer_props, scan->no_rebalances_.get()));
  ASSIGN_OR_RETURN(scan->partition_count_,
                   scan->consumer_->PartitionCount(topic, options.metadata_timeout));
  std::vector<int32_t> partitions = options.partitions;
  if (partitions.empty()) {
    for (int32_t p = 0; p < scan->partition_count_; ++p) partitions.push_back(p);
  }
  std::vector<kafka::TopicPartition> assignment;
  for (int32_t p : partitions) {
    if (p < 0 || p >= scan->partition_count_) {
      return Status::NotFound("partition " + std::to_string(p) + " does not exist: " + topic +
                              " has " + std::to_string(scan->partition_count_) + " partitions");
    }
    ASSIGN_OR_RETURN(auto marks,
                     scan->consumer_->QueryWatermarks(topic, p, options.metadata_timeout));
    ScanRange range{marks.first, marks.second, marks.second, marks.first};
    if (auto it = options.start.find(p); it != options.start.end()) {
      range.next = std::clamp(it->second, range.low, range.high);
    }
    scan->ranges_[p] = range;
    assignment.push_back({topic, p, range.next});
  }
  RETURN_IF_ERROR(scan->consumer_->Assign(assignment));
  return scan;
}

void TopicScan::LimitEnd(int32_t partition, int64_t end) {
  auto it = ranges_.find(partition);
  if (it != ranges_.end()) it->second.end = std::clamp(end, it->second.next, it->second.high);
}

bool TopicScan::Finished() const {
  return std::all_of(ranges_.begin(), ranges_.end(),
                     [](const auto& entry) { return entry.second.next >= entry.second.end; });
}

int64_t TopicScan::total() const {
  int64_t total = 0;
  for (const auto& [p, r] : ranges_) total += r.end - std::min(r.low, r.end);
  return total;
}

int64_t TopicScan::done() const {
  int64_t done = 0;
  for (const auto& [p, r] : ranges_) done += std::min(r.next, r.end) - std::min(r.low, r.end);
  return done;
}

Result<std::vector<kafka::ConsumedRecord>> TopicScan::Next(std::chrono::milliseconds poll_timeout,
                                                           size_t max_records) {
  std::vector<kafka::ConsumedRecord> out;
  if (Finished()) return out;
  ASSIGN_OR_RETURN(auto records, consumer_->Poll(poll_timeout, max_records));
  for (auto& r : records) {
    auto it = ranges_.find(r.partition);
    if (it == ranges_.end() || r.offset < it->second.next || r.offset >= it->second.end) continue;
    it->second.next = r.offset + 1;
    out.push_back(std::move(r));
    last_progress_ = Clock::now();
  }
  // Transaction markers take offsets but are never handed out: the consumer's position moves
  // past them, and so does the scan.
  std::vector<kafka::TopicPartition> pending;
  for (const auto& [p, r] : ranges_) {
    if (r.next < r.end) pending.push_back({topic_, p, -1});
  }
  if (!pending.empty()) {
    auto positions = consumer_->Positions(pending);
    if (positions.ok()) {
      for (const auto& tp : *positions) {
        ScanRange& r = ranges_[tp.partition];
        if (tp.offset >= r.end && r.next < r.end) {
          r.next = r.end;
          last_progress_ = Clock::now();
        }
      }
    }
  }
  if (Clock::now() - last_progress_ > options_.stall_timeout) {
    return Status::Timeout("reading " + topic_ + " made no progress for " +
                           std::to_string(options_.stall_timeout.count() / 1000) +
                           " s; is the cluster reachable?");
  }
  return out;
}

}  // namespace kledger::processors
