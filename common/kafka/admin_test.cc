// Tests for the admin client against the embedded broker: listing topics with their partition
// counts (without creating any), CreateTopics' plain failure on the mock within the timeout, and
// failures that are the caller's (bad properties, bad topic specs, an unreachable cluster).
#include "common/kafka/admin.h"

#include <gtest/gtest.h>

#include "common/kafka/embedded_broker.h"

namespace kledger::kafka {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class AdminTest : public ::testing::Test {
 protected:
  // One broker for the suite (stopping a mock cluster takes a second).
  static void SetUpTestSuite() {
    auto broker = EmbeddedBroker::Start(
        {.brokers = 3, .topics = {{"adm.events", 6, 3}, {"adm.owners", 1, 2}}});
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
  }
  static void TearDownTestSuite() { broker_.reset(); }

  static std::unique_ptr<Admin> Connected() {
    auto admin = Admin::Create({{"bootstrap.servers", broker_->bootstrap()}});
    EXPECT_TRUE(admin.ok()) << admin.status().ToString();
    return admin.ok() ? std::move(admin).value() : nullptr;
  }

  static std::unique_ptr<EmbeddedBroker> broker_;
};

std::unique_ptr<EmbeddedBroker> AdminTest::broker_;

TEST_F(AdminTest, ListTopicsShowsPartitionsAndReplicas) {
  auto admin = Connected();
  ASSERT_NE(admin, nullptr);
  auto topics = admin->ListTopics(10s);
  ASSERT_TRUE(topics.ok()) << topics.status().ToString();
  ASSERT_EQ(topics->count("adm.events"), 1u);
  EXPECT_EQ(topics->at("adm.events").name, "adm.events");
  EXPECT_EQ(topics->at("adm.events").partitions, 6);
  EXPECT_EQ(topics->at("adm.events").replication_factor, 3);
  ASSERT_EQ(topics->count("adm.owners"), 1u);
  EXPECT_EQ(topics->at("adm.owners").partitions, 1);
  // The mock lists every broker as a replica, whatever replication factor it was given.
  EXPECT_EQ(topics->at("adm.owners").replication_factor, 3);
  EXPECT_EQ(topics->count("adm.nothing"), 0u);
}

TEST_F(AdminTest, ListTopicsSeesTopicsCreatedLater) {
  auto admin = Connected();
  ASSERT_NE(admin, nullptr);
  ASSERT_TRUE(broker_->CreateTopic({"adm.later", 4, 1}).ok());
  auto topics = admin->ListTopics(10s);
  ASSERT_TRUE(topics.ok()) << topics.status().ToString();
  ASSERT_EQ(topics->count("adm.later"), 1u);
  EXPECT_EQ(topics->at("adm.later").partitions, 4);
}

// librdkafka 2.0.2's mock names a controller that is none of its brokers, so CreateTopics waits
// for it until the request timeout: the error must say so, name the topic, and come in time —
// and nothing may have been created on the way.
TEST_F(AdminTest, CreateTopicsOnEmbeddedBrokerFailsPlainlyWithinTimeout) {
  auto admin = Connected();
  ASSERT_NE(admin, nullptr);
  const auto start = Clock::now();
  auto created = admin->CreateTopics({{.name = "adm.new",
                                       .partitions = 3,
                                       .replication_factor = 1,
                                       .configs = {{"cleanup.policy", "compact"}}}},
                                     2s);
  const auto took = Clock::now() - start;
  ASSERT_FALSE(created.ok()) << "the mock created the topic after all; update "
                                "EMBEDDED-BROKER.md and this test";
  EXPECT_EQ(created.status().code(), StatusCode::kTimeout) << created.status().ToString();
  const std::string& message = created.status().message();
  EXPECT_NE(message.find("adm.new"), std::string::npos) << message;
  EXPECT_NE(message.find("does not support CreateTopics"), std::string::npos) << message;
  EXPECT_NE(message.find("mock cluster"), std::string::npos) << message;
  EXPECT_GE(took, 1900ms);
  EXPECT_LT(took, 5s);

  auto topics = admin->ListTopics(10s);
  ASSERT_TRUE(topics.ok()) << topics.status().ToString();
  EXPECT_EQ(topics->count("adm.new"), 0u);
}

TEST_F(AdminTest, CreateTopicsWithNothingToCreateAsksNothing) {
  auto admin = Connected();
  ASSERT_NE(admin, nullptr);
  auto created = admin->CreateTopics({}, 1s);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(created->empty());
}

TEST_F(AdminTest, CreateTopicsRefusesBadSpecsBeforeSending) {
  auto admin = Connected();
  ASSERT_NE(admin, nullptr);
  const auto start = Clock::now();
  auto created = admin->CreateTopics({{"adm.ok", 1, 1}, {"adm.zero", 0, 1}}, 5s);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(created.status().message().find("adm.zero"), std::string::npos)
      << created.status().ToString();
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST(AdminCreateTest, RejectsBadPropertyNamingIt) {
  auto admin = Admin::Create({{"bootstrap.servers", "127.0.0.1:1"}, {"no.such.property", "1"}});
  ASSERT_FALSE(admin.ok());
  EXPECT_EQ(admin.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(admin.status().message().find("no.such.property"), std::string::npos);
}

TEST(AdminCreateTest, UnreachableClusterFailsWithinTimeout) {
  auto admin = Admin::Create({{"bootstrap.servers", "127.0.0.1:1"}});
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  const auto start = Clock::now();
  auto topics = (*admin)->ListTopics(1500ms);
  ASSERT_FALSE(topics.ok());
  EXPECT_TRUE(topics.status().code() == StatusCode::kTimeout ||
              topics.status().code() == StatusCode::kUnavailable)
      << topics.status().ToString();
  EXPECT_NE(topics.status().message().find("metadata"), std::string::npos);
  EXPECT_LT(Clock::now() - start, 4s);
}

}  // namespace
}  // namespace kledger::kafka
