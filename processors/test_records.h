// Consumed records of events, for the tests of the processors' apply path and of the
// benchmark's RocksDB ceiling (app/benchmark/ceilings_test.cc); outcome records, for the outcome
// relay's tests' outboxes.
#pragma once

#include <cstdint>
#include <string>

#include "common/event_id.h"
#include "common/kafka/record.h"
#include "kledger/v1/events.pb.h"
#include "kledger/v1/outcomes.pb.h"

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

}  // namespace kledger::processors::testutil
