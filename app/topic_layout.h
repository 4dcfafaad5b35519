// The topics kledger needs, with the settings deploy/README.md documents: one list serves the
// embedded broker (`kledger broker`, `kledger dev`) and `kledger topics create`; and the wait
// for created topics to be usable.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/kafka/admin.h"
#include "common/kafka/topic_spec.h"

namespace kledger::app {

struct TopicLayoutOptions {
  int partitions = 12;          // of the events and dead-letter topics; default 12
  int replication_factor = 3;   // of every topic; default 3
  int min_insync_replicas = 0;  // 0: 2, or 1 when replication_factor < 3; default 0
};

// <prefix>.events and <prefix>.events.dlt (`partitions` each, kept forever), <prefix>.owners
// (1 partition, compacted), <prefix>.outcomes (`partitions`, kept forever), in that order; all
// with min.insync.replicas.
std::vector<kafka::TopicSpec> KledgerTopics(const std::string& prefix,
                                            const TopicLayoutOptions& options = {});

// Creates those of `topics` that the cluster at `props`' bootstrap lacks, then waits until every
// partition of each has a leader, all within `timeout` (for `kledger dev` and the benchmark on a
// real cluster; `kledger topics create` reports in more detail). Existing topics are left as
// they are. The names of the topics it created, in the order given.
Result<std::vector<std::string>> CreateMissingTopics(const kafka::Properties& props,
                                                     const std::vector<kafka::TopicSpec>& topics,
                                                     std::chrono::milliseconds timeout);

// Waits until the metadata gives every partition of each of `topics` a leader — a topic just
// created is known to the controller a moment before the brokers serve it. Timeout naming the
// topics still waiting once `deadline` passes.
Status WaitForLeaders(kafka::Admin& admin, const std::vector<kafka::TopicSpec>& topics,
                      std::chrono::steady_clock::time_point deadline);

}  // namespace kledger::app
