// The reply path every command handler shares, and the check of keys named by both the path
// and the body.
#include <chrono>

#include "command-side/command_probe.h"
#include "command-side/gateway/handlers.h"
#include "common/http.h"

namespace kledger::command::gateway {

std::vector<v1::FieldError> ToDetails(const domain::FieldErrors& errors,
                                      std::string_view strip_prefix) {
  std::vector<v1::FieldError> details;
  details.reserve(errors.size());
  for (const auto& e : errors) {
    v1::FieldError d;
    const bool strip = !strip_prefix.empty() && e.field.starts_with(strip_prefix);
    d.set_field(strip ? e.field.substr(strip_prefix.size()) : e.field);
    d.set_code(e.code);
    details.push_back(std::move(d));
  }
  return details;
}

v1::Command CommandFromRequest(const httplib::Request& req) {
  v1::Command command;
  command.set_instance_id(req.matches[1].str());
  command.set_correlation_id(req.get_header_value("X-Correlation-Id"));
  return command;
}

bool TakeKeysFromPath(std::initializer_list<PathKey> keys, std::string_view what,
                      httplib::Response& res) {
  std::vector<v1::FieldError> conflicts;
  for (const PathKey& key : keys) {
    if (!key.field->empty() && *key.field != key.from_path) {
      v1::FieldError& e = conflicts.emplace_back();
      e.set_field(key.name);
      e.set_code("mismatch");
    }
    *key.field = key.from_path;
  }
  if (conflicts.empty()) return true;
  http::ReplyError(res, 400, "invalid_argument",
                   "the body names another " + std::string(what) + " than the path", conflicts);
  return false;
}

void SubmitAndReply(CommandClient& client, const v1::Command& command, httplib::Response& res) {
  domain::FieldErrors errors;
  auto prepared = client.Prepare(command, errors);
  if (!prepared.ok()) {
    client.probe().CommandDone("invalid", "invalid", 0);
    // The body is the command's operation alone, so paths are made relative to it.
    const std::string body_prefix = std::string(CommandFieldName(command)) + ".";
    http::ReplyError(res, 400, "invalid_argument", prepared.status().message(),
                     ToDetails(errors, body_prefix));
    return;
  }
  auto future = client.Append(std::move(prepared).value());
  // The producer gives up at ack_timeout; the margin covers its delivery-report thread.
  const auto wait = client.options().ack_timeout + std::chrono::seconds(1);
  if (future.wait_for(wait) != std::future_status::ready) {
    http::ReplyStatus(res, Status::Unavailable("Kafka did not acknowledge the event in time; "
                                               "it is safe to resubmit the same command"));
    return;
  }
  auto ack = future.get();
  if (!ack.ok()) {
    http::ReplyStatus(res, ack.status());
    return;
  }
  v1::Ack body;
  body.set_event_id(ack->event_id);
  body.set_partition(ack->partition);
  body.set_offset(ack->offset);
  http::ReplyJson(res, 202, body);
}

}  // namespace kledger::command::gateway
