// POST /v1/instances/{instance}/transactions — body: TransactionCreated.
#include "command-side/gateway/handlers.h"
#include "common/http.h"

namespace kledger::command::gateway {

void CreateTransaction(CommandClient& client, const httplib::Request& req, httplib::Response& res) {
  v1::Command command = CommandFromRequest(req);
  if (Status s = http::ParseJson(req.body, *command.mutable_create_transaction()); !s.ok()) {
    return http::ReplyStatus(res, s);
  }
  SubmitAndReply(client, command, res);
}

}  // namespace kledger::command::gateway
