#include "app/topic_layout.h"

#include <algorithm>
#include <thread>

namespace kledger::app {

std::vector<kafka::TopicSpec> KledgerTopics(const std::string& prefix,
                                            const TopicLayoutOptions& options) {
  int min_isr = options.min_insync_replicas;
  if (min_isr <= 0) min_isr = options.replication_factor < 3 ? 1 : 2;
  const std::map<std::string, std::string> durable = {
      {"min.insync.replicas", std::to_string(min_isr)}};
  // The log is the source of truth and dead letters wait for a redrive: neither expires.
  std::map<std::string, std::string> forever = durable;
  forever.insert({{"retention.ms", "-1"}, {"retention.bytes", "-1"}});
  std::map<std::string, std::string> compacted = durable;
  compacted.insert({"cleanup.policy", "compact"});
  const int rf = options.replication_factor;
  // Outcomes are kept as the log is: the relays recover their position from the topic's end,
  // and consumers may replay it from the start.
  return {{prefix + ".events", options.partitions, rf, forever},
          {prefix + ".events.dlt", options.partitions, rf, forever},
          {prefix + ".owners", 1, rf, compacted},
          {prefix + ".outcomes", options.partitions, rf, forever}};
}

Result<std::vector<std::string>> CreateMissingTopics(const kafka::Properties& props,
                                                     const std::vector<kafka::TopicSpec>& topics,
                                                     std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  ASSIGN_OR_RETURN(auto admin, kafka::Admin::Create(props));
  ASSIGN_OR_RETURN(auto existing, admin->ListTopics(timeout));
  std::vector<kafka::TopicSpec> missing;
  for (const kafka::TopicSpec& spec : topics) {
    if (!existing.contains(spec.name)) missing.push_back(spec);
  }
  std::vector<std::string> created;
  if (missing.empty()) return created;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  ASSIGN_OR_RETURN(std::vector<Status> answers,
                   admin->CreateTopics(missing, std::max(left, std::chrono::milliseconds(100))));
  for (size_t i = 0; i < missing.size(); ++i) {
    // Made by someone else meanwhile: there, and not ours.
    if (answers[i].code() == StatusCode::kAlreadyExists) continue;
    RETURN_IF_ERROR(answers[i]);
    created.push_back(missing[i].name);
  }
  RETURN_IF_ERROR(WaitForLeaders(*admin, missing, deadline));
  return created;
}

Status WaitForLeaders(kafka::Admin& admin, const std::vector<kafka::TopicSpec>& topics,
                      std::chrono::steady_clock::time_point deadline) {
  while (true) {
    const auto left = std::max(std::chrono::milliseconds(100),
                               std::chrono::duration_cast<std::chrono::milliseconds>(
                                   deadline - std::chrono::steady_clock::now()));
    auto now = admin.ListTopics(left);
    std::string waiting;
    for (const kafka::TopicSpec& spec : topics) {
      bool whole = false;
      if (now.ok()) {
        const auto it = now->find(spec.name);
        whole = it != now->end() && it->second.partitions_with_leader >= spec.partitions;
      }
      if (!whole) waiting += (waiting.empty() ? "" : ", ") + spec.name;
    }
    if (waiting.empty()) return Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Timeout("no leader yet for every partition of " + waiting);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace kledger::app
