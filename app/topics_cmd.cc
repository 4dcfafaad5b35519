// `kledger topics create`: makes the topics of deploy/README.md on a real Kafka cluster through
// the admin API. Idempotent: what exists is reported (its partitions, replicas and configs
// compared with the ask through DescribeConfigs) and left alone; what is missing is created, and
// the run ends once every created partition has a leader, so the processors can start at once.
// The whole run — metadata, DescribeConfigs, CreateTopics and the wait — is bounded by
// --timeout-ms.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/cli.h"
#include "app/topic_layout.h"
#include "common/kafka/admin.h"

namespace kledger::app {
namespace {

using Clock = std::chrono::steady_clock;

struct TopicsCreateFlags {
  KafkaFlags kafka;
  TopicLayoutOptions layout;
  bool dry_run = false;
  int timeout_ms = 30000;
};

// One topic's fate: what is asked, what the cluster has, and what that means.
struct TopicPlan {
  kafka::TopicSpec spec;
  std::optional<kafka::TopicDescription> existing;
  std::string warning;  // the topic differs from the ask in a way that can be left as it is
  std::string error;    // the topic differs in a way kledger will not paper over
};

// Compares each asked topic with the cluster's. An events topic with fewer partitions than asked
// is an error: kledger never adds partitions to it (murmur2 would move instances to partitions
// whose processors lack their state), so the operator must accept the count or start afresh.
// Any other difference in partitions, or fewer replicas than asked, is a warning.
// The outcomes topic follows the events topic's partition count, whatever was asked: each events
// partition publishes to the outcomes partition of the same number. One that differs is an error.
std::vector<TopicPlan> MakePlan(const std::vector<kafka::TopicSpec>& specs,
                                const std::map<std::string, kafka::TopicDescription>& cluster,
                                const std::string& events_topic,
                                const std::string& outcomes_topic) {
  int32_t events_partitions = 0;
  for (const kafka::TopicSpec& spec : specs) {
    if (spec.name == events_topic) events_partitions = spec.partitions;
  }
  if (auto it = cluster.find(events_topic); it != cluster.end()) {
    events_partitions = it->second.partitions;
  }
  std::vector<TopicPlan> plan;
  for (const kafka::TopicSpec& spec : specs) {
    TopicPlan& item = plan.emplace_back();
    item.spec = spec;
    if (spec.name == outcomes_topic) item.spec.partitions = events_partitions;
    auto it = cluster.find(spec.name);
    if (it == cluster.end()) continue;
    item.existing = it->second;
    const int32_t have = it->second.partitions;
    if (spec.name == outcomes_topic && have != events_partitions) {
      item.error = "has " + std::to_string(have) + " partitions and " + events_topic + " " +
                   std::to_string(events_partitions) +
                   "; the outcome stream needs as many as the events topic (each events "
                   "partition publishes to the outcomes partition of the same number): recreate "
                   "it with " +
                   std::to_string(events_partitions) + ", or use a new --topic-prefix";
    } else if (spec.name == outcomes_topic) {
      // As many as the events topic: what was asked does not apply to it.
    } else if (have < spec.partitions && spec.name == events_topic) {
      item.error = "has " + std::to_string(have) + " partitions, fewer than the " +
                   std::to_string(spec.partitions) +
                   " asked; kledger never adds partitions to the events topic (instances would "
                   "move away from their partition's state): rerun with --partitions " +
                   std::to_string(have) + " to keep it, or use a new --topic-prefix";
    } else if (have != spec.partitions) {
      item.warning = std::to_string(spec.partitions) + " partitions asked; left as it is";
    }
    if (it->second.replication_factor < spec.replication_factor) {
      if (!item.warning.empty()) item.warning += "; ";
      item.warning += "replication factor " + std::to_string(spec.replication_factor) +
                      " asked; raise it with kafka-reassign-partitions.sh";
    }
  }
  return plan;
}

// Adds a warning for each config of an existing topic that differs from the ask: the cluster
// keeps what it has (kledger never alters a topic), and the operator learns what it means.
void CompareConfigs(TopicPlan& item, const kafka::TopicConfigs& have) {
  for (const auto& [key, want] : item.spec.configs) {
    auto it = have.find(key);
    const std::string got = it == have.end() ? "(unset)" : it->second;
    if (got == want) continue;
    if (!item.warning.empty()) item.warning += "; ";
    item.warning += key + "=" + got + " where kledger asks " + want;
    if (key.starts_with("retention.")) {
      item.warning += " (records past retention are gone for rebuilds and new processors)";
    }
  }
}

std::string Plural(int64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// "12 partitions, replication factor 3"
std::string Shape(int32_t partitions, int32_t replication_factor) {
  return Plural(partitions, "partition", "partitions") + ", replication factor " +
         std::to_string(replication_factor);
}

// "12 partitions, replication factor 3, min.insync.replicas=2 retention.ms=-1"
std::string Describe(const kafka::TopicSpec& spec) {
  std::string out = Shape(spec.partitions, spec.replication_factor) + ",";
  for (const auto& [key, value] : spec.configs) out += " " + key + "=" + value;
  return out;
}

// "name: exists, 3 partitions, replication factor 1[; ERROR: ...][; warning: ...][; note]"
void PrintExisting(const TopicPlan& item, const char* note = nullptr) {
  std::printf("%s: exists, %s", item.spec.name.c_str(),
              Shape(item.existing->partitions, item.existing->replication_factor).c_str());
  if (!item.error.empty()) std::printf("; ERROR: %s", item.error.c_str());
  if (!item.warning.empty()) std::printf("; warning: %s", item.warning.c_str());
  if (note != nullptr) std::printf("; %s", note);
  std::printf("\n");
}

// What the cluster has of the topics kledger asks for, each compared with the ask. Configs that
// cannot be read are left uncompared, and why is kept for the caller to print once; the topics
// themselves must be readable.
struct Surveyed {
  std::vector<TopicPlan> plan;
  std::string configs_unread;  // why the existing topics' configs were not compared, if so
  void SayUnreadConfigs() const {
    if (!configs_unread.empty()) {
      std::printf("configs of the existing topics not compared: %s\n", configs_unread.c_str());
    }
  }
};
Result<Surveyed> Survey(kafka::Admin& admin, const TopicsCreateFlags& flags,
                        std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  ASSIGN_OR_RETURN(auto cluster, admin.ListTopics(timeout));
  std::vector<TopicPlan> plan =
      MakePlan(KledgerTopics(flags.kafka.topic_prefix, flags.layout), cluster,
               flags.kafka.events_topic(), flags.kafka.outcomes_topic());
  std::vector<std::string> existing;
  for (const TopicPlan& item : plan) {
    if (item.existing) existing.push_back(item.spec.name);
  }
  if (existing.empty()) return Surveyed{std::move(plan), {}};
  const auto left =
      std::max(std::chrono::milliseconds(0),
               std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  auto configs = admin.DescribeTopicConfigs(existing, left);
  if (!configs.ok()) return Surveyed{std::move(plan), configs.status().message()};
  for (TopicPlan& item : plan) {
    if (auto it = configs->find(item.spec.name); it != configs->end()) {
      CompareConfigs(item, it->second);
    }
  }
  return Surveyed{std::move(plan), {}};
}

// Reports the topics the broker said exist when asked to create them: surveys again (until the
// metadata shows them, within the deadline) and prints each as an existing one. Fails when any
// topic of the plan is now wrong — say an events topic of another partition count, which the
// outcomes topic just created no longer matches.
Status CheckRaced(kafka::Admin& admin, const TopicsCreateFlags& flags,
                  const std::vector<std::string>& raced, Clock::time_point deadline) {
  while (true) {
    const auto left =
        std::max(std::chrono::milliseconds(100),
                 std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    auto surveyed = Survey(admin, flags, left);
    const bool seen =
        surveyed.ok() && std::all_of(raced.begin(), raced.end(), [&](const std::string& name) {
          return std::any_of(
              surveyed->plan.begin(), surveyed->plan.end(),
              [&](const TopicPlan& item) { return item.spec.name == name && item.existing; });
        });
    if (seen) {
      surveyed->SayUnreadConfigs();  // of the last survey only, not of every retry
      std::string wrong;
      for (const TopicPlan& item : surveyed->plan) {
        if (std::find(raced.begin(), raced.end(), item.spec.name) != raced.end()) {
          PrintExisting(item, "created by someone else meanwhile");
        }
        if (!item.error.empty()) wrong = item.spec.name + " " + item.error;
      }
      return wrong.empty() ? Status::Ok() : Status::FailedPrecondition(wrong);
    }
    if (Clock::now() >= deadline) {
      return Status::Timeout("the broker says " + raced.front() +
                             " exists, but its metadata did not show it" +
                             (surveyed.ok() ? std::string() : ": " + surveyed.status().message()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// What the cluster answered to the creation of the missing topics.
struct Creation {
  int created = 0;
  std::string failed;              // names of topics the cluster refused, comma-separated
  std::vector<std::string> raced;  // created by someone else between our survey and our ask
};

// Asks the cluster to create `missing` (nothing when empty) and prints each topic's answer.
Result<Creation> CreateMissing(kafka::Admin& admin, const std::vector<kafka::TopicSpec>& missing,
                               std::chrono::milliseconds timeout) {
  Creation creation;
  if (missing.empty()) return creation;
  ASSIGN_OR_RETURN(std::vector<Status> answers, admin.CreateTopics(missing, timeout));
  for (size_t i = 0; i < missing.size(); ++i) {
    const kafka::TopicSpec& spec = missing[i];
    const Status& status = answers[i];
    if (status.ok()) {
      std::printf("%s: created, %s\n", spec.name.c_str(), Describe(spec).c_str());
      ++creation.created;
    } else if (status.code() == StatusCode::kAlreadyExists) {
      creation.raced.push_back(spec.name);
    } else {
      std::printf("%s: FAILED: %s\n", spec.name.c_str(), status.message().c_str());
      creation.failed += (creation.failed.empty() ? "" : ", ") + spec.name;
    }
  }
  return creation;
}

int Fail(const std::string& message, int exit_code) {
  std::fflush(stdout);
  std::fprintf(stderr, "kledger topics create: %s\n", message.c_str());
  return exit_code;
}

int RunTopicsCreate(const TopicsCreateFlags& flags) {
  const TopicLayoutOptions& layout = flags.layout;
  if (layout.min_insync_replicas > layout.replication_factor) {
    return Fail("--min-insync-replicas " + std::to_string(layout.min_insync_replicas) +
                    " exceeds --replication-factor " + std::to_string(layout.replication_factor) +
                    ": every acks=all write would fail",
                2);
  }
  auto props = ToProperties(flags.kafka);
  if (!props.ok()) return Fail(props.status().message(), 2);
  auto admin = kafka::Admin::Create(*props);
  if (!admin.ok()) return Fail(admin.status().message(), 2);

  const auto deadline = Clock::now() + std::chrono::milliseconds(flags.timeout_ms);
  auto remaining = [&] {
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  };
  auto surveyed = Survey(**admin, flags, remaining());
  if (!surveyed.ok()) {
    return Fail("cannot read the topics of " + flags.kafka.bootstrap + " within " +
                    std::to_string(flags.timeout_ms) + " ms: " + surveyed.status().message() +
                    "; check --bootstrap and the -X security settings (security.protocol, sasl.*, "
                    "ssl.*)",
                1);
  }
  surveyed->SayUnreadConfigs();
  std::vector<TopicPlan>& plan = surveyed->plan;
  std::vector<kafka::TopicSpec> missing;
  std::string wrong;  // the plan's error, if any (the events or the outcomes topic's)
  for (const TopicPlan& item : plan) {
    if (!item.existing) {
      missing.push_back(item.spec);
      if (flags.dry_run) {
        std::printf("%s: would create, %s\n", item.spec.name.c_str(), Describe(item.spec).c_str());
      }
      continue;
    }
    PrintExisting(item);
    if (!item.error.empty()) wrong = item.spec.name + " " + item.error;
  }
  if (flags.dry_run) {
    std::printf("dry run: %s would be created, nothing changed\n",
                Plural(static_cast<int64_t>(missing.size()), "topic", "topics").c_str());
    return wrong.empty() ? 0 : Fail(wrong, 1);
  }
  // A wrong events topic means the operator has a decision to make; create nothing before it.
  auto not_created = [&missing](const char* why) {
    for (const kafka::TopicSpec& spec : missing) {
      std::printf("%s: not created%s\n", spec.name.c_str(), why);
    }
  };
  if (!wrong.empty()) {
    not_created(" (the error below comes first)");
    return Fail(wrong, 1);
  }

  auto creation = CreateMissing(**admin, missing, remaining());
  if (!creation.ok()) {
    not_created("");
    return Fail(creation.status().message(), 1);
  }
  if (!creation->failed.empty()) {
    return Fail("not created: " + creation->failed + " (the broker's answers above)", 1);
  }
  if (!creation->raced.empty()) {
    // Someone else's topic gets the same scrutiny as one found by the survey: its partitions and
    // configs are compared with the ask, and an events or outcomes topic that is wrong is an
    // error, not a quiet "exists".
    if (Status s = CheckRaced(**admin, flags, creation->raced, deadline); !s.ok()) {
      return Fail(s.message(), 1);
    }
  }
  const int created_count = creation->created;
  if (created_count > 0) {
    // What runs next (the processors) must find the topics whole.
    if (Status s = WaitForLeaders(**admin, missing, deadline); !s.ok()) {
      return Fail(
          "created, but " + s.message() + " within " + std::to_string(flags.timeout_ms) + " ms", 1);
    }
  }
  std::printf("%s in place (%d created)\n",
              Plural(static_cast<int64_t>(plan.size()), "topic", "topics").c_str(), created_count);
  return 0;
}

}  // namespace

void RegisterTopics(CLI::App& app, Runner& run) {
  auto* topics = app.add_subcommand("topics", "topic administration on a real Kafka cluster");
  topics->require_subcommand(1);

  auto flags = std::make_shared<TopicsCreateFlags>();
  auto* create = topics->add_subcommand(
      "create",
      "create PREFIX.events, PREFIX.events.dlt, PREFIX.owners and PREFIX.outcomes through the "
      "admin API, with the settings of deploy/README.md; topics that exist are reported and left "
      "alone");
  AddKafkaFlags(*create, flags->kafka, /*need_bootstrap=*/true);
  create
      ->add_option("--partitions", flags->layout.partitions,
                   "partitions of the events and dead-letter topics (the events topic's count "
                   "cannot change later without moving instances)")
      ->envname("KLEDGER_PARTITIONS")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  create
      ->add_option("--replication-factor", flags->layout.replication_factor,
                   "replicas of every partition")
      ->envname("KLEDGER_REPLICATION_FACTOR")
      ->check(CLI::Range(1, 32))
      ->capture_default_str();
  create
      ->add_option("--min-insync-replicas", flags->layout.min_insync_replicas,
                   "min.insync.replicas of every topic (default: 2, or 1 when "
                   "--replication-factor is below 3)")
      ->envname("KLEDGER_MIN_INSYNC_REPLICAS")
      ->check(CLI::Range(1, 32));
  create->add_flag("--dry-run", flags->dry_run,
                   "print what exists and what would be created; change nothing");
  create
      ->add_option("--timeout-ms", flags->timeout_ms,
                   "bound on the whole run: reading metadata and creating the topics")
      ->envname("KLEDGER_TIMEOUT_MS")
      ->check(CLI::Range(100, 3600000))
      ->capture_default_str();
  create->callback([&run, flags] { run = [flags] { return RunTopicsCreate(*flags); }; });
}

}  // namespace kledger::app
