// A librdkafka group consumer in RAII form, with a rebalance callback that lets its owner choose
// each newly assigned partition's start offset (offsets live in RocksDB, not in the group).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/kafka/properties.h"
#include "common/kafka/record.h"
#include "common/status.h"

namespace kledger::kafka {

// Start offset meaning "from the beginning of the partition's log".
inline constexpr int64_t kOffsetBeginning = -2;

class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // Called from inside Poll() with newly assigned partitions; set each one's `offset` to where
  // consumption starts (kOffsetBeginning when the owner has no state for it). Partitions left at
  // -1 also start from the beginning.
  virtual void OnAssigned(std::vector<TopicPartition>& partitions) = 0;
  // Called from inside Poll() with partitions taken away. `lost` is true when they were lost
  // (session timed out) rather than handed over cleanly.
  virtual void OnRevoked(const std::vector<TopicPartition>& partitions, bool lost) = 0;
};

// For consumers that Assign() partitions themselves: they never hear of rebalances.
class NoRebalanceListener final : public RebalanceListener {
 public:
  void OnAssigned(std::vector<TopicPartition>&) override {}
  void OnRevoked(const std::vector<TopicPartition>&, bool) override {}
};

class Consumer {
 public:
  // Creates a group consumer with ConsumerDefaults() overlaid by `props` (bootstrap.servers and
  // group.id among them). `listener` must outlive the consumer. InvalidArgument on bad properties.
  static Result<std::unique_ptr<Consumer>> Create(const Properties& props,
                                                  RebalanceListener* listener);

  ~Consumer();  // leaves the group (Close) if not done yet
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  Status Subscribe(const std::vector<std::string>& topics);

  // Returns up to `max_records` records, waiting up to `timeout` for the first one; fewer or none
  // when the time passes. Rebalance callbacks run inside this call. Per-partition transient
  // errors (end of partition, broker transport) are logged and skipped. Returns an error for what
  // the caller must act on: an offset reset or out-of-range (kOutOfRange, naming the partition),
  // a fatal consumer error (kFatal), an unknown topic (kNotFound). When such an error arrives
  // after some records were already collected, those records are returned and the error comes
  // from the next call (librdkafka stops fetching the failed partition, so nothing is skipped).
  // An exception thrown by the listener becomes kInternal; the partitions it was assigning are
  // paused. FailedPrecondition after Close().
  Result<std::vector<ConsumedRecord>> Poll(std::chrono::milliseconds timeout, size_t max_records);

  // Reads `partitions` from their offsets (-1: the beginning) without joining the group: for
  // tools that read whole partitions themselves (rebuild, the ownership directory). Do not mix
  // with Subscribe() on one consumer.
  Status Assign(const std::vector<TopicPartition>& partitions);

  // The number of partitions of `topic` per the cluster's metadata. NotFound when the topic does
  // not exist, Unavailable/Timeout when the cluster did not answer.
  Result<int32_t> PartitionCount(const std::string& topic, std::chrono::milliseconds timeout);

  // Stops / resumes fetching the given partitions (offsets ignored).
  Status Pause(const std::vector<TopicPartition>& partitions);
  Status Resume(const std::vector<TopicPartition>& partitions);

  // Moves the fetch position of an assigned partition (used after a failed apply, to re-read).
  Status Seek(const TopicPartition& position, std::chrono::milliseconds timeout);

  // Commits `offsets` (next offset to read) to the group, asynchronously. Advisory only: kledger
  // keeps its offsets in RocksDB; this keeps external lag tools working.
  Status CommitAsync(const std::vector<TopicPartition>& offsets);

  // The next offset this consumer will hand out for each of `partitions` (past records it
  // returned and past transaction markers); negative when not known yet.
  Result<std::vector<TopicPartition>> Positions(const std::vector<TopicPartition>& partitions);

  // The partitions currently assigned.
  Result<std::vector<TopicPartition>> Assignment() const;

  // This consumer's group membership now. FailedPrecondition when it has none (not
  // Subscribe()d, not joined yet, or closed). Safe from any thread: librdkafka answers it from
  // its own.
  Result<GroupMetadata> CurrentGroupMetadata() const;

  // The broker's low and high watermarks for a partition (high = next offset to be written).
  // While its leader is moving (a topic just created, a broker gone) it asks again until
  // `timeout`.
  Result<std::pair<int64_t, int64_t>> QueryWatermarks(const std::string& topic, int32_t partition,
                                                      std::chrono::milliseconds timeout);

  // The high watermark of an assigned partition as its last fetch response carried it, without
  // asking the broker; nullopt before the first response. Current while the partition is
  // fetched, stale while it is paused.
  std::optional<int64_t> FetchedHighWatermark(const std::string& topic, int32_t partition) const;

  // Leaves the group cleanly (revoking partitions through the listener). Idempotent.
  Status Close();

  std::string MemberId() const;

  // The group's rebalance protocol for this member: "EAGER" or "COOPERATIVE" once a JoinGroup
  // succeeded, "NONE" before (and for a consumer that only uses Assign()).
  std::string RebalanceProtocol() const;

 private:
  struct Impl;
  explicit Consumer(std::unique_ptr<Impl> impl);
  bool DestroyWouldAbort() const;
  static void KeepUntilExit(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace kledger::kafka
