// The consumer group on real Apache Kafka, which the embedded broker cannot show: static
// membership (a processor restarted with its group.instance.id gets its partitions back without
// a rebalance of the others) and read_committed (records of an aborted Kafka transaction are
// never applied).
#include <gtest/gtest.h>

#include <csignal>

#include "command-side/command_client.h"
#include "common/http.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "kledger/v1/api.pb.h"
#include "tests/support/cluster.h"

namespace kledger::testing {
namespace {

using namespace std::chrono_literals;

// A processor group of two on the shared cluster, each member owning two of four partitions.
// Sessions last 10 s, so a member killed and restarted at once is back before its session ends.
std::unique_ptr<Cluster> StartPair(bool static_membership) {
  auto cluster = std::make_unique<Cluster>(
      ClusterOptions{.partitions = 4,
                     .processors = 2,
                     .group = static_membership ? "static" : "dynamic",
                     .processor_flags = {"-X", "session.timeout.ms=10000"},
                     .static_membership = static_membership});
  Status started = cluster->Start();
  EXPECT_TRUE(started.ok()) << started.ToString();
  if (!started.ok()) return nullptr;
  const bool split = WaitUntil(30s, [&] {
    return OwnedPartitions(*cluster->ProcessorClient(0)).size() == 2 &&
           OwnedPartitions(*cluster->ProcessorClient(1)).size() == 2;
  });
  EXPECT_TRUE(split) << "the two processors did not share the four partitions; logs in "
                     << cluster->log_dir();
  return split ? std::move(cluster) : nullptr;
}

// SIGKILLs processor 1, starts it again at once and waits until it owns partitions and is ready.
void RestartProcessorOne(Cluster& cluster, std::chrono::seconds within) {
  cluster.processor(1).Signal(SIGKILL);
  cluster.processor(1).Wait(10s);
  ASSERT_TRUE(cluster.StartProcessor(1).ok());
  auto p1 = cluster.ProcessorClient(1);
  ASSERT_TRUE(WaitUntil(
      within, [&] { return !OwnedPartitions(*p1).empty() && Answers200(*p1, "/readyz"); }))
      << "processor 1 did not get partitions back; logs in " << cluster.log_dir();
}

TEST(StaticMembershipTest, RestartedMemberGetsItsPartitionsBackWithoutARebalance) {
  auto cluster = StartPair(/*static_membership=*/true);
  ASSERT_NE(cluster, nullptr);
  auto p0 = cluster->ProcessorClient(0);
  const std::set<int> p0_owned = OwnedPartitions(*p0);
  const std::set<int> p1_owned = OwnedPartitions(*cluster->ProcessorClient(1));
  const std::optional<double> rebalances = MetricValue(*p0, "kledger_rebalances_total");
  ASSERT_TRUE(rebalances.has_value());

  ASSERT_NO_FATAL_FAILURE(RestartProcessorOne(*cluster, 20s));
  EXPECT_EQ(OwnedPartitions(*cluster->ProcessorClient(1)), p1_owned);
  // Processor 0 was never asked to give up or take anything.
  EXPECT_EQ(MetricValue(*p0, "kledger_rebalances_total"), rebalances);
  EXPECT_EQ(OwnedPartitions(*p0), p0_owned);
}

// The control: without group.instance.id the same restart makes the whole group rebalance, so
// the test above would see it.
TEST(StaticMembershipTest, WithoutItTheSameRestartRebalancesTheGroup) {
  auto cluster = StartPair(/*static_membership=*/false);
  ASSERT_NE(cluster, nullptr);
  auto p0 = cluster->ProcessorClient(0);
  const std::optional<double> rebalances = MetricValue(*p0, "kledger_rebalances_total");
  ASSERT_TRUE(rebalances.has_value());
  // The new member waits for the dead one's session to end before the group settles.
  ASSERT_NO_FATAL_FAILURE(RestartProcessorOne(*cluster, 45s));
  EXPECT_GT(MetricValue(*p0, "kledger_rebalances_total").value_or(0), *rebalances);
}

// Appends the account opening `address` of instance "rc" in a Kafka transaction of `producer`,
// then commits or aborts it.
void OpenInTransaction(kafka::Producer& producer, const std::string& topic,
                       const std::string& address, bool commit) {
  v1::Command command;
  command.set_instance_id("rc");
  auto& open = *command.mutable_open_account();
  open.set_address(address);
  open.set_type(v1::ASSET);
  open.set_currency("EUR");
  domain::FieldErrors errors;
  auto event = command::PrepareEvent(command, command::CommandClientOptions{}, errors);
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  ASSERT_TRUE(producer.BeginTransaction().ok());
  auto delivered =
      producer.Produce({.topic = topic,
                        .key = "rc",
                        .value = event->envelope.SerializeAsString(),
                        .headers = command::EventHeaders(event->envelope, event->event_type),
                        .partition = 0});
  ASSERT_TRUE(producer.Flush(10s).ok());
  ASSERT_TRUE(delivered.get().ok());
  ASSERT_TRUE(commit ? producer.CommitTransaction(10s).ok() : producer.AbortTransaction(10s).ok());
}

TEST(ReadCommittedTest, RecordsOfAnAbortedTransactionAreNeverApplied) {
  Cluster cluster({.partitions = 1, .processors = 1, .group = "read-committed"});
  ASSERT_TRUE(cluster.Start().ok()) << "logs in " << cluster.log_dir();
  auto producer = kafka::Producer::Create(
      {{"bootstrap.servers", cluster.bootstrap()}, {"transactional.id", cluster.group() + "-txn"}});
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  ASSERT_TRUE((*producer)->InitTransactions(20s).ok());
  ASSERT_NO_FATAL_FAILURE(
      OpenInTransaction(**producer, cluster.events_topic(), "aborted", /*commit=*/false));
  ASSERT_NO_FATAL_FAILURE(
      OpenInTransaction(**producer, cluster.events_topic(), "committed", /*commit=*/true));

  // Both records are in the log: the aborted one, its abort marker, the committed one, its
  // commit marker.
  kafka::NoRebalanceListener none;
  auto watcher = kafka::Consumer::Create(
      {{"bootstrap.servers", cluster.bootstrap()}, {"group.id", cluster.group() + "-watch"}},
      &none);
  ASSERT_TRUE(watcher.ok());
  auto marks = (*watcher)->QueryWatermarks(cluster.events_topic(), 0, 10s);
  ASSERT_TRUE(marks.ok()) << marks.status().ToString();
  EXPECT_EQ(marks->second, 4);

  auto processor = cluster.ProcessorClient(0);
  ASSERT_TRUE(WaitUntil(
      20s,
      [&] { return Answers200(*processor, "/v1/instances/rc/accounts/committed?min_offset=2"); }))
      << "the committed account was not applied; logs in " << cluster.log_dir();
  auto aborted = processor->Get("/v1/instances/rc/accounts/aborted");
  ASSERT_TRUE(aborted);
  EXPECT_EQ(aborted->status, 404) << aborted->body;
}

}  // namespace
}  // namespace kledger::testing
