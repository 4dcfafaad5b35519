// Test support: one Cluster shared by the tests of a suite, started before its first test and
// stopped after its last. A suite names its deployment and inherits the rest:
//
//   class DeadLetterTest : public ClusterSuite<DeadLetterTest> {
//    public:
//     static ClusterOptions Options() { return {.partitions = 4, .processors = 1}; }
//   };
//
// Its tests reach the deployment through cluster(): clients, Submit, RunTool and RunKledger
// (a tool run to its end with its stderr in a log of its own) and the log directory named in
// failures. A suite that has more to set up defines SetUpTestSuite and calls this one first.
#pragma once

#include <gtest/gtest.h>

#include "tests/support/cluster.h"

namespace kledger::testing {

template <typename Suite>
class ClusterSuite : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    cluster_ = new Cluster(Suite::Options());
    const Status started = cluster_->Start();
    not_started_ = started.ok() ? "" : started.ToString();
    ASSERT_TRUE(started.ok()) << not_started_;
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

 protected:
  // Each test fails at once, with the reason, on a deployment that did not start.
  void SetUp() override { ASSERT_TRUE(not_started_.empty()) << not_started_; }

  static Cluster& cluster() { return *cluster_; }
  // Whether the suite's cluster started: for a suite's own SetUpTestSuite to go on.
  static bool Started() { return cluster_ != nullptr && not_started_.empty(); }

  // POSTs the JSON `body` to `path` on the command API, expecting a 202: its Ack, or an empty
  // one after a failed expectation that names what came back.
  static v1::Ack Accept(const std::string& path, const std::string& body) {
    auto ack = cluster_->Submit(path, body);
    EXPECT_TRUE(ack.ok()) << ack.status().ToString();
    return ack.ok() ? *ack : v1::Ack();
  }

 private:
  static inline Cluster* cluster_ = nullptr;
  static inline std::string not_started_;
};

}  // namespace kledger::testing
