// The producer API for upstream systems (kledger::command): validate a ledger command, turn it
// into an event keyed by its instance, append it to kledger.events and resolve once Kafka has it.
#pragma once

#include <prometheus/registry.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "common/domain/validation.h"
#include "common/kafka/producer.h"
#include "common/kafka/properties.h"
#include "common/status.h"
#include "kledger/v1/api.pb.h"
#include "kledger/v1/events.pb.h"

namespace kledger::command {

class CommandProbe;

struct CommandClientOptions {
  std::string events_topic = "kledger.events";  // where events are appended; default "kledger.events"
  std::chrono::milliseconds ack_timeout{5000};  // how long Kafka may take to acknowledge; default 5 s
  domain::Limits limits;                        // sizes commands may have; see domain::Limits
  size_t max_batch_commands = 1000;             // commands one /v1/batch may carry; default 1000
};

// What an accepted command became: its event and where the log holds it.
struct Ack {
  std::string event_id;
  int32_t partition = -1;
  int64_t offset = -1;
};

// A validated command, ready to append.
struct PreparedEvent {
  v1::EventEnvelope envelope;
  std::string event_type;
};

class CommandClient {
 public:
  // Connects a producer (acks=all, idempotent, murmur2 partitioner) with `props` on top of the
  // defaults. InvalidArgument for bad properties or options.
  static Result<std::unique_ptr<CommandClient>> Create(const kafka::Properties& props,
                                                       CommandClientOptions options,
                                                       prometheus::Registry& registry);
  ~CommandClient();

  // Checks `command` and makes its event (deterministic event id, schema version, headers).
  // On error returns InvalidArgument and fills `errors` with every problem found.
  Result<PreparedEvent> Prepare(const v1::Command& command, domain::FieldErrors& errors) const;

  // Appends a prepared event. The future resolves with the Ack once every in-sync replica has the
  // record (acks=all); with Unavailable/Timeout when Kafka did not acknowledge within
  // ack_timeout — the command may or may not be in the log then, and resubmitting it is safe
  // (same idempotency key, same event id, applied once).
  std::future<Result<Ack>> Append(PreparedEvent event);

  // Prepare + Append. Invalid commands resolve at once with InvalidArgument; nothing is appended.
  std::future<Result<Ack>> Submit(const v1::Command& command);

  // Submits each command; results in the same order.
  std::vector<std::future<Result<Ack>>> SubmitBatch(const std::vector<v1::Command>& commands);

  // Waits for outstanding appends (shutdown).
  Status Flush(std::chrono::milliseconds timeout);

  const CommandClientOptions& options() const { return options_; }
  CommandProbe& probe() { return *probe_; }

 private:
  CommandClient(std::unique_ptr<kafka::Producer> producer, CommandClientOptions options,
                std::unique_ptr<CommandProbe> probe);

  std::unique_ptr<kafka::Producer> producer_;
  CommandClientOptions options_;
  std::unique_ptr<CommandProbe> probe_;
};

// The event headers of SPEC §3 for an envelope.
kafka::Headers EventHeaders(const v1::EventEnvelope& envelope, std::string_view event_type);

}  // namespace kledger::command
