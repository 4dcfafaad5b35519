// Rebuilding projections from offset 0: reads every partition of the events topic up to the end
// it had when the rebuild started, through the same apply code as a live processor, into a fresh
// store, and reports the state digest (SPEC §4: determinism).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "common/kafka/properties.h"
#include "common/status.h"
#include "projections/projection.h"
#include "projections/store.h"

namespace kledger::processors {

struct RebuildOptions {
  std::string events_topic = "kledger.events";  // the log to read; default "kledger.events"
  std::string data_dir;                         // a fresh store is built here; required
  projections::StoreOptions store;              // RocksDB settings; its path is data_dir
  size_t max_batch_records = 5000;              // records per WriteBatch; default 5000
  std::chrono::seconds stall_timeout{60};       // no progress for this long fails; default 60 s
  projections::Projections projections;         // the processors' pluggable read models; none
  // The outcome stream the processors publish to, "" for none. The rebuilt store's outbox then
  // holds the outcomes past each partition's last published one, so that a processor started on
  // it publishes what no processor has and nothing twice. Default "kledger.outcomes".
  std::string outcomes_topic = "kledger.outcomes";
};

struct RebuildResult {
  std::string digest;   // ProjectionStore::Digest() of the rebuilt state
  int64_t records = 0;  // records applied (poison ones included)
  int64_t poison = 0;   // records skipped as poison (they are in the dead-letter topic)
  int32_t partitions = 0;
  double seconds = 0;
};

// Called now and then with how many offsets of how many are done.
using RebuildProgress = std::function<void(int64_t done, int64_t total)>;

// Runs the rebuild. InvalidArgument when data_dir already holds a store (a rebuild starts from
// nothing), Unavailable/NotFound when the log cannot be read, Timeout when reading stalls.
Result<RebuildResult> Rebuild(const kafka::Properties& props, const RebuildOptions& options,
                              const RebuildProgress& progress);

}  // namespace kledger::processors
