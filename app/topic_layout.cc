#include "app/topic_layout.h"

namespace kledger::app {

std::vector<kafka::TopicSpec> KledgerTopics(const std::string& prefix,
                                            const TopicLayoutOptions& options) {
  int min_isr = options.min_insync_replicas;
  if (min_isr <= 0) min_isr = options.replication_factor < 3 ? 1 : 2;
  const std::map<std::string, std::string> durable = {
      {"min.insync.replicas", std::to_string(min_isr)}};
  // The log is the source of truth and dead letters wait for a redrive: neither expires.
  std::map<std::string, std::string> forever = durable;
  forever.insert({{"retention.ms", "-1"}, {"retention.bytes", "-1"}});
  std::map<std::string, std::string> compacted = durable;
  compacted.insert({"cleanup.policy", "compact"});
  const int rf = options.replication_factor;
  return {{prefix + ".events", options.partitions, rf, forever},
          {prefix + ".events.dlt", options.partitions, rf, forever},
          {prefix + ".owners", 1, rf, compacted}};
}

}  // namespace kledger::app
