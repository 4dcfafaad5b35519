#include "tests/support/cluster.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <sstream>

#include "common/http.h"

namespace kledger::testing {
namespace {

// `flags` plus --insecure-no-auth unless they configure authentication: the API processes refuse
// to start with neither.
std::vector<std::string> WithAuthChoice(std::vector<std::string> flags) {
  if (std::find(flags.begin(), flags.end(), "--auth-tokens") == flags.end()) {
    flags.push_back("--insecure-no-auth");
  }
  return flags;
}

}  // namespace

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)), dir_("kledger-test") {
  group_ = options_.group;
  topic_prefix_ = options_.topic_prefix;
  if (options_.kafka != nullptr) {
    // Unique on the shared brokers: this process, and this deployment within it.
    static std::atomic<int> deployments{0};
    topic_prefix_ = "t" + std::to_string(getpid()) + "-" + std::to_string(deployments++);
    group_ = options_.group + "-" + topic_prefix_;
  }
}

Cluster::~Cluster() {
  for (auto& p : processes_) p.reset();
  command_.reset();
  broker_.reset();
}

bool Answers200(httplib::Client& client, const std::string& path) {
  auto res = client.Get(path.c_str());
  return res && res->status == 200;
}

std::vector<std::string> Cluster::KafkaFlags() const {
  std::vector<std::string> flags = {"--bootstrap", bootstrap_,       "--profile",
                                    "dev",         "--topic-prefix", topic_prefix_};
  flags.insert(flags.end(), options_.kafka_client_flags.begin(), options_.kafka_client_flags.end());
  return flags;
}

Status Cluster::CreateTopicsOnKafka() {
  bootstrap_ =
      options_.sasl_ssl ? options_.kafka->sasl_ssl_bootstrap() : options_.kafka->bootstrap();
  std::vector<std::string> argv = {KledgerBinary(), "topics", "create"};
  for (const std::string& flag : KafkaFlags()) argv.push_back(flag);
  argv.insert(argv.end(),
              {"--partitions", std::to_string(options_.partitions), "--replication-factor",
               std::to_string(std::min(3, options_.kafka->nodes()))});
  ASSIGN_OR_RETURN(ChildProcess topics, ChildProcess::Spawn(argv, log_dir() + "/topics.log"));
  const std::string out = topics.ReadAll(std::chrono::seconds(60));
  if (topics.Wait(std::chrono::seconds(10)) != 0) {
    return Status::Unavailable("kledger topics create failed: " + out + "; see " + log_dir() +
                               "/topics.log");
  }
  return Status::Ok();
}

Status Cluster::StartBroker() {
  if (options_.kafka != nullptr) return CreateTopicsOnKafka();
  ASSIGN_OR_RETURN(
      ChildProcess broker,
      ChildProcess::Spawn({KledgerBinary(), "broker", "--partitions",
                           std::to_string(options_.partitions), "--topic-prefix", topic_prefix_},
                          log_dir() + "/broker.log"));
  broker_ = std::make_unique<ChildProcess>(std::move(broker));
  auto first = broker_->ReadLine(std::chrono::seconds(20));
  auto second = broker_->ReadLine(std::chrono::seconds(5));
  if (!first || first->rfind("bootstrap=", 0) != 0 || !second ||
      second->rfind("control=", 0) != 0) {
    return Status::Unavailable("kledger broker did not print bootstrap=/control=; see " +
                               log_dir() + "/broker.log");
  }
  bootstrap_ = first->substr(std::string("bootstrap=").size());
  control_url_ = second->substr(std::string("control=").size());
  return Status::Ok();
}

std::optional<double> MetricValue(httplib::Client& client, const std::string& series) {
  auto res = client.Get("/metrics");
  if (!res || res->status != 200) return std::nullopt;
  std::istringstream lines(res->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

std::set<int> OwnedPartitions(httplib::Client& processor) {
  std::set<int> owned;
  auto res = processor.Get("/metrics");
  if (!res || res->status != 200) return owned;
  const std::string prefix = "kledger_consumer_lag{partition=\"";
  std::istringstream lines(res->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) owned.insert(std::atoi(line.c_str() + prefix.size()));
  }
  return owned;
}

Status Cluster::Start() {
  RETURN_IF_ERROR(StartBroker());
  if (!options_.api) return Status::Ok();

  command_port_ = FreePort();
  std::vector<std::string> command_argv = {
      KledgerBinary(),  "command",    "--profile", "dev",
      "--bootstrap",    bootstrap_,   "--http",    "127.0.0.1:" + std::to_string(command_port_),
      "--topic-prefix", topic_prefix_};
  command_argv.insert(command_argv.end(), options_.kafka_client_flags.begin(),
                      options_.kafka_client_flags.end());
  const std::vector<std::string> command_flags = WithAuthChoice(options_.command_flags);
  command_argv.insert(command_argv.end(), command_flags.begin(), command_flags.end());
  ASSIGN_OR_RETURN(ChildProcess command,
                   ChildProcess::Spawn(command_argv, log_dir() + "/command.log"));
  command_ = std::make_unique<ChildProcess>(std::move(command));

  processes_.resize(options_.processors);
  processor_ports_.resize(options_.processors);
  for (int i = 0; i < options_.processors; ++i) {
    processor_ports_[i] = FreePort();
    RETURN_IF_ERROR(StartProcessor(i));
  }
  auto cmd = CommandClient();
  if (!WaitUntil(std::chrono::seconds(20), [&] { return Answers200(*cmd, "/healthz"); })) {
    return Status::Unavailable("kledger command did not come up; see " + log_dir());
  }
  for (int i = 0; i < options_.processors; ++i) {
    auto client = ProcessorClient(i);
    if (!WaitUntil(std::chrono::seconds(30), [&] { return Answers200(*client, "/readyz"); })) {
      return Status::Unavailable("processor " + std::to_string(i) + " did not get ready; see " +
                                 log_dir());
    }
  }
  return Status::Ok();
}

Status Cluster::StartProcessor(int i, const std::vector<std::string>& extra_flags) {
  processes_[i].reset();  // kills a previous incarnation
  const std::string name = "processor-" + std::to_string(i);
  std::vector<std::string> argv = {
      KledgerBinary(),  "processor",
      "--profile",      "dev",
      "--bootstrap",    bootstrap_,
      "--group",        group_,
      "--topic-prefix", topic_prefix_,
      "--http",         "127.0.0.1:" + std::to_string(processor_ports_[i]),
      "--data-dir",     log_dir() + "/" + name + "-data"};
  argv.insert(argv.end(), options_.kafka_client_flags.begin(), options_.kafka_client_flags.end());
  const std::vector<std::string> processor_flags = WithAuthChoice(options_.processor_flags);
  argv.insert(argv.end(), processor_flags.begin(), processor_flags.end());
  if (options_.static_membership) {
    argv.insert(argv.end(), {"-X", "group.instance.id=" + group_ + "-" + name});
  }
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  ASSIGN_OR_RETURN(ChildProcess p, ChildProcess::Spawn(argv, log_dir() + "/" + name + ".log"));
  processes_[i] = std::make_unique<ChildProcess>(std::move(p));
  auto client = ProcessorClient(i);
  if (!WaitUntil(std::chrono::seconds(20), [&] { return Answers200(*client, "/healthz"); })) {
    return Status::Unavailable(name + " did not come up; see " + log_dir() + "/" + name + ".log");
  }
  return Status::Ok();
}

std::unique_ptr<httplib::Client> Cluster::CommandClient() const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", command_port_);
  c->set_read_timeout(15, 0);
  return c;
}

std::unique_ptr<httplib::Client> Cluster::ProcessorClient(int i) const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", processor_ports_[i]);
  c->set_read_timeout(15, 0);
  return c;
}

std::string Cluster::ProcessorUrl(int i) const {
  return "http://127.0.0.1:" + std::to_string(processor_ports_[i]);
}

Result<v1::Ack> Cluster::Submit(const std::string& path, const std::string& body) const {
  auto res = CommandClient()->Post(path.c_str(), body, "application/json");
  if (!res) return Status::Unavailable("POST " + path + ": the command API did not answer");
  if (res->status != 202) {
    return Status::FailedPrecondition("POST " + path + " answered " + std::to_string(res->status) +
                                      ": " + res->body);
  }
  v1::Ack ack;
  RETURN_IF_ERROR(http::ParseJson(res->body, ack).WithContext("POST " + path));
  return ack;
}

ToolRun Cluster::RunTool(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  const std::string log = log_dir() + "/tool-" + std::to_string(++tool_runs_) + ".log";
  return RunToCompletion(argv, log, timeout);
}

ToolRun Cluster::RunKledger(const std::vector<std::string>& args,
                            std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {KledgerBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  for (const std::string& flag : KafkaFlags()) argv.push_back(flag);
  return RunTool(argv, timeout);
}

Status GetJson(httplib::Client& client, const std::string& path, google::protobuf::Message& out) {
  auto res = client.Get(path.c_str());
  if (!res) return Status::Unavailable("GET " + path + " did not answer");
  if (res->status != 200) {
    return Status::FailedPrecondition("GET " + path + " answered " + std::to_string(res->status) +
                                      " " + res->body);
  }
  out.Clear();
  return http::ParseJson(res->body, out).WithContext("GET " + path);
}

Result<std::string> Cluster::Fault(const std::string& order) const {
  if (options_.kafka != nullptr) {
    return Status::FailedPrecondition("fault orders are for the embedded broker, not real Kafka");
  }
  httplib::Client control(control_url_);
  auto res = control.Post("/faults", order, "text/plain");
  if (!res) return Status::Unavailable("the broker's control endpoint did not answer");
  if (res->status != 200) return Status::InvalidArgument(res->body);
  return res->body;
}

}  // namespace kledger::testing
