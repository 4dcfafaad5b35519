// The query API (SPEC §6) a processor serves over its projections: one handler per route, all
// registered here.
#pragma once

#include <httplib.h>

#include <memory>

#include "common/auth.h"
#include "common/http.h"
#include "processors/processor.h"

namespace kledger::processors {

// Registers every query route on `server`; `processor` must outlive it. Instance routes need the
// `query` right on their instance; /v1/digest, /v1/stats and /v1/dead-letters need `admin` on
// every instance ("*"), as `authorizer` grants them. Authorizer::AllowAll() serves them without
// authentication.
// Each answer is counted and timed by `metrics` when it is not null.
void RegisterQueryRoutes(http::Router& server, Processor& processor,
                         std::shared_ptr<const auth::Authorizer> authorizer,
                         http::RouteMetrics* metrics);
// The routes RegisterQueryRoutes registers.
std::vector<http::RouteInfo> QueryRoutes();

}  // namespace kledger::processors
