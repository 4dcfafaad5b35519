#include "app/service.h"

namespace kledger::app {

Result<std::unique_ptr<Service>> Service::Create(ServiceOptions options) {
  ASSIGN_OR_RETURN(auto authorizer,
                   MakeAuthorizer(options.security, options.auth_required, options.what));
  return std::unique_ptr<Service>(new Service(std::move(options), std::move(authorizer)));
}

Service::Service(ServiceOptions options, std::shared_ptr<const auth::Authorizer> authorizer)
    : options_(std::move(options)),
      registry_(std::make_shared<prometheus::Registry>()),
      kafka_stats_(*registry_),
      authorizer_(std::move(authorizer)),
      route_metrics_(*registry_),
      server_(ToServerOptions(options_.security, options_.server)) {}

Service::~Service() {
  server_.Stop();
  while (!kept_.empty()) kept_.pop_back();
}

void Service::AddOperatorRoutes(const kafka::Properties& props, bool require_statistics,
                                std::function<std::string()> not_ready) {
  http::AddOperatorRoutes(
      server_.routes(), registry_,
      KafkaReadiness(kafka_stats_, props, require_statistics, std::move(not_ready)), authorizer_,
      options_.security.metrics_auth ? authorizer_ : nullptr);
}

void Service::OnShutdown(std::function<void(std::chrono::milliseconds bound)> step) {
  shutdown_steps_.push_back(std::move(step));
}

Status Service::Listen(const http::HostPort& address) { return server_.Start(address); }

bool Service::WaitForShutdown(const std::function<bool()>& failed) {
  return app::WaitForShutdown(failed);
}

void Service::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  ArmShutdownDeadline(options_.shutdown_timeout);
  server_.Stop();
  for (const auto& step : shutdown_steps_) step(options_.shutdown_timeout);
}

}  // namespace kledger::app
