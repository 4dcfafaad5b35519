// Tests for -X property parsing, kledger's client defaults and redaction.
#include "common/kafka/properties.h"

#include <gtest/gtest.h>

#include "common/kafka/record.h"

namespace kledger::kafka {
namespace {

TEST(PropertiesTest, ParsesKeyValueItemsAndLaterOnesWin) {
  Result<Properties> props =
      ParseProperties({"linger.ms=5", "client.id=a=b", "acks=1", "acks=all", "empty="});
  ASSERT_TRUE(props.ok()) << props.status().ToString();
  EXPECT_EQ(props->at("linger.ms"), "5");
  EXPECT_EQ(props->at("client.id"), "a=b");  // only the first '=' splits
  EXPECT_EQ(props->at("acks"), "all");
  EXPECT_EQ(props->at("empty"), "");
}

TEST(PropertiesTest, RejectsItemWithoutEqualsNamingItsPositionNotItsText) {
  // Forgetting the key of a secret must not print the secret.
  Result<Properties> props = ParseProperties({"linger.ms=5", "hunter2-secret"});
  ASSERT_FALSE(props.ok());
  EXPECT_EQ(props.status().code(), StatusCode::kInvalidArgument);
  const std::string message = props.status().message();
  EXPECT_NE(message.find("#2 of 2"), std::string::npos) << message;
  EXPECT_NE(message.find("key=value"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

TEST(PropertiesTest, RejectsEmptyKeyAndWhitespaceInKeyWithoutTheValue) {
  for (const char* item : {"=hunter2", "sasl password=hunter2"}) {
    Result<Properties> props = ParseProperties({item});
    ASSERT_FALSE(props.ok()) << item;
    EXPECT_EQ(props.status().code(), StatusCode::kInvalidArgument);
    const std::string message = props.status().message();
    EXPECT_NE(message.find("#1 of 1"), std::string::npos) << message;
    EXPECT_NE(message.find("key=value"), std::string::npos) << message;
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
  }
  EXPECT_NE(ParseProperties({"sasl password=x"}).status().message().find("'sasl password'"),
            std::string::npos);
}

TEST(PropertiesTest, MergeOverrides) {
  Properties merged = Merge({{"a", "1"}, {"b", "2"}}, {{"b", "3"}, {"c", "4"}});
  EXPECT_EQ(merged, (Properties{{"a", "1"}, {"b", "3"}, {"c", "4"}}));
}

TEST(PropertiesTest, DefaultsAreTheDocumentedOnes) {
  EXPECT_EQ(DevClientDefaults(), (Properties{{"session.timeout.ms", "6000"},
                                             {"heartbeat.interval.ms", "1000"},
                                             {"fetch.wait.max.ms", "10"},
                                             {"reconnect.backoff.max.ms", "1000"}}));
  EXPECT_EQ(ProducerDefaults(), (Properties{{"acks", "all"},
                                            {"enable.idempotence", "true"},
                                            {"partitioner", "murmur2_random"},
                                            {"linger.ms", "5"}}));
  EXPECT_EQ(ConsumerDefaults(), (Properties{{"enable.auto.commit", "false"},
                                            {"enable.auto.offset.store", "false"},
                                            {"partition.assignment.strategy", "cooperative-sticky"},
                                            {"auto.offset.reset", "error"}}));
}

TEST(PropertiesTest, RedactedHidesSecretsOnly) {
  Properties redacted = Redacted({{"sasl.password", "p"},
                                  {"ssl.key.password", "p"},
                                  {"SASL.OAUTHBEARER.CLIENT.SECRET", "s"},
                                  {"sasl.oauthbearer.config", "c"},
                                  {"ssl.key.pem", "k"},
                                  {"ssl_key", "k"},
                                  {"sasl.username", "alice"},
                                  {"bootstrap.servers", "h:9092"}});
  EXPECT_EQ(redacted.at("sasl.password"), "[redacted]");
  EXPECT_EQ(redacted.at("ssl.key.password"), "[redacted]");
  EXPECT_EQ(redacted.at("SASL.OAUTHBEARER.CLIENT.SECRET"), "[redacted]");
  EXPECT_EQ(redacted.at("sasl.oauthbearer.config"), "[redacted]");
  EXPECT_EQ(redacted.at("ssl.key.pem"), "[redacted]");
  EXPECT_EQ(redacted.at("ssl_key"), "[redacted]");
  EXPECT_EQ(redacted.at("sasl.username"), "alice");
  EXPECT_EQ(redacted.at("bootstrap.servers"), "h:9092");
}

TEST(PropertiesTest, FindHeaderReturnsFirstMatch) {
  Headers headers = {{"a", "1"}, {"b", std::string("\0x", 2)}, {"a", "2"}};
  EXPECT_EQ(FindHeader(headers, "a"), "1");
  EXPECT_EQ(FindHeader(headers, "b"), std::string_view("\0x", 2));
  EXPECT_EQ(FindHeader(headers, "c"), std::nullopt);
}

}  // namespace
}  // namespace kledger::kafka
