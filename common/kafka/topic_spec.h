// A topic to create, as the embedded broker (at start) and the admin client (on a real cluster)
// both take it.
#pragma once

#include <map>
#include <string>

namespace kledger::kafka {

struct TopicSpec {
  std::string name;
  int partitions = 12;         // default 12
  int replication_factor = 3;  // default 3 (the embedded broker clamps it to its broker count)
  // Broker-side topic configs (cleanup.policy, retention.ms, ...); default none. The embedded
  // broker has no topic configs and ignores them.
  std::map<std::string, std::string> configs = {};
};

}  // namespace kledger::kafka
