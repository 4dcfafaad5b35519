// The producer API: validation without Kafka (PrepareEvent), then one of two ways to append —
// an idempotent producer acknowledging each record, or a transactional committer that groups
// every waiting command into one Kafka transaction.
#include "command-side/command_client.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "command-side/command_probe.h"
#include "common/domain/event_id.h"
#include "common/wall_clock.h"

namespace kledger::command {
namespace {

using Clock = std::chrono::steady_clock;

// How long an idle committer waits before it tries again to finish a transaction a failed round
// left open (brokers still unreachable, say).
constexpr std::chrono::seconds kIdleRetry{1};

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

Status Unacknowledged(std::string_view why) {
  return Status::Unavailable("Kafka did not acknowledge the event; it is safe to resubmit: " +
                             std::string(why));
}

}  // namespace

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

// Transactional mode's group commit. One thread owns the transactional producer; callers queue
// groups of records (a group never spans two transactions); each round takes every group waiting,
// begins a transaction, produces them, commits, and only then resolves their futures — with the
// offsets on success, Unavailable on any failure (the transaction is aborted, nothing of it is
// committed). Waiting while a round commits is what batches concurrent commands.
class CommandClient::Committer {
 public:
  Committer(CommandClient& client, std::unique_ptr<kafka::Producer> producer)
      : client_(client), producer_(std::move(producer)), thread_([this] { Run(); }) {}

  ~Committer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    work_.notify_all();
    thread_.join();
  }

  void Enqueue(std::vector<Pending> group) {
    if (group.empty()) return;
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(group));
    }
    work_.notify_one();
  }

  Status Flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (idle_.wait_for(lock, timeout, [&] { return queue_.empty() && !busy_; })) {
      return Status::Ok();
    }
    return Status::Timeout("flush: transactions still committing after " +
                           std::to_string(timeout.count()) + " ms");
  }

 private:
  void Run() {
    for (;;) {
      std::vector<std::vector<Pending>> round;
      {
        std::unique_lock lock(mu_);
        const auto has_work = [&] { return stopping_ || !queue_.empty(); };
        while (!has_work()) {
          if (!LeftOpen()) {
            work_.wait(lock, has_work);
            break;
          }
          // A failed round left its transaction open (an abort or a commit to finish): that
          // holds back read_committed consumers of its partitions until transaction.timeout.ms,
          // so it is finished now rather than when the next command comes.
          lock.unlock();
          const Status ready = MakeReady(client_.options_.ack_timeout);
          lock.lock();
          if (!ready.ok()) work_.wait_for(lock, kIdleRetry, has_work);
        }
        // At shutdown the queue is still committed, so Flush()ed commands are not lost.
        if (queue_.empty()) return;
        size_t records = 0;
        while (!queue_.empty() && (round.empty() || records + queue_.front().size() <=
                                                        client_.options_.max_transaction_records)) {
          records += queue_.front().size();
          round.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        busy_ = true;
      }
      CommitRound(round);
      {
        std::lock_guard lock(mu_);
        busy_ = false;
      }
      idle_.notify_all();
    }
  }

  // A failed round's transaction is still open: its abort or its commit is to be finished.
  bool LeftOpen() const { return needs_abort_ || commit_unfinished_; }

  void FailRound(std::vector<std::vector<Pending>>& round, const Status& why) {
    for (auto& group : round) {
      for (Pending& p : group) client_.Resolve(p, Unacknowledged(why.message()));
    }
  }

  // Resolves, as Unavailable, every command whose caller has waited longer than the
  // acknowledgement timeout: its caller was told to resubmit, so it is not appended late.
  void DropExpired(std::vector<std::vector<Pending>>& round) {
    const auto timeout = client_.options_.ack_timeout;
    for (auto& group : round) {
      const bool expired = std::any_of(group.begin(), group.end(), [&](const Pending& p) {
        return Clock::now() - p.start > timeout;
      });
      if (expired) {
        for (Pending& p : group) {
          client_.Resolve(p, Unacknowledged("it waited longer than the acknowledgement timeout"));
        }
        group.clear();
      }
    }
    std::erase_if(round, [](const auto& group) { return group.empty(); });
  }

  void CommitRound(std::vector<std::vector<Pending>>& round) {
    DropExpired(round);
    if (round.empty()) return;
    // Every step of the round fits in what is left of its oldest command's timeout.
    Clock::time_point deadline = Clock::time_point::max();
    for (const auto& group : round) {
      for (const Pending& p : group) deadline = std::min(deadline, p.start);
    }
    deadline += client_.options_.ack_timeout;
    const auto remaining = [deadline] {
      return std::max(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
          std::chrono::milliseconds(1));
    };

    if (Status s = MakeReady(remaining()); !s.ok()) return FailRound(round, s);
    // Finishing an earlier round's abort or commit took some of that time.
    DropExpired(round);
    if (round.empty()) return;
    if (Status s = producer_->BeginTransaction(); !s.ok()) {
      FailRound(round, s);
      return Recover(s);
    }
    // Written by the delivery thread; shared because a failed commit may return before the
    // last delivery report arrives.
    auto reports = std::make_shared<std::vector<std::optional<Result<kafka::DeliveryReport>>>>();
    for (const auto& group : round) reports->resize(reports->size() + group.size());
    size_t index = 0;
    for (auto& group : round) {
      for (Pending& p : group) {
        Status produced = producer_->Produce(
            std::move(p.record), [reports, index](Result<kafka::DeliveryReport> report) {
              (*reports)[index] = std::move(report);
            });
        ++index;
        if (!produced.ok()) {
          FailRound(round, produced);
          return Recover(produced);
        }
      }
    }
    // Delivered first, then committed: until the commit starts, a failure is an abort.
    if (Status delivered = producer_->Flush(remaining()); !delivered.ok()) {
      FailRound(round, delivered);  // answer first: the callers need not wait for the abort
      return Recover(delivered);
    }
    if (Status committed = producer_->CommitTransaction(remaining()); !committed.ok()) {
      FailRound(round, committed);
      return RecoverCommit(committed);
    }
    index = 0;
    for (auto& group : round) {
      for (Pending& p : group) {
        const auto& report = (*reports)[index++];
        if (!report || !report->ok()) {
          // A committed transaction delivered every record; anything else is a bug to see.
          client_.Resolve(p, Status::Internal("transaction committed without a delivery report"));
          continue;
        }
        client_.Resolve(p, Ack{std::move(p.event_id), (*report)->partition, (*report)->offset});
      }
    }
  }

  // A fatal error leaves the producer unusable, and one nobody can explain (a bug) leaves it in
  // a state nobody can vouch for: either way the next round starts with a new producer, whose
  // InitTransactions fences the old one off.
  static bool MustRecreate(const Status& s) {
    return s.code() == StatusCode::kFatal || s.code() == StatusCode::kInternal;
  }

  // Registers the transactional id on first use and finishes a commit or an abort left over from
  // a failed round, so the next transaction starts clean.
  Status MakeReady(std::chrono::milliseconds timeout) {
    if (!producer_) {
      ASSIGN_OR_RETURN(producer_, kafka::Producer::Create(client_.producer_properties_));
      initialized_ = false;
    }
    if (!initialized_) {
      Status s = producer_->InitTransactions(timeout);
      if (!s.ok()) {
        if (MustRecreate(s)) producer_.reset();
        return s;
      }
      initialized_ = true;
      needs_abort_ = false;
      commit_unfinished_ = false;
    }
    if (commit_unfinished_) {
      // librdkafka refuses an abort while a commit it has started is unfinished: the commit is
      // resumed to its end. Its callers had Unavailable, which allows the commands to be in the
      // log ("resubmit": same idempotency key, applied once).
      Status s = producer_->CommitTransaction(timeout);
      if (s.code() == StatusCode::kFailedPrecondition) {
        needs_abort_ = true;  // the commit failed for good: the transaction is aborted instead
      } else if (!s.ok()) {
        if (MustRecreate(s)) producer_.reset();
        return s;
      } else {
        spdlog::info("command: the unfinished transaction commit completed");
      }
      commit_unfinished_ = false;
    }
    if (needs_abort_) {
      Status s = producer_->AbortTransaction(timeout);
      if (!s.ok()) {
        if (MustRecreate(s)) producer_.reset();
        return s;
      }
      spdlog::info("command: the failed transaction's abort completed");
      needs_abort_ = false;
    }
    return Status::Ok();
  }

  // After rd_kafka_commit_transaction failed: a commit that timed out or met a retriable error
  // goes on in the background and must be resumed, not aborted (librdkafka would refuse the
  // abort as a conflicting call, and every later round with it); anything else is recovered.
  void RecoverCommit(const Status& failure) {
    if (failure.code() == StatusCode::kTimeout || failure.code() == StatusCode::kUnavailable) {
      spdlog::warn("command: transaction commit unfinished, resumed before the next one: {}",
                   failure.ToString());
      commit_unfinished_ = true;
      return;
    }
    Recover(failure);
  }

  // After a failed begin/produce/delivery/commit: abort, or drop a producer that hit a fatal
  // error (a new one with the same transactional.id fences it off).
  void Recover(const Status& failure) {
    spdlog::warn("command: transaction failed, aborting it: {}", failure.ToString());
    if (MustRecreate(failure)) {
      producer_.reset();
      return;
    }
    Status aborted = producer_->AbortTransaction(client_.options_.ack_timeout);
    if (aborted.ok()) return;
    spdlog::warn("command: abort failed, retried before the next transaction: {}",
                 aborted.ToString());
    if (MustRecreate(aborted)) {
      producer_.reset();
    } else {
      needs_abort_ = true;
    }
  }

  CommandClient& client_;
  std::unique_ptr<kafka::Producer> producer_;  // only the committer thread touches it
  bool initialized_ = false;                   // InitTransactions succeeded on producer_
  bool needs_abort_ = false;                   // a failed abort must be retried first
  bool commit_unfinished_ = false;             // a commit that timed out must be resumed first

  std::mutex mu_;
  std::condition_variable work_;
  std::condition_variable idle_;
  std::deque<std::vector<Pending>> queue_;  // guarded by mu_
  bool busy_ = false;                       // a round is committing; guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::thread thread_;                      // last: starts once the rest is built
};

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
    if (!report.ok()) return Resolve(*done, Unacknowledged(report.status().message()));
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
  std::vector<Pending> group;  // transactional mode: one transaction for all of them
  group.reserve(committer_ ? events.size() : 0);
  for (PreparedEvent& event : events) {
    Pending p = Track(event);
    p.promise.emplace();
    futures.push_back(p.promise->get_future());
    Send(event, std::move(p), group);
  }
  if (committer_) committer_->Enqueue(std::move(group));
  return futures;
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
    const std::vector<v1::Command>& commands) {
  std::vector<std::future<Result<Ack>>> out(commands.size());
  std::vector<PreparedEvent> valid;
  std::vector<size_t> valid_index;
  for (size_t i = 0; i < commands.size(); ++i) {
    domain::FieldErrors errors;
    auto prepared = Prepare(commands[i], errors);
    if (!prepared.ok()) {
      probe_->CommandDone("invalid", "invalid", 0);
      out[i] = Ready<Result<Ack>>(prepared.status());
      continue;
    }
    valid.push_back(std::move(prepared).value());
    valid_index.push_back(i);
  }
  auto appended = AppendAll(std::move(valid));
  for (size_t k = 0; k < appended.size(); ++k) out[valid_index[k]] = std::move(appended[k]);
  return out;
}

int CommandClient::Poll(std::chrono::milliseconds timeout) {
  // The committer's producer is its own; in idempotent mode every report resolves one append.
  return producer_ ? producer_->Poll(timeout) : 0;
}

Status CommandClient::Flush(std::chrono::milliseconds timeout) {
  return committer_ ? committer_->Flush(timeout) : producer_->Flush(timeout);
}

}  // namespace kledger::command
