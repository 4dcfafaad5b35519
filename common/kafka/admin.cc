// The admin client: a librdkafka handle used only for metadata and admin requests, each answered
// on a queue of its own and bounded by the caller's timeout.
#include "common/kafka/admin.h"

#include <spdlog/spdlog.h>

#include <string_view>

#include "common/kafka/internal/rdkafka_handle.h"
#include "common/kafka/internal/rdkafka_util.h"

namespace kledger::kafka {
namespace {

using internal::AdminOptionsPtr;
using internal::ConfigResourcePtr;
using internal::ErrorToStatus;
using internal::EventPtr;
using internal::MetadataPtr;
using internal::NewTopicPtr;
using internal::QueuePtr;
using internal::RdKafkaPtr;
using internal::RdKafkaStringPtr;
using internal::ToTimeoutMs;

// librdkafka answers an admin request itself once its request timeout passes; the queue is
// polled this much longer so that its own answer, which says more, is the one reported.
constexpr std::chrono::milliseconds kAnswerGrace{1000};

// The mock cluster's id starts with this (librdkafka 2.0.2, rdkafka_mock.c).
constexpr std::string_view kMockClusterIdPrefix = "mockCluster";

std::string Joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::string TopicNames(const std::vector<TopicSpec>& topics) {
  std::vector<std::string> names;
  for (const TopicSpec& topic : topics) names.push_back(topic.name);
  return Joined(names);
}

// A NewTopic for `topic`; InvalidArgument naming it when librdkafka refuses the values.
Result<NewTopicPtr> ToNewTopic(const TopicSpec& topic) {
  // librdkafka would take 0 and -1 (the broker's default); kledger always says what it wants.
  if (topic.partitions < 1 || topic.replication_factor < 1) {
    return Status::InvalidArgument("topic " + topic.name + ": partitions (" +
                                   std::to_string(topic.partitions) + ") and replication factor (" +
                                   std::to_string(topic.replication_factor) + ") must be >= 1");
  }
  char errstr[512] = {0};
  NewTopicPtr out(rd_kafka_NewTopic_new(topic.name.c_str(), topic.partitions,
                                        topic.replication_factor, errstr, sizeof(errstr)));
  if (!out) return Status::InvalidArgument("topic " + topic.name + ": " + errstr);
  for (const auto& [key, value] : topic.configs) {
    RETURN_IF_ERROR(
        ErrorToStatus(rd_kafka_NewTopic_set_config(out.get(), key.c_str(), value.c_str()),
                      "topic " + topic.name + " config " + key + "=" + value));
  }
  return out;
}

}  // namespace

struct Admin::Impl {
  RdKafkaPtr rk;

  bool IsMockCluster() const {
    RdKafkaStringPtr cluster_id(rd_kafka_clusterid(rk.get(), 0));  // cached: no wait
    return cluster_id && std::string_view(cluster_id.get()).starts_with(kMockClusterIdPrefix);
  }

  // Why a request may have got no answer, for the Timeout an operator reads.
  std::string WhyNoAnswer() const {
    if (IsMockCluster()) {
      return "this cluster is librdkafka's mock cluster (kledger's embedded broker: `kledger "
             "broker`, `kledger dev`), which does not support CreateTopics; it creates its "
             "topics at start (`kledger broker --topic-prefix P --partitions N`)";
    }
    return "the cluster's controller did not answer: check that the cluster has an active "
           "controller and that every broker is reachable from here, or allow more time";
  }
};

Admin::Admin(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Admin::~Admin() = default;

Result<std::unique_ptr<Admin>> Admin::Create(const Properties& props) {
  ASSIGN_OR_RETURN(internal::ConfPtr conf, internal::MakeConf(props));
  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    return Status::InvalidArgument(std::string("cannot create Kafka admin client: ") + errstr);
  }
  conf.release();  // rd_kafka_new owns it now
  auto impl = std::make_unique<Impl>();
  impl->rk.reset(rk);
  return std::unique_ptr<Admin>(new Admin(std::move(impl)));
}

Result<std::map<std::string, TopicDescription>> Admin::ListTopics(
    std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* raw = nullptr;
  RETURN_IF_ERROR(ErrorToStatus(
      rd_kafka_metadata(impl_->rk.get(), /*all_topics=*/1, nullptr, &raw, ToTimeoutMs(timeout)),
      "reading the cluster's topic metadata"));
  MetadataPtr metadata(raw);
  std::map<std::string, TopicDescription> topics;
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = metadata->topics[i];
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // Listed, so it exists; a leader election in progress is the usual reason.
      spdlog::warn("metadata of topic {}: {} ({})", t.topic, rd_kafka_err2str(t.err),
                   rd_kafka_err2name(t.err));
    }
    int32_t with_leader = 0;
    for (int p = 0; p < t.partition_cnt; ++p) with_leader += t.partitions[p].leader >= 0;
    topics[t.topic] = TopicDescription{
        .name = t.topic,
        .partitions = t.partition_cnt,
        .replication_factor = t.partition_cnt > 0 ? t.partitions[0].replica_cnt : 0,
        .partitions_with_leader = with_leader};
  }
  return topics;
}

Result<std::vector<Status>> Admin::CreateTopics(const std::vector<TopicSpec>& topics,
                                                std::chrono::milliseconds timeout) {
  if (topics.empty()) return std::vector<Status>{};
  std::vector<NewTopicPtr> owned;
  std::vector<rd_kafka_NewTopic_t*> new_topics;
  for (const TopicSpec& topic : topics) {
    ASSIGN_OR_RETURN(NewTopicPtr new_topic, ToNewTopic(topic));
    new_topics.push_back(new_topic.get());
    owned.push_back(std::move(new_topic));
  }
  AdminOptionsPtr options(
      rd_kafka_AdminOptions_new(impl_->rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  char errstr[512] = {0};
  const int timeout_ms = ToTimeoutMs(timeout);
  RETURN_IF_ERROR(ErrorToStatus(
      rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, errstr, sizeof(errstr)),
      "CreateTopics request timeout", errstr));
  // The controller's own wait for the creation to spread ends first, so that a slow cluster
  // answers per topic (REQUEST_TIMED_OUT) rather than leaving the outcome unknown.
  RETURN_IF_ERROR(ErrorToStatus(rd_kafka_AdminOptions_set_operation_timeout(
                                    options.get(), timeout_ms * 3 / 4, errstr, sizeof(errstr)),
                                "CreateTopics operation timeout", errstr));

  QueuePtr queue(rd_kafka_queue_new(impl_->rk.get()));
  rd_kafka_CreateTopics(impl_->rk.get(), new_topics.data(), new_topics.size(), options.get(),
                        queue.get());
  EventPtr event(rd_kafka_queue_poll(queue.get(), ToTimeoutMs(timeout + kAnswerGrace)));
  const std::string what = "creating topics " + TopicNames(topics);
  if (!event) {
    return Status::Timeout(what + ": no answer within " + std::to_string(timeout.count()) +
                           " ms; " + impl_->WhyNoAnswer());
  }
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(event.get()); err) {
    Status status = ErrorToStatus(err, what, rd_kafka_event_error_string(event.get()));
    if (status.code() != StatusCode::kTimeout) return status;
    return Status::Timeout(status.message() + " after " + std::to_string(timeout.count()) +
                           " ms; " + impl_->WhyNoAnswer());
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  size_t count = 0;
  const rd_kafka_topic_result_t** answers =
      result ? rd_kafka_CreateTopics_result_topics(result, &count) : nullptr;
  std::map<std::string, Status, std::less<>> by_name;
  for (size_t i = 0; i < count; ++i) {
    const char* detail = rd_kafka_topic_result_error_string(answers[i]);
    const std::string name = rd_kafka_topic_result_name(answers[i]);
    by_name[name] = ErrorToStatus(rd_kafka_topic_result_error(answers[i]), "creating topic " + name,
                                  detail ? detail : "");
  }
  std::vector<Status> statuses;
  for (const TopicSpec& topic : topics) {
    auto it = by_name.find(topic.name);
    statuses.push_back(it != by_name.end()
                           ? it->second
                           : Status::Internal("creating topic " + topic.name +
                                              ": the cluster's answer does not mention it"));
  }
  return statuses;
}

Result<std::map<std::string, TopicConfigs>> Admin::DescribeTopicConfigs(
    const std::vector<std::string>& topics, std::chrono::milliseconds timeout) {
  std::map<std::string, TopicConfigs> out;
  if (topics.empty()) return out;
  // librdkafka 2.0.2 sends the request to the mock cluster anyway, which never answers it.
  if (impl_->IsMockCluster()) {
    return Status::Unavailable(
        "librdkafka's mock cluster (kledger's embedded broker) has no topic configs and does not "
        "support DescribeConfigs");
  }
  std::vector<ConfigResourcePtr> owned;
  std::vector<rd_kafka_ConfigResource_t*> resources;
  for (const std::string& topic : topics) {
    owned.emplace_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
    resources.push_back(owned.back().get());
  }
  AdminOptionsPtr options(
      rd_kafka_AdminOptions_new(impl_->rk.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS));
  char errstr[512] = {0};
  RETURN_IF_ERROR(ErrorToStatus(rd_kafka_AdminOptions_set_request_timeout(
                                    options.get(), ToTimeoutMs(timeout), errstr, sizeof(errstr)),
                                "DescribeConfigs request timeout", errstr));
  QueuePtr queue(rd_kafka_queue_new(impl_->rk.get()));
  rd_kafka_DescribeConfigs(impl_->rk.get(), resources.data(), resources.size(), options.get(),
                           queue.get());
  EventPtr event(rd_kafka_queue_poll(queue.get(), ToTimeoutMs(timeout + kAnswerGrace)));
  const std::string what = "reading the configs of topic(s) " + Joined(topics);
  if (!event) {
    return Status::Timeout(what + ": no answer within " + std::to_string(timeout.count()) + " ms");
  }
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(event.get()); err) {
    if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
      return Status::Unavailable(what + ": the cluster does not support DescribeConfigs");
    }
    return ErrorToStatus(err, what, rd_kafka_event_error_string(event.get()));
  }
  const rd_kafka_DescribeConfigs_result_t* result =
      rd_kafka_event_DescribeConfigs_result(event.get());
  size_t count = 0;
  const rd_kafka_ConfigResource_t** answers =
      result ? rd_kafka_DescribeConfigs_result_resources(result, &count) : nullptr;
  for (size_t i = 0; i < count; ++i) {
    const std::string name = rd_kafka_ConfigResource_name(answers[i]);
    if (rd_kafka_resp_err_t err = rd_kafka_ConfigResource_error(answers[i]); err) {
      const char* detail = rd_kafka_ConfigResource_error_string(answers[i]);
      return ErrorToStatus(err, "reading the configs of topic " + name, detail ? detail : "");
    }
    size_t entries = 0;
    const rd_kafka_ConfigEntry_t** configs = rd_kafka_ConfigResource_configs(answers[i], &entries);
    TopicConfigs& into = out[name];
    for (size_t e = 0; e < entries; ++e) {
      const char* value = rd_kafka_ConfigEntry_value(configs[e]);
      into[rd_kafka_ConfigEntry_name(configs[e])] = value ? value : "";
    }
  }
  return out;
}

}  // namespace kledger::kafka
