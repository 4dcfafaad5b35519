#include "command-side/gateway/routes.h"

#include "command-side/gateway/handlers.h"

namespace kledger::command {

void RegisterCommandRoutes(httplib::Server& server, CommandClient& client) {
  using Handler = void (*)(CommandClient&, const httplib::Request&, httplib::Response&);
  struct Route {
    const char* pattern;
    Handler handler;
  };
  static constexpr Route kRoutes[] = {
      {R"(/v1/instances/([^/]+)/accounts)", gateway::OpenAccount},
      {R"(/v1/instances/([^/]+)/transactions)", gateway::CreateTransaction},
      {R"(/v1/instances/([^/]+)/transactions/([^/]+)/([^/]+)/updates)", gateway::UpdateTransaction},
      {R"(/v1/batch)", gateway::SubmitBatch},
  };
  for (const Route& route : kRoutes) {
    server.Post(route.pattern, [&client, handler = route.handler](const httplib::Request& req,
                                                                  httplib::Response& res) {
      handler(client, req, res);
    });
  }
}

}  // namespace kledger::command
