// Applying a run of one partition's records to a projection batch: the part of the processor
// that `kledger rebuild` shares, so that a rebuild and a live processor decide identically.
#pragma once

#include <google/protobuf/arena.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/kafka/record.h"
#include "common/status.h"
#include "processors/dead_letter.h"
#include "processors/failure.h"
#include "projections/projection.h"
#include "projections/store.h"

namespace kledger::processors {

// What became of one record, for metrics and logs.
struct AppliedRecord {
  std::string_view event_type;  // static: "transaction_created", ...; "unknown" for poison
  std::string_view outcome;     // static: applied | rejected | duplicate | dead_lettered
  double apply_seconds = 0;
  double end_to_end_seconds = -1;  // record timestamp to now; -1 when the record has none
  // For the debug log only, so kept only while it is on; empty otherwise, and for poison.
  std::string event_id;
  std::string correlation_id;
};

// Called for a record that can never be applied (undecodable, unknown type or schema version,
// invalid envelope). It must make the record durable elsewhere (the dead-letter topic) before
// returning OK; an error stops the run there, to be retried.
using PoisonHandler =
    std::function<Status(const kafka::ConsumedRecord& record, const DeadLetterReason& why)>;

struct ApplyRun {
  int64_t next_offset = 0;             // the offset after the last record applied
  std::vector<AppliedRecord> records;  // one per record applied (records below next_offset skipped)
};

// Whether ApplyRecords writes the outcome stream's outbox (outcome_record.h): one
// v1::OutcomeRecord per record, dead-lettered ones included, under its offset.
struct OutboxOptions {
  bool enabled = false;     // default off (tools and tests that publish no outcomes)
  int64_t from_offset = 0;  // records below it are in the outcomes topic already: none written
};

// Applies `records` (one partition, log order) whose offsets are >= `next_offset` to `batch`:
// the ledger state machine, then every one of `extra` projections with the event and its outcome,
// then the outbox entry when `outbox` says so. On success the batch holds their effects; the
// caller commits it with the returned next offset. On error (storage, or the poison handler) the
// batch holds part of the effects and must be discarded; nothing was committed.
Result<ApplyRun> ApplyRecords(projections::ProjectionStore::Batch& batch, int64_t next_offset,
                              const std::vector<kafka::ConsumedRecord>& records,
                              const PoisonHandler& on_poison,
                              const projections::Projections& extra = {},
                              const OutboxOptions& outbox = {});

// The settle path of a record that is never applied (poison, or its retries exhausted), once its
// dead letter is written: records in `batch` its outbox entry (DEAD_LETTERED) when `outbox` says
// so and, when the record decodes, its event's outcome DEAD_LETTERED, until a redrive applies it
// — unless the event id has an outcome already: the record is then a copy (a resubmission) of an
// event processed before, and that outcome stays, as a duplicate's does. The batch is made
// durable (Batch::MakeDurable): a crash must not undo a dead letter's outcome.
Status RecordDeadLettered(projections::ProjectionStore::Batch& batch,
                          const kafka::ConsumedRecord& record, const DeadLetterReason& why,
                          const OutboxOptions& outbox);

// A record decoded into its event, or why it is poison (its kind) and the error for a human.
template <typename T>
using Decoded = TypedResult<T, PoisonCode>;

// Decodes a record's value and checks it as an untrusted event.
Decoded<v1::EventEnvelope> DecodeEvent(const kafka::ConsumedRecord& record);
// The same, the envelope allocated on `arena` and valid until the arena is reset or destroyed.
// The apply path decodes every record so: parsing onto a reused arena block takes about a third
// fewer instructions than into a message of its own (docs/performance.md, seventh pass).
Decoded<const v1::EventEnvelope*> DecodeEvent(const kafka::ConsumedRecord& record,
                                              google::protobuf::Arena& arena);

}  // namespace kledger::processors
