// Test support: a real Apache Kafka cluster (KRaft, 1 or 3 nodes on loopback) run by the local
// cluster tool, scripts/kafka/cluster.py, which fetches the broker from Maven Central once per
// machine. Tests of the `kafka` label share one single-node cluster that CTest starts before
// them (KLEDGER_TEST_KAFKA_DIR names its directory); a test that needs brokers of its own
// (chaos, SASL_SSL) starts them with KafkaCluster::Start.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/support/process.h"

namespace kledger::testing {

struct KafkaClusterOptions {
  int nodes = 1;                          // 1, or 3 (replication factor 3, min.insync.replicas 2)
  std::vector<std::string> tool_flags{};  // more flags for `cluster.py start`; default none
};

class KafkaCluster {
 public:
  // Starts a new cluster in a fresh directory and waits until it is ready. It is stopped by
  // the destructor, or by the tool itself should this process die first.
  static Result<std::unique_ptr<KafkaCluster>> Start(KafkaClusterOptions options = {});
  // Attaches to a running cluster's directory; the destructor leaves it running.
  static Result<std::unique_ptr<KafkaCluster>> Attach(const std::string& dir);
  ~KafkaCluster();

  const std::string& bootstrap() const { return bootstrap_; }
  // The SASL_SSL listeners' bootstrap (with --sasl-ssl-keystore among the tool flags), or "".
  const std::string& sasl_ssl_bootstrap() const { return sasl_ssl_bootstrap_; }
  const std::string& dir() const { return dir_; }
  int nodes() const { return nodes_; }

  Status Kill(int node);       // SIGKILL one node's JVM (1-based node id)
  Status Stop();               // SIGTERM every node; their data stays
  Status Restart();            // start a stopped cluster again, on the same ports and data
  Status StartNode(int node);  // start a killed node again and wait until it serves
  Result<int> ActiveController() const;  // the node id of the KRaft quorum's leader

 private:
  // Owns `scratch` (its brokers' directory) when it started them; attaches to `dir` otherwise.
  explicit KafkaCluster(std::unique_ptr<TempDir> scratch)
      : scratch_(std::move(scratch)), dir_(scratch_->path()) {}
  explicit KafkaCluster(std::string dir) : dir_(std::move(dir)) {}
  Status ReadClusterFile();

  std::unique_ptr<TempDir> scratch_;
  std::string dir_;
  std::string bootstrap_;
  std::string sasl_ssl_bootstrap_;
  int nodes_ = 0;
};

// The `kafka` label's shared cluster (KLEDGER_TEST_KAFKA_DIR), or nullptr when the tests run on
// the embedded broker. Attached on first use; aborts the test binary if the directory is set but
// holds no running cluster.
KafkaCluster* SharedKafka();

// Runs scripts/kafka/cluster.py with `args`; its stdout, or an error with its stderr's tail.
Result<std::string> RunKafkaTool(const std::vector<std::string>& args);

}  // namespace kledger::testing
