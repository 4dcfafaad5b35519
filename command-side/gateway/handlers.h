// The command gateway's handlers and the one reply path they share (internal to command-side).
#pragma once

#include <httplib.h>

#include <optional>
#include <string>
#include <vector>

#include "command-side/command_client.h"
#include "common/http.h"

namespace kledger::command::gateway {

// Prepares and appends `command`, then answers 202 {event_id, partition, offset}, 400 with
// field details (nothing appended), or 503 + Retry-After when Kafka did not acknowledge in time.
// Returns at once; `done` is called when `res` holds the answer (on the producer's delivery
// thread once Kafka answered, or before returning when the command is invalid).
void SubmitAndReply(CommandClient& client, const v1::Command& command, httplib::Response& res,
                    http::Done done);

// The 202 body of an accepted command: v1::Ack as http::ToJson prints it (the int64 offset quoted,
// as Protobuf's JSON mapping has it), written directly (nlohmann-json escapes the event id) in a
// fraction of the printer's time.
std::string AckJson(const Ack& ack);

// One result of a batch: the command's acknowledgement, or else why it was refused.
struct BatchItem {
  std::optional<Ack> ack;
  v1::BatchItemResult refused;  // with its status and error, when `ack` is empty
};

// The body of a batch's answer: v1::BatchResponse as http::ToJson prints it, the acknowledged
// items written by AckJson.
std::string BatchJson(const std::vector<BatchItem>& items);

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

// Answers `res` with `status` (a body that does not parse); returns false, for a Read* to return.
inline bool Refuse(httplib::Response& res, const Status& status) {
  http::ReplyStatus(res, status);
  return false;
}

// Each reads the command its route's request carries into `command`: true when it is ready to
// submit, false when `res` already holds the answer (a body that does not parse, keys that
// contradict the path).
bool ReadOpenAccount(const httplib::Request& req, httplib::Response& res, v1::Command& command);
bool ReadCreateTransaction(const httplib::Request& req, httplib::Response& res,
                           v1::Command& command);
bool ReadUpdateTransaction(const httplib::Request& req, httplib::Response& res,
                           v1::Command& command);
bool ReadUpdateAccount(const httplib::Request& req, httplib::Response& res, v1::Command& command);
bool ReadCloseAccount(const httplib::Request& req, httplib::Response& res, v1::Command& command);
// /v1/batch: parses, checks that `authorizer` grants `submit` on every instance the body names,
// submits, and returns; the last acknowledgement answers (`done`).
void SubmitBatch(CommandClient& client, const auth::Authorizer& authorizer,
                 const httplib::Request& req, httplib::Response& res, http::Done done);

}  // namespace kledger::command::gateway
