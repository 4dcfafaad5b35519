// kledger over a real broker's SASL_SSL listener (PLAIN), with certificates this test makes: every
// process reaches Kafka through the -X pass-through only; a wrong password or a plaintext client
// gets nothing in; no password reaches a log.
#include <gtest/gtest.h>

#include <cstdlib>

#include "common/http.h"
#include "kledger/v1/api.pb.h"
#include "tests/support/cluster.h"

namespace kledger::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kUser[] = "kledger";
constexpr char kPassword[] = "sasl-ssl-Passw0rd-for-the-test-8921";

class SaslSslTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("kledger-sasl-ssl");
    // A self-signed certificate for 127.0.0.1; the broker's PEM keystore is key + certificate.
    const std::string d = dir_->path();
    const std::string make =
        "cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 " +
        "-addext subjectAltName=IP:127.0.0.1 -keyout key.pem -out cert.pem 2>openssl.log && " +
        "cat key.pem cert.pem > keystore.pem";
    ASSERT_EQ(std::system(make.c_str()), 0) << ReadFile(d + "/openssl.log");
    auto kafka =
        KafkaCluster::Start({.nodes = 1,
                             .tool_flags = {"--sasl-ssl-keystore", d + "/keystore.pem",
                                            "--sasl-user", std::string(kUser) + ":" + kPassword}});
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = kafka->release();
    ASSERT_FALSE(kafka_->sasl_ssl_bootstrap().empty());
  }
  static void TearDownTestSuite() {
    delete kafka_;
    delete dir_;
  }

  // -X flags for a SASL_SSL client with `password`.
  static std::vector<std::string> ClientFlags(const std::string& password) {
    return {"-X", "security.protocol=sasl_ssl",
            "-X", "sasl.mechanisms=PLAIN",
            "-X", std::string("sasl.username=") + kUser,
            "-X", "sasl.password=" + password,
            "-X", "ssl.ca.location=" + dir_->path() + "/cert.pem"};
  }

  static inline KafkaCluster* kafka_ = nullptr;
  static inline TempDir* dir_ = nullptr;
};

TEST_F(SaslSslTest, EveryProcessWorksThroughTheSaslSslListener) {
  Cluster cluster({.partitions = 2,
                   .processors = 1,
                   .group = "sasl",
                   .kafka = kafka_,
                   .sasl_ssl = true,
                   .kafka_client_flags = ClientFlags(kPassword)});
  Status started = cluster.Start();  // topics create, command and processor, all over SASL_SSL
  ASSERT_TRUE(started.ok()) << started.ToString() << "; logs in " << cluster.log_dir();
  EXPECT_EQ(cluster.bootstrap(), kafka_->sasl_ssl_bootstrap());

  for (const char* account : {R"({"address":"cash","type":"asset","currency":"EUR"})",
                              R"({"address":"sales","type":"revenue","currency":"EUR"})"}) {
    ASSERT_TRUE(cluster.Submit("/v1/instances/tls/accounts", account).ok());
  }
  auto ack =
      cluster.Submit("/v1/instances/tls/transactions",
                     R"({"source":"shop","source_idempk":"s-1","status":"posted","entries":[)"
                     R"({"account":"cash","direction":"debit","amount":42,"currency":"EUR"},)"
                     R"({"account":"sales","direction":"credit","amount":42,"currency":"EUR"}]})");
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  auto processor = cluster.ProcessorClient(0);
  v1::AccountView view;
  ASSERT_TRUE(WaitUntil(20s, [&] {
    auto res = processor->Get(
        ("/v1/instances/tls/accounts/cash?min_offset=" + std::to_string(ack->offset())).c_str());
    return res && res->status == 200 && http::ParseJson(res->body, view).ok();
  }));
  EXPECT_EQ(view.balances().posted().amount(), 42);

  // The password is in the processes' flags, and in none of their logs.
  for (const char* log : {"/command.log", "/processor-0.log", "/topics.log"}) {
    EXPECT_EQ(ReadFile(cluster.log_dir() + log).find(kPassword), std::string::npos) << log;
  }
}

TEST_F(SaslSslTest, AWrongPasswordOrNoSaslGetsNothingIn) {
  const TempDir scratch("kledger-sasl-refused");
  const std::string& log_dir = scratch.path();
  for (const auto& [name, flags] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"wrong-password", ClientFlags("not-the-password")},
           {"plaintext", {}},
       }) {
    std::vector<std::string> argv = {KledgerBinary(),
                                     "topics",
                                     "create",
                                     "--bootstrap",
                                     kafka_->sasl_ssl_bootstrap(),
                                     "--topic-prefix",
                                     name,
                                     "--replication-factor",
                                     "1",
                                     "--timeout-ms",
                                     "5000"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const ToolRun run = RunToCompletion(argv, log_dir + "/" + name + ".log");
    EXPECT_EQ(run.exit_code, 1) << name << ": " << run.out << run.err;
    EXPECT_NE(run.err.find("cannot read the topics"), std::string::npos) << name << run.err;
  }
  // Over PLAINTEXT nothing was created by either.
  auto topics =
      RunToCompletion({"/usr/bin/kcat", "-b", kafka_->bootstrap(), "-L"}, log_dir + "/kcat.log");
  EXPECT_EQ(topics.out.find("wrong-password.events"), std::string::npos) << topics.out;
  EXPECT_EQ(topics.out.find("plaintext.events"), std::string::npos) << topics.out;
}

}  // namespace
}  // namespace kledger::testing
