// POST /v1/batch — body: BatchRequest; answers 200 with one result per command, in order.
// Every valid command is appended; invalid ones are refused alone. With a transactional client
// the valid ones are appended all-or-nothing.
#include <algorithm>

#include "command-side/command_probe.h"
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

  v1::BatchResponse response;
  std::vector<int> appended_index;  // result index of each appended command
  std::vector<PreparedEvent> appended;
  for (const v1::Command& command : batch.commands()) {
    v1::BatchItemResult& item = *response.add_results();
    v1::Command with_id = command;
    if (with_id.correlation_id().empty()) with_id.set_correlation_id(correlation_id);
    domain::FieldErrors errors;
    auto prepared = client.Prepare(with_id, errors);
    if (!prepared.ok()) {
      client.probe().CommandDone("invalid", "invalid", 0);
      item.set_status(400);
      item.mutable_error()->set_code("invalid_argument");
      item.mutable_error()->set_message(prepared.status().message());
      for (auto& detail : ToDetails(errors)) *item.mutable_error()->add_details() = detail;
      continue;
    }
    appended_index.push_back(response.results_size() - 1);
    appended.push_back(std::move(prepared).value());
  }
  // One call, so that a transactional client commits the valid commands together.
  auto futures = client.AppendAll(std::move(appended));

  const auto deadline =
      std::chrono::steady_clock::now() + client.options().ack_timeout + std::chrono::seconds(1);
  for (size_t k = 0; k < futures.size(); ++k) {
    auto& future = futures[k];
    v1::BatchItemResult& item = *response.mutable_results(appended_index[k]);
    if (future.wait_until(deadline) != std::future_status::ready) {
      item.set_status(503);
      item.mutable_error()->set_code("unavailable");
      item.mutable_error()->set_message("Kafka did not acknowledge the event in time");
      continue;
    }
    auto ack = future.get();
    if (!ack.ok()) {
      item.set_status(http::HttpStatusFor(ack.status()));
      item.mutable_error()->set_code(std::string(http::ErrorCodeFor(ack.status())));
      item.mutable_error()->set_message(ack.status().message());
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
