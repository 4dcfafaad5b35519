// One serving process's plumbing, assembled once: the metrics registry, the Kafka statistics
// probe, the authorizer, the HTTP server (route metrics, operator routes), signal handling and the
// ordered shutdown with its bound. `kledger dev`, `command` and `processor` each compose a Service
// and differ only in the clients they make, the routes they mount and what they stop.
#pragma once

#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "app/flags.h"
#include "common/auth.h"
#include "common/http.h"
#include "common/kafka/properties.h"
#include "common/metrics.h"
#include "common/status.h"

namespace kledger::app {

struct ServiceOptions {
  HttpSecurityFlags security;  // tokens, TLS, the concurrency limit
  bool auth_required = true;   // false for `kledger dev`: open by default, said loudly
  std::string what;            // what the listener serves, for that warning: "command API", ...
  http::ServerOptions server;  // body limit and timeouts; TLS and the limit come from `security`
  std::chrono::milliseconds shutdown_timeout{10000};  // --shutdown-timeout-ms; default 10 s
};

class Service {
 public:
  // InvalidArgument when the security flags cannot be served (no tokens and no
  // --insecure-no-auth where auth is required, an unreadable token file).
  static Result<std::unique_ptr<Service>> Create(ServiceOptions options);
  // Stops the HTTP server, then destroys the kept parts (newest first), then the rest. It does
  // not run the shutdown steps: a subcommand that returns early has not started what they stop.
  ~Service();

  prometheus::Registry& registry() { return *registry_; }
  // Made before any Kafka client, so that every client's statistics reach it.
  const KafkaStatisticsProbe& kafka_stats() const { return kafka_stats_; }
  const std::shared_ptr<const auth::Authorizer>& authorizer() const { return authorizer_; }
  http::RouteMetrics* route_metrics() { return &route_metrics_; }
  // Where subcommands mount their routes, before Listen().
  http::Router& routes() { return server_.routes(); }

  // Keeps `part` (a client, the processor, a probe) until the HTTP server has stopped, so that
  // no route outlives what it serves; parts are destroyed newest first, all before the Kafka
  // statistics probe. Returns the part.
  template <typename T>
  T& Keep(std::unique_ptr<T> part) {
    T& kept = *part;
    kept_.push_back(std::shared_ptr<void>(std::move(part)));
    return kept;
  }

  // Mounts /healthz, /readyz and /metrics: ready when `not_ready` (if set) says "" and Kafka's
  // statistics allow it (KafkaReadiness over `props`, `require_statistics`).
  void AddOperatorRoutes(const kafka::Properties& props, bool require_statistics,
                         std::function<std::string()> not_ready = {});
  // A step of the ordered shutdown, run after the HTTP server has stopped and after the steps
  // added before it, with the shutdown's whole bound (a step may take part of it).
  void OnShutdown(std::function<void(std::chrono::milliseconds bound)> step);

  // Binds and serves. Unavailable when the address cannot be bound.
  Status Listen(const http::HostPort& address);
  std::string url() const { return server_.url(); }

  // Blocks until SIGINT/SIGTERM (true) or `failed` returns true (false; checked every 200 ms).
  bool WaitForShutdown(const std::function<bool()>& failed = {});
  // The ordered shutdown: its deadline armed (past it the process exits 1, whatever Kafka does),
  // the HTTP server stopped (no request in flight after it), then each OnShutdown step in order.
  // Idempotent.
  void Shutdown();

 private:
  Service(ServiceOptions options, std::shared_ptr<const auth::Authorizer> authorizer);

  ServiceOptions options_;
  // Declared in the order they must be made; destroyed in reverse, the server first.
  std::shared_ptr<prometheus::Registry> registry_;
  KafkaStatisticsProbe kafka_stats_;
  std::shared_ptr<const auth::Authorizer> authorizer_;
  http::RouteMetrics route_metrics_;         // outlives the server that counts into it
  std::vector<std::shared_ptr<void>> kept_;  // see Keep()
  http::Server server_;
  std::vector<std::function<void(std::chrono::milliseconds)>> shutdown_steps_;
  bool shut_down_ = false;
};

}  // namespace kledger::app
