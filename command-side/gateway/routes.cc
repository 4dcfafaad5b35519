// The command API's routes, each with the right it needs (one table, one guard; /v1/batch checks
// the instances its body names itself, on its one parse).
#include "command-side/gateway/routes.h"

#include "command-side/gateway/handlers.h"
#include "common/http.h"

namespace kledger::command {
namespace {

// Reads a route's command from its request (handlers.h); /v1/batch has a handler of its own.
using Reader = bool (*)(const httplib::Request&, httplib::Response&, v1::Command&);
using Instances = std::vector<std::string> (*)(const httplib::Request&);
struct Route {
  const char* pattern;
  Reader reader;
  Instances instances;  // what `submit` is checked on
};
constexpr Route kRoutes[] = {
    {R"(/v1/instances/([^/]+)/accounts)", gateway::ReadOpenAccount, http::PathInstance},
    {R"(/v1/instances/([^/]+)/transactions)", gateway::ReadCreateTransaction, http::PathInstance},
    {R"(/v1/instances/([^/]+)/transactions/([^/]+)/([^/]+)/updates)",
     gateway::ReadUpdateTransaction, http::PathInstance},
    {R"(/v1/instances/([^/]+)/accounts/([^/]+)/updates)", gateway::ReadUpdateAccount,
     http::PathInstance},
    {R"(/v1/instances/([^/]+)/accounts/([^/]+)/close)", gateway::ReadCloseAccount,
     http::PathInstance},
};
constexpr http::RouteInfo kBatch{"POST", R"(/v1/batch)"};

}  // namespace

std::vector<http::RouteInfo> CommandRoutes() {
  std::vector<http::RouteInfo> routes;
  for (const Route& route : kRoutes) routes.push_back({"POST", route.pattern});
  routes.push_back(kBatch);
  return routes;
}

void RegisterCommandRoutes(http::Router& server, CommandClient& client,
                           std::shared_ptr<const auth::Authorizer> authorizer,
                           http::RouteMetrics* metrics) {
  // A single command is answered when Kafka acknowledges it, without holding a thread.
  for (const Route& route : kRoutes) {
    auto guarded =
        http::Guarded(authorizer, {auth::Right::kSubmit, route.instances},
                      [&client, reader = route.reader](const httplib::Request& req,
                                                       httplib::Response& res, http::Done done) {
                        v1::Command command;
                        if (!reader(req, res, command)) return done();
                        gateway::SubmitAndReply(client, command, res, std::move(done));
                      });
    if (metrics != nullptr) guarded = metrics->Wrap({"POST", route.pattern}, std::move(guarded));
    server.PostAsync(route.pattern, std::move(guarded));
  }
  // A batch is parsed and submitted on a worker thread (its body may be large), and answered by
  // its last acknowledgement: no thread waits for Kafka.
  // Its body is parsed once, for the instances `submit` is checked on and for the commands.
  http::AsyncHandler batch = [&client, authorizer](const httplib::Request& req,
                                                   httplib::Response& res, http::Done done) {
    gateway::SubmitBatch(client, *authorizer, req, res, std::move(done));
  };
  if (metrics != nullptr) batch = metrics->Wrap(kBatch, std::move(batch));
  server.PostOnWorker(kBatch.pattern, std::move(batch));
}

}  // namespace kledger::command
