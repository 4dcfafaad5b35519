// The query API's routes, each with the right it needs (one table, one guard).
#include "processors/query/routes.h"

#include "common/http.h"
#include "processors/query/handlers.h"

namespace kledger::processors {

void RegisterQueryRoutes(httplib::Server& server, Processor& processor,
                         std::shared_ptr<const auth::Authorizer> authorizer) {
  using Handler = void (*)(Processor&, const httplib::Request&, httplib::Response&);
  using Instances = std::vector<std::string> (*)(const httplib::Request&);
  struct Route {
    const char* pattern;
    Handler handler;
    auth::Right right;
    Instances instances;  // nullptr: the route spans every instance
  };
  static constexpr Route kRoutes[] = {
      {R"(/v1/instances/([^/]+)/accounts)", query::ListAccounts, auth::Right::kQuery,
       http::PathInstance},
      {R"(/v1/instances/([^/]+)/transactions)", query::ListTransactions, auth::Right::kQuery,
       http::PathInstance},
      {R"(/v1/instances/([^/]+)/accounts/([^/]+))", query::GetAccount, auth::Right::kQuery,
       http::PathInstance},
      {R"(/v1/instances/([^/]+)/accounts/([^/]+)/history)", query::GetHistory, auth::Right::kQuery,
       http::PathInstance},
      {R"(/v1/instances/([^/]+)/transactions/([^/]+)/([^/]+))", query::GetTransaction,
       auth::Right::kQuery, http::PathInstance},
      {R"(/v1/instances/([^/]+)/events/([^/]+))", query::GetEvent, auth::Right::kQuery,
       http::PathInstance},
      {R"(/v1/instances/([^/]+)/trial-balance)", query::GetTrialBalance, auth::Right::kQuery,
       http::PathInstance},
      {R"(/v1/digest)", query::GetDigest, auth::Right::kAdmin, nullptr},
  };
  for (const Route& route : kRoutes) {
    http::Access access{.right = route.right};
    if (route.instances != nullptr) access.instances = route.instances;
    server.Get(route.pattern,
               http::Guarded(authorizer, std::move(access),
                             [&processor, handler = route.handler](const httplib::Request& req,
                                                                   httplib::Response& res) {
                               handler(processor, req, res);
                             }));
  }
}

}  // namespace kledger::processors
