// `kledger topics create` against real Apache Kafka (the kafka label's shared broker): real
// CreateTopics with kledger's configs, idempotent on a second run, and existing topics' configs
// compared through DescribeConfigs. The cluster's state is read back by this process through
// kafka::Admin, not by the tool under test.
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "common/kafka/admin.h"
#include "tests/support/kafka_cluster.h"
#include "tests/support/process.h"

namespace kledger::testing {
namespace {

using namespace std::chrono_literals;

class TopicsCreateOnKafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kafka_ = SharedKafka();
    ASSERT_NE(kafka_, nullptr) << "runs on the kafka label's cluster (KLEDGER_TEST_KAFKA_DIR)";
    auto admin = kafka::Admin::Create({{"bootstrap.servers", kafka_->bootstrap()}});
    ASSERT_TRUE(admin.ok()) << admin.status().ToString();
    admin_ = std::move(admin).value();
    static std::atomic<int> prefixes{0};
    prefix_ = "topics" + std::to_string(getpid()) + "-" + std::to_string(prefixes++);
  }

  ToolRun TopicsCreate(std::vector<std::string> args) {
    return TopicsCreateLoggedTo(std::move(args), "topics-" + std::to_string(++runs_));
  }

  // Thread-safe: the caller names the log.
  ToolRun TopicsCreateLoggedTo(std::vector<std::string> args, const std::string& log_name) {
    std::vector<std::string> argv = {KledgerBinary(),
                                     "topics",
                                     "create",
                                     "--bootstrap",
                                     kafka_->bootstrap(),
                                     "--topic-prefix",
                                     prefix_,
                                     "--replication-factor",
                                     "1"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunToCompletion(argv, log_dir_ + "/" + log_name + ".log");
  }

  std::map<std::string, kafka::TopicDescription> Topics() {
    auto topics = admin_->ListTopics(10s);
    EXPECT_TRUE(topics.ok()) << topics.status().ToString();
    return topics.ok() ? *topics : std::map<std::string, kafka::TopicDescription>{};
  }

  KafkaCluster* kafka_ = nullptr;
  std::unique_ptr<kafka::Admin> admin_;
  std::string prefix_;
  TempDir scratch_{"kledger-kafka-topics"};
  const std::string& log_dir_ = scratch_.path();
  int runs_ = 0;
};

TEST_F(TopicsCreateOnKafkaTest, CreatesTheTopicsWithTheirConfigsAndIsIdempotent) {
  const ToolRun first = TopicsCreate({"--partitions", "3"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  for (const char* suffix : {".events", ".events.dlt", ".owners", ".outcomes"}) {
    EXPECT_NE(first.out.find(prefix_ + suffix + ": created"), std::string::npos) << first.out;
  }
  EXPECT_NE(first.out.find("4 topics in place (4 created)"), std::string::npos) << first.out;

  // Created whole: every partition has a leader as soon as the tool returns.
  auto topics = Topics();
  ASSERT_TRUE(topics.contains(prefix_ + ".events"));
  EXPECT_EQ(topics[prefix_ + ".events"].partitions, 3);
  EXPECT_EQ(topics[prefix_ + ".events"].partitions_with_leader, 3);
  EXPECT_EQ(topics[prefix_ + ".events.dlt"].partitions, 3);
  EXPECT_EQ(topics[prefix_ + ".owners"].partitions, 1);
  EXPECT_EQ(topics[prefix_ + ".outcomes"].partitions, 3);

  auto configs = admin_->DescribeTopicConfigs(
      {prefix_ + ".events", prefix_ + ".events.dlt", prefix_ + ".owners", prefix_ + ".outcomes"},
      10s);
  ASSERT_TRUE(configs.ok()) << configs.status().ToString();
  for (const std::string& topic :
       {prefix_ + ".events", prefix_ + ".events.dlt", prefix_ + ".outcomes"}) {
    EXPECT_EQ((*configs)[topic]["retention.ms"], "-1") << topic;
    EXPECT_EQ((*configs)[topic]["retention.bytes"], "-1") << topic;
    EXPECT_EQ((*configs)[topic]["min.insync.replicas"], "1") << topic;  // replication factor 1
    EXPECT_EQ((*configs)[topic]["cleanup.policy"], "delete") << topic;
  }
  EXPECT_EQ((*configs)[prefix_ + ".owners"]["cleanup.policy"], "compact");

  // A second run finds them all and changes nothing.
  const ToolRun second = TopicsCreate({"--partitions", "3"});
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_NE(second.out.find(prefix_ + ".events: exists, 3 partitions, replication factor 1\n"),
            std::string::npos)
      << second.out;
  EXPECT_EQ(second.out.find("warning"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("4 topics in place (0 created)"), std::string::npos) << second.out;
  EXPECT_EQ(Topics()[prefix_ + ".events"].partitions, 3);
}

TEST_F(TopicsCreateOnKafkaTest, ExistingTopicWithOtherConfigsIsReportedNotAltered) {
  // Someone made the events topic with a week's retention, as a cluster's defaults would.
  auto made = admin_->CreateTopics({{.name = prefix_ + ".events",
                                     .partitions = 2,
                                     .replication_factor = 1,
                                     .configs = {{"retention.ms", "604800000"}}}},
                                   20s);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  ASSERT_TRUE((*made)[0].ok()) << (*made)[0].ToString();

  const ToolRun run = TopicsCreate({"--partitions", "2"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find(prefix_ + ".events: exists, 2 partitions, replication factor 1; warning: "
                                   "retention.ms=604800000 where kledger asks -1"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find(prefix_ + ".events.dlt: created"), std::string::npos) << run.out;
  auto configs = admin_->DescribeTopicConfigs({prefix_ + ".events"}, 10s);
  ASSERT_TRUE(configs.ok()) << configs.status().ToString();
  EXPECT_EQ((*configs)[prefix_ + ".events"]["retention.ms"], "604800000") << "left as it was";
}

TEST_F(TopicsCreateOnKafkaTest, TwoRunsAtOnceCheckWhatTheOtherCreated) {
  // Two operators (or two deploy jobs) run it at the same moment with different partition counts:
  // one run's CreateTopics finds topics the other just made. Those are compared like any existing
  // topic: the run asking more events partitions than it got fails, and the outcomes topic always
  // matches the events topic. Retried with fresh prefixes until the race was seen.
  bool raced = false;
  for (int attempt = 0; attempt < 10 && !raced; ++attempt) {
    prefix_ = prefix_ + "r";
    auto three = std::async(std::launch::async, [&, n = attempt] {
      return TopicsCreateLoggedTo({"--partitions", "3"}, "race3-" + std::to_string(n));
    });
    const ToolRun two =
        TopicsCreateLoggedTo({"--partitions", "2"}, "race2-" + std::to_string(attempt));
    const ToolRun asked_three = three.get();
    auto topics = Topics();
    const int32_t events = topics[prefix_ + ".events"].partitions;
    ASSERT_TRUE(events == 2 || events == 3) << asked_three.out << two.out;
    EXPECT_EQ(topics[prefix_ + ".outcomes"].partitions, events) << asked_three.out << two.out;
    EXPECT_EQ(two.exit_code, 0) << two.out << two.err;  // more than asked is a warning
    if (events == 2) {
      EXPECT_EQ(asked_three.exit_code, 1) << asked_three.out;
      EXPECT_NE(asked_three.err.find(prefix_ + ".events has 2 partitions, fewer than the 3 asked"),
                std::string::npos)
          << asked_three.out << asked_three.err;
    } else {
      EXPECT_EQ(asked_three.exit_code, 0) << asked_three.out << asked_three.err;
    }
    for (const ToolRun* run : {&asked_three, &two}) {
      if (run->out.find("created by someone else meanwhile") == std::string::npos) continue;
      raced = true;
      EXPECT_NE(run->out.find(prefix_ + ".events: exists, " + std::to_string(events) +
                              " partitions, replication factor 1"),
                std::string::npos)
          << run->out;
    }
  }
  EXPECT_TRUE(raced) << "in 10 attempts no run found a topic the other had just made";
}

TEST_F(TopicsCreateOnKafkaTest, DryRunCreatesNothing) {
  const ToolRun run = TopicsCreate({"--partitions", "2", "--dry-run"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find(prefix_ + ".events: would create, 2 partitions"), std::string::npos)
      << run.out;
  for (const auto& [name, topic] : Topics()) {
    EXPECT_NE(name.rfind(prefix_ + ".", 0), 0u) << name << " exists after a dry run";
  }
}

}  // namespace
}  // namespace kledger::testing
