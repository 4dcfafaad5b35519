#include "tests/support/kafka_cluster.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "tests/support/process.h"

namespace kledger::testing {
namespace {

// The value of `key=` among `text`'s lines, or "".
std::string Field(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
  }
  return "";
}

std::string Tail(const std::string& path) {
  const std::string text = ReadFile(path);
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

}  // namespace

Result<std::string> RunKafkaTool(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/python3", KLEDGER_KAFKA_TOOL};
  argv.insert(argv.end(), args.begin(), args.end());
  // One directory for the whole test process, a log per call.
  static const TempDir scratch("kledger-kafka-tool");
  const std::string& dir = scratch.path();
  static std::atomic<int> calls{0};
  const std::string log = dir + "/" + args[0] + "-" + std::to_string(calls++) + ".log";
  ASSIGN_OR_RETURN(ChildProcess tool, ChildProcess::Spawn(argv, log));
  std::string out = tool.ReadAll(std::chrono::seconds(240));
  const std::optional<int> code = tool.Wait(std::chrono::seconds(30));
  if (code != 0) {
    return Status::Unavailable("cluster.py " + args[0] + " failed (exit " +
                               (code ? std::to_string(*code) : "none") + "): " + Tail(log));
  }
  return out;
}

Result<std::unique_ptr<KafkaCluster>> KafkaCluster::Start(KafkaClusterOptions options) {
  std::unique_ptr<KafkaCluster> cluster(
      new KafkaCluster(std::make_unique<TempDir>("kledger-kafka")));
  std::vector<std::string> args = {"start",
                                   "--dir",
                                   cluster->dir_,
                                   "--nodes",
                                   std::to_string(options.nodes),
                                   "--owner-pid",
                                   std::to_string(getpid())};
  args.insert(args.end(), options.tool_flags.begin(), options.tool_flags.end());
  RETURN_IF_ERROR(RunKafkaTool(args).status());
  RETURN_IF_ERROR(cluster->ReadClusterFile());
  return cluster;
}

Result<std::unique_ptr<KafkaCluster>> KafkaCluster::Attach(const std::string& dir) {
  std::unique_ptr<KafkaCluster> cluster(new KafkaCluster(std::string(dir)));
  RETURN_IF_ERROR(cluster->ReadClusterFile());
  return cluster;
}

KafkaCluster::~KafkaCluster() {
  if (scratch_ == nullptr) return;
  // The brokers' data goes now, their logs with scratch_ unless a test failed.
  auto stopped = RunKafkaTool({"stop", "--dir", dir_, "--timeout", "10", "--delete-data"});
  if (!stopped.ok()) std::cerr << stopped.status().ToString() << "\n";
}

Status KafkaCluster::ReadClusterFile() {
  ASSIGN_OR_RETURN(std::string out, RunKafkaTool({"bootstrap", "--dir", dir_}));
  bootstrap_ = Field(out, "bootstrap");
  sasl_ssl_bootstrap_ = Field(out, "sasl_ssl_bootstrap");
  nodes_ = std::atoi(Field(out, "nodes").c_str());
  if (bootstrap_.empty() || nodes_ <= 0) {
    return Status::Unavailable("cluster.py bootstrap printed no cluster for " + dir_ + ": " + out);
  }
  return Status::Ok();
}

Status KafkaCluster::Kill(int node) {
  return RunKafkaTool({"kill", "--dir", dir_, "--node", std::to_string(node)}).status();
}

Status KafkaCluster::Stop() { return RunKafkaTool({"stop", "--dir", dir_}).status(); }

Status KafkaCluster::Restart() {
  std::vector<std::string> args = {"start", "--dir", dir_};
  if (scratch_ != nullptr) args.insert(args.end(), {"--owner-pid", std::to_string(getpid())});
  return RunKafkaTool(args).status();
}

Status KafkaCluster::StartNode(int node) {
  return RunKafkaTool(
             {"start-node", "--dir", dir_, "--node", std::to_string(node), "--timeout", "90"})
      .status();
}

Result<int> KafkaCluster::ActiveController() const {
  ASSIGN_OR_RETURN(std::string out, RunKafkaTool({"controller", "--dir", dir_}));
  return std::atoi(out.c_str());
}

KafkaCluster* SharedKafka() {
  static KafkaCluster* const shared = []() -> KafkaCluster* {
    const char* dir = std::getenv("KLEDGER_TEST_KAFKA_DIR");
    if (dir == nullptr || *dir == '\0') return nullptr;
    auto cluster = KafkaCluster::Attach(dir);
    if (!cluster.ok()) {
      std::cerr << "KLEDGER_TEST_KAFKA_DIR=" << dir
                << " holds no running Kafka cluster: " << cluster.status().ToString() << "\n";
      std::abort();
    }
    return cluster->release();
  }();
  return shared;
}

}  // namespace kledger::testing
