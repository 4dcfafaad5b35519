// POST /v1/instances/{instance}/transactions/{source}/{source_idempk}/updates — body:
// TransactionUpdated; the transaction's key comes from the path.
#include "command-side/gateway/handlers.h"
#include "common/http.h"

namespace kledger::command::gateway {

void UpdateTransaction(CommandClient& client, const httplib::Request& req, httplib::Response& res) {
  v1::Command command = CommandFromRequest(req);
  v1::TransactionUpdated& update = *command.mutable_update_transaction();
  if (Status s = http::ParseJson(req.body, update); !s.ok()) return http::ReplyStatus(res, s);

  const std::string source = req.matches[2].str();
  const std::string source_idempk = req.matches[3].str();
  // The body may repeat the path's key, but never contradict it.
  std::vector<v1::FieldError> conflicts;
  auto check = [&](std::string* field, const std::string& from_path, const char* name) {
    if (!field->empty() && *field != from_path) {
      v1::FieldError e;
      e.set_field(name);
      e.set_code("mismatch");
      conflicts.push_back(std::move(e));
    }
    *field = from_path;
  };
  check(update.mutable_source(), source, "source");
  check(update.mutable_source_idempk(), source_idempk, "source_idempk");
  if (!conflicts.empty()) {
    return http::ReplyError(res, 400, "invalid_argument",
                            "the body names another transaction than the path", conflicts);
  }
  SubmitAndReply(client, command, res);
}

}  // namespace kledger::command::gateway
