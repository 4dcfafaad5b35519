#include "console/console_routes.h"

#include <string>

namespace kledger::console {
namespace {

// Everything comes from this server: no CDN, fonts or scripts from elsewhere, no inline script.
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

http::Handler Asset(std::string_view (*body)(), const char* content_type) {
  return [body, content_type](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Security-Policy", kContentSecurityPolicy);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    // A new binary may bring a new console: the browser asks again rather than mixing versions.
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(body()), content_type);
  };
}

}  // namespace

void RegisterConsoleRoutes(http::Router& server) {
  // The page's relative links resolve under /console/ only with the trailing slash.
  server.Get("/console", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/console/", 301);
  });
  server.Get("/console/", Asset(IndexHtml, "text/html; charset=utf-8"));
  server.Get(R"(/console/console\.js)", Asset(ConsoleJs, "text/javascript; charset=utf-8"));
  server.Get(R"(/console/console\.css)", Asset(ConsoleCss, "text/css; charset=utf-8"));
}

}  // namespace kledger::console
