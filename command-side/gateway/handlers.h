// The command gateway's handlers and the one reply path they share (internal to command-side).
#pragma once

#include <httplib.h>

#include "command-side/command_client.h"

namespace kledger::command::gateway {

// Prepares and appends `command`, then answers 202 {event_id, partition, offset}, 400 with
// field details (nothing appended), or 503 + Retry-After when Kafka did not acknowledge in time.
void SubmitAndReply(CommandClient& client, const v1::Command& command, httplib::Response& res);

// Field errors as the error body's details, with `strip_prefix` taken off the paths that start
// with it (a single-command body is the operation itself: "entries[0].amount").
std::vector<v1::FieldError> ToDetails(const domain::FieldErrors& errors,
                                      std::string_view strip_prefix = {});

// Starts a command from the request: instance from the path, correlation id from the
// X-Correlation-Id header.
v1::Command CommandFromRequest(const httplib::Request& req);

// A key field of the command body that the path also names.
struct PathKey {
  std::string* field;     // in the body
  std::string from_path;  // the path's value
  const char* name;       // the field's name in error details
};
// Sets each key field to the path's value. The body may repeat the path's key, but never
// contradict it: answers 400 naming the contradicting fields and returns false when it does.
bool TakeKeysFromPath(std::initializer_list<PathKey> keys, std::string_view what,
                      httplib::Response& res);

void OpenAccount(CommandClient& client, const httplib::Request& req, httplib::Response& res);
void CreateTransaction(CommandClient& client, const httplib::Request& req, httplib::Response& res);
void UpdateTransaction(CommandClient& client, const httplib::Request& req, httplib::Response& res);
void UpdateAccount(CommandClient& client, const httplib::Request& req, httplib::Response& res);
void CloseAccount(CommandClient& client, const httplib::Request& req, httplib::Response& res);
void SubmitBatch(CommandClient& client, const httplib::Request& req, httplib::Response& res);

}  // namespace kledger::command::gateway
