// librdkafka configuration as plain key/value properties, with the defaults kledger uses and the
// `-X key=value` pass-through of the command line.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kledger::kafka {

// Properties handed to rd_kafka_conf_set, in order. Later values override earlier ones.
using Properties = std::map<std::string, std::string>;

// Parses "key=value" strings (the -X flags). On error names the malformed item.
Result<Properties> ParseProperties(const std::vector<std::string>& items);

// Returns `base` with every entry of `overrides` applied on top.
Properties Merge(Properties base, const Properties& overrides);

// Client settings for fast failover on the embedded broker and in tests (EMBEDDED-BROKER.md):
// session.timeout.ms=6000, heartbeat.interval.ms=1000, fetch.wait.max.ms=10,
// reconnect.backoff.max.ms=1000. Production leaves these at librdkafka's defaults unless -X says.
Properties DevClientDefaults();

// Producer defaults for every environment: acks=all, enable.idempotence=true,
// partitioner=murmur2_random (Java-client compatible), linger.ms=5.
Properties ProducerDefaults();

// Consumer defaults for every environment: enable.auto.commit=false,
// enable.auto.offset.store=false, partition.assignment.strategy=cooperative-sticky,
// auto.offset.reset=error (a processor never skips silently).
Properties ConsumerDefaults();

// Removes values of secret-bearing keys (sasl.password, ssl.key.password, ...) for logging.
Properties Redacted(const Properties& props);

}  // namespace kledger::kafka
