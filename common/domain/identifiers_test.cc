// Tests of the identifier syntax checks: boundaries of every pattern and its length limit.
#include "common/domain/identifiers.h"

#include <gtest/gtest.h>

#include <string>

namespace kledger::domain {
namespace {

TEST(IdentifiersTest, InstanceIdAcceptsTheWholeAlphabet) {
  EXPECT_TRUE(IsValidInstanceId("acme"));
  EXPECT_TRUE(IsValidInstanceId("a"));
  EXPECT_TRUE(IsValidInstanceId("Acme_Corp.eu-west:1"));
  EXPECT_TRUE(IsValidInstanceId(std::string(128, 'x')));
}

TEST(IdentifiersTest, InstanceIdRefusesEmptyLongAndForeignCharacters) {
  EXPECT_FALSE(IsValidInstanceId(""));
  EXPECT_FALSE(IsValidInstanceId(std::string(129, 'x')));
  using namespace std::string_literals;
  for (const std::string& bad : {"a b"s, "a/b"s, "a?b"s, "é"s, "a\nb"s, "a%20"s, "a\0b"s}) {
    EXPECT_FALSE(IsValidInstanceId(bad)) << bad;
  }
}

TEST(IdentifiersTest, AddressIsColonSeparatedWordSegments) {
  EXPECT_TRUE(IsValidAddress("cash"));
  EXPECT_TRUE(IsValidAddress("assets:bank:checking"));
  EXPECT_TRUE(IsValidAddress("user_42:wallet:USD"));
  EXPECT_TRUE(IsValidAddress(std::string(256, 'a')));
  for (const char* bad : {"", ":", "a:", ":a", "a::b", "a-b", "a.b", "a b", "a:b:"}) {
    EXPECT_FALSE(IsValidAddress(bad)) << bad;
  }
  EXPECT_FALSE(IsValidAddress(std::string(257, 'a')));
}

TEST(IdentifiersTest, CurrencyIsThreeToTwelveUpperAlnum) {
  EXPECT_TRUE(IsValidCurrency("USD"));
  EXPECT_TRUE(IsValidCurrency("USDC"));
  EXPECT_TRUE(IsValidCurrency("X1Y2Z3ABCDEF"));
  for (const char* bad : {"", "US", "usd", "Usd", "US D", "US-D", "ABCDEFGHIJKLM"}) {
    EXPECT_FALSE(IsValidCurrency(bad)) << bad;
  }
}

TEST(IdentifiersTest, SourceAndIdempotencyKeyLengths) {
  EXPECT_TRUE(IsValidSource("billing-service.v2"));
  EXPECT_TRUE(IsValidSource(std::string(128, 's')));
  EXPECT_FALSE(IsValidSource(std::string(129, 's')));
  EXPECT_FALSE(IsValidSource(""));
  EXPECT_FALSE(IsValidSource("a/b"));

  EXPECT_TRUE(IsValidIdempotencyKey("order:1234-5678_a.b"));
  EXPECT_TRUE(IsValidIdempotencyKey(std::string(256, 'k')));
  EXPECT_FALSE(IsValidIdempotencyKey(std::string(257, 'k')));
  EXPECT_FALSE(IsValidIdempotencyKey(""));
  EXPECT_FALSE(IsValidIdempotencyKey("a b"));
  EXPECT_FALSE(IsValidIdempotencyKey("a/b"));
}

TEST(IdentifiersTest, KeySafeIsNonEmptyWithoutNul) {
  EXPECT_TRUE(IsKeySafe("a"));
  EXPECT_TRUE(IsKeySafe("lower case/and slashes: not a valid address, yet key-safe"));
  EXPECT_FALSE(IsKeySafe(""));
  EXPECT_FALSE(IsKeySafe(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace kledger::domain
