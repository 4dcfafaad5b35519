// Prometheus metrics plumbing: the per-process registry is made in main and handed to each
// component's probe; this renders it in the text exposition format for /metrics, and holds the
// probes that belong to no single component (librdkafka statistics) and the sampler thread that
// probes of polled values (RocksDB properties) use.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace kledger {

// The registry's current samples in Prometheus text format (version 0.0.4).
std::string RenderMetrics(prometheus::Registry& registry);

// Default latency buckets in seconds, from 100 µs to 10 s.
prometheus::Histogram::BucketBoundaries LatencyBuckets();

// The children of a counter family with two labels, for hot paths: a child whose label values
// both come from the given sets is found in the family once and then cached lock-free
// (Family::Add hashes the labels under a lock, too slow per command or event); other values
// still work, through Family::Add. The sets' strings must outlive the grid (string literals).
// Thread-safe.
class CounterGrid {
 public:
  CounterGrid(prometheus::Family<prometheus::Counter>& family, std::string label_a,
              std::vector<std::string_view> values_a, std::string label_b,
              std::vector<std::string_view> values_b);

  prometheus::Counter& Get(std::string_view a, std::string_view b);

 private:
  prometheus::Family<prometheus::Counter>& family_;
  const std::string label_a_;
  const std::string label_b_;
  const std::vector<std::string_view> values_a_;
  const std::vector<std::string_view> values_b_;
  std::unique_ptr<std::atomic<prometheus::Counter*>[]> cached_;  // values_a_ x values_b_
};

// Calls `sample` once in the constructor, then every `interval` on its own thread until
// destroyed.
class PeriodicSampler {
 public:
  PeriodicSampler(std::chrono::milliseconds interval, std::function<void()> sample);
  ~PeriodicSampler();  // stops and joins; `sample` is not called afterwards
  PeriodicSampler(const PeriodicSampler&) = delete;
  PeriodicSampler& operator=(const PeriodicSampler&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

// librdkafka's statistics JSON (statistics.interval.ms) as metrics, per client (label `client`:
// librdkafka's instance name, "<client.id>#<producer|consumer>-<n>"):
//   kledger_kafka_broker_rtt_seconds{client,broker}  average request round trip in the window
//   kledger_kafka_broker_up{client,broker}           1 while the connection to the broker is UP
//   kledger_kafka_queue_messages{client}             messages waiting in the client's queues
//   kledger_kafka_tx_messages_total{client}          messages sent to brokers
//   kledger_kafka_rx_messages_total{client}          messages received from brokers
// Constructing it installs it as the process's kafka::SetStatisticsHandler; destroying it
// removes it. Create it before any Kafka client and destroy it after the last one.
class KafkaStatisticsProbe {
 public:
  explicit KafkaStatisticsProbe(prometheus::Registry& registry);
  ~KafkaStatisticsProbe();
  KafkaStatisticsProbe(const KafkaStatisticsProbe&) = delete;
  KafkaStatisticsProbe& operator=(const KafkaStatisticsProbe&) = delete;

  // Takes one statistics emission. Malformed JSON is ignored (logged at debug).
  void Update(std::string_view json);

  // Empty when some client's statistics, at most `max_age` old, show a broker connection UP;
  // otherwise why Kafka does not look reachable. With `require_statistics` false, having no
  // fresh statistics at all counts as reachable (only a known-down cluster is reported).
  std::string BrokerNotReadyReason(std::chrono::milliseconds max_age,
                                   bool require_statistics) const;

 private:
  struct ClientState {
    std::chrono::steady_clock::time_point seen;
    bool broker_up = false;
    double tx_messages = 0;  // last cumulative values, to feed the counters their increase
    double rx_messages = 0;
  };

  prometheus::Family<prometheus::Gauge>& rtt_;
  prometheus::Family<prometheus::Gauge>& broker_up_;
  prometheus::Family<prometheus::Gauge>& queue_messages_;
  prometheus::Family<prometheus::Counter>& tx_messages_;
  prometheus::Family<prometheus::Counter>& rx_messages_;

  mutable std::mutex mu_;
  std::map<std::string, ClientState> clients_;  // guarded by mu_
};

}  // namespace kledger
