// Partitions move between processors on join and leave, and every instance is served correctly
// by whoever owns it after the move; the others answer 421 naming the owner. Also
// read-your-writes through ?min_offset=.
#include <gtest/gtest.h>

#include <csignal>
#include <map>

#include "common/http.h"
#include "common/kafka/partitioner.h"
#include "kledger/v1/api.pb.h"
#include "tests/support/cluster.h"

namespace kledger::testing {
namespace {

constexpr int kPartitions = 4;
constexpr int kInstances = 8;

std::string Instance(int i) { return "tenant-" + std::to_string(i); }

v1::Ack Post(Cluster& cluster, const std::string& path, const std::string& body) {
  auto ack = cluster.Submit(path, body);
  EXPECT_TRUE(ack.ok()) << ack.status().ToString();
  return ack.ok() ? *ack : v1::Ack();
}

v1::Ack Fund(Cluster& cluster, int instance, int n, int64_t amount) {
  const std::string a = std::to_string(amount);
  return Post(cluster, "/v1/instances/" + Instance(instance) + "/transactions",
              R"({"source":"test","source_idempk":"fund-)" + std::to_string(n) +
                  R"(","status":"posted","entries":[)"
                  R"({"account":"cash","direction":"debit","amount":)" +
                  a + R"(,"currency":"EUR"},{"account":"equity","direction":"credit","amount":)" +
                  a + R"(,"currency":"EUR"}]})");
}

// The cash balance `instance` shows on processor `i`: the HTTP status and, on 200, the amount.
std::pair<int, int64_t> CashOn(Cluster& cluster, int i, int instance,
                               std::string* owner = nullptr) {
  auto res = cluster.ProcessorClient(i)->Get(
      ("/v1/instances/" + Instance(instance) + "/accounts/cash").c_str());
  if (!res) return {0, 0};
  if (owner) *owner = res->get_header_value("X-Kledger-Owner");
  if (res->status != 200) return {res->status, 0};
  v1::AccountView view;
  EXPECT_TRUE(http::ParseJson(res->body, view).ok()) << res->body;
  return {200, view.balances().posted().amount()};
}

TEST(RebalanceTest, PartitionsMoveOnJoinAndLeaveAndAreServedByTheirOwner) {
  Cluster cluster({.partitions = kPartitions, .processors = 2, .group = "rebalance"});
  ASSERT_TRUE(cluster.Start().ok());

  // Processor 1 leaves: processor 0 owns everything.
  cluster.processor(1).Signal(SIGTERM);
  ASSERT_EQ(cluster.processor(1).Wait(std::chrono::seconds(20)), 0);

  std::map<int, int64_t> expected;
  for (int i = 0; i < kInstances; ++i) {
    for (const char* account : {R"({"address":"cash","type":"asset","currency":"EUR"})",
                                R"({"address":"equity","type":"equity","currency":"EUR"})"}) {
      Post(cluster, "/v1/instances/" + Instance(i) + "/accounts", account);
    }
    for (int n = 0; n <= i; ++n) {
      Fund(cluster, i, n, 100 + n);
      expected[i] += 100 + n;
    }
  }
  ASSERT_TRUE(WaitUntil(std::chrono::seconds(30), [&] {
    for (int i = 0; i < kInstances; ++i) {
      if (CashOn(cluster, 0, i) != std::pair<int, int64_t>{200, expected[i]}) return false;
    }
    return true;
  })) << "processor 0 alone did not serve every instance";

  // Processor 1 joins (with the data it had before it left, if any): the group hands it some
  // partitions, which it catches up on by replay before it is ready.
  ASSERT_TRUE(cluster.StartProcessor(1).ok());
  auto p1 = cluster.ProcessorClient(1);
  ASSERT_TRUE(WaitUntil(std::chrono::seconds(40), [&] {
    int served_by_1 = 0;
    for (int i = 0; i < kInstances; ++i) served_by_1 += CashOn(cluster, 1, i).first == 200;
    return served_by_1 > 0 && served_by_1 < kInstances && Answers200(*p1, "/readyz");
  })) << "partitions did not move to the joining processor";

  // Every instance: its owner answers the right balance, the other processor 421 naming it.
  ASSERT_TRUE(WaitUntil(std::chrono::seconds(20), [&] {
    for (int i = 0; i < kInstances; ++i) {
      std::string owner0, owner1;
      auto on0 = CashOn(cluster, 0, i, &owner0);
      auto on1 = CashOn(cluster, 1, i, &owner1);
      const bool zero_owns = on0 == std::pair<int, int64_t>{200, expected[i]} && on1.first == 421 &&
                             owner1 == cluster.ProcessorUrl(0);
      const bool one_owns = on1 == std::pair<int, int64_t>{200, expected[i]} && on0.first == 421 &&
                            owner0 == cluster.ProcessorUrl(1);
      if (zero_owns == one_owns) return false;
    }
    return true;
  })) << "an instance was not served by exactly one processor naming the other";

  // Processor 0 leaves: processor 1 takes every partition, rebuilding the ones it never had.
  cluster.processor(0).Signal(SIGTERM);
  ASSERT_EQ(cluster.processor(0).Wait(std::chrono::seconds(20)), 0);
  ASSERT_TRUE(WaitUntil(std::chrono::seconds(40), [&] {
    for (int i = 0; i < kInstances; ++i) {
      if (CashOn(cluster, 1, i) != std::pair<int, int64_t>{200, expected[i]}) return false;
    }
    return true;
  })) << "processor 1 alone did not serve every instance after processor 0 left";
}

TEST(RebalanceTest, MinOffsetReadsYourOwnWrites) {
  Cluster cluster({.partitions = kPartitions, .processors = 1, .group = "ryw"});
  ASSERT_TRUE(cluster.Start().ok());
  for (const char* account : {R"({"address":"cash","type":"asset","currency":"EUR"})",
                              R"({"address":"equity","type":"equity","currency":"EUR"})"}) {
    Post(cluster, "/v1/instances/" + Instance(0) + "/accounts", account);
  }
  int64_t total = 0;
  for (int n = 0; n < 20; ++n) {
    const v1::Ack ack = Fund(cluster, 0, n, 10);
    total += 10;
    EXPECT_EQ(ack.partition(), kafka::PartitionForKey(Instance(0), kPartitions));
    // No polling: the query waits until the processor has applied the acknowledged offset.
    auto res = cluster.ProcessorClient(0)->Get(
        ("/v1/instances/" + Instance(0) +
         "/accounts/cash?min_offset=" + std::to_string(ack.offset()))
            .c_str());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    v1::AccountView view;
    ASSERT_TRUE(http::ParseJson(res->body, view).ok());
    EXPECT_EQ(view.balances().posted().amount(), total);
  }
  auto bad = cluster.ProcessorClient(0)->Get(
      ("/v1/instances/" + Instance(0) + "/accounts/cash?min_offset=soon").c_str());
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

}  // namespace
}  // namespace kledger::testing
