#include "common/kafka/partitioner.h"

#include <gtest/gtest.h>

#include <map>

#include "common/kafka/embedded_broker.h"
#include "common/kafka/producer.h"

namespace kledger::kafka {
namespace {

// The query API routes by this function, so it must agree with where librdkafka's murmur2
// partitioner (the Java client's) really puts records.
TEST(PartitionerTest, AgreesWithWhereLibrdkafkaPutsRecords) {
  auto broker = EmbeddedBroker::Start({.brokers = 1, .topics = {{"routing", 12, 1}}});
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  auto producer = Producer::Create({{"bootstrap.servers", (*broker)->bootstrap()}});
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();

  std::map<std::string, std::future<Result<DeliveryReport>>> delivered;
  for (const char* key : {"a", "ab", "abc", "abcd", "abcde", "acme", "demo", "tenant-0042",
                          "kledger:instance:with:a:longer:name", "Z", "0", "__"}) {
    delivered.emplace(key, (*producer)->Produce({"routing", key, "v", {}, {}}));
  }
  std::map<int32_t, int> used;
  for (auto& [key, future] : delivered) {
    auto report = future.get();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->partition, PartitionForKey(key, 12)) << key;
    ++used[report->partition];
  }
  EXPECT_GT(used.size(), 3u);  // the keys spread; a constant function would not
}

TEST(PartitionerTest, StaysWithinRangeAndIsStable) {
  for (int32_t n : {1, 2, 7, 12, 1000}) {
    const int32_t p = PartitionForKey("acme", n);
    EXPECT_GE(p, 0);
    EXPECT_LT(p, n);
    EXPECT_EQ(p, PartitionForKey("acme", n));
  }
  EXPECT_NE(Murmur2("acme"), Murmur2("acmf"));
}

}  // namespace
}  // namespace kledger::kafka
