// librdkafka properties: parsing of -X items, kledger's defaults, and redaction for logs.
#include "common/kafka/properties.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace kledger::kafka {

Result<Properties> ParseProperties(const std::vector<std::string>& items) {
  Properties props;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& item = items[i];
    // Values may be secrets (sasl.password, ssl.key.password), and an item without '=' may be
    // nothing but a value: errors name the item by position and show keys only.
    const std::string which = "Kafka property #" + std::to_string(i + 1) + " of " +
                              std::to_string(items.size()) + " (-X)";
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("malformed " + which + ": it has no '=' (" +
                                     std::to_string(item.size()) +
                                     " characters, not shown: it may be a secret); expected the "
                                     "form key=value (e.g. -X linger.ms=5)");
    }
    std::string key = item.substr(0, eq);
    if (key.empty()) {
      return Status::InvalidArgument("malformed " + which +
                                     ": the key is empty; expected the form key=value");
    }
    if (std::any_of(key.begin(), key.end(), [](unsigned char c) { return std::isspace(c); })) {
      return Status::InvalidArgument("malformed " + which + ": the key '" + key +
                                     "' contains whitespace; expected the form key=value");
    }
    // A later item overrides an earlier one, as repeated -X flags do in kcat.
    props[std::move(key)] = item.substr(eq + 1);
  }
  return props;
}

Properties Merge(Properties base, const Properties& overrides) {
  for (const auto& [key, value] : overrides) base[key] = value;
  return base;
}

Properties DevClientDefaults() {
  return {
      {"session.timeout.ms", "6000"},
      {"heartbeat.interval.ms", "1000"},
      {"fetch.wait.max.ms", "10"},
      {"reconnect.backoff.max.ms", "1000"},
  };
}

Properties ProducerDefaults() {
  return {
      {"acks", "all"},
      {"enable.idempotence", "true"},
      {"partitioner", "murmur2_random"},
      {"linger.ms", "5"},
  };
}

Properties ConsumerDefaults() {
  return {
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"partition.assignment.strategy", "cooperative-sticky"},
      {"auto.offset.reset", "error"},
  };
}

Properties Redacted(const Properties& props) {
  // Substrings of librdkafka (and kledger) keys whose values are secrets or private keys.
  static constexpr std::array<std::string_view, 9> kSecretMarkers = {
      "password",    "secret",  "sasl.oauthbearer.config",
      "ssl.key.pem", "ssl_key", "token",
      "credential",  "private", "sasl.jaas"};
  Properties out;
  for (const auto& [key, value] : props) {
    std::string lower(key);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const bool secret =
        std::any_of(kSecretMarkers.begin(), kSecretMarkers.end(),
                    [&](std::string_view m) { return lower.find(m) != lower.npos; });
    out[key] = secret ? "[redacted]" : value;
  }
  return out;
}

}  // namespace kledger::kafka
