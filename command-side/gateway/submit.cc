// The reply path every command handler shares, and the check of keys named by both the path
// and the body.
#include <algorithm>
#include <array>
#include <memory>
#include <nlohmann/json.hpp>

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

namespace {

// The characters that read the same in JSON unescaped and that no printer escapes: letters,
// digits and "-_.:".
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> plain{};
  for (int c = 0; c < 256; ++c) {
    plain[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.' || c == ':';
  }
  return plain;
}();

// Whether `text` (an event id is hex) needs no escaping.
bool NeedsNoEscaping(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return kPlain[static_cast<unsigned char>(c)]; });
}

}  // namespace

std::string AckJson(const Ack& ack) {
  // Only the event id may need JSON's escaping: nlohmann's object of three members, printed, was
  // ~8% of the batch worker's samples, and its string's escaping alone ~1.4% of a batch's
  // answering thread, where an event id (hex) needs none.
  std::string out = R"({"event_id":)";
  if (NeedsNoEscaping(ack.event_id)) {
    out += '"';
    out += ack.event_id;
    out += '"';
  } else {
    out += nlohmann::json(ack.event_id).dump();
  }
  out += R"(,"partition":)";
  out += std::to_string(ack.partition);
  out += R"(,"offset":")";
  out += std::to_string(ack.offset);
  out += R"("})";
  return out;
}

namespace {

// The answer of one command request, Kafka's acknowledgement awaited.
struct PendingReply {
  httplib::Response* res;
  http::Done done;
};

// Answers each request once its event is acknowledged: the tag is its PendingReply. Holds no
// state, so one serves every client.
class ReplyOnAck final : public AckHandler {
 public:
  void OnAck(uint64_t tag, Result<Ack> ack) override {
    std::unique_ptr<PendingReply> pending(reinterpret_cast<PendingReply*>(tag));
    if (!ack.ok()) {
      http::ReplyStatus(*pending->res, ack.status());
    } else {
      pending->res->status = 202;
      pending->res->set_content(AckJson(*ack), "application/json");
    }
    pending->done();
  }
};

ReplyOnAck reply_on_ack;

}  // namespace

void SubmitAndReply(CommandClient& client, const v1::Command& command, httplib::Response& res,
                    http::Done done) {
  domain::FieldErrors errors;
  auto prepared = client.Prepare(command, errors);
  if (!prepared.ok()) {
    client.probe().CommandDone("invalid", "invalid", 0);
    // The body is the command's operation alone, so paths are made relative to it.
    const std::string body_prefix = std::string(CommandFieldName(command)) + ".";
    http::ReplyError(res, 400, "invalid_argument", prepared.status().message(),
                     ToDetails(errors, body_prefix));
    return done();
  }
  // The producer answers every append exactly once, by ack_timeout at the latest (an
  // unacknowledged event is answered 503: safe to resubmit).
  auto* pending = new PendingReply{&res, std::move(done)};
  client.AppendAsync(std::move(prepared).value(), reply_on_ack,
                     reinterpret_cast<uint64_t>(pending));
}

}  // namespace kledger::command::gateway
