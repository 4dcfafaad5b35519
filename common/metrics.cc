#include "common/metrics.h"

#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/kafka/statistics.h"

namespace kledger {
namespace {

// librdkafka counters are cumulative per client instance; a counter only moves forward, so feed
// it the increase, and the whole value when the client's count went back (a new instance).
void Advance(prometheus::Counter& counter, double& last, double now) {
  counter.Increment(now >= last ? now - last : now);
  last = now;
}

}  // namespace

std::string RenderMetrics(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};
}

CounterGrid::CounterGrid(prometheus::Family<prometheus::Counter>& family, std::string label_a,
                         std::vector<std::string_view> values_a, std::string label_b,
                         std::vector<std::string_view> values_b)
    : family_(family),
      label_a_(std::move(label_a)),
      label_b_(std::move(label_b)),
      values_a_(std::move(values_a)),
      values_b_(std::move(values_b)),
      cached_(std::make_unique<std::atomic<prometheus::Counter*>[]>(values_a_.size() *
                                                                    values_b_.size())) {}

prometheus::Counter& CounterGrid::Get(std::string_view a, std::string_view b) {
  const auto ia = std::find(values_a_.begin(), values_a_.end(), a);
  const auto ib = std::find(values_b_.begin(), values_b_.end(), b);
  auto add = [&] { return &family_.Add({{label_a_, std::string(a)}, {label_b_, std::string(b)}}); };
  if (ia == values_a_.end() || ib == values_b_.end()) return *add();
  std::atomic<prometheus::Counter*>& slot =
      cached_[static_cast<size_t>(ia - values_a_.begin()) * values_b_.size() +
              static_cast<size_t>(ib - values_b_.begin())];
  prometheus::Counter* counter = slot.load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Family::Add returns the one child of these labels, so racing callers store the same one.
    counter = add();
    slot.store(counter, std::memory_order_release);
  }
  return *counter;
}

PeriodicSampler::PeriodicSampler(std::chrono::milliseconds interval, std::function<void()> sample) {
  sample();  // here, so the first scrape already sees real values
  thread_ = std::thread([this, interval, sample = std::move(sample)] {
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, interval, [this] { return stopping_; })) {
      lock.unlock();
      sample();
      lock.lock();
    }
  });
}

PeriodicSampler::~PeriodicSampler() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

KafkaStatisticsProbe::KafkaStatisticsProbe(prometheus::Registry& registry)
    : rtt_(prometheus::BuildGauge()
               .Name("kledger_kafka_broker_rtt_seconds")
               .Help("Average request round-trip time to a broker over the last statistics "
                     "window, per Kafka client")
               .Register(registry)),
      broker_up_(prometheus::BuildGauge()
                     .Name("kledger_kafka_broker_up")
                     .Help("1 while the Kafka client's connection to the broker is UP")
                     .Register(registry)),
      queue_messages_(prometheus::BuildGauge()
                          .Name("kledger_kafka_queue_messages")
                          .Help("Messages waiting in the Kafka client's queues (msg_cnt)")
                          .Register(registry)),
      tx_messages_(prometheus::BuildCounter()
                       .Name("kledger_kafka_tx_messages_total")
                       .Help("Messages the Kafka client sent to brokers")
                       .Register(registry)),
      rx_messages_(prometheus::BuildCounter()
                       .Name("kledger_kafka_rx_messages_total")
                       .Help("Messages the Kafka client received from brokers")
                       .Register(registry)) {
  kafka::SetStatisticsHandler([this](std::string_view json) { Update(json); });
}

KafkaStatisticsProbe::~KafkaStatisticsProbe() { kafka::SetStatisticsHandler(nullptr); }

void KafkaStatisticsProbe::Update(std::string_view json) {
  const auto stats = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!stats.is_object() || !stats.contains("name")) {
    spdlog::debug("ignoring malformed Kafka statistics ({} bytes)", json.size());
    return;
  }
  const std::string client = stats.value("name", "");
  const prometheus::Labels client_label{{"client", client}};
  bool any_up = false;
  if (const auto brokers = stats.find("brokers"); brokers != stats.end() && brokers->is_object()) {
    for (const auto& broker : *brokers) {
      // Bootstrap and logical (coordinator) entries have no node id of their own: skip them so
      // each real broker appears once.
      const int nodeid = broker.value("nodeid", -1);
      const bool up = broker.value("state", "") == "UP";
      any_up = any_up || up;
      if (nodeid < 0 || broker.value("source", "") == "logical") continue;
      const prometheus::Labels labels{{"client", client}, {"broker", std::to_string(nodeid)}};
      broker_up_.Add(labels).Set(up ? 1 : 0);
      if (const auto rtt = broker.find("rtt"); rtt != broker.end() && rtt->is_object()) {
        rtt_.Add(labels).Set(rtt->value("avg", 0.0) / 1e6);  // librdkafka reports microseconds
      }
    }
  }
  queue_messages_.Add(client_label).Set(stats.value("msg_cnt", 0.0));

  std::lock_guard lock(mu_);
  ClientState& state = clients_[client];
  state.seen = std::chrono::steady_clock::now();
  state.broker_up = any_up;
  Advance(tx_messages_.Add(client_label), state.tx_messages, stats.value("txmsgs", 0.0));
  Advance(rx_messages_.Add(client_label), state.rx_messages, stats.value("rxmsgs", 0.0));
}

std::string KafkaStatisticsProbe::BrokerNotReadyReason(std::chrono::milliseconds max_age,
                                                       bool require_statistics) const {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  bool fresh = false;
  for (const auto& [client, state] : clients_) {
    if (now - state.seen > max_age) continue;
    fresh = true;
    if (state.broker_up) return "";
  }
  if (fresh) return "no Kafka broker connection is up";
  if (!require_statistics) return "";
  return clients_.empty() ? "no Kafka client statistics yet" : "no recent Kafka client statistics";
}

}  // namespace kledger
