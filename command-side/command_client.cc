#include "command-side/command_client.h"

#include <spdlog/spdlog.h>

#include "command-side/command_probe.h"
#include "common/domain/event_id.h"

namespace kledger::command {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Moves the command's payload into the envelope's `event` oneof. False when none is set.
bool SetEvent(const v1::Command& command, v1::EventEnvelope& envelope) {
  switch (command.command_case()) {
    case v1::Command::kOpenAccount:
      *envelope.mutable_account_opened() = command.open_account();
      return true;
    case v1::Command::kCreateTransaction:
      *envelope.mutable_transaction_created() = command.create_transaction();
      return true;
    case v1::Command::kUpdateTransaction:
      *envelope.mutable_transaction_updated() = command.update_transaction();
      return true;
    case v1::Command::kUpdateAccount:
      *envelope.mutable_account_updated() = command.update_account();
      return true;
    case v1::Command::kCloseAccount:
      *envelope.mutable_account_closed() = command.close_account();
      return true;
    case v1::Command::kCreateInstance:
      *envelope.mutable_instance_created() = command.create_instance();
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

}  // namespace

kafka::Headers EventHeaders(const v1::EventEnvelope& envelope, std::string_view event_type) {
  return {
      {"kledger-event-id", envelope.event_id()},
      {"kledger-event-type", std::string(event_type)},
      {"kledger-schema-version", std::to_string(envelope.schema_version())},
      {"kledger-correlation-id", envelope.correlation_id()},
      {"content-type", "application/x-protobuf"},
  };
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
  // Kafka gives up on a record when the caller does: an unacknowledged command answers 503 and
  // is not retried behind the caller's back by this producer.
  kafka::Properties base = {{"message.timeout.ms", std::to_string(options.ack_timeout.count())}};
  ASSIGN_OR_RETURN(auto producer, kafka::Producer::Create(kafka::Merge(base, props)));
  return std::unique_ptr<CommandClient>(new CommandClient(
      std::move(producer), std::move(options), std::make_unique<CommandProbe>(registry)));
}

CommandClient::CommandClient(std::unique_ptr<kafka::Producer> producer,
                             CommandClientOptions options, std::unique_ptr<CommandProbe> probe)
    : producer_(std::move(producer)), options_(std::move(options)), probe_(std::move(probe)) {}

CommandClient::~CommandClient() = default;

Result<PreparedEvent> CommandClient::Prepare(const v1::Command& command,
                                             domain::FieldErrors& errors) const {
  PreparedEvent prepared;
  v1::EventEnvelope& envelope = prepared.envelope;
  envelope.set_instance_id(command.instance_id());
  envelope.set_schema_version(domain::kSchemaVersion);
  envelope.set_submitted_at_ms(NowMs());
  if (!SetEvent(command, envelope)) {
    errors.push_back({"command", "required", "the command names no operation"});
    return Status::InvalidArgument(DescribeErrors(errors));
  }
  envelope.set_event_id(domain::DeriveEventId(envelope));
  // Without one from the caller, the event id ties the logs of this command together.
  envelope.set_correlation_id(command.correlation_id().empty() ? envelope.event_id()
                                                                : command.correlation_id());
  errors = domain::ValidateEnvelope(envelope, options_.limits);
  if (!errors.empty()) return Status::InvalidArgument(DescribeErrors(errors));
  prepared.event_type = std::string(domain::EventTypeName(envelope));
  return prepared;
}

std::future<Result<Ack>> CommandClient::Append(PreparedEvent event) {
  const auto start = Clock::now();
  auto promise = std::make_shared<std::promise<Result<Ack>>>();
  auto future = promise->get_future();

  kafka::ProducerRecord record;
  record.topic = options_.events_topic;
  record.key = event.envelope.instance_id();
  record.headers = EventHeaders(event.envelope, event.event_type);
  if (!event.envelope.SerializeToString(&record.value)) {
    probe_->CommandDone(event.event_type, "error", 0);
    promise->set_value(Status::Internal("cannot serialize the event envelope"));
    return future;
  }

  auto on_delivery = [promise, start, probe = probe_.get(), event_id = event.envelope.event_id(),
                      type = event.event_type](Result<kafka::DeliveryReport> report) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!report.ok()) {
      probe->ProduceError();
      probe->CommandDone(type, "unavailable", seconds);
      promise->set_value(
          Status::Unavailable("Kafka did not acknowledge the event; it is safe to resubmit: " +
                              report.status().message()));
      return;
    }
    probe->CommandDone(type, "accepted", seconds);
    promise->set_value(Ack{event_id, report->partition, report->offset});
  };

  Status enqueued = producer_->Produce(std::move(record), std::move(on_delivery));
  if (!enqueued.ok()) {
    probe_->ProduceError();
    probe_->CommandDone(event.event_type, "unavailable",
                        std::chrono::duration<double>(Clock::now() - start).count());
    promise->set_value(Status::Unavailable("cannot enqueue the event: " + enqueued.message()));
  }
  return future;
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

std::vector<std::future<Result<Ack>>> CommandClient::SubmitBatch(
    const std::vector<v1::Command>& commands) {
  std::vector<std::future<Result<Ack>>> out;
  out.reserve(commands.size());
  for (const auto& command : commands) out.push_back(Submit(command));
  return out;
}

Status CommandClient::Flush(std::chrono::milliseconds timeout) { return producer_->Flush(timeout); }

}  // namespace kledger::command
