#include "processors/rebuild.h"

#include <filesystem>
#include <map>
#include <vector>

#include "processors/applier.h"
#include "processors/outcome_relay.h"
#include "processors/topic_scan.h"
#include "projections/store.h"

namespace kledger::processors {
namespace {

using Clock = std::chrono::steady_clock;

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
  projections::StoreOptions store_options = options.store;
  store_options.path = options.data_dir;
  ASSIGN_OR_RETURN(auto store, projections::ProjectionStore::Open(store_options));

  ScanOptions scan_options;
  scan_options.reader_group = "kledger-rebuild";
  scan_options.stall_timeout = options.stall_timeout;
  ASSIGN_OR_RETURN(auto scan, TopicScan::Open(props, options.events_topic, scan_options));
  // The offset each partition's store has applied up to (the scan's own position runs ahead).
  std::map<int32_t, int64_t> applied;
  for (const auto& [p, range] : scan->ranges()) {
    if (range.low > 0) {
      return Status::FailedPrecondition(
          "partition " + std::to_string(p) + " of " + options.events_topic + " starts at offset " +
          std::to_string(range.low) +
          ": events were deleted, so no rebuild can reproduce the projections");
    }
    applied[p] = range.low;
  }
  // Outcomes the topic holds already are not written to the outbox: a rebuild republishes none.
  std::map<int32_t, OutboxOptions> outbox;
  if (!options.outcomes_topic.empty()) {
    for (const auto& [p, range] : scan->ranges()) {
      ASSIGN_OR_RETURN(int64_t published, LastPublishedOffset(props, options.outcomes_topic, p,
                                                              options.stall_timeout));
      outbox[p] = {true, published + 1};
    }
  }

  RebuildResult result;
  result.partitions = scan->partition_count();
  // Poison records are already in the dead-letter topic (the live processor put them there);
  // the rebuild only steps over them, exactly as the live processor's state did.
  auto skip_poison = [&](const kafka::ConsumedRecord&, const DeadLetterReason&) {
    ++result.poison;
    return Status::Ok();
  };

  while (!scan->Finished()) {
    ASSIGN_OR_RETURN(auto records,
                     scan->Next(std::chrono::milliseconds(200), options.max_batch_records));
    std::map<int32_t, std::vector<kafka::ConsumedRecord>> by_partition;
    for (auto& r : records) by_partition[r.partition].push_back(std::move(r));
    for (const auto& [p, run_records] : by_partition) {
      auto batch = store->BeginBatch(p);
      ASSIGN_OR_RETURN(ApplyRun run, ApplyRecords(*batch, applied[p], run_records, skip_poison,
                                                  options.projections, outbox[p]));
      if (run.next_offset == applied[p]) continue;
      RETURN_IF_ERROR(store->Commit(*batch, run.next_offset));
      result.records += static_cast<int64_t>(run.records.size());
      applied[p] = run.next_offset;
    }
    if (progress) progress(scan->done(), scan->total());
  }
  ASSIGN_OR_RETURN(result.digest, store->Digest());
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace kledger::processors
