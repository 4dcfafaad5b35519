// The command API's routes, each with the right it needs (one table, one guard).
#include "command-side/gateway/routes.h"

#include <algorithm>

#include "command-side/gateway/handlers.h"
#include "common/http.h"

namespace kledger::command {
namespace {

// Every instance a /v1/batch body names, each checked for `submit`. A body that does not parse
// names none; the handler then answers it 400.
std::vector<std::string> BatchInstances(const httplib::Request& req) {
  v1::BatchRequest batch;
  if (!http::ParseJson(req.body, batch).ok()) return {};
  std::vector<std::string> instances;
  for (const v1::Command& command : batch.commands()) {
    if (std::find(instances.begin(), instances.end(), command.instance_id()) == instances.end()) {
      instances.push_back(command.instance_id());
    }
  }
  return instances;
}

using Handler = void (*)(CommandClient&, const httplib::Request&, httplib::Response&);
using Instances = std::vector<std::string> (*)(const httplib::Request&);
struct Route {
  const char* pattern;
  Handler handler;
  Instances instances;  // what `submit` is checked on
};
constexpr Route kRoutes[] = {
    {R"(/v1/instances/([^/]+)/accounts)", gateway::OpenAccount, http::PathInstance},
    {R"(/v1/instances/([^/]+)/transactions)", gateway::CreateTransaction, http::PathInstance},
    {R"(/v1/instances/([^/]+)/transactions/([^/]+)/([^/]+)/updates)", gateway::UpdateTransaction,
     http::PathInstance},
    {R"(/v1/instances/([^/]+)/accounts/([^/]+)/updates)", gateway::UpdateAccount,
     http::PathInstance},
    {R"(/v1/instances/([^/]+)/accounts/([^/]+)/close)", gateway::CloseAccount, http::PathInstance},
    {R"(/v1/batch)", gateway::SubmitBatch, BatchInstances},
};

}  // namespace

std::vector<http::RouteInfo> CommandRoutes() {
  std::vector<http::RouteInfo> routes;
  for (const Route& route : kRoutes) routes.push_back({"POST", route.pattern});
  return routes;
}

void RegisterCommandRoutes(httplib::Server& server, CommandClient& client,
                           std::shared_ptr<const auth::Authorizer> authorizer,
                           http::RouteMetrics* metrics) {
  for (const Route& route : kRoutes) {
    auto guarded = http::Guarded(
        authorizer, {auth::Right::kSubmit, route.instances},
        [&client, handler = route.handler](const httplib::Request& req, httplib::Response& res) {
          handler(client, req, res);
        });
    if (metrics != nullptr) guarded = metrics->Wrap({"POST", route.pattern}, std::move(guarded));
    server.Post(route.pattern, std::move(guarded));
  }
}

}  // namespace kledger::command
