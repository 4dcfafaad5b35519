// The HTTP/JSON command gateway (SPEC §6): one handler per route, all registered here.
#pragma once

#include <httplib.h>

#include <memory>

#include "command-side/command_client.h"
#include "common/auth.h"
#include "common/http.h"

namespace kledger::command {

// Registers every command route on `server`; `client` must outlive it. Each route needs the
// `submit` right on the instance(s) it appends to (every item's, for /v1/batch), as `authorizer`
// grants it; Authorizer::AllowAll() serves them without authentication.
// Each answer is counted and timed by `metrics` when it is not null.
void RegisterCommandRoutes(http::Router& server, CommandClient& client,
                           std::shared_ptr<const auth::Authorizer> authorizer,
                           http::RouteMetrics* metrics);
// The routes RegisterCommandRoutes registers.
std::vector<http::RouteInfo> CommandRoutes();

}  // namespace kledger::command
