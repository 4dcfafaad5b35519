// Security end to end, across separate processes on loopback: bearer tokens (401/403/202) on the
// command and query APIs, the body limit (413), TLS on the HTTP listener, librdkafka's SSL/SASL
// pass-through, and that no token or password reaches the processes' logs.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/http.h"
#include "common/kafka/internal/rdkafka_util.h"
#include "kledger/v1/api.pb.h"
#include "tests/support/cluster_suite.h"

namespace kledger::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kJson[] = "application/json";
// Tokens: the submitter's is stored in the clear, the reader's only as its SHA-256 digest.
constexpr char kSubmitToken[] = "acme-submit-token-5f1c9a27d3e8";
constexpr char kReaderToken[] = "acme-reader-token-9b04e6c2f7a1";
constexpr char kAdminToken[] = "ops-admin-token-c3d8e1a4b6f09";
constexpr char kUnknownToken[] = "not-a-token-at-all-7e2b5d";
constexpr char kSaslPassword[] = "kafka-sasl-S3cretPassw0rd-4711";

std::string Sha256Hex(const std::string& text) {
  FILE* pipe = popen(("printf %s '" + text + "' | sha256sum").c_str(), "r");
  char hex[65] = {0};
  if (pipe == nullptr) return "";
  const size_t n = fread(hex, 1, 64, pipe);
  pclose(pipe);
  return n == 64 ? std::string(hex, 64) : "";
}

// Writes the token file into `dir`; returns its path.
std::string WriteTokens(const std::string& dir) {
  const std::string path = dir + "/tokens";
  std::ofstream(path) << "# kledger security test\n"
                      << kSubmitToken << " acme* submit\n\n"
                      << "sha256:" << Sha256Hex(kReaderToken) << "\tacme*\tquery\n"
                      << kAdminToken << " * admin,query,submit\n";
  return path;
}

std::string OpenAccount(const std::string& address) {
  return R"({"address":")" + address + R"(","type":"asset","currency":"USD"})";
}

class SecurityTest : public ClusterSuite<SecurityTest> {
 public:
  static void SetUpTestSuite() {
    token_dir_ = new TempDir("kledger-security-tokens");
    ClusterSuite::SetUpTestSuite();
  }
  static void TearDownTestSuite() {
    ClusterSuite::TearDownTestSuite();
    delete token_dir_;
    token_dir_ = nullptr;
  }
  static ClusterOptions Options() {
    const std::string tokens = WriteTokens(token_dir_->path());
    const std::vector<std::string> common = {"--auth-tokens", tokens, "-X",
                                             std::string("sasl.password=") + kSaslPassword};
    ClusterOptions options{.partitions = 2, .processors = 1, .group = "kledger-security"};
    options.command_flags = common;
    options.command_flags.insert(options.command_flags.end(), {"--max-body-bytes", "131072"});
    options.processor_flags = common;
    return options;
  }

 protected:
  static std::unique_ptr<httplib::Client> Command(const char* token) {
    auto client = cluster().CommandClient();
    if (token != nullptr) client->set_bearer_token_auth(token);
    return client;
  }
  static std::unique_ptr<httplib::Client> Query(const char* token) {
    auto client = cluster().ProcessorClient(0);
    if (token != nullptr) client->set_bearer_token_auth(token);
    return client;
  }
  static int Code(const httplib::Result& res) { return res ? res->status : -1; }

  static inline TempDir* token_dir_ = nullptr;
};

TEST_F(SecurityTest, CommandApiAnswers401WithoutAValidToken403OutOfScopeAnd202InScope) {
  auto missing = Command(nullptr)->Post("/v1/instances/acme/accounts", OpenAccount("a:1"), kJson);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401) << missing->body;
  EXPECT_NE(missing->get_header_value("WWW-Authenticate").find("Bearer"), std::string::npos);
  EXPECT_EQ(
      Code(Command(kUnknownToken)->Post("/v1/instances/acme/accounts", OpenAccount("a:1"), kJson)),
      401);
  // The reader may not submit; the submitter may not submit to another instance.
  EXPECT_EQ(
      Code(Command(kReaderToken)->Post("/v1/instances/acme/accounts", OpenAccount("a:1"), kJson)),
      403);
  auto other =
      Command(kSubmitToken)->Post("/v1/instances/beta/accounts", OpenAccount("a:1"), kJson);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 403) << other->body;
  v1::ErrorBody error;
  ASSERT_TRUE(http::ParseJson(other->body, error).ok()) << other->body;
  EXPECT_EQ(error.error().code(), "forbidden");
  EXPECT_EQ(other->body.find(kSubmitToken), std::string::npos);

  auto accepted =
      Command(kSubmitToken)->Post("/v1/instances/acme/accounts", OpenAccount("assets:cash"), kJson);
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 202) << accepted->body;
  EXPECT_EQ(Code(Command(kAdminToken)
                     ->Post("/v1/instances/beta/accounts", OpenAccount("assets:cash"), kJson)),
            202);
}

TEST_F(SecurityTest, BatchChecksEveryItemsInstance) {
  auto item = [](const std::string& instance, const std::string& address) {
    return R"({"instance_id":")" + instance + R"(","open_account":)" + OpenAccount(address) + "}";
  };
  const std::string mixed =
      R"({"commands":[)" + item("acme", "batch:1") + "," + item("beta", "batch:1") + "]}";
  auto refused = Command(kSubmitToken)->Post("/v1/batch", mixed, kJson);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403) << refused->body;
  EXPECT_NE(refused->body.find("beta"), std::string::npos) << refused->body;

  const std::string own = R"({"commands":[)" + item("acme", "batch:1") + "]}";
  auto accepted = Command(kSubmitToken)->Post("/v1/batch", own, kJson);
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 200) << accepted->body;
  v1::BatchResponse response;
  ASSERT_TRUE(http::ParseJson(accepted->body, response).ok()) << accepted->body;
  ASSERT_EQ(response.results_size(), 1);
  EXPECT_EQ(response.results(0).status(), 202);
  EXPECT_EQ(Code(Command(nullptr)->Post("/v1/batch", own, kJson)), 401);
  EXPECT_EQ(Code(Command(kReaderToken)->Post("/v1/batch", own, kJson)), 403);
  // A body that does not parse names no instance: refused as any request is without a token or
  // without `submit`, and answered 400 only to a caller who may submit somewhere.
  const std::string broken = R"({"commands":[)";
  EXPECT_EQ(Code(Command(nullptr)->Post("/v1/batch", broken, kJson)), 401);
  EXPECT_EQ(Code(Command(kReaderToken)->Post("/v1/batch", broken, kJson)), 403);
  EXPECT_EQ(Code(Command(kSubmitToken)->Post("/v1/batch", broken, kJson)), 400);
}

TEST_F(SecurityTest, QueryApiAnswers401WithoutAValidToken403OutOfScopeAnd200InScope) {
  ASSERT_EQ(Code(Command(kSubmitToken)
                     ->Post("/v1/instances/acme/accounts", OpenAccount("assets:bank"), kJson)),
            202);
  const std::string path = "/v1/instances/acme/accounts/assets:bank";
  auto reader = Query(kReaderToken);
  EXPECT_TRUE(WaitUntil(std::chrono::seconds(20), [&] {
    return Code(reader->Get(path.c_str())) == 200;
  })) << "the reader never saw the account";

  auto missing = Query(nullptr)->Get(path.c_str());
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_NE(missing->get_header_value("WWW-Authenticate").find("Bearer"), std::string::npos);
  EXPECT_EQ(Code(Query(kUnknownToken)->Get(path.c_str())), 401);
  // The submitter has no query right; the reader none on beta.
  EXPECT_EQ(Code(Query(kSubmitToken)->Get(path.c_str())), 403);
  EXPECT_EQ(Code(Query(kReaderToken)->Get("/v1/instances/beta/trial-balance")), 403);
  EXPECT_EQ(Code(Query(kReaderToken)->Get("/v1/instances/acme/trial-balance")), 200);
  // The digest, the stats and the dead letters span every instance: admin on "*" only.
  for (const char* admin_route : {"/v1/digest", "/v1/stats", "/v1/dead-letters"}) {
    EXPECT_EQ(Code(Query(nullptr)->Get(admin_route)), 401) << admin_route;
    EXPECT_EQ(Code(Query(kReaderToken)->Get(admin_route)), 403) << admin_route;
    EXPECT_EQ(Code(Query(kAdminToken)->Get(admin_route)), 200) << admin_route;
  }
  EXPECT_EQ(Code(Query(kReaderToken)->Post("/v1/dead-letters/redrive", R"({"all":true})", kJson)),
            403);
  EXPECT_EQ(Code(Query(kReaderToken)->Get("/v1/instances/acme/events")), 200);
  EXPECT_EQ(Code(Query(kReaderToken)->Get("/v1/instances/beta/events")), 403);
  EXPECT_EQ(Code(Query(kReaderToken)->Get("/v1/instances/acme/accounts/assets:bank/balances")),
            200);
  // Account lifecycle needs submit on the instance.
  EXPECT_EQ(
      Code(Command(kReaderToken)->Post("/v1/instances/acme/accounts/assets:bank/close", "", kJson)),
      403);
  EXPECT_EQ(Code(Command(kSubmitToken)
                     ->Post("/v1/instances/beta/accounts/assets:bank/updates",
                            R"({"update_idempk":"u"})", kJson)),
            403);
  // Every answer of an API route is counted by route and code, refusals included.
  auto counted = [](httplib::Client& client, const std::string& code, const std::string& route) {
    return MetricValue(client,
                       "kledger_http_requests_total{code=\"" + code + "\",route=\"" + route + "\"}")
        .value_or(0);
  };
  EXPECT_GE(counted(*Query(nullptr), "401", "/v1/stats"), 1);
  EXPECT_GE(counted(*Query(nullptr), "403", "/v1/digest"), 1);
  EXPECT_GE(counted(*Query(nullptr), "200", "/v1/instances/{}/accounts/{}"), 1);
  EXPECT_GE(counted(*Command(nullptr), "403", "/v1/instances/{}/accounts/{}/close"), 1);
  EXPECT_GE(MetricValue(*Query(nullptr),
                        "kledger_http_request_duration_seconds_count{route=\"/v1/digest\"}")
                .value_or(0),
            3);
  // Probes and the Prometheus scrape stay open by default.
  EXPECT_EQ(Code(Query(nullptr)->Get("/healthz")), 200);
  EXPECT_EQ(Code(Query(nullptr)->Get("/readyz")), 200);
  EXPECT_EQ(Code(Query(nullptr)->Get("/metrics")), 200);
  EXPECT_EQ(Code(Command(nullptr)->Get("/metrics")), 200);
}

// What the console relies on: /v1/whoami tells a token what it may do; /v1/instances lists only
// the instances a token may query; the console's page and assets hold no data and stay open.
TEST_F(SecurityTest, WhoAmIAndTheInstanceListFollowTheToken) {
  for (const char* instance : {"acme", "acme-eu", "beta"}) {
    ASSERT_EQ(Code(Command(kAdminToken)
                       ->Post(("/v1/instances/" + std::string(instance) + "/accounts").c_str(),
                              OpenAccount("assets:cash"), kJson)),
              202);
  }
  auto listed = [](const char* token) {
    std::vector<std::string> ids;
    auto res = Query(token)->Get("/v1/instances");
    if (!res || res->status != 200)
      return std::vector<std::string>{"HTTP " + std::to_string(Code(res))};
    v1::InstancePage page;
    EXPECT_TRUE(http::ParseJson(res->body, page).ok()) << res->body;
    for (const auto& item : page.items()) ids.push_back(item.instance_id());
    return ids;
  };
  using Ids = std::vector<std::string>;
  EXPECT_TRUE(WaitUntil(std::chrono::seconds(20), [&] {
    return listed(kAdminToken) == Ids{"acme", "acme-eu", "beta"};
  })) << "the admin sees every instance";
  EXPECT_EQ(listed(kReaderToken), (Ids{"acme", "acme-eu"})) << "the reader's grant is acme*";
  EXPECT_EQ(listed(kSubmitToken), Ids{"HTTP 403"}) << "no query right anywhere";
  EXPECT_EQ(listed(nullptr), Ids{"HTTP 401"});

  auto who = Query(kReaderToken)->Get("/v1/whoami");
  ASSERT_TRUE(who && who->status == 200) << Code(who);
  v1::WhoAmI reader;
  ASSERT_TRUE(http::ParseJson(who->body, reader).ok()) << who->body;
  EXPECT_TRUE(reader.auth_enabled());
  EXPECT_EQ(reader.token_id().rfind("sha256:", 0), 0u) << reader.token_id();
  ASSERT_EQ(reader.grants_size(), 1) << who->body;
  EXPECT_EQ(reader.grants(0).instances(), "acme*");
  EXPECT_EQ(
      std::vector<std::string>(reader.grants(0).rights().begin(), reader.grants(0).rights().end()),
      Ids{"query"});
  EXPECT_EQ(who->body.find(kReaderToken), std::string::npos) << "never the token itself";
  EXPECT_EQ(Code(Query(nullptr)->Get("/v1/whoami")), 401);
  EXPECT_EQ(Code(Query(kUnknownToken)->Get("/v1/whoami")), 401);
  EXPECT_EQ(Code(Command(kSubmitToken)->Get("/v1/whoami")), 200) << "the command API answers too";

  auto page = Query(nullptr)->Get("/console/");
  ASSERT_TRUE(page && page->status == 200) << Code(page);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'none'"),
            std::string::npos);
  EXPECT_EQ(Code(Query(nullptr)->Get("/console")), 301);
  EXPECT_EQ(Code(Query(nullptr)->Get("/console/console.js")), 200);
  EXPECT_EQ(Code(Query(nullptr)->Get("/console/console.css")), 200);
  EXPECT_EQ(Code(Query(nullptr)->Get("/console/secrets.txt")), 404);
}

TEST_F(SecurityTest, OversizedBodyIs413) {
  const std::string big = R"({"address":"a:1","type":"asset","currency":"USD","metadata":{"k":")" +
                          std::string(200000, 'x') + R"("}})";
  auto res = Command(kSubmitToken)->Post("/v1/instances/acme/accounts", big, kJson);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413) << res->body;
  v1::ErrorBody error;
  ASSERT_TRUE(http::ParseJson(res->body, error).ok()) << res->body;
  EXPECT_EQ(error.error().code(), "payload_too_large");
}

TEST_F(SecurityTest, ContentOverTheDomainLimitsIsRefusedWithFieldDetails) {
  // Within the body limit but over the domain limits (entries, metadata, batch size): 400 with
  // the field and code, nothing appended.
  auto details = [](const httplib::Result& res) {
    v1::ErrorBody body;
    EXPECT_TRUE(res && http::ParseJson(res->body, body).ok());
    std::string out;
    for (const auto& d : body.error().details()) out += d.field() + ":" + d.code() + " ";
    return out;
  };
  std::string entries;
  for (int i = 0; i < 101; ++i) {
    entries += std::string(i ? "," : "") +
               R"({"account":"a","direction":"debit","amount":1,"currency":"USD"})";
  }
  auto many = Command(kSubmitToken)
                  ->Post("/v1/instances/acme/transactions",
                         R"({"source":"s","source_idempk":"k","status":"posted","entries":[)" +
                             entries + "]}",
                         kJson);
  ASSERT_TRUE(many);
  EXPECT_EQ(many->status, 400) << many->body;
  EXPECT_NE(details(many).find("entries:too_many"), std::string::npos) << many->body;

  std::string metadata;
  for (int i = 0; i < 65; ++i) {
    metadata += std::string(i ? "," : "") + "\"k" + std::to_string(i) + "\":\"v\"";
  }
  auto tagged = Command(kSubmitToken)
                    ->Post("/v1/instances/acme/accounts",
                           R"({"address":"m:1","type":"asset","currency":"USD","metadata":{)" +
                               metadata + "}}",
                           kJson);
  ASSERT_TRUE(tagged);
  EXPECT_EQ(tagged->status, 400) << tagged->body;
  EXPECT_NE(details(tagged).find("metadata:too_many"), std::string::npos) << tagged->body;

  std::string commands;
  for (int i = 0; i < 1001; ++i) {
    commands += std::string(i ? "," : "") + R"({"instance_id":"acme","open_account":{}})";
  }
  auto batch =
      Command(kSubmitToken)->Post("/v1/batch", R"({"commands":[)" + commands + "]}", kJson);
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->status, 400) << batch->body.substr(0, 200);
  EXPECT_NE(batch->body.find("at most 1000"), std::string::npos) << batch->body.substr(0, 200);
}

// Runs last in the suite: every earlier request (refused ones included) has been logged by now.
TEST_F(SecurityTest, ZzNoSecretAppearsInTheProcessesLogs) {
  int logs = 0;
  bool refusal_logged = false;
  for (const auto& entry : fs::directory_iterator(cluster().log_dir())) {
    if (entry.path().extension() != ".log") continue;
    ++logs;
    const std::string text = ReadFile(entry.path());
    for (const char* secret :
         {kSubmitToken, kReaderToken, kAdminToken, kUnknownToken, kSaslPassword}) {
      EXPECT_EQ(text.find(secret), std::string::npos) << entry.path() << " contains " << secret;
    }
    refusal_logged = refusal_logged || text.find("refused 403") != std::string::npos;
  }
  EXPECT_GE(logs, 3);  // broker, command, processor
  EXPECT_TRUE(refusal_logged) << "refusals are logged (without the token)";
}

TEST(SecurityStartupTest, CommandAndProcessorRefuseToServeWithoutAnAuthChoice) {
  const TempDir scratch("kledger-security-startup");
  const std::string& dir = scratch.path();
  const std::vector<std::vector<std::string>> runs = {
      {KledgerBinary(), "command", "--bootstrap", "127.0.0.1:1", "--http", "127.0.0.1:0"},
      {KledgerBinary(), "processor", "--bootstrap", "127.0.0.1:1", "--http", "127.0.0.1:0",
       "--data-dir", dir + "/data"}};
  for (const auto& argv : runs) {
    const std::string log = dir + "/" + argv[1] + ".log";
    auto p = ChildProcess::Spawn(argv, log);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(p->Wait(std::chrono::seconds(20)), 2) << argv[1];
    const std::string text = ReadFile(log);
    EXPECT_NE(text.find("--auth-tokens"), std::string::npos) << text;
    EXPECT_NE(text.find("--insecure-no-auth"), std::string::npos) << text;
  }
}

// -X SSL/SASL settings reach librdkafka (it fails on the missing CA file they name) and the
// SASL password stays out of the log; an explicitly open API says so loudly.
TEST(SecurityStartupTest, KafkaSslSettingsReachLibrdkafkaAndTheSaslPasswordStaysOutOfTheLog) {
  const TempDir scratch("kledger-security-kafka");
  const std::string& dir = scratch.path();
  const std::string log = dir + "/command.log";
  auto p = ChildProcess::Spawn(
      {KledgerBinary(), "command", "--insecure-no-auth", "--bootstrap", "127.0.0.1:1", "--http",
       "127.0.0.1:0", "-X", "security.protocol=sasl_ssl", "-X", "sasl.mechanisms=PLAIN", "-X",
       "sasl.username=kledger", "-X", std::string("sasl.password=") + kSaslPassword, "-X",
       "ssl.ca.location=" + dir + "/no-such-ca.pem"},
      log);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const auto code = p->Wait(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  const std::string text = ReadFile(log);
  EXPECT_NE(text.find("no-such-ca.pem"), std::string::npos) << text;
  EXPECT_NE(text.find("AUTHENTICATION IS OFF"), std::string::npos) << text;
  EXPECT_EQ(text.find(kSaslPassword), std::string::npos) << text;
}

// A self-signed certificate for 127.0.0.1, made with the openssl CLI.
struct TlsFiles {
  std::string cert;
  std::string key;
};
TlsFiles MakeCertificate(const std::string& dir) {
  TlsFiles files{dir + "/cert.pem", dir + "/key.pem"};
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
      " -addext subjectAltName=IP:127.0.0.1 -keyout " +
      files.key + " -out " + files.cert + " 2>" + dir + "/openssl.log";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << ReadFile(dir + "/openssl.log");
  return files;
}

TEST(TlsTest, DevServesHttpsWithTheConfiguredCertificateOnly) {
  const TempDir scratch("kledger-security-tls");
  const std::string& dir = scratch.path();
  const TlsFiles tls = MakeCertificate(dir);
  const std::string tokens = WriteTokens(dir);
  const int port = FreePort();
  auto dev = ChildProcess::Spawn(
      {KledgerBinary(), "dev", "--partitions", "2", "--http", "127.0.0.1:" + std::to_string(port),
       "--tls-cert", tls.cert, "--tls-key", tls.key, "--auth-tokens", tokens},
      dir + "/dev.log");
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  auto banner = dev->ReadLine(std::chrono::seconds(30));
  ASSERT_TRUE(banner) << ReadFile(dir + "/dev.log");
  EXPECT_NE(banner->find("https://127.0.0.1:" + std::to_string(port)), std::string::npos)
      << *banner;

  // Trusting the certificate: the handshake succeeds, and auth applies over TLS too.
  httplib::SSLClient trusted("127.0.0.1", port);
  trusted.set_ca_cert_path(tls.cert.c_str());
  trusted.enable_server_certificate_verification(true);
  trusted.set_read_timeout(15, 0);
  auto health = trusted.Get("/healthz");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(trusted.Post("/v1/instances/acme/accounts", OpenAccount("a:1"), kJson)->status, 401);
  trusted.set_bearer_token_auth(kSubmitToken);
  auto accepted = trusted.Post("/v1/instances/acme/accounts", OpenAccount("a:1"), kJson);
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 202) << accepted->body;

  // Not trusting it: verification fails, no request is sent.
  httplib::SSLClient untrusted("127.0.0.1", port);
  untrusted.enable_server_certificate_verification(true);
  auto refused = untrusted.Get("/healthz");
  EXPECT_FALSE(refused);
  EXPECT_EQ(refused.error(), httplib::Error::SSLServerVerification);

  // Plain HTTP to the TLS port gets no answer.
  httplib::Client plain("127.0.0.1", port);
  plain.set_read_timeout(5, 0);
  auto cleartext = plain.Get("/healthz");
  EXPECT_FALSE(cleartext && cleartext->status == 200);

  dev->Signal(SIGTERM);
  EXPECT_EQ(dev->Wait(std::chrono::seconds(30)), 0);
  const std::string text = ReadFile(dir + "/dev.log");
  EXPECT_EQ(text.find(kSubmitToken), std::string::npos);
  EXPECT_EQ(text.find(ReadFile(tls.key).substr(40, 40)), std::string::npos);  // not the key
}

// librdkafka SSL/SASL settings given with -X reach librdkafka as given, and a secret among them
// is redacted from the errors that name a property.
TEST(KafkaSecurityPassThroughTest, SslAndSaslPropertiesReachLibrdkafka) {
  kafka::Properties props = {{"security.protocol", "sasl_ssl"},
                             {"ssl.ca.location", "/etc/kledger/ca.pem"},
                             {"sasl.mechanisms", "SCRAM-SHA-512"},
                             {"sasl.username", "kledger"},
                             {"sasl.password", kSaslPassword}};
  auto conf = kafka::internal::MakeConf(props);
  ASSERT_TRUE(conf.ok()) << conf.status().ToString();
  for (const auto& [key, value] : props) {
    char buf[256];
    size_t size = sizeof(buf);
    ASSERT_EQ(rd_kafka_conf_get(conf->get(), key.c_str(), buf, &size), RD_KAFKA_CONF_OK) << key;
    EXPECT_EQ(std::string(buf), value) << key;
  }
  auto bad = kafka::internal::MakeConf({{"sasl.password.typo", kSaslPassword}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("sasl.password.typo"), std::string::npos);
  EXPECT_EQ(bad.status().message().find(kSaslPassword), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace kledger::testing
