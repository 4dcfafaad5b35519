// Consumed records of events, for the tests of the processors' apply path and of the
// benchmark's RocksDB ceiling (app/benchmark/ceilings_test.cc); outcome records and stores whose
// outbox holds them, for the outcome relay's tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "common/event_id.h"
#include "common/kafka/record.h"
#include "kledger/v1/events.pb.h"
#include "kledger/v1/outcomes.pb.h"
#include "projections/store.h"

namespace kledger::processors::testutil {

// `event` with its id derived, as a processor consumes it at `offset` of partition 0, keyed by
// its instance.
inline kafka::ConsumedRecord EventRecord(v1::EventEnvelope event, int64_t offset) {
  event.set_event_id(domain::DeriveEventId(event));
  kafka::ConsumedRecord record;
  record.partition = 0;
  record.offset = offset;
  record.key = event.instance_id();
  event.SerializeToString(&record.value);
  return record;
}

// The APPLIED outcome of partition 0's record at `offset` in `instance`, with `correlation_id`
// (a tag telling apart the relays that publish it).
inline v1::OutcomeRecord AppliedOutcome(const std::string& instance, int64_t offset,
                                        const std::string& correlation_id = "") {
  v1::OutcomeRecord outcome;
  outcome.set_schema_version(1);
  outcome.set_instance_id(instance);
  outcome.set_event_id("e" + std::to_string(offset));
  outcome.set_source_partition(0);
  outcome.set_source_offset(offset);
  outcome.set_outcome(v1::APPLIED);
  outcome.set_correlation_id(correlation_id);
  return outcome;
}

// A store, made anew in `dir`, whose outbox holds the outcomes of partition 0's records
// [0, count) in `instance`, tagged `correlation_id`, all committed.
inline std::unique_ptr<projections::ProjectionStore> StoreWithOutbox(
    const std::string& dir, int count, const std::string& instance,
    const std::string& correlation_id = "") {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  projections::StoreOptions options;
  options.path = dir;
  auto store = projections::ProjectionStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  auto batch = (*store)->BeginBatch(0);
  for (int offset = 0; offset < count; ++offset) {
    batch->PutOutbox(offset, AppliedOutcome(instance, offset, correlation_id).SerializeAsString());
  }
  EXPECT_TRUE((*store)->Commit(*batch, count).ok());
  return std::move(*store);
}

}  // namespace kledger::processors::testutil
