// The processor against an in-process embedded broker: storage faults that clear are retried
// in place; one that persists dead-letters exactly one record; other partitions keep flowing; an
// event is pending over the query API until its partition applies it.
#include "processors/processor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "common/event_id.h"
#include "common/http.h"
#include "common/kafka/partitioner.h"
#include "common/metrics.h"
#include "processors/processor_test_fixture.h"
#include "processors/query/routes.h"
#include "projections/test_util.h"

namespace kledger::processors {
namespace {

using processor_testing::InstanceOn;
using processor_testing::kPartitions;
using processor_testing::ProcessorTest;
using projections::testutil::CreateTx;
using projections::testutil::MakeEntry;
using projections::testutil::OpenAccount;

TEST_F(ProcessorTest, StorageFaultThatClearsIsRetriedInPlaceWithoutDeadLetters) {
  const std::string instance = InstanceOn("clears-", [](int32_t) { return true; });
  const int32_t partition = kafka::PartitionForKey(instance, kPartitions);
  StartProcessor();
  std::atomic<int> failures{0};
  processor_->store().SetWriteFaultForTesting(
      [&](const projections::ProjectionStore::Batch& batch, int64_t) {
        if (batch.partition() == partition && failures < 2) {
          ++failures;
          return Status::IoError("injected: disk hiccup");
        }
        return Status::Ok();
      });
  Run();
  OpenBooks(instance);
  const int64_t last = Fund(instance, "f1", 700);
  ASSERT_TRUE(Applied(instance, last));
  EXPECT_EQ(failures, 2);
  EXPECT_EQ(Cash(instance), 700);
  EXPECT_EQ(DeadLetters(), 0);
  EXPECT_NE(Metrics().find("kledger_retries_total{error_code=\"storage\"} "), std::string::npos);
  EXPECT_EQ(Metrics().find("kledger_retries_total{error_code=\"storage\"} 0"), std::string::npos)
      << "no retry was counted";
}

// A poison record is dead-lettered when it is staged; if the commit of its batch then fails and
// the batch is applied again, the record is already in the dead-letter topic and is not written
// twice (a process that dies in between still may: dead letters are at least once).
TEST_F(ProcessorTest, PoisonStagedOnAFailedCommitIsDeadLetteredOnce) {
  const std::string instance = InstanceOn("poisoned-", [](int32_t) { return true; });
  const int32_t partition = kafka::PartitionForKey(instance, kPartitions);
  StartProcessor();
  OpenBooks(instance);
  auto poison = producer_->Produce({"kledger.events", instance, "not an event", {}, {}}).get();
  ASSERT_TRUE(poison.ok()) << poison.status().ToString();
  const int64_t last = Fund(instance, "after-poison", 9);
  // The first two commits that would move past the poison record fail: its batch is staged,
  // and the record dead-lettered, three times.
  std::atomic<int> failures{0};
  processor_->store().SetWriteFaultForTesting(
      [&](const projections::ProjectionStore::Batch& batch, int64_t next_offset) {
        if (batch.partition() == partition && next_offset > poison->offset && failures < 2) {
          ++failures;
          return Status::IoError("injected: disk hiccup");
        }
        return Status::Ok();
      });
  Run();
  ASSERT_TRUE(Applied(instance, last));
  EXPECT_EQ(failures, 2);  // fewer than the 3 attempts, so nothing is exhausted
  EXPECT_EQ(Cash(instance), 9);
  EXPECT_EQ(DeadLetters(), 1);
}

// A record whose retries ran out is dead-lettered once and never applied, even when the commit of
// its dead-lettered outcome keeps failing for a while and the processor tries again.
TEST_F(ProcessorTest, ExhaustedRecordIsDeadLetteredOnceWhileItsOutcomeCannotBeCommitted) {
  const std::string instance = InstanceOn("stuck-", [](int32_t) { return true; });
  const int32_t partition = kafka::PartitionForKey(instance, kPartitions);
  StartProcessor();
  Run();
  OpenBooks(instance);
  ASSERT_TRUE(Applied(instance, Fund(instance, "before", 1)));
  std::atomic<bool> failing{true};
  std::atomic<int> failures{0};
  processor_->store().SetWriteFaultForTesting(
      [&](const projections::ProjectionStore::Batch& batch, int64_t) {
        if (batch.partition() == partition && failing) {
          ++failures;
          return Status::IoError("injected: disk full");
        }
        return Status::Ok();
      });
  const int64_t stuck = Fund(instance, "stuck", 5);
  // 3 attempts exhaust the record; every later one fails to commit its outcome.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (failures < 6 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GE(failures, 6);
  failing = false;
  ASSERT_TRUE(Applied(instance, stuck));
  EXPECT_EQ(Cash(instance), 1);  // dead-lettered, not applied
  EXPECT_EQ(DeadLetters(), 1);
  const int64_t after = Fund(instance, "after", 2);  // the partition flows again
  ASSERT_TRUE(Applied(instance, after));
  EXPECT_EQ(Cash(instance), 3);
}

// The log's end (readiness, kledger_consumer_lag) comes from fetch responses while a partition is
// fetched, and from the broker while it is not (here: held), where fetches would not see it move.
TEST_F(ProcessorTest, LagFollowsTheLogWhetherItsPartitionIsFetchedOrPaused) {
  const std::string instance = InstanceOn("lag-", [](int32_t) { return true; });
  const int32_t partition = kafka::PartitionForKey(instance, kPartitions);
  StartProcessor(std::chrono::milliseconds(50));
  Run();
  auto wait_for = [&](const std::function<bool(const PartitionProgress&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done(processor_->Progress().at(partition))) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  };
  const std::string lag = "kledger_consumer_lag{partition=\"" + std::to_string(partition) + "\"} ";

  OpenBooks(instance);
  const int64_t funded = Fund(instance, "f1", 5);
  ASSERT_TRUE(Applied(instance, funded));
  // Applied() reads the store, which commits a moment before Progress() moves on.
  ASSERT_TRUE(wait_for([&](const PartitionProgress& p) {
    return p.high_watermark == funded + 1 && p.next_offset == funded + 1;
  })) << "high watermark "
      << processor_->Progress().at(partition).high_watermark;
  EXPECT_EQ(processor_->NotReadyReason(), "");
  EXPECT_NE(Metrics().find(lag + "0"), std::string::npos) << Metrics();

  processor_->Hold(true);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the apply loop notices between polls
  int64_t last = 0;
  for (int i = 0; i < 3; ++i) last = Fund(instance, "held-" + std::to_string(i), 1);
  ASSERT_TRUE(wait_for([&](const PartitionProgress& p) { return p.high_watermark == last + 1; }))
      << "high watermark " << processor_->Progress().at(partition).high_watermark;
  EXPECT_EQ(processor_->Progress().at(partition).next_offset, funded + 1);
  EXPECT_NE(processor_->NotReadyReason().find("catching up"), std::string::npos);
  EXPECT_NE(Metrics().find(lag + "3"), std::string::npos) << Metrics();

  processor_->Hold(false);
  ASSERT_TRUE(Applied(instance, last));
  ASSERT_TRUE(wait_for([&](const PartitionProgress&) {
    return Metrics().find(lag + "0") != std::string::npos;
  })) << Metrics();
  EXPECT_EQ(processor_->NotReadyReason(), "");
}

// Over the query API: an event accepted into the log answers OUTCOME_PENDING (with the offset
// its 202 gave) while its partition is held, then its outcome once applied; /v1/stats shows the
// held partition's lag as the log's watermarks give it.
TEST_F(ProcessorTest, AnEventIsPendingUntilItsPartitionIsAppliedThenHasItsOutcome) {
  const std::string instance = InstanceOn("pending-", [](int32_t) { return true; });
  const int32_t partition = kafka::PartitionForKey(instance, kPartitions);
  StartProcessor(std::chrono::milliseconds(50));
  http::Server server;
  RegisterQueryRoutes(server.routes(), *processor_, auth::Authorizer::AllowAll(), nullptr);
  ASSERT_TRUE(server.Start({"127.0.0.1", 0}).ok());
  Run();
  httplib::Client client("127.0.0.1", server.port());
  OpenBooks(instance);
  const int64_t funded = Fund(instance, "f1", 5);
  ASSERT_TRUE(Applied(instance, funded));

  processor_->Hold(true);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the apply loop notices between polls
  const int64_t held = Fund(instance, "held", 7);
  const std::string event_id = domain::DeriveEventId(Funding(instance, "held", 7));
  const std::string path = "/v1/instances/" + instance + "/events/" + event_id;
  auto pending = client.Get((path + "?offset=" + std::to_string(held)).c_str());
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->status, 200) << pending->body;
  v1::EventOutcomeView view;
  ASSERT_TRUE(http::ParseJson(pending->body, view).ok());
  EXPECT_EQ(view.outcome(), v1::OUTCOME_PENDING);
  EXPECT_EQ(view.offset(), held);
  EXPECT_EQ(view.partition(), partition);
  // Without the offset it cannot tell pending from unknown; with an applied offset it says so.
  EXPECT_EQ(client.Get(path.c_str())->status, 404);
  auto applied_offset = client.Get((path + "?offset=" + std::to_string(funded)).c_str());
  EXPECT_EQ(applied_offset->status, 404);
  EXPECT_NE(applied_offset->body.find("check the event id and offset"), std::string::npos)
      << applied_offset->body;
  EXPECT_EQ(client
                .Get((path + "?offset=" + std::to_string(held) +
                      "&partition=" + std::to_string((partition + 1) % kPartitions))
                         .c_str())
                ->status,
            400);

  // Stats: the held partition lags by the one record, as its watermarks say.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (processor_->Progress().at(partition).high_watermark != held + 1) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the monitor never saw the record";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto stats_res = client.Get("/v1/stats");
  ASSERT_TRUE(stats_res && stats_res->status == 200) << (stats_res ? stats_res->body : "");
  v1::Stats stats;
  ASSERT_TRUE(http::ParseJson(stats_res->body, stats).ok());
  ASSERT_EQ(stats.partitions_size(), kPartitions);
  const v1::PartitionStats& mine = stats.partitions(partition);
  EXPECT_TRUE(mine.owned());
  EXPECT_EQ(mine.owner(), "http://test");
  EXPECT_EQ(mine.next_offset(), held);
  EXPECT_EQ(mine.high_watermark(), held + 1);
  EXPECT_EQ(mine.lag(), 1);
  EXPECT_EQ(stats.lag(), 1);
  EXPECT_EQ(stats.dead_letter_depth(), DeadLetters());
  EXPECT_EQ(stats.outcomes().at("applied"), 3);  // two accounts and the first funding

  processor_->Hold(false);
  auto decided = client.Get(
      (path + "?offset=" + std::to_string(held) + "&min_offset=" + std::to_string(held)).c_str());
  ASSERT_TRUE(decided && decided->status == 200) << (decided ? decided->body : "");
  ASSERT_TRUE(http::ParseJson(decided->body, view).ok());
  EXPECT_EQ(view.outcome(), v1::APPLIED);
  EXPECT_EQ(view.offset(), held);
}

TEST_F(ProcessorTest, PersistentFaultDeadLettersExactlyOneRecordWhileOtherPartitionsFlow) {
  const auto [victim, victim_partition, neighbour, bystander] = VictimNeighbourBystander();

  StartProcessor();
  Run();
  for (const auto& instance : {victim, neighbour, bystander}) OpenBooks(instance);
  ASSERT_TRUE(Applied(neighbour, Fund(neighbour, "warm-up", 1)));

  // From now on, any commit that would apply the victim's transaction fails; the commit that
  // only records its dead-lettered outcome (three writes: the outcome, its event-log key and its
  // outcome stream's outbox entry) gets through.
  std::atomic<bool> bystander_applied_during_retries{false};
  FailCommitsCovering(victim_partition, [](const auto& batch) { return batch.Count() > 3; });
  ASSERT_EQ(Fund(victim, "doomed", 500), fault_.offset.load());
  const int64_t behind = Fund(neighbour, "behind", 42);
  // The bystander's record is sent once the victim's first commit has failed: fetched with it,
  // it could share that commit and fail (and be retried) too.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (fault_.failures == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GE(fault_.failures, 1) << "the victim's commit never failed";
  // While the victim's partition backs off, another partition's events are applied.
  const int64_t other = Fund(bystander, "meanwhile", 9);
  ASSERT_TRUE(Applied(bystander, other));
  bystander_applied_during_retries = DeadLetters() == 0;

  ASSERT_TRUE(Applied(neighbour, behind)) << "the record behind the dead letter was not applied";
  EXPECT_TRUE(bystander_applied_during_retries);
  // Three attempts (retry_max_attempts) at the victim alone; a batch it was part of may have
  // failed once more before the processor narrowed down to it.
  EXPECT_GE(fault_.failures, 3);
  EXPECT_NE(Metrics().find("kledger_retries_total{error_code=\"storage\"} 3"), std::string::npos);
  EXPECT_EQ(DeadLetters(), 1);
  EXPECT_EQ(Cash(victim), 0);
  EXPECT_EQ(Cash(neighbour), 43);
  EXPECT_EQ(Cash(bystander), 9);

  auto outcome = FundingOutcome(victim, "doomed", 500);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->outcome(), v1::DEAD_LETTERED);
  EXPECT_EQ(outcome->reason(), "storage");
  EXPECT_NE(Metrics().find("kledger_dead_letters_total{reason=\"retries_exhausted\"} 1"),
            std::string::npos)
      << Metrics();
}

// With --on-exhausted halt, a record whose retries run out stops its partition instead: nothing
// is dead-lettered, neither it nor the records behind it are applied, the partition says why
// (Progress, kledger_halted_partitions), and the other partitions flow.
TEST_F(ProcessorTest, ExhaustedRecordHaltsItsPartitionWhenAskedToInsteadOfDeadLettering) {
  const auto [victim, victim_partition, neighbour, bystander] = VictimNeighbourBystander();

  StartProcessor(std::chrono::seconds(1), ProcessorOptions::OnExhausted::kHalt);
  Run();
  for (const auto& instance : {victim, neighbour, bystander}) OpenBooks(instance);
  ASSERT_TRUE(Applied(neighbour, Fund(neighbour, "warm-up", 1)));

  FailCommitsCovering(victim_partition, [](const auto&) { return true; });
  ASSERT_EQ(Fund(victim, "doomed", 500), fault_.offset.load());
  Fund(neighbour, "behind", 42);
  ASSERT_TRUE(Applied(bystander, Fund(bystander, "meanwhile", 9)));

  std::string halted;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (halted.empty() && std::chrono::steady_clock::now() < deadline) {
    halted = processor_->Progress().at(victim_partition).halted;
    if (halted.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(halted.empty()) << "the partition did not halt";
  EXPECT_NE(halted.find("offset " + std::to_string(fault_.offset.load()) + " failed 3 times"),
            std::string::npos)
      << halted;
  EXPECT_EQ(processor_->Progress().at(victim_partition).next_offset, fault_.offset.load());
  EXPECT_NE(Metrics().find("kledger_halted_partitions 1"), std::string::npos) << Metrics();
  EXPECT_FALSE(processor_->NotReadyReason().empty());
  // Still halted a while later: no dead letter, nothing of the partition applied after it.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(DeadLetters(), 0);
  EXPECT_EQ(Cash(victim), 0);
  EXPECT_EQ(Cash(neighbour), 1);
  EXPECT_EQ(Cash(bystander), 9);
  EXPECT_EQ(Metrics().find("kledger_dead_letters_total{reason=\"retries_exhausted\"} 1"),
            std::string::npos);
}

// A copy of an applied event (a resubmission) whose retries run out goes to the dead-letter
// topic, but its event id keeps its one outcome: the original's, which moved the money.
TEST_F(ProcessorTest, ExhaustedCopyOfAnAppliedEventKeepsTheOriginalOutcome) {
  const std::string instance = InstanceOn("copied-", [](int32_t) { return true; });
  const int32_t partition = kafka::PartitionForKey(instance, kPartitions);
  StartProcessor();
  Run();
  OpenBooks(instance);
  const int64_t original = Fund(instance, "once", 500);
  ASSERT_TRUE(Applied(instance, original));

  // Every commit that would apply the copy fails, until its dead letter is written.
  const std::string dead_lettered = "kledger_dead_letters_total{reason=\"retries_exhausted\"} 1";
  FailCommitsCovering(partition, [this, dead_lettered](const auto&) {
    return Metrics().find(dead_lettered) == std::string::npos;
  });
  ASSERT_EQ(Fund(instance, "once", 500), fault_.offset.load());
  ASSERT_TRUE(Applied(instance, fault_.offset));
  EXPECT_GE(fault_.failures, 3);
  EXPECT_EQ(DeadLetters(), 1);
  EXPECT_EQ(Cash(instance), 500);

  auto outcome = FundingOutcome(instance, "once", 500);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->outcome(), v1::APPLIED);
  EXPECT_EQ(outcome->offset(), original);
}

}  // namespace
}  // namespace kledger::processors
