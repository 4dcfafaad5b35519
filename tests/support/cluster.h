// Test support: a kledger deployment on loopback made of separate processes — `kledger broker`,
// `kledger command` and N `kledger processor`s — with HTTP clients for each. On real Kafka (the
// `kafka` label's shared cluster, or one given in the options) there is no `kledger broker`:
// each Cluster creates topics of its own there (`kledger topics create` with a fresh
// --topic-prefix) and its own consumer group, so clusters sharing the brokers never meet.
#pragma once

#include <httplib.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kledger/v1/api.pb.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/process.h"

namespace kledger::testing {

struct ClusterOptions {
  int partitions = 4;  // partitions of the events topic; default 4
  int processors = 1;  // processor processes; default 1
  // Starts `kledger command` and the processors; false: the broker (or, on real Kafka, the
  // topics) only, for tests of the tools that run against it. Default true.
  bool api = true;
  // The topics' prefix on the embedded broker; on real Kafka each Cluster makes a fresh one.
  std::string topic_prefix = "kledger";
  std::string group = "kledger-test";          // their consumer group; default "kledger-test"
  std::vector<std::string> command_flags{};    // extra flags for `kledger command`; default none
  std::vector<std::string> processor_flags{};  // extra flags for each processor; default none
  // Each processor gets a group.instance.id of its own (static membership); default off.
  bool static_membership = false;
  // Real Kafka to run on instead of a `kledger broker`; default the kafka label's shared
  // cluster (SharedKafka()), which is nullptr outside that label.
  KafkaCluster* kafka = SharedKafka();
  // On real Kafka: connect to its SASL_SSL listeners, with these -X client flags given to every
  // kledger process and tool (security.protocol, sasl.*, ssl.*); default: PLAINTEXT, none.
  bool sasl_ssl = false;
  std::vector<std::string> kafka_client_flags{};
  // Without --auth-tokens among a process's extra flags, it gets --insecure-no-auth.
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions options = {});
  ~Cluster();  // kills every process; log_dir() goes as TempDir says

  // Starts the broker, the command side and the processors, and waits until all answer
  // /healthz and the processors /readyz.
  Status Start();

  // (Re)starts processor `i` on its port and data directory, with `extra_flags` after the
  // options' processor flags; waits for /healthz.
  Status StartProcessor(int i, const std::vector<std::string>& extra_flags = {});
  ChildProcess& processor(int i) { return *processes_[i]; }
  ChildProcess* command_process() { return command_.get(); }

  const std::string& bootstrap() const { return bootstrap_; }
  const std::string& control_url() const { return control_url_; }
  // Real Kafka under this deployment, or nullptr on the embedded broker.
  KafkaCluster* kafka() const { return options_.kafka; }
  const std::string& topic_prefix() const { return topic_prefix_; }
  std::string events_topic() const { return topic_prefix_ + ".events"; }
  std::string dlt_topic() const { return topic_prefix_ + ".events.dlt"; }
  std::string outcomes_topic() const { return topic_prefix_ + ".outcomes"; }
  const std::string& group() const { return group_; }
  // --bootstrap, --profile dev, --topic-prefix and the client flags for a kledger tool (dlt,
  // rebuild) run against this deployment.
  std::vector<std::string> KafkaFlags() const;
  const std::string& log_dir() const { return dir_.path(); }

  std::unique_ptr<httplib::Client> CommandClient() const;
  std::unique_ptr<httplib::Client> ProcessorClient(int i) const;
  // "http://127.0.0.1:PORT" of processor i: the URL it announces as a partition owner.
  std::string ProcessorUrl(int i) const;

  // POSTs the JSON `body` to the command API's `path`. On a 202 returns its Ack; otherwise an
  // error naming the path, the status and the answer's body.
  Result<v1::Ack> Submit(const std::string& path, const std::string& body) const;

  // Runs `argv` to completion within `timeout`, its stderr in a log of its own in log_dir().
  ToolRun RunTool(const std::vector<std::string>& argv,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // `kledger ARGS` followed by KafkaFlags(): a tool (dlt, rebuild, ...) run by RunTool against
  // this deployment.
  ToolRun RunKledger(const std::vector<std::string>& args,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // Sends a fault order to the broker's control endpoint; the answer line or the error
  // (Unimplemented on real Kafka, which takes no such orders).
  Result<std::string> Fault(const std::string& order) const;

 private:
  Status StartBroker();
  Status CreateTopicsOnKafka();

  ClusterOptions options_;
  TempDir dir_;  // logs, and the processors' data
  std::string bootstrap_;
  std::string control_url_;
  std::string topic_prefix_;
  std::string group_;
  int command_port_ = 0;
  std::vector<int> processor_ports_;
  std::unique_ptr<ChildProcess> broker_;
  std::unique_ptr<ChildProcess> command_;
  std::vector<std::unique_ptr<ChildProcess>> processes_;
  int tool_runs_ = 0;
};

// True when GET `path` on `client` answers 200.
bool Answers200(httplib::Client& client, const std::string& path);

// GETs `path` on `client` and parses the 200's JSON body into `out`; an error naming the path
// and what came back otherwise.
Status GetJson(httplib::Client& client, const std::string& path, google::protobuf::Message& out);

// The value of the metric series `series` (a name, with its labels as printed: `x{a="b"}`) in
// `client`'s /metrics, or nullopt when it is not there or /metrics did not answer.
std::optional<double> MetricValue(httplib::Client& client, const std::string& series);

// The partitions of the events topic a processor owns, from its per-partition lag gauges.
std::set<int> OwnedPartitions(httplib::Client& processor);

}  // namespace kledger::testing
