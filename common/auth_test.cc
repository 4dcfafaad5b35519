// Tests of the token file parser and the authorization decision (401 vs 403, globs, hashing).
#include "common/auth.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace kledger::auth {
namespace {

constexpr char kAcme[] = "acme-submitter-0123456789";
constexpr char kReader[] = "reader-token-abcdefghijkl";
constexpr char kAdmin[] = "admin-token-zyxwvutsrqpo";
// printf %s hashed-token-0123456789 | sha256sum
constexpr char kHashedPlain[] = "hashed-token-0123456789";

std::shared_ptr<const Authorizer> Load(const std::string& text) {
  auto a = Authorizer::FromText(text, "tokens.txt");
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  return a.ok() ? *a : nullptr;
}

TEST(AuthorizerTest, ParsesGrantsCommentsAndBlankLines) {
  auto a = Load(std::string("# who may do what\n\n") + kAcme + "  acme*\tsubmit,query\r\n" +
                kReader + " * query\n   \n" + kAdmin + " * admin,query,submit\n");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->enabled());
  EXPECT_EQ(a->size(), 3u);
}

TEST(AuthorizerTest, DistinguishesUnauthenticatedFromForbidden) {
  auto a = Load(std::string(kAcme) + " acme* submit,query\n" + kReader + " * query\n" + kAdmin +
                " * admin\n");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->Authorize(kAcme, "acme", Right::kSubmit).allowed());
  EXPECT_TRUE(a->Authorize(kAcme, "acme-eu", Right::kQuery).allowed());
  // Wrong instance, wrong right: known token, 403.
  EXPECT_EQ(a->Authorize(kAcme, "beta", Right::kSubmit).http_status(), 403);
  EXPECT_EQ(a->Authorize(kAcme, "acme", Right::kAdmin).http_status(), 403);
  EXPECT_EQ(a->Authorize(kReader, "beta", Right::kSubmit).http_status(), 403);
  EXPECT_TRUE(a->Authorize(kReader, "beta", Right::kQuery).allowed());
  // Missing or unknown token: 401.
  EXPECT_EQ(a->Authorize("", "acme", Right::kQuery).http_status(), 401);
  EXPECT_EQ(a->Authorize("no-such-token-0123456789", "acme", Right::kQuery).http_status(), 401);
  EXPECT_EQ(a->Authorize(std::string(kAcme) + "x", "acme", Right::kQuery).http_status(), 401);
  // Every-instance routes need the "*" pattern; some-instance needs the right anywhere.
  EXPECT_TRUE(a->Authorize(kAdmin, kAllInstances, Right::kAdmin).allowed());
  EXPECT_EQ(a->Authorize(kAcme, kAllInstances, Right::kQuery).http_status(), 403);
  EXPECT_TRUE(a->Authorize(kAcme, kAnyInstance, Right::kSubmit).allowed());
  EXPECT_EQ(a->Authorize(kReader, kAnyInstance, Right::kSubmit).http_status(), 403);
}

TEST(AuthorizerTest, GrantsOfOneTokenAddUp) {
  auto a = Load(std::string(kAcme) + " acme submit\n" + kAcme + " beta query\n");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->Authorize(kAcme, "acme", Right::kSubmit).allowed());
  EXPECT_TRUE(a->Authorize(kAcme, "beta", Right::kQuery).allowed());
  EXPECT_FALSE(a->Authorize(kAcme, "beta", Right::kSubmit).allowed());
  EXPECT_FALSE(a->Authorize(kAcme, "acme", Right::kQuery).allowed());
}

TEST(AuthorizerTest, IdentifyShowsATokensOwnGrantsOnly) {
  auto a = Load(std::string(kAcme) + " acme submit\n" + kReader + " * query\n" + kAcme +
                " beta* query,admin\n");
  ASSERT_TRUE(a);
  const Authorizer::Identity acme = a->Identify(kAcme);
  EXPECT_TRUE(acme.decision.allowed());
  EXPECT_EQ(acme.decision.token_id, a->Authorize(kAcme, "acme", Right::kSubmit).token_id);
  ASSERT_EQ(acme.grants.size(), 2u) << "the reader's line is not the acme token's";
  EXPECT_EQ(acme.grants[0].pattern, "acme");
  EXPECT_EQ(acme.grants[0].rights, std::vector<Right>{Right::kSubmit});
  EXPECT_EQ(acme.grants[1].pattern, "beta*");
  EXPECT_EQ(acme.grants[1].rights, (std::vector<Right>{Right::kQuery, Right::kAdmin}));
  // A token without the submit right anywhere is still known.
  const Authorizer::Identity reader = a->Identify(kReader);
  EXPECT_TRUE(reader.decision.allowed());
  ASSERT_EQ(reader.grants.size(), 1u);
  EXPECT_EQ(reader.grants[0].rights, std::vector<Right>{Right::kQuery});
  for (const char* unknown : {"", "no-such-token-0123456789"}) {
    const Authorizer::Identity nobody = a->Identify(unknown);
    EXPECT_EQ(nobody.decision.http_status(), 401) << unknown;
    EXPECT_TRUE(nobody.grants.empty()) << unknown;
  }
  // Authentication off: anyone may do everything everywhere.
  const Authorizer::Identity open = Authorizer::AllowAll()->Identify("");
  EXPECT_TRUE(open.decision.allowed());
  ASSERT_EQ(open.grants.size(), 1u);
  EXPECT_EQ(open.grants[0].pattern, "*");
  EXPECT_EQ(open.grants[0].rights,
            (std::vector<Right>{Right::kSubmit, Right::kQuery, Right::kAdmin}));
}

TEST(AuthorizerTest, AcceptsSha256HashedTokens) {
  // The digest as `printf %s hashed-token-0123456789 | sha256sum` prints it.
  FILE* pipe = popen("printf %s hashed-token-0123456789 | sha256sum", "r");
  ASSERT_NE(pipe, nullptr);
  char hex[65] = {0};
  ASSERT_EQ(fread(hex, 1, 64, pipe), 64u);
  pclose(pipe);
  auto a = Load(std::string("sha256:") + hex + " shop-? query\n");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->Authorize(kHashedPlain, "shop-1", Right::kQuery).allowed());
  EXPECT_EQ(a->Authorize(kHashedPlain, "shop-12", Right::kQuery).http_status(), 403);
  // The hash itself is not a token.
  EXPECT_EQ(a->Authorize(std::string("sha256:") + hex, "shop-1", Right::kQuery).http_status(), 401);
}

TEST(AuthorizerTest, ErrorsNameTheLineButNeverTheToken) {
  const std::string secret = "very-secret-token-0123456789";
  struct Case {
    std::string text;
    std::string expected;
  };
  const Case cases[] = {
      {"# ok\n" + secret + " acme\n", "tokens.txt:2: has 2 fields instead of 3"},
      {secret + " acme submit extra\n", "tokens.txt:1: has 4 fields"},
      {secret + " acme submit,write\n", "unknown right 'write'"},
      {"short acme submit\n", "shorter than 16 characters"},
      {"sha256:abc acme submit\n", "64 hex digits"},
      {"sha256:" + std::string(64, 'g') + " acme submit\n", "64 hex digits"},
      {"# only comments\n\n", "grants nothing"},
  };
  for (const Case& c : cases) {
    auto a = Authorizer::FromText(c.text, "tokens.txt");
    ASSERT_FALSE(a.ok()) << c.text;
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(a.status().message().find(c.expected), std::string::npos) << a.status().message();
    EXPECT_EQ(a.status().message().find(secret), std::string::npos) << a.status().message();
  }
}

TEST(AuthorizerTest, ReadsFilesAndNamesAnUnreadableOne) {
  const std::string path = ::testing::TempDir() + "/kledger-auth-test-tokens";
  std::ofstream(path) << kAcme << " * query\n";
  auto a = Authorizer::FromFile(path);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE((*a)->Authorize(kAcme, "x", Right::kQuery).allowed());
  std::remove(path.c_str());
  auto missing = Authorizer::FromFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
}

TEST(AuthorizerTest, AllowAllAllowsEverythingAndSaysItIsOff) {
  auto a = Authorizer::AllowAll();
  EXPECT_FALSE(a->enabled());
  EXPECT_TRUE(a->Authorize("", "acme", Right::kAdmin).allowed());
}

TEST(AuthorizerTest, RefusalsIdentifyTheTokenOnlyByADigestPrefix) {
  auto a = Load(std::string(kAcme) + " acme query\n");
  ASSERT_TRUE(a);
  const Decision d = a->Authorize(kAcme, "beta", Right::kQuery);
  EXPECT_EQ(d.token_id.rfind("sha256:", 0), 0u);
  EXPECT_EQ(d.token_id.size(), 7u + 12u);
  EXPECT_EQ(d.reason.find(kAcme), std::string::npos);
}

TEST(BearerTokenTest, TakesTheTokenOfTheBearerSchemeOnly) {
  EXPECT_EQ(BearerToken("Bearer abc"), "abc");
  EXPECT_EQ(BearerToken("bearer   abc  "), "abc");
  EXPECT_EQ(BearerToken("Basic dXNlcjpwYXNz"), "");
  EXPECT_EQ(BearerToken("Bearer "), "");
  EXPECT_EQ(BearerToken(""), "");
}

}  // namespace
}  // namespace kledger::auth
