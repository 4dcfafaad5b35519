#include "processors/query/routes.h"

#include "processors/query/handlers.h"

namespace kledger::processors {

void RegisterQueryRoutes(httplib::Server& server, Processor& processor) {
  using Handler = void (*)(Processor&, const httplib::Request&, httplib::Response&);
  struct Route {
    const char* pattern;
    Handler handler;
  };
  static constexpr Route kRoutes[] = {
      {R"(/v1/instances/([^/]+)/accounts/([^/]+))", query::GetAccount},
      {R"(/v1/instances/([^/]+)/accounts/([^/]+)/history)", query::GetHistory},
      {R"(/v1/instances/([^/]+)/transactions/([^/]+)/([^/]+))", query::GetTransaction},
      {R"(/v1/instances/([^/]+)/events/([^/]+))", query::GetEvent},
      {R"(/v1/instances/([^/]+)/trial-balance)", query::GetTrialBalance},
      {R"(/v1/digest)", query::GetDigest},
  };
  for (const Route& route : kRoutes) {
    server.Get(route.pattern, [&processor, handler = route.handler](const httplib::Request& req,
                                                                    httplib::Response& res) {
      handler(processor, req, res);
    });
  }
}

}  // namespace kledger::processors
