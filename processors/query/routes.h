// The query API (SPEC §6) a processor serves over its projections: one handler per route, all
// registered here.
#pragma once

#include <httplib.h>

#include "processors/processor.h"

namespace kledger::processors {

// Registers every query route on `server`; `processor` must outlive it.
void RegisterQueryRoutes(httplib::Server& server, Processor& processor);

}  // namespace kledger::processors
