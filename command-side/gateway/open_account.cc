// POST /v1/instances/{instance}/accounts — body: AccountOpened.
#include "command-side/gateway/handlers.h"
#include "common/http.h"

namespace kledger::command::gateway {

bool ReadOpenAccount(const httplib::Request& req, httplib::Response& res, v1::Command& command) {
  command = CommandFromRequest(req);
  if (Status s = http::ParseJson(req.body, *command.mutable_open_account()); !s.ok()) {
    return Refuse(res, s);
  }
  return true;
}

}  // namespace kledger::command::gateway
