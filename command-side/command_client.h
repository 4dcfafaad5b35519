// The producer API for upstream systems (kledger::command): validate a ledger command, turn it
// into an event keyed by its instance, append it to kledger.events and resolve once Kafka has it.
#pragma once

#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/domain/validation.h"
#include "common/kafka/producer.h"
#include "common/kafka/properties.h"
#include "common/status.h"
#include "kledger/v1/api.pb.h"
#include "kledger/v1/events.pb.h"

namespace kledger::command {

class CommandProbe;

// How events reach Kafka; see command-side/README.md for why both exist.
enum class ProducerMode {
  // One idempotent producer, each record acknowledged on its own. Exact on real Kafka.
  kIdempotent,
  // A transactional producer with group commit: a committer thread appends every command waiting
  // at that moment in one Kafka transaction and acknowledges them once it commits. Exact on the
  // embedded broker under injected faults too, and makes a batch all-or-nothing.
  kTransactional,
};

// Parses "idempotent" | "transactional". InvalidArgument naming the accepted values otherwise.
Result<ProducerMode> ParseProducerMode(std::string_view text);
std::string_view ProducerModeName(ProducerMode mode);

struct CommandClientOptions {
  // Where events are appended; default "kledger.events".
  std::string events_topic = "kledger.events";
  // How long Kafka may take to acknowledge; default 5 s.
  std::chrono::milliseconds ack_timeout{5000};
  domain::Limits limits;             // sizes commands may have; see domain::Limits
  size_t max_batch_commands = 1000;  // commands one /v1/batch may carry; default 1000
  ProducerMode producer_mode = ProducerMode::kIdempotent;  // see ProducerMode; default idempotent
  // Transactional mode: the producer's transactional.id, unique per running process (a second
  // process with the same id fences the first). Default "": "kledger-command-<host>-<pid>".
  std::string transactional_id;
  // Transactional mode: most records one transaction carries; default 10000.
  size_t max_transaction_records = 10000;
  // Idempotent mode: which thread resolves appends (AckHandler::OnAck, the futures): the
  // producer's own (kOwn), or the caller's inside Poll(), Flush() and the destructor (kCaller),
  // for a caller with a submit loop that polls after each submit and while it waits — futures
  // then resolve only while someone polls. Transactional mode needs kOwn. Default kOwn.
  kafka::DeliveryThread ack_thread = kafka::DeliveryThread::kOwn;
};

// What an accepted command became: its event and where the log holds it.
struct Ack {
  std::string event_id;
  int32_t partition = -1;
  int64_t offset = -1;
};

// Receives the outcomes of commands handed to CommandClient::SubmitAsync / AppendAsync: the
// callback form of the futures, for callers that keep thousands of commands in flight (no
// promise, future or std::function per command).
class AckHandler {
 public:
  virtual ~AckHandler() = default;
  // Called exactly once per command, with the caller's `tag`: on the producer's delivery thread
  // (idempotent mode; with CommandClientOptions::ack_thread kCaller, on the thread calling
  // CommandClient::Poll or Flush) or the committer thread (transactional mode) once Kafka answered,
  // or on the caller's thread before SubmitAsync returns when the command is invalid. Per
  // partition, acks arrive in offset order. It holds up the acks behind it, so it must be quick; it
  // must not throw, and must not call back into the client's Flush.
  virtual void OnAck(uint64_t tag, Result<Ack> ack) = 0;
};

// A validated command, ready to append.
struct PreparedEvent {
  v1::EventEnvelope envelope;
  std::string_view event_type;  // a static name (domain::EventTypeName)
};

// Checks `command` and makes its event (deterministic event id, schema version, correlation id)
// without any Kafka in sight: the gateway, the C++ API and the fuzzer share it. On error returns
// InvalidArgument and fills `errors` with every problem found, paths relative to the command:
// "instance_id", "correlation_id", "command" (none set), "create_transaction.entries[0].amount".
Result<PreparedEvent> PrepareEvent(const v1::Command& command, const CommandClientOptions& options,
                                   domain::FieldErrors& errors);
// The same, moving the command's payload and instance id into the event instead of copying them;
// `command` is left without them.
Result<PreparedEvent> PrepareEvent(v1::Command&& command, const CommandClientOptions& options,
                                   domain::FieldErrors& errors);

class CommandClient {
 public:
  // Connects a producer (acks=all, idempotent or transactional per options.producer_mode,
  // murmur2 partitioner) with `props` on top of the defaults. InvalidArgument for bad properties
  // or options (ack_thread kCaller with transactional mode among them). A transactional producer
  // registers its transactional.id with the broker lazily, on the first append, so the command side
  // starts while Kafka is still down.
  static Result<std::unique_ptr<CommandClient>> Create(const kafka::Properties& props,
                                                       CommandClientOptions options,
                                                       prometheus::Registry& registry);
  ~CommandClient();

  // PrepareEvent with this client's options.
  Result<PreparedEvent> Prepare(const v1::Command& command, domain::FieldErrors& errors) const;

  // Appends a prepared event. The future resolves with the Ack once every in-sync replica has the
  // record (acks=all); with Unavailable/Timeout when Kafka did not acknowledge within
  // ack_timeout — the command may or may not be in the log then, and resubmitting it is safe
  // (same idempotency key, same event id, applied once).
  std::future<Result<Ack>> Append(PreparedEvent event);

  // Appends prepared events; futures in the same order. In transactional mode they share one
  // Kafka transaction: all are acknowledged, or none is.
  std::vector<std::future<Result<Ack>>> AppendAll(std::vector<PreparedEvent> events);

  // Prepare + Append. Invalid commands resolve at once with InvalidArgument; nothing is appended.
  std::future<Result<Ack>> Submit(const v1::Command& command);

  // Submits each command; results in the same order. Invalid commands resolve at once with
  // InvalidArgument, their field errors in (*errors)[i] when `errors` is set (empty for the valid
  // ones); the valid ones are appended with AppendAll. The commands' payloads are moved into
  // their events.
  std::vector<std::future<Result<Ack>>> SubmitBatch(
      std::vector<v1::Command> commands, std::vector<domain::FieldErrors>* errors = nullptr);
  // SubmitBatch without futures: `handler.OnAck(i, ...)` is called exactly once for each command,
  // its index in `commands` as the tag: for an invalid one before this returns (its field errors
  // already in (*errors)[i] when `errors` is set), for the others as Kafka answers, as
  // AppendAllAsync does.
  void SubmitBatchAsync(std::vector<v1::Command> commands, AckHandler& handler,
                        std::vector<domain::FieldErrors>* errors = nullptr);

  // Submit / Append without a future: `handler.OnAck(tag, ...)` is called exactly once per call,
  // with what the future would have held. The same guarantees as the future forms.
  void SubmitAsync(const v1::Command& command, AckHandler& handler, uint64_t tag);
  // The same, moving the command's payload into the event (no copy); `command` is left without
  // its payload.
  void SubmitAsync(v1::Command&& command, AckHandler& handler, uint64_t tag);
  void AppendAsync(PreparedEvent event, AckHandler& handler, uint64_t tag);
  // AppendAll without futures: `handler.OnAck(tags[i], ...)` once for each of `events` (in
  // transactional mode, all in one Kafka transaction). `tags` holds one tag per event.
  void AppendAllAsync(std::vector<PreparedEvent> events, AckHandler& handler,
                      const std::vector<uint64_t>& tags);

  // ack_thread kCaller: resolves the appends Kafka answered, waiting up to `timeout` for the first
  // answers (0: not at all); returns how many it resolved. One thread at a time, never from
  // inside OnAck. ack_thread kOwn: returns 0 at once.
  int Poll(std::chrono::milliseconds timeout);

  // Waits for outstanding appends (shutdown); with ack_thread kCaller, resolving them meanwhile.
  Status Flush(std::chrono::milliseconds timeout);

  const CommandClientOptions& options() const { return options_; }
  CommandProbe& probe() { return *probe_; }

 private:
  class Committer;
  // One record on its way, with what resolves it: a promise (the future forms) or a handler.
  struct Pending {
    kafka::ProducerRecord record;
    std::string event_id;
    std::string_view event_type;  // a static name (domain::EventTypeName)
    std::string correlation_id;   // kept only while debug logging is on: it is only logged
    std::chrono::steady_clock::time_point start;
    std::optional<std::promise<Result<Ack>>> promise;
    AckHandler* handler = nullptr;
    uint64_t tag = 0;
  };

  CommandClient(std::unique_ptr<kafka::Producer> producer, CommandClientOptions options,
                std::unique_ptr<CommandProbe> probe);

  // The bookkeeping of `event`'s Pending: start time, type, correlation id while debugging.
  Pending Track(const PreparedEvent& event) const;
  // Produces `event` at once (idempotent mode) or adds its record to `group` for the committer
  // (transactional mode); `p` resolves with the outcome. Takes the event's ids.
  void Send(PreparedEvent& event, Pending p, std::vector<Pending>& group);
  // Resolves `p` with `ack` (or its error) and counts it.
  void Resolve(Pending& p, Result<Ack> ack);
  // Resolves `p` without counting it.
  void Complete(Pending& p, Result<Ack> ack);
  // Tracks and sends each of `events`, `arm(i, pending)` saying what resolves the i-th; in
  // transactional mode all of them in one transaction.
  void AppendEach(std::vector<PreparedEvent>& events,
                  const std::function<void(size_t, Pending&)>& arm);
  // Prepares each of `commands` (its payload moved into the event); an invalid one is counted
  // and passed to `refuse(i, why)`, its field errors in (*errors)[i] when `errors` is set. The
  // valid events, and the index of each in `commands`.
  std::pair<std::vector<PreparedEvent>, std::vector<uint64_t>> PrepareEach(
      std::vector<v1::Command>& commands, std::vector<domain::FieldErrors>* errors,
      const std::function<void(size_t, Status)>& refuse);
  // AppendAsync of a prepared event, or `handler` told at once why it could not be prepared.
  void AppendPrepared(Result<PreparedEvent> prepared, AckHandler& handler, uint64_t tag);
  // AppendAsync without moving the event; `event` is left with parts of it moved out.
  void AppendOne(PreparedEvent& event, AckHandler& handler, uint64_t tag);

  std::unique_ptr<kafka::Producer> producer_;  // idempotent mode; the committer owns its own
  kafka::Properties producer_properties_;      // the committer recreates its producer with them
  CommandClientOptions options_;
  std::unique_ptr<CommandProbe> probe_;
  std::unique_ptr<Committer> committer_;  // transactional mode
};

// The name of the command's operation field ("create_transaction"); "" when none is set.
std::string_view CommandFieldName(v1::Command::CommandCase command_case);
std::string_view CommandFieldName(const v1::Command& command);

// The event headers of SPEC §3 for an envelope.
kafka::Headers EventHeaders(const v1::EventEnvelope& envelope, std::string_view event_type);

}  // namespace kledger::command
