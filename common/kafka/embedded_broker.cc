// The embedded broker: librdkafka's mock cluster hosted on a producer handle made only for it,
// plus the fault-injection orders `kledger broker` accepts.
#include "common/kafka/embedded_broker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "common/kafka/internal/rdkafka_handle.h"
#include "common/kafka/internal/rdkafka_util.h"
#include "common/sockets.h"

namespace kledger::kafka {
namespace {

using internal::ErrorToStatus;
using internal::MockClusterPtr;
using internal::RdKafkaPtr;

constexpr std::string_view kAcceptedOrders =
    "broker-down ID | broker-up ID | rtt ID MS | request-errors API COUNT ERROR | "
    "leader TOPIC PARTITION ID | clear";

// Kafka protocol API keys by name, for PushRequestErrors.
constexpr std::array<std::pair<std::string_view, int16_t>, 18> kApiKeys = {{
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Metadata", 3},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"LeaveGroup", 13},
    {"SyncGroup", 14},
    {"DescribeGroups", 15},
    {"ApiVersions", 18},
    {"InitProducerId", 22},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
}};

// Newer Kafka names for codes librdkafka 2.0.2 still calls by their old names.
constexpr std::array<std::pair<std::string_view, rd_kafka_resp_err_t>, 3> kErrorAliases = {{
    {"NOT_LEADER_OR_FOLLOWER", RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION},
    {"UNKNOWN_TOPIC_OR_PARTITION", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART},
    {"REPLICA_NOT_AVAILABLE", RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE},
}};

std::string Upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string ApiNames() {
  std::string out;
  for (const auto& [name, key] : kApiKeys) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

Result<int16_t> ApiKeyByName(std::string_view api) {
  const std::string wanted = Upper(api);
  for (const auto& [name, key] : kApiKeys) {
    if (Upper(name) == wanted) return key;
  }
  return Status::InvalidArgument("unknown Kafka API '" + std::string(api) + "'; use one of " +
                                 ApiNames());
}

// Accepts librdkafka's names (as rd_kafka_err2name prints them, e.g. NOT_LEADER_FOR_PARTITION,
// _TRANSPORT), with or without an RD_KAFKA_RESP_ERR_ / ERR_ prefix, in any case.
Result<rd_kafka_resp_err_t> ErrorByName(std::string_view error) {
  std::string wanted = Upper(error);
  for (std::string_view prefix : {"RD_KAFKA_RESP_ERR_", "ERR_"}) {
    if (wanted.rfind(prefix, 0) == 0 && wanted.size() > prefix.size()) {
      wanted.erase(0, prefix.size());
      break;
    }
  }
  for (const auto& [alias, code] : kErrorAliases) {
    if (wanted == alias) return code;
  }
  const rd_kafka_err_desc* descs = nullptr;
  size_t count = 0;
  rd_kafka_get_err_descs(&descs, &count);
  for (size_t i = 0; i < count; ++i) {
    if (descs[i].name != nullptr && wanted == descs[i].name && descs[i].code != 0) {
      return descs[i].code;
    }
  }
  return Status::InvalidArgument("unknown Kafka error '" + std::string(error) +
                                 "'; use a Kafka error name such as NOT_LEADER_OR_FOLLOWER, "
                                 "REQUEST_TIMED_OUT, COORDINATOR_NOT_AVAILABLE or _TRANSPORT");
}

template <typename Int>
bool ParseInt(std::string_view text, Int& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end;
}

// Sets TCP_NODELAY on the connections the mock brokers accept, as Kafka brokers do. librdkafka
// 2.0.2's mock sets no socket option on them, so a response written right behind another (a
// client with requests for several partitions of one broker in flight) waits for the client's
// delayed ACK: ~40 ms per burst, whatever linger.ms says. The connections are this process's
// own sockets: a thread finds the new ones in /proc/self/fd by their local port, every
// kNoDelayScan.
class NoDelayWatcher {
 public:
  explicit NoDelayWatcher(std::set<int> ports)
      : ports_(std::move(ports)), thread_([this] { Run(); }) {}
  ~NoDelayWatcher() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  // Sets TCP_NODELAY on every accepted connection of the ports that lacks it.
  static void Scan(const std::set<int>& ports) {
    ForEachAcceptedConnection(ports, [](int fd) {
      int nodelay = 0;
      socklen_t len = sizeof(nodelay);
      if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) != 0 || nodelay) return;
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // a closed one: no harm
    });
  }

 private:
  // A scan of ~150 descriptors takes ~0.1 ms; a new connection may wait this long for the
  // option, which only delays some of its first answers.
  static constexpr std::chrono::milliseconds kNoDelayScan{100};

  void Run() {
    pthread_setname_np(pthread_self(), "kl-nodelay");
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      Scan(ports_);
      lock.lock();
      wake_.wait_for(lock, kNoDelayScan, [this] { return stopping_; });
    }
  }

  const std::set<int> ports_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;     // last: starts once the rest is built
};

// The ports of "host:port,host:port,...".
std::set<int> BootstrapPorts(std::string_view bootstrap) {
  std::set<int> ports;
  while (!bootstrap.empty()) {
    const size_t comma = bootstrap.find(',');
    const std::string_view one = bootstrap.substr(0, comma);
    const size_t colon = one.rfind(':');
    int port = 0;
    if (colon != std::string_view::npos &&
        std::from_chars(one.data() + colon + 1, one.data() + one.size(), port).ec == std::errc()) {
      ports.insert(port);
    }
    if (comma == std::string_view::npos) break;
    bootstrap.remove_prefix(comma + 1);
  }
  return ports;
}

}  // namespace

struct EmbeddedBroker::Impl {
  RdKafkaPtr host;         // declared first: outlives the cluster it hosts
  MockClusterPtr cluster;  // destroyed before the host handle
  std::string bootstrap;
  int brokers = 0;
  std::unique_ptr<NoDelayWatcher> nodelay;  // destroyed first: stops before the cluster

  Status CheckBroker(int32_t broker_id) const {
    if (broker_id >= 1 && broker_id <= brokers) return Status::Ok();
    return Status::InvalidArgument("no broker " + std::to_string(broker_id) +
                                   "; broker ids are 1.." + std::to_string(brokers));
  }
};

EmbeddedBroker::EmbeddedBroker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EmbeddedBroker::~EmbeddedBroker() = default;

Result<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Start(
    const EmbeddedBrokerOptions& options) {
  if (options.brokers < 1) {
    return Status::InvalidArgument("embedded broker needs at least 1 broker, got " +
                                   std::to_string(options.brokers));
  }
  // The host handle never connects anywhere; warnings and errors are all it has to say.
  ASSIGN_OR_RETURN(internal::ConfPtr conf,
                   internal::MakeConf({{"log_level", "4"}, {"client.id", "kledger-broker"}}));
  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    return Status::Unavailable(std::string("cannot create the embedded broker's host handle: ") +
                               errstr);
  }
  conf.release();
  auto impl = std::make_unique<Impl>();
  impl->host.reset(rk);
  impl->cluster.reset(rd_kafka_mock_cluster_new(rk, options.brokers));
  if (!impl->cluster) {
    return Status::Unavailable("librdkafka could not start a mock cluster of " +
                               std::to_string(options.brokers) + " brokers");
  }
  impl->bootstrap = rd_kafka_mock_cluster_bootstraps(impl->cluster.get());
  impl->brokers = options.brokers;
  impl->nodelay = std::make_unique<NoDelayWatcher>(BootstrapPorts(impl->bootstrap));
  auto broker = std::unique_ptr<EmbeddedBroker>(new EmbeddedBroker(std::move(impl)));
  for (const TopicSpec& topic : options.topics) RETURN_IF_ERROR(broker->CreateTopic(topic));
  spdlog::info("embedded broker: {} brokers at {}", options.brokers, broker->bootstrap());
  return broker;
}

const std::string& EmbeddedBroker::bootstrap() const { return impl_->bootstrap; }

int EmbeddedBroker::broker_count() const { return impl_->brokers; }

Status EmbeddedBroker::CreateTopic(const TopicSpec& topic) {
  if (topic.name.empty()) return Status::InvalidArgument("create topic: the name is empty");
  if (topic.partitions < 1) {
    return Status::InvalidArgument("create topic '" + topic.name +
                                   "': partitions must be >= 1, got " +
                                   std::to_string(topic.partitions));
  }
  const int rf = std::clamp(topic.replication_factor, 1, impl_->brokers);
  return ErrorToStatus(
      rd_kafka_mock_topic_create(impl_->cluster.get(), topic.name.c_str(), topic.partitions, rf),
      "create topic '" + topic.name + "'");
}

Status EmbeddedBroker::SetBrokerDown(int32_t broker_id) {
  RETURN_IF_ERROR(impl_->CheckBroker(broker_id));
  return ErrorToStatus(rd_kafka_mock_broker_set_down(impl_->cluster.get(), broker_id),
                       "broker-down " + std::to_string(broker_id));
}

Status EmbeddedBroker::SetBrokerUp(int32_t broker_id) {
  RETURN_IF_ERROR(impl_->CheckBroker(broker_id));
  return ErrorToStatus(rd_kafka_mock_broker_set_up(impl_->cluster.get(), broker_id),
                       "broker-up " + std::to_string(broker_id));
}

Status EmbeddedBroker::SetBrokerRtt(int32_t broker_id, int rtt_ms) {
  RETURN_IF_ERROR(impl_->CheckBroker(broker_id));
  if (rtt_ms < 0) {
    return Status::InvalidArgument("rtt must be >= 0 ms, got " + std::to_string(rtt_ms));
  }
  return ErrorToStatus(rd_kafka_mock_broker_set_rtt(impl_->cluster.get(), broker_id, rtt_ms),
                       "rtt " + std::to_string(broker_id));
}

Status EmbeddedBroker::PushRequestErrors(std::string_view api, int count, std::string_view error) {
  ASSIGN_OR_RETURN(const int16_t api_key, ApiKeyByName(api));
  ASSIGN_OR_RETURN(const rd_kafka_resp_err_t code, ErrorByName(error));
  if (count < 1) {
    return Status::InvalidArgument("request-errors: COUNT must be >= 1, got " +
                                   std::to_string(count));
  }
  const std::vector<rd_kafka_resp_err_t> errors(static_cast<size_t>(count), code);
  rd_kafka_mock_push_request_errors_array(impl_->cluster.get(), api_key, errors.size(),
                                          errors.data());
  return Status::Ok();
}

Status EmbeddedBroker::SetPartitionLeader(std::string_view topic, int32_t partition,
                                          int32_t broker_id) {
  RETURN_IF_ERROR(impl_->CheckBroker(broker_id));
  if (partition < 0) {
    return Status::InvalidArgument("leader: partition must be >= 0, got " +
                                   std::to_string(partition));
  }
  const std::string name(topic);
  // Note: the mock creates the topic when it does not exist yet.
  return ErrorToStatus(
      rd_kafka_mock_partition_set_leader(impl_->cluster.get(), name.c_str(), partition, broker_id),
      "leader " + name + "/" + std::to_string(partition));
}

Status EmbeddedBroker::ClearFaults() {
  for (int32_t id = 1; id <= impl_->brokers; ++id) {
    RETURN_IF_ERROR(SetBrokerUp(id));
    RETURN_IF_ERROR(SetBrokerRtt(id, 0));
  }
  for (const auto& [name, key] : kApiKeys) {
    rd_kafka_mock_clear_request_errors(impl_->cluster.get(), key);
  }
  return Status::Ok();
}

Result<std::string> EmbeddedBroker::Execute(std::string_view order) {
  std::vector<std::string> words;
  {
    std::istringstream in{std::string(order)};
    for (std::string word; in >> word;) words.push_back(std::move(word));
  }
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("bad broker order '" + std::string(order) +
                                   "': " + std::string(why) +
                                   "; accepted: " + std::string(kAcceptedOrders));
  };
  if (words.empty()) return bad("empty");
  const std::string verb = words[0];
  const size_t args = words.size() - 1;
  int32_t id = 0;

  if (verb == "broker-down" || verb == "broker-up") {
    if (args != 1 || !ParseInt(words[1], id)) return bad("expected " + verb + " ID");
    const bool down = verb == "broker-down";
    RETURN_IF_ERROR(down ? SetBrokerDown(id) : SetBrokerUp(id));
    return "ok broker " + std::to_string(id) + (down ? " down" : " up");
  }
  if (verb == "rtt") {
    int rtt_ms = 0;
    if (args != 2 || !ParseInt(words[1], id) || !ParseInt(words[2], rtt_ms)) {
      return bad("expected rtt ID MS");
    }
    RETURN_IF_ERROR(SetBrokerRtt(id, rtt_ms));
    return "ok broker " + std::to_string(id) + " rtt " + std::to_string(rtt_ms) + " ms";
  }
  if (verb == "request-errors") {
    int count = 0;
    if (args != 3 || !ParseInt(words[2], count)) {
      return bad("expected request-errors API COUNT ERROR");
    }
    RETURN_IF_ERROR(PushRequestErrors(words[1], count, words[3]));
    return "ok next " + std::to_string(count) + " " + words[1] + " requests fail with " +
           rd_kafka_err2name(ErrorByName(words[3]).value());
  }
  if (verb == "leader") {
    int32_t partition = 0;
    if (args != 3 || !ParseInt(words[2], partition) || !ParseInt(words[3], id)) {
      return bad("expected leader TOPIC PARTITION ID");
    }
    RETURN_IF_ERROR(SetPartitionLeader(words[1], partition, id));
    return "ok leader of " + words[1] + "/" + std::to_string(partition) + " is broker " +
           std::to_string(id);
  }
  if (verb == "clear") {
    if (args != 0) return bad("clear takes no arguments");
    RETURN_IF_ERROR(ClearFaults());
    return std::string("ok faults cleared");
  }
  return bad("unknown order '" + verb + "'");
}

}  // namespace kledger::kafka
