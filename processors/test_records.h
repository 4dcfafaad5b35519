// Consumed records of events, for the tests of the processors' apply path and of the
// benchmark's RocksDB ceiling (app/benchmark/ceilings_test.cc).
#pragma once

#include <cstdint>

#include "common/event_id.h"
#include "common/kafka/record.h"
#include "kledger/v1/events.pb.h"

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

}  // namespace kledger::processors::testutil
