// POST /v1/batch — body: BatchRequest; answers 200 with one result per command, in order.
// Every valid command is appended; invalid ones are refused alone. With a transactional client
// the valid ones are appended all-or-nothing.
#include <algorithm>

#include "command-side/gateway/handlers.h"
#include "common/http.h"

namespace kledger::command::gateway {

void SubmitBatch(CommandClient& client, const httplib::Request& req, httplib::Response& res) {
  v1::BatchRequest batch;
  if (Status s = http::ParseJson(req.body, batch); !s.ok()) return http::ReplyStatus(res, s);
  if (static_cast<size_t>(batch.commands_size()) > client.options().max_batch_commands) {
    return http::ReplyError(res, 400, "invalid_argument",
                            "a batch holds at most " +
                                std::to_string(client.options().max_batch_commands) + " commands");
  }
  const std::string correlation_id = req.get_header_value("X-Correlation-Id");

  std::vector<v1::Command> commands;
  commands.reserve(batch.commands_size());
  for (v1::Command& command : *batch.mutable_commands()) {
    if (command.correlation_id().empty()) command.set_correlation_id(correlation_id);
    commands.push_back(std::move(command));
  }
  std::vector<domain::FieldErrors> errors;
  // One call, so that a transactional client commits the valid commands together.
  auto futures = client.SubmitBatch(std::move(commands), &errors);

  v1::BatchResponse response;
  const auto deadline =
      std::chrono::steady_clock::now() + client.options().ack_timeout + std::chrono::seconds(1);
  for (size_t k = 0; k < futures.size(); ++k) {
    v1::BatchItemResult& item = *response.add_results();
    if (futures[k].wait_until(deadline) != std::future_status::ready) {
      item.set_status(503);
      item.mutable_error()->set_code("unavailable");
      item.mutable_error()->set_message("Kafka did not acknowledge the event in time");
      continue;
    }
    auto ack = futures[k].get();
    if (!ack.ok()) {
      item.set_status(http::HttpStatusFor(ack.status()));
      item.mutable_error()->set_code(std::string(http::ErrorCodeFor(ack.status())));
      item.mutable_error()->set_message(ack.status().message());
      for (auto& detail : ToDetails(errors[k])) *item.mutable_error()->add_details() = detail;
      continue;
    }
    item.set_status(202);
    item.mutable_ack()->set_event_id(ack->event_id);
    item.mutable_ack()->set_partition(ack->partition);
    item.mutable_ack()->set_offset(ack->offset);
  }
  const bool any_unavailable = std::any_of(response.results().begin(), response.results().end(),
                                           [](const auto& item) { return item.status() == 503; });
  if (any_unavailable) res.set_header("Retry-After", "1");
  http::ReplyJson(res, 200, response);
}

}  // namespace kledger::command::gateway
