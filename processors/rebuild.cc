#include "processors/rebuild.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>
#include <vector>

#include "common/kafka/consumer.h"
#include "processors/applier.h"
#include "projections/store.h"

namespace kledger::processors {
namespace {

using Clock = std::chrono::steady_clock;

struct PartitionState {
  int64_t low = 0;
  int64_t high = 0;  // the end at start: the rebuild stops there
  int64_t next = 0;  // the next offset to apply
  bool done() const { return next >= high; }
};

}  // namespace

Result<RebuildResult> Rebuild(const kafka::Properties& props, const RebuildOptions& options,
                              const RebuildProgress& progress) {
  std::error_code ec;
  if (options.data_dir.empty()) return Status::InvalidArgument("a data directory is required");
  if (std::filesystem::exists(options.data_dir, ec) &&
      !std::filesystem::is_empty(options.data_dir, ec)) {
    return Status::InvalidArgument("--data-dir " + options.data_dir +
                                   " is not empty; a rebuild starts from an empty directory");
  }
  const auto start = Clock::now();
  projections::StoreOptions store_options;
  store_options.path = options.data_dir;
  ASSIGN_OR_RETURN(auto store, projections::ProjectionStore::Open(store_options));

  kafka::NoRebalanceListener no_rebalances;
  kafka::Properties consumer_props = props;
  consumer_props["group.id"] = "kledger-rebuild";  // required by librdkafka; never joined
  ASSIGN_OR_RETURN(auto consumer, kafka::Consumer::Create(consumer_props, &no_rebalances));
  ASSIGN_OR_RETURN(const int32_t partition_count,
                   consumer->PartitionCount(options.events_topic, std::chrono::seconds(15)));

  std::map<int32_t, PartitionState> partitions;
  std::vector<kafka::TopicPartition> assignment;
  int64_t total = 0;
  for (int32_t p = 0; p < partition_count; ++p) {
    ASSIGN_OR_RETURN(auto marks,
                     consumer->QueryWatermarks(options.events_topic, p, std::chrono::seconds(15)));
    if (marks.first > 0) {
      return Status::FailedPrecondition(
          "partition " + std::to_string(p) + " of " + options.events_topic + " starts at offset " +
          std::to_string(marks.first) +
          ": events were deleted, so no rebuild can reproduce the projections");
    }
    partitions[p] = {marks.first, marks.second, marks.first};
    total += marks.second - marks.first;
    assignment.push_back({options.events_topic, p, kafka::kOffsetBeginning});
  }
  RETURN_IF_ERROR(consumer->Assign(assignment));

  RebuildResult result;
  result.partitions = partition_count;
  auto done_offsets = [&] {
    int64_t done = 0;
    for (const auto& [p, s] : partitions) done += std::min(s.next, s.high) - s.low;
    return done;
  };
  auto all_done = [&] {
    for (const auto& [p, s] : partitions) {
      if (!s.done()) return false;
    }
    return true;
  };
  // Poison records are already in the dead-letter topic (the live processor put them there);
  // the rebuild only steps over them, exactly as the live processor's state did.
  auto skip_poison = [&](const kafka::ConsumedRecord&, const DeadLetterReason&) {
    ++result.poison;
    return Status::Ok();
  };

  auto last_progress = Clock::now();
  while (!all_done()) {
    ASSIGN_OR_RETURN(auto records,
                     consumer->Poll(std::chrono::milliseconds(200), options.max_batch_records));
    std::map<int32_t, std::vector<kafka::ConsumedRecord>> by_partition;
    for (auto& r : records) {
      if (r.offset < partitions[r.partition].high)
        by_partition[r.partition].push_back(std::move(r));
    }
    for (const auto& [p, run_records] : by_partition) {
      PartitionState& state = partitions[p];
      auto batch = store->BeginBatch(p);
      ASSIGN_OR_RETURN(ApplyRun run, ApplyRecords(*batch, state.next, run_records,
                                                     skip_poison, options.projections));
      if (run.next_offset == state.next) continue;
      RETURN_IF_ERROR(store->Commit(*batch, run.next_offset));
      result.records += static_cast<int64_t>(run.records.size());
      state.next = run.next_offset;
      last_progress = Clock::now();
    }
    // Transaction markers take offsets but are never handed out: the consumer's position moves
    // past them, and so does the rebuild.
    std::vector<kafka::TopicPartition> pending;
    for (const auto& [p, s] : partitions) {
      if (!s.done()) pending.push_back({options.events_topic, p, -1});
    }
    auto positions = consumer->Positions(pending);
    if (positions.ok()) {
      for (const auto& tp : *positions) {
        PartitionState& s = partitions[tp.partition];
        if (tp.offset >= s.high && s.next < s.high) {
          s.next = s.high;
          last_progress = Clock::now();
        }
      }
    }
    if (progress) progress(done_offsets(), total);
    if (Clock::now() - last_progress > options.stall_timeout) {
      return Status::Timeout("the rebuild made no progress for " +
                             std::to_string(options.stall_timeout.count()) +
                             " s; is the cluster reachable?");
    }
  }
  RETURN_IF_ERROR(consumer->Close());
  ASSIGN_OR_RETURN(result.digest, store->Digest());
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace kledger::processors
