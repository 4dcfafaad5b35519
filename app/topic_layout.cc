#include "app/topic_layout.h"

namespace kledger::app {

std::vector<kafka::TopicSpec> KledgerTopics(const std::string& prefix,
                                            const TopicLayoutOptions& options) {
  const int min_isr = options.min_insync_replicas > 0 ? options.min_insync_replicas
                      : options.replication_factor < 3 ? 1
                                                       : 2;
  // The log is the source of truth and dead letters wait for a redrive: neither expires.
  const std::map<std::string, std::string> forever = {{"min.insync.replicas", std::to_string(min_isr)},
                                                      {"retention.ms", "-1"},
                                                      {"retention.bytes", "-1"}};
  return {
      {prefix + ".events", options.partitions, options.replication_factor, forever},
      {prefix + ".events.dlt", options.partitions, options.replication_factor, forever},
      {prefix + ".owners", 1, options.replication_factor,
       {{"min.insync.replicas", std::to_string(min_isr)}, {"cleanup.policy", "compact"}}},
  };
}

}  // namespace kledger::app
