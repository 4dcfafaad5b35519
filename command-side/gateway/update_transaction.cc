// POST /v1/instances/{instance}/transactions/{source}/{source_idempk}/updates — body:
// TransactionUpdated; the transaction's key comes from the path.
#include "command-side/gateway/handlers.h"
#include "common/http.h"

namespace kledger::command::gateway {

bool ReadUpdateTransaction(const httplib::Request& req, httplib::Response& res,
                           v1::Command& command) {
  command = CommandFromRequest(req);
  v1::TransactionUpdated& update = *command.mutable_update_transaction();
  if (Status s = http::ParseJson(req.body, update); !s.ok()) return Refuse(res, s);

  return TakeKeysFromPath({{update.mutable_source(), req.matches[2].str(), "source"},
                           {update.mutable_source_idempk(), req.matches[3].str(), "source_idempk"}},
                          "transaction", res);
}

}  // namespace kledger::command::gateway
