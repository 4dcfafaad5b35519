// The outcome stream on the embedded broker: one record per record of the log, in log order,
// with what changed; the outbox emptied once published; a relay restarted over entries it had
// published already (a crash between the commit and the outbox delete) publishes none twice;
// outcomes wait their interval, and once one partition's is up the others' waiting go with it; a
// transaction refused before its commit is aborted, and its partition keeps its position.
// What the mock cannot show (read_committed, fencing) is in tests/kafka/outcome_fencing_test.cc.
#include "processors/outcome_relay.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "processors/outcome_record.h"
#include "processors/processor_test_fixture.h"
#include "processors/test_records.h"
#include "processors/topic_scan.h"
#include "projections/test_util.h"

namespace kledger::processors {
namespace {

using processor_testing::InstanceOn;
using processor_testing::kPartitions;
using processor_testing::ProcessorTest;
using projections::testutil::CreateTx;
using projections::testutil::MakeEntry;
using projections::testutil::OpenAccount;

class OutcomeRelayTest : public ProcessorTest {
 protected:
  // Waits until the relay of `partition` has published everything applied through `offset`.
  bool Published(int32_t partition, int64_t offset) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      auto progress = processor_->RelayProgressSnapshot();
      auto it = progress.find(partition);
      if (it != progress.end() && it->second.published_through >= offset) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "partition " << partition << " not published through " << offset;
    return false;
  }

  // Every record of `partition` of kledger.outcomes, in topic order.
  std::vector<kafka::ConsumedRecord> Outcomes(int32_t partition) {
    ScanOptions options;
    options.partitions = {partition};
    auto scan = TopicScan::Open(props_, "kledger.outcomes", options);
    EXPECT_TRUE(scan.ok()) << scan.status().ToString();
    std::vector<kafka::ConsumedRecord> out;
    if (!scan.ok()) return out;
    while (!(*scan)->Finished()) {
      auto records = (*scan)->Next(std::chrono::milliseconds(200), 500);
      EXPECT_TRUE(records.ok()) << records.status().ToString();
      if (!records.ok()) break;
      for (auto& r : *records) out.push_back(std::move(r));
    }
    return out;
  }

  static v1::OutcomeRecord Decode(const kafka::ConsumedRecord& record) {
    v1::OutcomeRecord outcome;
    EXPECT_TRUE(outcome.ParseFromString(record.value)) << "not an OutcomeRecord";
    return outcome;
  }

  int64_t AppendPoison(const std::string& instance) {
    auto report =
        producer_->Produce({"kledger.events", instance, "\xff not protobuf", {}, {}}).get();
    EXPECT_TRUE(report.ok());
    return report.ok() ? report->offset : -1;
  }
};

TEST_F(OutcomeRelayTest, EveryRecordHasOneOutcomeInLogOrderWithWhatChanged) {
  const std::string instance = InstanceOn("stream-", [](int32_t) { return true; });
  const int32_t partition = kafka::PartitionForKey(instance, kPartitions);
  StartProcessor();
  Run();
  std::vector<int64_t> offsets;
  offsets.push_back(Append(OpenAccount(instance, "cash", v1::ASSET, "USD")));
  offsets.push_back(Append(OpenAccount(instance, "equity", v1::EQUITY, "USD")));
  offsets.push_back(Fund(instance, "f1", 700));
  offsets.push_back(Append(OpenAccount(instance, "cash", v1::ASSET, "USD")));  // again: DUPLICATE
  offsets.push_back(Append(
      CreateTx(instance, "over", v1::POSTED,  // more than cash holds
               {MakeEntry("cash", v1::CREDIT, 5000), MakeEntry("equity", v1::DEBIT, 5000)})));
  offsets.push_back(AppendPoison(instance));
  offsets.push_back(Fund(instance, "f2", 300));
  ASSERT_TRUE(Applied(instance, offsets.back()));
  ASSERT_TRUE(Published(partition, offsets.back()));

  std::vector<v1::OutcomeRecord> mine;
  for (const auto& record : Outcomes(partition)) {
    if (record.key != instance) continue;
    const v1::OutcomeRecord outcome = Decode(record);
    EXPECT_EQ(outcome.instance_id(), instance);
    EXPECT_EQ(kafka::FindHeader(record.headers, kSourceOffsetHeader),
              std::to_string(outcome.source_offset()));
    EXPECT_EQ(kafka::FindHeader(record.headers, kOutcomeHeader), OutcomeName(outcome.outcome()));
    EXPECT_EQ(kafka::FindHeader(record.headers, "kledger-event-id"), outcome.event_id());
    mine.push_back(outcome);
  }
  ASSERT_EQ(mine.size(), offsets.size()) << "one outcome per record of the log";
  for (size_t i = 0; i < offsets.size(); ++i) {
    EXPECT_EQ(mine[i].source_offset(), offsets[i]) << "record " << i << ": log order";
    EXPECT_EQ(mine[i].source_partition(), partition);
    EXPECT_EQ(mine[i].schema_version(), kOutcomeSchemaVersion);
  }
  const std::vector<v1::Outcome> expected = {v1::APPLIED,   v1::APPLIED,  v1::APPLIED,
                                             v1::DUPLICATE, v1::REJECTED, v1::DEAD_LETTERED,
                                             v1::APPLIED};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(mine[i].outcome(), expected[i]) << "record " << i << ": " << mine[i].DebugString();
  }
  EXPECT_EQ(mine[4].reason(), "insufficient_funds");
  EXPECT_EQ(mine[5].reason(), "undecodable");
  EXPECT_EQ(mine[5].event_id(), "");

  // Each decided event's outcome is the one the store serves (a duplicate's is the original's).
  for (size_t i : {0, 1, 2, 4, 6}) {
    auto stored = processor_->store().GetOutcome(instance, mine[i].event_id());
    ASSERT_TRUE(stored.ok()) << stored.status().ToString();
    EXPECT_EQ(stored->outcome(), mine[i].outcome()) << "record " << i;
    EXPECT_EQ(stored->reason(), mine[i].reason()) << "record " << i;
    EXPECT_EQ(stored->offset(), mine[i].source_offset()) << "record " << i;
  }

  // An opened account carries the account; a transfer its transaction and both balances after.
  EXPECT_EQ(mine[0].account().address(), "cash");
  EXPECT_FALSE(mine[0].has_transaction());
  const v1::OutcomeRecord& first = mine[2];
  ASSERT_EQ(first.transaction().entries_size(), 2);
  EXPECT_EQ(first.transaction().source_idempk(), "f1");
  ASSERT_EQ(first.balances_size(), 2);
  EXPECT_EQ(first.balances(0).address(), "cash");
  EXPECT_EQ(first.balances(0).currency(), "USD");
  EXPECT_EQ(first.balances(0).balances().posted().amount(), 700);
  EXPECT_EQ(first.balances(1).address(), "equity");
  EXPECT_EQ(first.balances(1).balances().posted().amount(), 700);
  // The balances after the second transfer are the account's now.
  auto cash = processor_->store().GetAccount(instance, "cash");
  ASSERT_TRUE(cash.ok());
  ASSERT_EQ(mine[6].balances_size(), 2);
  EXPECT_EQ(mine[6].balances(0).balances().SerializeAsString(),
            cash->balances().SerializeAsString());
  EXPECT_EQ(mine[6].balances(0).balances().posted().amount(), 1000);
  // Rejections and duplicates changed nothing, and say so.
  EXPECT_EQ(mine[3].balances_size() + mine[4].balances_size(), 0);
  EXPECT_FALSE(mine[4].has_transaction());

  // /v1/stats says where the stream stands.
  auto stats = processor_->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  const v1::PartitionStats& relayed = stats->partitions(partition);
  EXPECT_EQ(relayed.outcomes_published_through(), offsets.back());
  EXPECT_EQ(relayed.outcomes_lag(), 0);
  EXPECT_EQ(relayed.outcome_relay_failure(), "");

  // Published entries leave the outbox.
  auto left = processor_->store().ReadOutbox(partition, 0, 100, 1 << 20);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty()) << left->size() << " entries left, first at " << left->front().offset;
  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find("kledger_outcomes_published_total{partition=\"" +
                         std::to_string(partition) + "\"} 7"),
            std::string::npos)
      << metrics;
  EXPECT_NE(
      metrics.find("kledger_outcome_relay_lag{partition=\"" + std::to_string(partition) + "\"} 0"),
      std::string::npos);
}

TEST_F(OutcomeRelayTest, ARestartedRelayRecoversItsPositionFromTheTopicAndPublishesNothingTwice) {
  const std::string instance = InstanceOn("restart-", [](int32_t) { return true; });
  const int32_t partition = kafka::PartitionForKey(instance, kPartitions);
  StartProcessor();
  Run();
  OpenBooks(instance);
  const int64_t funded = Fund(instance, "before", 50);
  ASSERT_TRUE(Applied(instance, funded));
  ASSERT_TRUE(Published(partition, funded));
  const size_t before = Outcomes(partition).size();
  std::vector<v1::OutcomeRecord> published;
  for (const auto& record : Outcomes(partition)) published.push_back(Decode(record));
  ASSERT_EQ(published.size(), 3u);

  // A crash after the transaction committed and before the outbox delete: the entries are back.
  processor_->Stop();
  processor_.reset();
  {
    projections::StoreOptions options;
    options.path = dir_.string();
    auto store = projections::ProjectionStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto next = (*store)->NextOffset(partition);
    ASSERT_TRUE(next.ok() && next->has_value());
    auto batch = (*store)->BeginBatch(partition);
    for (const v1::OutcomeRecord& outcome : published) {
      batch->PutOutbox(outcome.source_offset(), outcome.SerializeAsString());
    }
    ASSERT_TRUE((*store)->Commit(*batch, **next).ok());
  }
  StartProcessor();
  Run();
  const int64_t after = Fund(instance, "after", 25);
  ASSERT_TRUE(Applied(instance, after));
  ASSERT_TRUE(Published(partition, after));

  std::map<int64_t, int> seen;
  int64_t previous = -1;
  for (const auto& record : Outcomes(partition)) {
    const v1::OutcomeRecord outcome = Decode(record);
    ++seen[outcome.source_offset()];
    EXPECT_GT(outcome.source_offset(), previous) << "log order";
    previous = outcome.source_offset();
  }
  EXPECT_EQ(seen.size(), before + 1);
  for (const auto& [offset, count] : seen) EXPECT_EQ(count, 1) << "source offset " << offset;
  EXPECT_EQ(seen.rbegin()->first, after);
}

TEST_F(OutcomeRelayTest, AppliedOutcomesWaitTheIntervalForMoreBeforeTheyArePublished) {
  const std::string instance = InstanceOn("interval-", [](int32_t) { return true; });
  const int32_t partition = kafka::PartitionForKey(instance, kPartitions);
  outcomes_interval_ = std::chrono::seconds(3);
  StartProcessor();
  Run();
  // The wait starts at the commit of the first of them, after this.
  const auto start = std::chrono::steady_clock::now();
  OpenBooks(instance);
  const int64_t funded = Fund(instance, "wait", 40);
  ASSERT_TRUE(Applied(instance, funded));
  ASSERT_TRUE(Published(partition, funded));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(3))
      << "published before the interval was up";
  // All three in the topic, once each, in log order.
  std::vector<int64_t> sources;
  for (const auto& record : Outcomes(partition)) {
    if (record.key == instance) sources.push_back(Decode(record).source_offset());
  }
  ASSERT_EQ(sources.size(), 3u);
  EXPECT_EQ(sources.back(), funded);
  EXPECT_LT(sources[0], sources[1]);
  EXPECT_LT(sources[1], sources[2]);
}

TEST_F(OutcomeRelayTest, OnePartitionDueTakesEveryPartitionsWaitingOutcomesIntoItsTransaction) {
  const std::string first = InstanceOn("first-", [](int32_t) { return true; });
  const int32_t first_partition = kafka::PartitionForKey(first, kPartitions);
  const std::string second = InstanceOn("second-", [&](int32_t p) { return p != first_partition; });
  const int32_t second_partition = kafka::PartitionForKey(second, kPartitions);
  outcomes_interval_ = std::chrono::seconds(4);
  StartProcessor();
  Run();
  const int64_t first_offset = Append(OpenAccount(first, "cash", v1::ASSET, "USD"));
  ASSERT_TRUE(Applied(first, first_offset));
  // The first partition's transaction is due at most 4 s from here.
  const auto first_applied = std::chrono::steady_clock::now();
  std::this_thread::sleep_until(first_applied + std::chrono::seconds(2));
  // Its own interval would end 6 s from `first_applied` at the earliest.
  const int64_t second_offset = Append(OpenAccount(second, "cash", v1::ASSET, "USD"));
  ASSERT_TRUE(Applied(second, second_offset));
  ASSERT_TRUE(Published(first_partition, first_offset));
  ASSERT_TRUE(Published(second_partition, second_offset));
  EXPECT_LT(std::chrono::steady_clock::now() - first_applied, std::chrono::milliseconds(5500))
      << "the second partition's outcome waited for its own interval, not the first's";
}

TEST_F(OutcomeRelayTest,
       ATransactionRefusedBeforeItsCommitIsAbortedAndItsPartitionKeepsItsPosition) {
  auto store = testutil::StoreWithOutbox(dir_.string(), 5, "refused");
  ASSERT_NE(store, nullptr);

  // The first transaction's membership cannot be read (as when the group is rebalancing), so
  // its offsets are never sent; the second's is a member's of the group.
  kafka::NoRebalanceListener no_rebalances;
  kafka::Properties member_props = props_;
  member_props["group.id"] = "relay-refused";
  auto member = kafka::Consumer::Create(member_props, &no_rebalances);
  ASSERT_TRUE(member.ok()) << member.status().ToString();
  std::atomic<int> asked{0};
  OutcomeRelayOptions options;
  options.transactional_id = "relay-refused";
  options.interval = std::chrono::milliseconds(0);
  options.retry_base = std::chrono::milliseconds(50);
  options.group_metadata = [&]() -> Result<kafka::GroupMetadata> {
    if (asked++ == 0) return Status::Unavailable("the group is rebalancing (test)");
    return (*member)->CurrentGroupMetadata();
  };
  prometheus::Registry registry;
  OutcomeRelay relay(props_, options, *store, registry);
  relay.Own(0, 5);
  relay.Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (relay.Progress()[0].published_through < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const RelayProgress progress = relay.Progress()[0];
  relay.Stop();
  EXPECT_EQ(progress.published_through, 4) << progress.failure;
  EXPECT_EQ(asked, 2) << "one transaction refused, the next committed";
  EXPECT_TRUE(progress.failure.empty()) << progress.failure;
  EXPECT_EQ(progress.recoveries, 1)
      << "an aborted transaction published nothing: its partition's position is still known";
}

}  // namespace
}  // namespace kledger::processors
