// Reading a topic's partitions to the end they had when the read started, without joining a
// consumer group: for operator tools that look at a whole log (the dead-letter tools and
// `kledger rebuild`).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/kafka/consumer.h"
#include "common/kafka/properties.h"
#include "common/kafka/record.h"
#include "common/status.h"

namespace kledger::processors {

struct ScanOptions {
  std::string reader_group = "kledger-scan";  // group.id librdkafka requires; never joined
  std::vector<int32_t> partitions;            // the partitions to read; default (empty) all
  std::map<int32_t, int64_t> start;  // first offset per partition; default the low watermark
  std::chrono::milliseconds metadata_timeout{15000};  // partition count, watermarks; default 15 s
  std::chrono::milliseconds stall_timeout{30000};     // no progress for this long; default 30 s
};

// One partition's range: [low, end) is what the scan hands out.
struct ScanRange {
  int64_t low = 0;   // the low watermark at open
  int64_t high = 0;  // the high watermark at open
  int64_t end = 0;   // where the scan stops: `high`, or less for a narrowed range
  int64_t next = 0;  // the next offset to hand out
};

class TopicScan {
 public:
  // Looks up the partitions of `topic` and their watermarks, and starts reading each from its
  // start offset (clamped into [low, high]). NotFound when the topic or a requested partition
  // does not exist; Unavailable/Timeout when the cluster did not answer.
  static Result<std::unique_ptr<TopicScan>> Open(const kafka::Properties& props,
                                                 const std::string& topic,
                                                 const ScanOptions& options);
  ~TopicScan();

  // Narrows a partition's range to end before `end` (a single record: start = offset, end =
  // offset + 1). Call before the first Next().
  void LimitEnd(int32_t partition, int64_t end);

  // The next records below each partition's end, in log order per partition; none when nothing
  // arrived within `poll_timeout`. Timeout when the scan has not moved for the stall timeout.
  Result<std::vector<kafka::ConsumedRecord>> Next(std::chrono::milliseconds poll_timeout,
                                                  size_t max_records);

  bool Finished() const;
  const std::map<int32_t, ScanRange>& ranges() const { return ranges_; }
  int32_t partition_count() const { return partition_count_; }
  int64_t total() const;  // offsets to read over all partitions
  int64_t done() const;   // offsets read so far

 private:
  TopicScan(std::string topic, ScanOptions options);

  std::string topic_;
  ScanOptions options_;
  std::unique_ptr<kafka::NoRebalanceListener> no_rebalances_;
  std::unique_ptr<kafka::Consumer> consumer_;
  int32_t partition_count_ = 0;
  std::map<int32_t, ScanRange> ranges_;
  std::chrono::steady_clock::time_point last_progress_;
};

}  // namespace kledger::processors
