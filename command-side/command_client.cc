// The producer API: validation without Kafka (PrepareEvent), then one of two ways to append —
// an idempotent producer acknowledging each record, or a transactional committer that groups
// every waiting command into one Kafka transaction (internal/committer.h, committer.cc).
#include "command-side/command_client.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <optional>

#include "command-side/command_probe.h"
#include "command-side/internal/committer.h"
#include "common/event_id.h"
#include "common/wall_clock.h"

namespace kledger::command {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Moves the command's payload into the envelope's `event` oneof (no copy when neither message
// lives on an arena). False when none is set.
bool SetEvent(v1::Command&& command, v1::EventEnvelope& envelope) {
  switch (command.command_case()) {
    case v1::Command::kOpenAccount:
      envelope.set_allocated_account_opened(command.release_open_account());
      return true;
    case v1::Command::kCreateTransaction:
      envelope.set_allocated_transaction_created(command.release_create_transaction());
      return true;
    case v1::Command::kUpdateTransaction:
      envelope.set_allocated_transaction_updated(command.release_update_transaction());
      return true;
    case v1::Command::kUpdateAccount:
      envelope.set_allocated_account_updated(command.release_update_account());
      return true;
    case v1::Command::kCloseAccount:
      envelope.set_allocated_account_closed(command.release_close_account());
      return true;
    case v1::Command::kCreateInstance:
      envelope.set_allocated_instance_created(command.release_create_instance());
      return true;
    case v1::Command::COMMAND_NOT_SET:
      return false;
  }
  return false;
}

std::string DescribeErrors(const domain::FieldErrors& errors) {
  std::string out = "the command is invalid: ";
  for (size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) out += "; ";
    out += errors[i].field + ": " + errors[i].message;
  }
  return out;
}

template <typename T>
std::future<T> Ready(T value) {
  std::promise<T> promise;
  promise.set_value(std::move(value));
  return promise.get_future();
}

std::string DefaultTransactionalId() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return "kledger-command-" + std::string(host[0] ? host : "localhost") + "-" +
         std::to_string(getpid());
}

}  // namespace

Status internal::Unacknowledged(std::string_view why) {
  return Status::Unavailable("Kafka did not acknowledge the event; it is safe to resubmit: " +
                             std::string(why));
}

Result<ProducerMode> ParseProducerMode(std::string_view text) {
  if (text == "idempotent") return ProducerMode::kIdempotent;
  if (text == "transactional") return ProducerMode::kTransactional;
  return Status::InvalidArgument("producer mode '" + std::string(text) +
                                 "' is unknown; use idempotent or transactional");
}

std::string_view ProducerModeName(ProducerMode mode) {
  return mode == ProducerMode::kTransactional ? "transactional" : "idempotent";
}

std::string_view CommandFieldName(v1::Command::CommandCase command_case) {
  const auto* field = v1::Command::descriptor()->FindFieldByNumber(command_case);
  return field == nullptr ? std::string_view() : std::string_view(field->name());
}

std::string_view CommandFieldName(const v1::Command& command) {
  return CommandFieldName(command.command_case());
}

namespace {

// The event headers of SPEC §3 by reference; `schema_version` holds the version's text.
std::array<kafka::HeaderView, 5> EventHeaderViews(std::string_view event_id,
                                                  std::string_view correlation_id,
                                                  std::string_view event_type,
                                                  const std::string& schema_version) {
  return {{
      {"kledger-event-id", event_id},
      {"kledger-event-type", event_type},
      {"kledger-schema-version", schema_version},
      {"kledger-correlation-id", correlation_id},
      {"content-type", "application/x-protobuf"},
  }};
}

}  // namespace

kafka::Headers EventHeaders(const v1::EventEnvelope& envelope, std::string_view event_type) {
  const std::string schema_version = std::to_string(envelope.schema_version());
  kafka::Headers headers;
  for (const kafka::HeaderView& h : EventHeaderViews(envelope.event_id(), envelope.correlation_id(),
                                                     event_type, schema_version)) {
    headers.push_back({std::string(h.key), std::string(h.value)});
  }
  return headers;
}

Result<PreparedEvent> PrepareEvent(const v1::Command& command, const CommandClientOptions& options,
                                   domain::FieldErrors& errors) {
  return PrepareEvent(v1::Command(command), options, errors);
}

Result<PreparedEvent> PrepareEvent(v1::Command&& command, const CommandClientOptions& options,
                                   domain::FieldErrors& errors) {
  errors.clear();
  PreparedEvent prepared;
  v1::EventEnvelope& envelope = prepared.envelope;
  envelope.set_instance_id(std::move(*command.mutable_instance_id()));
  envelope.set_schema_version(domain::kSchemaVersion);
  envelope.set_submitted_at_ms(WallClockMs());
  domain::ValidateCorrelationId(command.correlation_id(), errors);
  const v1::Command::CommandCase command_case = command.command_case();  // before the payload moves
  if (!SetEvent(std::move(command), envelope)) {
    domain::ValidateInstanceId(envelope.instance_id(), errors);
    errors.push_back({"command", "required", "the command names no operation"});
    return Status::InvalidArgument(DescribeErrors(errors));
  }
  envelope.set_event_id(domain::DeriveEventId(envelope));
  // Without one from the caller, the event id ties the logs of this command together.
  if (command.correlation_id().empty()) {
    envelope.set_correlation_id(envelope.event_id());
  } else {
    envelope.set_correlation_id(std::move(*command.mutable_correlation_id()));
  }
  // The event id and schema version are this function's own work, so of the envelope only the
  // instance and the payload need checking; payload paths are made relative to the command.
  domain::ValidateInstanceId(envelope.instance_id(), errors);
  for (domain::FieldError& e : domain::ValidatePayload(envelope, options.limits)) {
    // Named only for an error: the descriptor lookup was 2% of a valid command's submit.
    e.field.insert(0, std::string(CommandFieldName(command_case)) + ".");
    errors.push_back(std::move(e));
  }
  if (!errors.empty()) return Status::InvalidArgument(DescribeErrors(errors));
  prepared.event_type = domain::EventTypeName(envelope);
  return prepared;
}

Result<std::unique_ptr<CommandClient>> CommandClient::Create(const kafka::Properties& props,
                                                             CommandClientOptions options,
                                                             prometheus::Registry& registry) {
  if (options.events_topic.empty()) {
    return Status::InvalidArgument("the events topic name must not be empty");
  }
  if (options.ack_timeout.count() <= 0) {
    return Status::InvalidArgument("the acknowledgement timeout must be positive");
  }
  if (options.max_transaction_records == 0) {
    return Status::InvalidArgument("max_transaction_records must be at least 1");
  }
  if (options.producer_mode == ProducerMode::kTransactional &&
      options.ack_thread != kafka::DeliveryThread::kOwn) {
    // The committer waits for its transaction's reports on its own thread.
    return Status::InvalidArgument(
        "transactional mode resolves appends on its committer thread; use ack_thread kOwn");
  }
  // Kafka gives up on a record when the caller does: an unacknowledged command answers 503 and
  // is not retried behind the caller's back by this producer.
  kafka::Properties base = {{"message.timeout.ms", std::to_string(options.ack_timeout.count())}};
  if (options.producer_mode == ProducerMode::kTransactional) {
    if (options.transactional_id.empty()) options.transactional_id = DefaultTransactionalId();
    base["transactional.id"] = options.transactional_id;
    // librdkafka refuses a message timeout longer than the transaction timeout.
    base["transaction.timeout.ms"] =
        std::to_string(std::max<int64_t>(60000, options.ack_timeout.count()));
  }
  const kafka::Properties merged = kafka::Merge(base, props);
  // Created here even in transactional mode, so bad properties fail at start.
  ASSIGN_OR_RETURN(auto producer, kafka::Producer::Create(merged, options.ack_thread));
  std::unique_ptr<CommandClient> client(
      new CommandClient(nullptr, std::move(options), std::make_unique<CommandProbe>(registry)));
  client->producer_properties_ = merged;
  if (client->options_.producer_mode == ProducerMode::kTransactional) {
    client->committer_ = std::make_unique<Committer>(*client, std::move(producer));
  } else {
    client->producer_ = std::move(producer);
  }
  return client;
}

CommandClient::CommandClient(std::unique_ptr<kafka::Producer> producer,
                             CommandClientOptions options, std::unique_ptr<CommandProbe> probe)
    : producer_(std::move(producer)), options_(std::move(options)), probe_(std::move(probe)) {}

CommandClient::~CommandClient() {
  // Both resolve futures through this object (its probe), so they go while it is whole.
  committer_.reset();
  producer_.reset();
}

Result<PreparedEvent> CommandClient::Prepare(const v1::Command& command,
                                             domain::FieldErrors& errors) const {
  return PrepareEvent(command, options_, errors);
}

CommandClient::Pending CommandClient::Track(const PreparedEvent& event) const {
  Pending p;
  p.start = Clock::now();
  p.event_type = domain::EventTypeName(event.envelope);
  if (spdlog::should_log(spdlog::level::debug)) p.correlation_id = event.envelope.correlation_id();
  return p;
}

void CommandClient::Send(PreparedEvent& event, Pending p, std::vector<Pending>& group) {
  v1::EventEnvelope& envelope = event.envelope;
  // Idempotent mode produces from this buffer and views into the envelope: librdkafka copies
  // the bytes, so nothing of the record is built twice. The committer keeps owned records.
  thread_local std::string buffer;
  std::string& value = committer_ ? p.record.value : buffer;
  if (!envelope.SerializeToString(&value)) {
    probe_->CommandDone(p.event_type, "error", 0);
    return Complete(p, Status::Internal("cannot serialize the event envelope"));
  }
  if (committer_) {
    p.record.topic = options_.events_topic;
    p.record.headers = EventHeaders(envelope, p.event_type);
    p.event_id = std::move(*envelope.mutable_event_id());
    p.record.key = std::move(*envelope.mutable_instance_id());
    group.push_back(std::move(p));
    return;
  }
  // Owned by the delivery callback, which the producer calls exactly once when Produce accepted
  // the record; a two-pointer capture keeps std::function from allocating. The event id moves
  // into it first: the header views it, and librdkafka has copied it before any report.
  auto* owned = new Pending(std::move(p));
  owned->event_id = std::move(*envelope.mutable_event_id());
  const std::string schema_version = std::to_string(envelope.schema_version());
  const auto headers = EventHeaderViews(owned->event_id, envelope.correlation_id(),
                                        owned->event_type, schema_version);
  const kafka::ProducerRecordView record{options_.events_topic.c_str(), envelope.instance_id(),
                                         value, headers, std::nullopt};
  Status enqueued = producer_->Produce(record, [this, owned](Result<kafka::DeliveryReport> report) {
    std::unique_ptr<Pending> done(owned);
    if (!report.ok()) return Resolve(*done, internal::Unacknowledged(report.status().message()));
    Resolve(*done, Ack{std::move(done->event_id), report->partition, report->offset});
  });
  if (!enqueued.ok()) {
    std::unique_ptr<Pending> done(owned);
    Resolve(*done, Status::Unavailable("cannot enqueue the event: " + enqueued.message()));
  }
}

void CommandClient::Resolve(Pending& p, Result<Ack> ack) {
  const double seconds = SecondsSince(p.start);
  if (ack.ok()) {
    probe_->CommandDone(p.event_type, "accepted", seconds, ack->event_id, p.correlation_id);
  } else {
    probe_->ProduceError();
    probe_->CommandDone(p.event_type, "unavailable", seconds, p.event_id, p.correlation_id);
  }
  Complete(p, std::move(ack));
}

void CommandClient::Complete(Pending& p, Result<Ack> ack) {
  if (p.handler != nullptr) {
    p.handler->OnAck(p.tag, std::move(ack));
  } else {
    p.promise->set_value(std::move(ack));
  }
}

std::future<Result<Ack>> CommandClient::Append(PreparedEvent event) {
  std::vector<PreparedEvent> one;
  one.push_back(std::move(event));
  return std::move(AppendAll(std::move(one)).front());
}

std::vector<std::future<Result<Ack>>> CommandClient::AppendAll(std::vector<PreparedEvent> events) {
  std::vector<std::future<Result<Ack>>> futures;
  futures.reserve(events.size());
  AppendEach(events, [&futures](size_t, Pending& p) {
    p.promise.emplace();
    futures.push_back(p.promise->get_future());
  });
  return futures;
}

void CommandClient::AppendAllAsync(std::vector<PreparedEvent> events, AckHandler& handler,
                                   const std::vector<uint64_t>& tags) {
  assert(tags.size() == events.size());
  AppendEach(events, [&handler, &tags](size_t i, Pending& p) {
    p.handler = &handler;
    p.tag = tags[i];
  });
}

void CommandClient::AppendEach(std::vector<PreparedEvent>& events,
                               const std::function<void(size_t, Pending&)>& arm) {
  std::vector<Pending> group;  // transactional mode: one transaction for all of them
  group.reserve(committer_ ? events.size() : 0);
  for (size_t i = 0; i < events.size(); ++i) {
    Pending p = Track(events[i]);
    arm(i, p);
    Send(events[i], std::move(p), group);
  }
  if (committer_) committer_->Enqueue(std::move(group));
}

void CommandClient::AppendAsync(PreparedEvent event, AckHandler& handler, uint64_t tag) {
  AppendOne(event, handler, tag);
}

void CommandClient::AppendOne(PreparedEvent& event, AckHandler& handler, uint64_t tag) {
  Pending p = Track(event);
  p.handler = &handler;
  p.tag = tag;
  std::vector<Pending> group;
  Send(event, std::move(p), group);
  if (committer_) committer_->Enqueue(std::move(group));
}

std::future<Result<Ack>> CommandClient::Submit(const v1::Command& command) {
  domain::FieldErrors errors;
  auto prepared = Prepare(command, errors);
  if (!prepared.ok()) {
    probe_->CommandDone("invalid", "invalid", 0);
    return Ready<Result<Ack>>(prepared.status());
  }
  return Append(std::move(prepared).value());
}

void CommandClient::SubmitAsync(const v1::Command& command, AckHandler& handler, uint64_t tag) {
  domain::FieldErrors errors;
  AppendPrepared(PrepareEvent(command, options_, errors), handler, tag);
}

void CommandClient::SubmitAsync(v1::Command&& command, AckHandler& handler, uint64_t tag) {
  domain::FieldErrors errors;
  AppendPrepared(PrepareEvent(std::move(command), options_, errors), handler, tag);
}

void CommandClient::AppendPrepared(Result<PreparedEvent> prepared, AckHandler& handler,
                                   uint64_t tag) {
  if (!prepared.ok()) {
    probe_->CommandDone("invalid", "invalid", 0);
    return handler.OnAck(tag, prepared.status());
  }
  AppendOne(prepared.value(), handler, tag);
}

std::vector<std::future<Result<Ack>>> CommandClient::SubmitBatch(
    std::vector<v1::Command> commands, std::vector<domain::FieldErrors>* errors) {
  std::vector<std::future<Result<Ack>>> out(commands.size());
  auto [valid, valid_index] = PrepareEach(
      commands, errors, [&out](size_t i, Status why) { out[i] = Ready<Result<Ack>>(why); });
  auto appended = AppendAll(std::move(valid));
  for (size_t k = 0; k < appended.size(); ++k) out[valid_index[k]] = std::move(appended[k]);
  return out;
}

void CommandClient::SubmitBatchAsync(std::vector<v1::Command> commands, AckHandler& handler,
                                     std::vector<domain::FieldErrors>* errors) {
  auto [valid, valid_index] = PrepareEach(
      commands, errors, [&handler](size_t i, Status why) { handler.OnAck(i, std::move(why)); });
  AppendAllAsync(std::move(valid), handler, valid_index);
}

std::pair<std::vector<PreparedEvent>, std::vector<uint64_t>> CommandClient::PrepareEach(
    std::vector<v1::Command>& commands, std::vector<domain::FieldErrors>* errors,
    const std::function<void(size_t, Status)>& refuse) {
  if (errors != nullptr) errors->assign(commands.size(), {});
  std::vector<PreparedEvent> valid;
  std::vector<uint64_t> valid_index;  // also the tags of AppendAllAsync
  valid.reserve(commands.size());
  valid_index.reserve(commands.size());
  domain::FieldErrors scratch;
  for (size_t i = 0; i < commands.size(); ++i) {
    domain::FieldErrors& found = errors != nullptr ? (*errors)[i] : scratch;
    found.clear();
    auto prepared = PrepareEvent(std::move(commands[i]), options_, found);
    if (!prepared.ok()) {
      probe_->CommandDone("invalid", "invalid", 0);
      refuse(i, prepared.status());
      continue;
    }
    valid.push_back(std::move(prepared).value());
    valid_index.push_back(i);
  }
  return {std::move(valid), std::move(valid_index)};
}

int CommandClient::Poll(std::chrono::milliseconds timeout) {
  // The committer's producer is its own; in idempotent mode every report resolves one append.
  return producer_ ? producer_->Poll(timeout) : 0;
}

Status CommandClient::Flush(std::chrono::milliseconds timeout) {
  return committer_ ? committer_->Flush(timeout) : producer_->Flush(timeout);
}

}  // namespace kledger::command
