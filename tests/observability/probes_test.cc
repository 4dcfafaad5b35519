// Unit tests of the observability plumbing: librdkafka statistics to metrics and Kafka
// readiness, the JSON log format with LogFields, and the RocksDB property probe.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "common/log.h"
#include "common/metrics.h"
#include "processors/processor_probe.h"
#include "projections/store.h"

namespace kledger {
namespace {

// A trimmed librdkafka 2.0 statistics emission: one bootstrap entry, two learned brokers.
std::string Stats(const std::string& name, int txmsgs, const std::string& state2) {
  return R"({"name":")" + name + R"(","type":"producer","msg_cnt":7,"txmsgs":)" +
         std::to_string(txmsgs) + R"(,"rxmsgs":0,"brokers":{
    "k:9092/bootstrap":{"nodeid":-1,"source":"configured","state":"UP","rtt":{"avg":0}},
    "k1:9092/1":{"nodeid":1,"source":"learned","state":"UP","rtt":{"avg":2500}},
    "k2:9092/2":{"nodeid":2,"source":"learned","state":")" +
         state2 + R"(","rtt":{"avg":0}}}})";
}

bool HasSample(const std::string& text, const std::string& sample) {
  return text.find(sample) != std::string::npos;
}

TEST(KafkaStatisticsProbe, MapsStatisticsToMetrics) {
  prometheus::Registry registry;
  KafkaStatisticsProbe probe(registry);
  probe.Update(Stats("p#producer-1", 10, "UP"));
  probe.Update(Stats("p#producer-1", 25, "DOWN"));
  const std::string text = RenderMetrics(registry);
  EXPECT_TRUE(HasSample(
      text, R"(kledger_kafka_broker_rtt_seconds{broker="1",client="p#producer-1"} 0.0025)"))
      << text;
  EXPECT_TRUE(HasSample(text, R"(kledger_kafka_broker_up{broker="2",client="p#producer-1"} 0)"))
      << text;
  EXPECT_TRUE(HasSample(text, R"(kledger_kafka_queue_messages{client="p#producer-1"} 7)")) << text;
  EXPECT_TRUE(HasSample(text, R"(kledger_kafka_tx_messages_total{client="p#producer-1"} 25)"))
      << text;
  // Bootstrap entries have no node id: not a broker of their own.
  EXPECT_FALSE(HasSample(text, R"(broker="-1")")) << text;
}

TEST(KafkaStatisticsProbe, CounterSurvivesAClientRestart) {
  prometheus::Registry registry;
  KafkaStatisticsProbe probe(registry);
  probe.Update(Stats("c", 100, "UP"));
  probe.Update(Stats("c", 5, "UP"));  // a new client instance under the same name counts anew
  EXPECT_TRUE(
      HasSample(RenderMetrics(registry), R"(kledger_kafka_tx_messages_total{client="c"} 105)"));
}

TEST(KafkaStatisticsProbe, ReadinessFollowsBrokerState) {
  prometheus::Registry registry;
  KafkaStatisticsProbe probe(registry);
  const auto age = std::chrono::seconds(10);
  EXPECT_NE(probe.BrokerNotReadyReason(age, /*require_statistics=*/true), "");
  EXPECT_EQ(probe.BrokerNotReadyReason(age, /*require_statistics=*/false), "");
  probe.Update(R"({"name":"c","brokers":{"k:1/1":{"nodeid":1,"state":"DOWN"}}})");
  EXPECT_EQ(probe.BrokerNotReadyReason(age, false), "no Kafka broker connection is up");
  probe.Update(Stats("c", 1, "UP"));
  EXPECT_EQ(probe.BrokerNotReadyReason(age, true), "");
  // Stale statistics prove nothing.
  EXPECT_NE(probe.BrokerNotReadyReason(std::chrono::milliseconds(-1), true), "");
  probe.Update("not json");  // ignored, no throw
}

TEST(JsonLogs, OneEscapedObjectPerLineWithFields) {
  ASSERT_TRUE(InitLogging({"debug", "json"}).ok());
  testing::internal::CaptureStderr();
  {
    LogFields fields{{"event_id", "e-1"}, {"correlation_id", ""}};
    spdlog::info("a \"quoted\"\nline\t\x01 with \xff bad utf-8");
  }
  spdlog::debug("no fields");
  spdlog::default_logger()->flush();
  const std::string out = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(InitLogging({}).ok());
  std::istringstream lines(out);
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  auto first = nlohmann::json::parse(line);
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["event_id"], "e-1");
  EXPECT_FALSE(first.contains("correlation_id"));  // empty fields are left out
  EXPECT_EQ(first["msg"].get<std::string>().substr(0, 15), "a \"quoted\"\nline");
  ASSERT_TRUE(std::getline(lines, line));
  auto second = nlohmann::json::parse(line);
  EXPECT_EQ(second["msg"], "no fields");
  EXPECT_FALSE(second.contains("event_id"));  // the scope ended
  EXPECT_FALSE(std::getline(lines, line));
}

TEST(JsonLogs, UnknownFormatIsRefused) { EXPECT_FALSE(InitLogging({"info", "xml"}).ok()); }

TEST(StoreProbe, SamplesRocksDbProperties) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("kledger-store-probe-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    projections::StoreOptions options;
    options.path = dir.string();
    auto store = projections::ProjectionStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_FALSE((*store)->IntProperty("rocksdb.no-such-property").ok());
    auto batch = (*store)->BeginBatch(0);
    ASSERT_TRUE((*store)->Commit(*batch, 1).ok());  // something in the memtable
    prometheus::Registry registry;
    processors::StoreProbe probe(registry, **store, std::chrono::hours(1));
    const std::string text = RenderMetrics(registry);
    // The sampler runs once in the constructor, after the write above.
    for (const char* name : {"kledger_rocksdb_live_data_bytes", "kledger_rocksdb_memtable_bytes",
                             "kledger_rocksdb_pending_compaction_bytes"}) {
      EXPECT_TRUE(HasSample(text, std::string(name) + " ")) << text;
    }
    EXPECT_FALSE(HasSample(text, "kledger_rocksdb_memtable_bytes 0\n")) << text;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kledger
