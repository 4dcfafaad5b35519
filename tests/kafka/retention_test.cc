// Retention on real Apache Kafka: events deleted from the log before a processor applied them
// halt its partition loudly (log, kledger_halted_partitions, /readyz) until it is restarted
// with --allow-log-gaps, the only way past. The broker checks retention every second here, and
// the events topic keeps records for one second.
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "common/kafka/admin.h"
#include "common/kafka/consumer.h"
#include "tests/support/cluster.h"

namespace kledger::testing {
namespace {

using namespace std::chrono_literals;

std::string OpenAccount(const std::string& address) {
  return R"({"address":")" + address + R"(","type":"asset","currency":"EUR"})";
}

TEST(RetentionTest, DeletedEventsHaltThePartitionUntilGapsAreAllowed) {
  auto kafka = KafkaCluster::Start({.nodes = 1, .tool_flags = {"--retention-check-ms", "1000"}});
  ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
  Cluster cluster({.partitions = 1, .processors = 1, .group = "retention", .kafka = kafka->get()});
  // The events topic, made before kledger's `topics create` (which reports it and leaves it).
  auto admin = kafka::Admin::Create({{"bootstrap.servers", (*kafka)->bootstrap()}});
  ASSERT_TRUE(admin.ok());
  auto made =
      (*admin)->CreateTopics({{.name = cluster.events_topic(),
                               .partitions = 1,
                               .replication_factor = 1,
                               .configs = {{"retention.ms", "1000"}, {"segment.ms", "300"}}}},
                             20s);
  ASSERT_TRUE(made.ok() && (*made)[0].ok());
  ASSERT_TRUE(cluster.Start().ok()) << "logs in " << cluster.log_dir();

  auto processor = cluster.ProcessorClient(0);
  auto first = cluster.Submit("/v1/instances/gap/accounts", OpenAccount("first"));
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(
      WaitUntil(20s, [&] { return Answers200(*processor, "/v1/instances/gap/accounts/first"); }));

  // The processor stops; what comes next is deleted by retention before it is back.
  cluster.processor(0).Signal(SIGTERM);
  ASSERT_EQ(cluster.processor(0).Wait(15s), 0);
  kafka::NoRebalanceListener none;
  auto watcher = kafka::Consumer::Create(
      {{"bootstrap.servers", cluster.bootstrap()}, {"group.id", cluster.group() + "-watch"}},
      &none);
  ASSERT_TRUE(watcher.ok());
  int fillers = 0;
  int64_t log_start = 0;
  ASSERT_TRUE(WaitUntil(60s,
                        [&] {
                          // Each append after segment.ms rolls a segment, so that the older ones
                          // can be deleted.
                          auto filler =
                              cluster.Submit("/v1/instances/gap/accounts",
                                             OpenAccount("filler:" + std::to_string(fillers++)));
                          EXPECT_TRUE(filler.ok()) << filler.status().ToString();
                          auto marks = (*watcher)->QueryWatermarks(cluster.events_topic(), 0, 5s);
                          log_start = marks.ok() ? marks->first : 0;
                          return log_start > first->offset() + 2;
                        }))
      << "retention deleted nothing; logs in " << (*kafka)->dir();

  // Back without --allow-log-gaps: halted, and loudly so.
  ASSERT_TRUE(cluster.StartProcessor(0).ok());
  std::string not_ready;
  ASSERT_TRUE(
      WaitUntil(20s, [&] { return MetricValue(*processor, "kledger_halted_partitions") == 1.0; }))
      << "logs in " << cluster.log_dir();
  auto ready = processor->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_NE(ready->body.find("partition 0 halted"), std::string::npos) << ready->body;
  const std::string log = ReadFile(cluster.log_dir() + "/processor-0.log");
  EXPECT_NE(log.find("partition 0 HALTED: the log of partition 0 starts at offset"),
            std::string::npos);
  EXPECT_NE(log.find("--allow-log-gaps"), std::string::npos);
  // It applies nothing past the gap, however long it waits.
  const std::string last = "/v1/instances/gap/accounts/filler:" + std::to_string(fillers - 1);
  std::this_thread::sleep_for(2s);
  EXPECT_FALSE(Answers200(*processor, last));

  // --allow-log-gaps is the way past: it goes on from the log start (retention has emptied the
  // log by now).
  ASSERT_TRUE(cluster.StartProcessor(0, {"--allow-log-gaps"}).ok());
  ASSERT_TRUE(WaitUntil(20s, [&] { return Answers200(*processor, "/readyz"); }))
      << processor->Get("/readyz")->body;
  EXPECT_EQ(MetricValue(*processor, "kledger_halted_partitions"), 0.0);

  // The accepted gap is remembered, even by a processor that is killed (StartProcessor kills
  // the one before; the store keeps no write-ahead log, but that commit is made durable): a
  // restart without the flag does not halt on it again, and applies what comes next. (A record
  // applied and not yet flushed when a processor is killed is applied again from Kafka, so it
  // must still be there: here retention would delete it within a second, hence nothing is
  // applied before this kill.)
  ASSERT_TRUE(cluster.StartProcessor(0).ok());
  EXPECT_TRUE(WaitUntil(20s, [&] { return Answers200(*processor, "/readyz"); }))
      << processor->Get("/readyz")->body;
  EXPECT_EQ(MetricValue(*processor, "kledger_halted_partitions"), 0.0);
  auto after = cluster.Submit("/v1/instances/gap/accounts", OpenAccount("after"));
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(WaitUntil(10s, [&] {
    return Answers200(*processor, "/v1/instances/gap/accounts/after?min_offset=" +
                                      std::to_string(after->offset()));
  }));
}

}  // namespace
}  // namespace kledger::testing
