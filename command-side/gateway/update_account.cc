// POST /v1/instances/{instance}/accounts/{address}/updates — body: AccountUpdated (its
// update_idempk is the update's idempotency key) — and POST .../accounts/{address}/close — body:
// AccountClosed, or none (an account is closed once: its address is the key). The address comes
// from the path.
#include "command-side/gateway/handlers.h"
#include "common/http.h"

namespace kledger::command::gateway {

bool ReadUpdateAccount(const httplib::Request& req, httplib::Response& res, v1::Command& command) {
  command = CommandFromRequest(req);
  v1::AccountUpdated& update = *command.mutable_update_account();
  if (Status s = http::ParseJson(req.body, update); !s.ok()) return Refuse(res, s);
  return TakeKeysFromPath({{update.mutable_address(), req.matches[2].str(), "address"}}, "account",
                          res);
}

bool ReadCloseAccount(const httplib::Request& req, httplib::Response& res, v1::Command& command) {
  command = CommandFromRequest(req);
  v1::AccountClosed& close = *command.mutable_close_account();
  if (!req.body.empty()) {
    if (Status s = http::ParseJson(req.body, close); !s.ok()) return Refuse(res, s);
  }
  return TakeKeysFromPath({{close.mutable_address(), req.matches[2].str(), "address"}}, "account",
                          res);
}

}  // namespace kledger::command::gateway
