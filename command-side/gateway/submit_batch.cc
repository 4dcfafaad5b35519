// POST /v1/batch — body: BatchRequest; answers 200 with one result per command, in order, once
// Kafka acknowledged them all. Every valid command is appended; invalid ones are refused alone.
// With a transactional client the valid ones are appended all-or-nothing.
#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "command-side/gateway/handlers.h"
#include "common/http.h"

namespace kledger::command::gateway {

namespace {

// The answer of one batch: each command's result is filled in as Kafka acknowledges it (on the
// producer's delivery thread; an invalid command's at once), and the last one sends the answer.
// Owns itself from SubmitBatchAsync on, and is gone once the answer is sent.
class BatchReply final : public AckHandler {
 public:
  BatchReply(size_t commands, httplib::Response& res, http::Done done)
      : items_(commands),
        errors_(commands),
        res_(res),
        done_(std::move(done)),
        remaining_(commands) {}

  std::vector<domain::FieldErrors>& errors() { return errors_; }

  void OnAck(uint64_t index, Result<Ack> ack) override {
    BatchItem& item = items_[index];
    if (ack.ok()) {
      item.ack = std::move(ack).value();
    } else {
      item.refused.set_status(http::HttpStatusFor(ack.status()));
      item.refused.mutable_error()->set_code(std::string(http::ErrorCodeFor(ack.status())));
      item.refused.mutable_error()->set_message(ack.status().message());
      for (auto& detail : ToDetails(errors_[index])) {
        *item.refused.mutable_error()->add_details() = detail;
      }
    }
    // The thread that records the last result sees every other one (acq_rel) and answers.
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) Answer();
  }

 private:
  void Answer() {
    const bool any_unavailable = std::any_of(items_.begin(), items_.end(), [](const BatchItem& i) {
      return !i.ack.has_value() && i.refused.status() == 503;
    });
    if (any_unavailable) res_.set_header("Retry-After", "1");
    res_.status = 200;
    res_.set_content(BatchJson(items_), "application/json");
    http::Done done = std::move(done_);
    delete this;
    done();
  }

  std::vector<BatchItem> items_;
  std::vector<domain::FieldErrors> errors_;
  httplib::Response& res_;
  http::Done done_;
  std::atomic<size_t> remaining_;
};

// Every instance the batch's commands name, once each, in order of appearance.
std::vector<std::string> InstancesOf(const v1::BatchRequest& batch) {
  std::vector<std::string> instances;
  for (const v1::Command& command : batch.commands()) {
    if (std::find(instances.begin(), instances.end(), command.instance_id()) == instances.end()) {
      instances.push_back(command.instance_id());
    }
  }
  return instances;
}

}  // namespace

void SubmitBatch(CommandClient& client, const auth::Authorizer& authorizer,
                 const httplib::Request& req, httplib::Response& res, http::Done done) {
  v1::BatchRequest batch;
  const Status parsed = http::ParseJson(req.body, batch);
  // `submit` on every instance the body names, checked on the one parse; a body that does not
  // parse names none (any grant of `submit` will do), so a caller without one still hears 401
  // or 403 before 400.
  if (authorizer.enabled() &&
      !http::Authorize(authorizer, auth::Right::kSubmit,
                       parsed.ok() ? InstancesOf(batch) : std::vector<std::string>{}, req, res)) {
    return done();
  }
  if (!parsed.ok()) {
    http::ReplyStatus(res, parsed);
    return done();
  }
  if (static_cast<size_t>(batch.commands_size()) > client.options().max_batch_commands) {
    http::ReplyError(res, 400, "invalid_argument",
                     "a batch holds at most " +
                         std::to_string(client.options().max_batch_commands) + " commands");
    return done();
  }
  const std::string correlation_id = req.get_header_value("X-Correlation-Id");

  std::vector<v1::Command> commands;
  commands.reserve(batch.commands_size());
  for (v1::Command& command : *batch.mutable_commands()) {
    if (command.correlation_id().empty()) command.set_correlation_id(correlation_id);
    commands.push_back(std::move(command));
  }
  if (commands.empty()) {
    res.status = 200;
    res.set_content(BatchJson({}), "application/json");
    return done();
  }
  // One call, so that a transactional client commits the valid commands together. The producer
  // answers every append exactly once, by ack_timeout at the latest (an unacknowledged command
  // is answered 503: safe to resubmit), so the reply always completes; nothing here waits.
  auto* reply = new BatchReply(commands.size(), res, std::move(done));
  client.SubmitBatchAsync(std::move(commands), *reply, &reply->errors());
}

std::string BatchJson(const std::vector<BatchItem>& items) {
  std::string out = R"({"results":[)";
  for (size_t k = 0; k < items.size(); ++k) {
    if (k > 0) out += ',';
    if (items[k].ack.has_value()) {
      out += R"({"status":202,"ack":)";
      out += AckJson(*items[k].ack);
      out += '}';
    } else {
      out += http::ToJson(items[k].refused);
    }
  }
  out += "]}";
  return out;
}

}  // namespace kledger::command::gateway
