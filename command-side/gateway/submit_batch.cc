// POST /v1/batch — body: BatchRequest; answers 200 with one result per command, in order.
// Every valid command is appended; invalid ones are refused alone. With a transactional client
// the valid ones are appended all-or-nothing.
#include <optional>
#include <string>
#include <vector>

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

  // The answer is written item by item: an acknowledged command by AckJson, a refused one (rare)
  // by Protobuf's printer; BatchJson's test checks the whole against the printer's.
  std::vector<BatchItem> items(futures.size());
  const auto deadline =
      std::chrono::steady_clock::now() + client.options().ack_timeout + std::chrono::seconds(1);
  bool any_unavailable = false;
  for (size_t k = 0; k < futures.size(); ++k) {
    if (futures[k].wait_until(deadline) != std::future_status::ready) {
      any_unavailable = true;
      items[k].refused.set_status(503);
      items[k].refused.mutable_error()->set_code("unavailable");
      items[k].refused.mutable_error()->set_message("Kafka did not acknowledge the event in time");
      continue;
    }
    auto ack = futures[k].get();
    if (!ack.ok()) {
      any_unavailable |= http::HttpStatusFor(ack.status()) == 503;
      items[k].refused.set_status(http::HttpStatusFor(ack.status()));
      items[k].refused.mutable_error()->set_code(std::string(http::ErrorCodeFor(ack.status())));
      items[k].refused.mutable_error()->set_message(ack.status().message());
      for (auto& detail : ToDetails(errors[k])) {
        *items[k].refused.mutable_error()->add_details() = detail;
      }
      continue;
    }
    items[k].ack = std::move(ack).value();
  }
  if (any_unavailable) res.set_header("Retry-After", "1");
  res.status = 200;
  res.set_content(BatchJson(items), "application/json");
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
