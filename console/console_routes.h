// The operator console (console/README.md): its page, script and style, compiled into the binary
// from this folder, served at /console by `kledger dev` and every `kledger processor`.
#pragma once

#include <httplib.h>

#include <string_view>

#include "common/http.h"

namespace kledger::console {

// Registers GET /console (a redirect to /console/), /console/ (index.html),
// /console/console.js and /console/console.css. They hold no data and need no token: the page
// asks the API with the token the operator types, under the API's own rules. Each answer forbids
// loading anything from elsewhere (Content-Security-Policy) and framing.
void RegisterConsoleRoutes(http::Router& server);

// The embedded files, as they were in console/ when the binary was built.
std::string_view IndexHtml();
std::string_view ConsoleJs();
std::string_view ConsoleCss();

}  // namespace kledger::console
