// POST /v1/instances/{instance}/accounts/{address}/updates — body: AccountUpdated (its
// update_idempk is the update's idempotency key) — and POST .../accounts/{address}/close — body:
// AccountClosed, or none (an account is closed once: its address is the key). The address comes
// from the path.
#include "command-side/gateway/handlers.h"
#include "common/http.h"

namespace kledger::command::gateway {

void UpdateAccount(CommandClient& client, const httplib::Request& req, httplib::Response& res) {
  v1::Command command = CommandFromRequest(req);
  v1::AccountUpdated& update = *command.mutable_update_account();
  if (Status s = http::ParseJson(req.body, update); !s.ok()) return http::ReplyStatus(res, s);
  if (!TakeKeysFromPath({{update.mutable_address(), req.matches[2].str(), "address"}}, "account",
                        res)) {
    return;
  }
  SubmitAndReply(client, command, res);
}

void CloseAccount(CommandClient& client, const httplib::Request& req, httplib::Response& res) {
  v1::Command command = CommandFromRequest(req);
  v1::AccountClosed& close = *command.mutable_close_account();
  if (!req.body.empty()) {
    if (Status s = http::ParseJson(req.body, close); !s.ok()) return http::ReplyStatus(res, s);
  }
  if (!TakeKeysFromPath({{close.mutable_address(), req.matches[2].str(), "address"}}, "account",
                        res)) {
    return;
  }
  SubmitAndReply(client, command, res);
}

}  // namespace kledger::command::gateway
