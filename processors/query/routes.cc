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

constexpr http::RouteInfo kInstanceList{"GET", R"(/v1/instances)"};

// GET /v1/instances spans instances, yet shows each only to a token that may query it: it needs
// the query right on some instance, and filters what it lists by the token's grants.
void RegisterInstanceList(http::Router& server, Processor& processor,
                          std::shared_ptr<const auth::Authorizer> authorizer,
                          http::RouteMetrics* metrics) {
  auto handler = [&processor, authorizer](const httplib::Request& req, httplib::Response& res) {
    const std::string token(auth::BearerToken(req.get_header_value("Authorization")));
    query::ListInstances(
        processor,
        [&](std::string_view instance) {
          return authorizer->Authorize(token, instance, auth::Right::kQuery).allowed();
        },
        req, res);
  };
  // An empty instance list: any grant of the query right lets the request in.
  auto guarded = http::Guarded(
      authorizer,
      {.right = auth::Right::kQuery,
       .instances = [](const httplib::Request&) { return std::vector<std::string>(); }},
      std::move(handler));
  if (metrics != nullptr) guarded = metrics->Wrap(kInstanceList, std::move(guarded));
  server.Get(kInstanceList.pattern, std::move(guarded));
}

}  // namespace

std::vector<http::RouteInfo> QueryRoutes() {
  std::vector<http::RouteInfo> routes = {kInstanceList};
  for (const Route& route : kRoutes) routes.push_back({route.method, route.pattern});
  return routes;
}

void RegisterQueryRoutes(http::Router& server, Processor& processor,
                         std::shared_ptr<const auth::Authorizer> authorizer,
                         http::RouteMetrics* metrics) {
  RegisterInstanceList(server, processor, authorizer, metrics);
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
