// `kledger topics create` against a `kledger broker` process (whose topics exist from its start):
// existing topics are reported and left alone, --dry-run changes nothing, a partition count that
// differs is a warning (an error for an events topic with fewer), and missing topics — which the
// embedded broker cannot create through the admin API — fail naming them, within --timeout-ms.
// The cluster's topics are checked independently with kafka::Admin after each run.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/kafka/admin.h"
#include "common/kafka/consumer.h"
#include "tests/support/cluster_suite.h"

namespace kledger::testing {
namespace {

using namespace std::chrono_literals;

// The broker's topics: kt.events, kt.events.dlt and kt.outcomes with 4 partitions each, kt.owners
// with 1.
constexpr char kPrefix[] = "kt";
constexpr int kPartitions = 4;

class TopicsCreateTest : public ClusterSuite<TopicsCreateTest> {
 public:
  // The broker alone: the tool under test is what makes or checks the topics.
  static ClusterOptions Options() {
    return {.partitions = kPartitions, .api = false, .topic_prefix = kPrefix, .kafka = nullptr};
  }

 protected:
  // The embedded broker creates a topic (4 partitions) when a metadata request names it: a topic
  // that exists before `topics create` runs, made without CreateTopics.
  static void MakeTopicByNamingIt(const std::string& topic) {
    kafka::NoRebalanceListener none;
    auto consumer = kafka::Consumer::Create(
        {{"bootstrap.servers", cluster().bootstrap()}, {"group.id", "topics-test"}}, &none);
    ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
    auto partitions = (*consumer)->PartitionCount(topic, 10s);
    ASSERT_TRUE(partitions.ok()) << partitions.status().ToString();
    ASSERT_EQ(*partitions, 4);  // the embedded broker's count for topics it makes so
  }

  // `kledger topics create` with `args` (plus --bootstrap unless given), run to its end.
  static ToolRun TopicsCreate(std::vector<std::string> args) {
    std::vector<std::string> argv = {KledgerBinary(), "topics", "create"};
    if (std::find(args.begin(), args.end(), "--bootstrap") == args.end()) {
      argv.insert(argv.end(), {"--bootstrap", cluster().bootstrap()});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return cluster().RunTool(argv, 60s);
  }

  // The cluster's topics by name, read by this process (not by the tool under test).
  static std::map<std::string, kafka::TopicDescription> ClusterTopics() {
    auto admin = kafka::Admin::Create({{"bootstrap.servers", cluster().bootstrap()}});
    EXPECT_TRUE(admin.ok()) << admin.status().ToString();
    if (!admin.ok()) return {};
    auto topics = (*admin)->ListTopics(10s);
    EXPECT_TRUE(topics.ok()) << topics.status().ToString();
    return topics.ok() ? *topics : std::map<std::string, kafka::TopicDescription>{};
  }

  static bool HasTopicWithPrefix(const std::string& prefix) {
    for (const auto& [name, topic] : ClusterTopics()) {
      if (name.rfind(prefix + ".", 0) == 0) return true;
    }
    return false;
  }
};

::testing::AssertionResult Contains(const std::string& text, const std::string& needle) {
  if (text.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << needle << "' not in:\n" << text;
}

TEST_F(TopicsCreateTest, ExistingTopicsAreReportedAndLeftAlone) {
  ToolRun run = TopicsCreate({"--topic-prefix", kPrefix, "--partitions", "4"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out, "kt.events: exists, 4 partitions, replication factor 3\n"));
  EXPECT_TRUE(Contains(run.out, "kt.events.dlt: exists, 4 partitions, replication factor 3\n"));
  EXPECT_TRUE(Contains(run.out, "kt.owners: exists, 1 partition, replication factor 3\n"));
  EXPECT_TRUE(Contains(run.out, "kt.outcomes: exists, 4 partitions, replication factor 3\n"));
  EXPECT_TRUE(Contains(run.out, "4 topics in place (0 created)"));
  EXPECT_EQ(ClusterTopics().at("kt.events").partitions, kPartitions);
}

TEST_F(TopicsCreateTest, MorePartitionsThanAskedIsAWarning) {
  ToolRun run = TopicsCreate({"--topic-prefix", kPrefix, "--partitions", "2"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out,
                       "kt.events: exists, 4 partitions, replication factor 3; "
                       "warning: 2 partitions asked; left as it is\n"));
  EXPECT_TRUE(Contains(run.out, "kt.owners: exists, 1 partition, replication factor 3\n"));
  // The outcomes topic follows the events topic, whatever was asked: nothing to warn about.
  EXPECT_TRUE(Contains(run.out, "kt.outcomes: exists, 4 partitions, replication factor 3\n"));
}

TEST_F(TopicsCreateTest, EventsTopicWithFewerPartitionsThanAskedIsAnError) {
  ToolRun run =
      TopicsCreate({"--topic-prefix", kPrefix, "--partitions", "8", "--timeout-ms", "5000"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_TRUE(Contains(run.err, "kt.events has 4 partitions, fewer than the 8 asked"));
  EXPECT_TRUE(Contains(run.err, "rerun with --partitions 4"));
  // The dead-letter topic's count matters less: a warning.
  EXPECT_TRUE(Contains(run.out,
                       "kt.events.dlt: exists, 4 partitions, replication factor 3; "
                       "warning: 8 partitions asked"));
  EXPECT_EQ(ClusterTopics().at("kt.events").partitions, kPartitions);
}

TEST_F(TopicsCreateTest, DryRunPrintsThePlanAndChangesNothing) {
  ToolRun run = TopicsCreate({"--topic-prefix", "dry", "--dry-run"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out,
                       "dry.events: would create, 12 partitions, replication factor 3, "
                       "min.insync.replicas=2 retention.bytes=-1 retention.ms=-1\n"));
  EXPECT_TRUE(Contains(run.out,
                       "dry.events.dlt: would create, 12 partitions, replication factor 3, "
                       "min.insync.replicas=2 retention.bytes=-1 retention.ms=-1\n"));
  EXPECT_TRUE(Contains(run.out,
                       "dry.owners: would create, 1 partition, replication factor 3, "
                       "cleanup.policy=compact min.insync.replicas=2\n"));
  EXPECT_TRUE(Contains(run.out,
                       "dry.outcomes: would create, 12 partitions, replication factor 3, "
                       "min.insync.replicas=2 retention.bytes=-1 retention.ms=-1\n"));
  EXPECT_TRUE(Contains(run.out, "dry run: 4 topics would be created, nothing changed"));
  EXPECT_FALSE(HasTopicWithPrefix("dry"));

  // Below replication factor 3, min.insync.replicas defaults to 1.
  run = TopicsCreate({"--topic-prefix", "dry", "--dry-run", "--replication-factor", "1"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out,
                       "dry.owners: would create, 1 partition, replication factor 1, "
                       "cleanup.policy=compact min.insync.replicas=1\n"));

  run = TopicsCreate({"--topic-prefix", kPrefix, "--partitions", "4", "--dry-run"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out, "kt.events: exists, 4 partitions"));
  EXPECT_TRUE(Contains(run.out, "dry run: 0 topics would be created, nothing changed"));
  EXPECT_FALSE(HasTopicWithPrefix("dry"));
}

// A wrong events topic is a decision for the operator: nothing else is created before it.
TEST_F(TopicsCreateTest, WrongEventsTopicStopsTheOthersBeingCreated) {
  ASSERT_NO_FATAL_FAILURE(MakeTopicByNamingIt("half.events"));
  ToolRun run =
      TopicsCreate({"--topic-prefix", "half", "--partitions", "8", "--timeout-ms", "20000"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out, "half.events: exists, 4 partitions"));
  EXPECT_TRUE(Contains(run.out, "half.events.dlt: not created (the error below comes first)\n"));
  EXPECT_TRUE(Contains(run.out, "half.owners: not created (the error below comes first)\n"));
  EXPECT_TRUE(Contains(run.out, "half.outcomes: not created (the error below comes first)\n"));
  EXPECT_TRUE(Contains(run.err, "half.events has 4 partitions, fewer than the 8 asked"));
  EXPECT_LT(run.took, 5s);  // no CreateTopics was sent (on the mock it would wait 20 s)
  const auto topics = ClusterTopics();
  EXPECT_EQ(topics.count("half.events.dlt"), 0u);
  EXPECT_EQ(topics.count("half.owners"), 0u);
}

// Each events partition publishes its outcomes to the outcomes partition of the same number: an
// outcomes topic of another count is an error, and nothing is created before it is settled.
TEST_F(TopicsCreateTest, AnOutcomesTopicOfAnotherPartitionCountIsAnError) {
  ASSERT_NO_FATAL_FAILURE(MakeTopicByNamingIt("odd.outcomes"));
  ToolRun run =
      TopicsCreate({"--topic-prefix", "odd", "--partitions", "8", "--timeout-ms", "20000"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_TRUE(Contains(run.err, "odd.outcomes has 4 partitions and odd.events 8"));
  EXPECT_TRUE(Contains(run.out, "odd.events: not created (the error below comes first)\n"));
  EXPECT_EQ(ClusterTopics().count("odd.events"), 0u);
}

TEST_F(TopicsCreateTest, MissingTopicsFailNamingThemWithinTheTimeout) {
  ToolRun run = TopicsCreate({"--topic-prefix", "missing", "--timeout-ms", "3000"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  for (const char* topic :
       {"missing.events", "missing.events.dlt", "missing.owners", "missing.outcomes"}) {
    EXPECT_TRUE(Contains(run.out, std::string(topic) + ": not created\n"));
    EXPECT_TRUE(Contains(run.err, topic));
  }
  EXPECT_TRUE(Contains(run.err, "does not support CreateTopics"));
  EXPECT_LT(run.took, 8s);
  EXPECT_FALSE(HasTopicWithPrefix("missing"));
}

TEST_F(TopicsCreateTest, UnreachableClusterFailsWithinTheTimeout) {
  ToolRun run = TopicsCreate({"--bootstrap", "127.0.0.1:1", "--timeout-ms", "1500"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_TRUE(Contains(run.err, "cannot read the topics of 127.0.0.1:1 within 1500 ms"));
  EXPECT_LT(run.took, 6s);
}

TEST_F(TopicsCreateTest, MinInsyncAboveReplicationFactorIsRefused) {
  ToolRun run = TopicsCreate({"--topic-prefix", "dry", "--replication-factor", "1",
                              "--min-insync-replicas", "2", "--dry-run"});
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_TRUE(Contains(run.err, "--min-insync-replicas 2 exceeds --replication-factor 1"));
}

}  // namespace
}  // namespace kledger::testing
