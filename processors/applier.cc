#include "processors/applier.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <vector>

#include "common/domain/validation.h"
#include "common/event_id.h"
#include "common/wall_clock.h"
#include "processors/outcome_record.h"
#include "projections/ledger.h"

namespace kledger::processors {
namespace {

using Clock = std::chrono::steady_clock;

// Both DecodeEvents: parses `record` into `envelope` and checks it.
TypedStatus<PoisonCode> ParseAndCheck(const kafka::ConsumedRecord& record,
                                      v1::EventEnvelope& envelope) {
  if (!envelope.ParseFromString(record.value)) {
    return {PoisonCode::kUndecodable,
            Status::Corruption("the record value is not an EventEnvelope")};
  }
  if (envelope.schema_version() != domain::kSchemaVersion) {
    return {PoisonCode::kUnsupportedSchemaVersion,
            Status::Corruption("schema version " + std::to_string(envelope.schema_version()) +
                               " is not supported (this build reads " +
                               std::to_string(domain::kSchemaVersion) + ")")};
  }
  if (envelope.event_case() == v1::EventEnvelope::EVENT_NOT_SET) {
    return {PoisonCode::kUnknownEventType,
            Status::Corruption("the envelope carries no event type this build knows")};
  }
  if (envelope.instance_id() != record.key) {
    return {PoisonCode::kKeyMismatch,
            Status::Corruption("the record key is not the envelope's instance id")};
  }
  domain::FieldErrors errors = domain::ValidateEnvelope(envelope);
  if (!errors.empty()) return {PoisonCode::kInvalidEnvelope, domain::FieldErrorsToStatus(errors)};
  return {};
}

// A poll's envelopes live here, decoded before any is applied (so that the keys their events
// read can be read ahead together): parsing onto an arena allocates nothing from the heap for
// each message itself (docs/performance.md, seventh pass), and all go at once with the arena.
constexpr size_t kArenaFirstBlockBytes = 64 << 10;
constexpr size_t kArenaMaxBlockBytes = 1 << 20;

}  // namespace

Decoded<v1::EventEnvelope> DecodeEvent(const kafka::ConsumedRecord& record) {
  v1::EventEnvelope envelope;
  TypedStatus<PoisonCode> checked = ParseAndCheck(record, envelope);
  if (!checked.ok()) return checked;
  return envelope;
}

Decoded<const v1::EventEnvelope*> DecodeEvent(const kafka::ConsumedRecord& record,
                                              google::protobuf::Arena& arena) {
  auto* envelope = google::protobuf::Arena::CreateMessage<v1::EventEnvelope>(&arena);
  TypedStatus<PoisonCode> checked = ParseAndCheck(record, *envelope);
  if (!checked.ok()) return checked;
  return envelope;
}

Result<ApplyRun> ApplyRecords(projections::ProjectionStore::Batch& batch, int64_t next_offset,
                              const std::vector<kafka::ConsumedRecord>& records,
                              const PoisonHandler& on_poison, const projections::Projections& extra,
                              const OutboxOptions& outbox) {
  ApplyRun run;
  run.next_offset = next_offset;
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = kArenaFirstBlockBytes;
  arena_options.max_block_size = kArenaMaxBlockBytes;
  google::protobuf::Arena arena(arena_options);
  // Every new record decoded first, and the records their events look up first (outcomes by
  // event id, created transactions' idempotency keys) read in one MultiGet: most of them do not
  // exist, and batched their reads cost less (docs/performance.md, "Lever: a poll's point
  // reads in one MultiGet").
  std::vector<Decoded<const v1::EventEnvelope*>> decoded;
  std::vector<double> decode_seconds;
  std::vector<const v1::EventEnvelope*> events;
  decoded.reserve(records.size());
  decode_seconds.reserve(records.size());
  events.reserve(records.size());
  int64_t ahead = next_offset;  // run.next_offset as the loop below will advance it
  for (const auto& record : records) {
    if (record.offset < ahead) continue;  // applied before (re-delivered after a seek)
    ahead = record.offset + 1;
    const auto start = Clock::now();
    Decoded<const v1::EventEnvelope*>& envelope = decoded.emplace_back(DecodeEvent(record, arena));
    decode_seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    if (envelope.ok()) events.push_back(*envelope);
  }
  RETURN_IF_ERROR(batch.Prefetch(events));
  // Copying two ids per record costs allocations that only the debug log needs.
  const bool traced = spdlog::should_log(spdlog::level::debug);
  ChangeRecorder changes(batch);  // what each event changed, for its outbox entry
  size_t next = 0;  // into decoded, whose records are those this loop applies, in order
  for (const auto& record : records) {
    if (record.offset < run.next_offset) continue;
    const auto start = Clock::now();
    const double decoding = decode_seconds[next];
    Decoded<const v1::EventEnvelope*>& envelope = decoded[next++];
    const bool outboxed = outbox.enabled && record.offset >= outbox.from_offset;
    if (!envelope.ok()) {
      const DeadLetterReason why{envelope.kind(), envelope.status().message(), 1, WallClockMs()};
      RETURN_IF_ERROR(on_poison(record, why));
      RETURN_IF_ERROR(RecordDeadLettered(batch, record, why, outbox));
      run.records.push_back({"unknown", "dead_lettered", 0, -1, "", ""});
      run.next_offset = record.offset + 1;
      continue;
    }
    const v1::EventEnvelope& event = **envelope;
    changes.Clear();
    ASSIGN_OR_RETURN(v1::EventOutcomeView outcome,
                     projections::ApplyEvent(
                         event, batch.partition(), record.offset,
                         outboxed ? static_cast<projections::LedgerState&>(changes) : batch));
    for (const auto& projection : extra) {
      projections::ProjectionSpace space(batch, projection->name());
      RETURN_IF_ERROR(projection->Apply(event, outcome, space));
    }
    if (outboxed) {
      v1::OutcomeRecord published =
          DecidedOutcome(event, outcome, batch.partition(), record.offset);
      if (outcome.outcome() == v1::APPLIED) RETURN_IF_ERROR(changes.FillChanges(published));
      std::string bytes;
      published.SerializeToString(&bytes);
      batch.PutOutbox(record.offset, std::move(bytes));
    }
    AppliedRecord& applied = run.records.emplace_back();
    applied.event_type = domain::EventTypeName(event);
    applied.outcome = OutcomeName(outcome.outcome());
    applied.apply_seconds = decoding + std::chrono::duration<double>(Clock::now() - start).count();
    applied.end_to_end_seconds =
        record.timestamp_ms >= 0 ? (WallClockMs() - record.timestamp_ms) / 1000.0 : -1;
    if (traced) {
      applied.event_id = event.event_id();
      applied.correlation_id = event.correlation_id();
    }
    run.next_offset = record.offset + 1;
  }
  return run;
}

Status RecordDeadLettered(projections::ProjectionStore::Batch& batch,
                          const kafka::ConsumedRecord& record, const DeadLetterReason& why,
                          const OutboxOptions& outbox) {
  // Not derived from the log alone (a retries_exhausted letter depended on the moment; a poison
  // one would be lettered twice): kept across a crash, whatever the store's write-ahead log.
  batch.MakeDurable();
  if (auto envelope = DecodeEvent(record); envelope.ok()) {
    ASSIGN_OR_RETURN(std::optional<v1::EventOutcomeView> original,
                     batch.FindOutcome(envelope->instance_id(), envelope->event_id()));
    if (!original || original->outcome() == v1::DEAD_LETTERED) {
      v1::EventOutcomeView outcome;
      outcome.set_event_id(envelope->event_id());
      outcome.set_instance_id(envelope->instance_id());
      outcome.set_outcome(v1::DEAD_LETTERED);
      outcome.set_reason(std::string(why.code_name()));
      outcome.set_message(why.error_message);
      outcome.set_partition(batch.partition());
      outcome.set_offset(record.offset);
      outcome.set_event_type(std::string(domain::EventTypeName(*envelope)));
      RETURN_IF_ERROR(batch.PutOutcome(outcome));
    }
  }
  if (outbox.enabled && record.offset >= outbox.from_offset) {
    batch.PutOutbox(record.offset, DeadLetteredOutcome(record, why).SerializeAsString());
  }
  return Status::Ok();
}

}  // namespace kledger::processors
