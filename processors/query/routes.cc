// The query API's routes, each with the right it needs (one table, one guard).
#include "processors/query/routes.h"

#include <string_view>

#include "common/http.h"
#include "processors/query/handlers.h"

namespace kledger::processors {

namespace {

using Handler = void (*)(Processor&, const httplib::Request&, httplib::Response&);
using Instances = std::vector<std::string> (*)(const httplib::Request&);
struct Route {
  const char* method;  // "GET" or "POST"
  const char* pattern;
  Handler handler;
  auth::Right right;
  Instances instances;  // nullptr: the route spans every instance
};
constexpr Route kRoutes[] = {
    {"GET", R"(/v1/instances/([^/]+)/accounts)", query::ListAccounts, auth::Right::kQuery,
     http::PathInstance},
    {"GET", R"(/v1/instances/([^/]+)/transactions)", query::ListTransactions, auth::Right::kQuery,
     http::PathInstance},
    {"GET", R"(/v1/instances/([^/]+)/accounts/([^/]+))", query::GetAccount, auth::Right::kQuery,
     http::PathInstance},
    {"GET", R"(/v1/instances/([^/]+)/accounts/([^/]+)/history)", query::GetHistory,
     auth::Right::kQuery, http::PathInstance},
    {"GET", R"(/v1/instances/([^/]+)/transactions/([^/]+)/([^/]+))", query::GetTransaction,
     auth::Right::kQuery, http::PathInstance},
    {"GET", R"(/v1/instances/([^/]+)/events/([^/]+))", query::GetEvent, auth::Right::kQuery,
     http::PathInstance},
    {"GET", R"(/v1/instances/([^/]+)/trial-balance)", query::GetTrialBalance, auth::Right::kQuery,
     http::PathInstance},
    {"GET", R"(/v1/instances/([^/]+)/events)", query::ListEvents, auth::Right::kQuery,
     http::PathInstance},
    {"GET", R"(/v1/instances/([^/]+)/accounts/([^/]+)/balances)", query::GetBalances,
     auth::Right::kQuery, http::PathInstance},
    {"GET", R"(/v1/digest)", query::GetDigest, auth::Right::kAdmin, nullptr},
    {"GET", R"(/v1/stats)", query::GetStats, auth::Right::kAdmin, nullptr},
    {"GET", R"(/v1/dead-letters)", query::ListDeadLetters, auth::Right::kAdmin, nullptr},
    {"GET", R"(/v1/dead-letters/([^/]+))", query::GetDeadLetter, auth::Right::kAdmin, nullptr},
    {"POST", R"(/v1/dead-letters/redrive)", query::RedriveDeadLetters, auth::Right::kAdmin,
     nullptr},
};

}  // namespace

std::vector<http::RouteInfo> QueryRoutes() {
  std::vector<http::RouteInfo> routes;
  for (const Route& route : kRoutes) routes.push_back({route.method, route.pattern});
  return routes;
}

void RegisterQueryRoutes(httplib::Server& server, Processor& processor,
                         std::shared_ptr<const auth::Authorizer> authorizer,
                         http::RouteMetrics* metrics) {
  for (const Route& route : kRoutes) {
    http::Access access{.right = route.right};
    if (route.instances != nullptr) access.instances = route.instances;
    auto guarded = http::Guarded(
        authorizer, std::move(access),
        [&processor, handler = route.handler](const httplib::Request& req, httplib::Response& res) {
          handler(processor, req, res);
        });
    if (metrics != nullptr)
      guarded = metrics->Wrap({route.method, route.pattern}, std::move(guarded));
    if (std::string_view(route.method) == "POST") {
      server.Post(route.pattern, std::move(guarded));
    } else {
      server.Get(route.pattern, std::move(guarded));
    }
  }
}

}  // namespace kledger::processors
