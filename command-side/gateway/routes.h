// The HTTP/JSON command gateway (SPEC §6): one handler per route, all registered here.
#pragma once

#include <httplib.h>

#include "command-side/command_client.h"

namespace kledger::command {

// Registers every command route on `server`; `client` must outlive it.
void RegisterCommandRoutes(httplib::Server& server, CommandClient& client);

}  // namespace kledger::command
