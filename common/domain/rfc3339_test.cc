// Tests of the RFC 3339 parser: the fields it reads, the separator choice, leap seconds, and
// the malformed or impossible times it refuses.
#include "common/domain/rfc3339.h"

#include <gtest/gtest.h>

namespace kledger::domain {
namespace {

TEST(Rfc3339Test, ReadsEveryField) {
  auto t = ParseRfc3339("2024-02-29T23:59:60.123456+05:30");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->year, 2024);
  EXPECT_EQ(t->month, 2);
  EXPECT_EQ(t->day, 29);
  EXPECT_EQ(t->hour, 23);
  EXPECT_EQ(t->minute, 59);
  EXPECT_EQ(t->second, 60);
  EXPECT_EQ(t->millisecond, 123);
  EXPECT_EQ(t->offset_minutes, 330);

  t = ParseRfc3339("1999-12-31t00:00:00.5z");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->millisecond, 500);
  EXPECT_EQ(t->offset_minutes, 0);
  t = ParseRfc3339("2024-06-01T00:00:00-07:15");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->millisecond, 0);
  EXPECT_EQ(t->offset_minutes, -435);
}

TEST(Rfc3339Test, ASpaceSeparatesOnlyWhenAllowed) {
  EXPECT_FALSE(ParseRfc3339("2024-05-01 12:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("2024-05-01 12:00:00Z", Rfc3339Separator::kT));
  auto t = ParseRfc3339("2024-05-01 12:00:00Z", Rfc3339Separator::kTOrSpace);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->hour, 12);
  EXPECT_TRUE(ParseRfc3339("2024-05-01T12:00:00Z", Rfc3339Separator::kTOrSpace));
  EXPECT_TRUE(ParseRfc3339("2024-05-01t12:00:00Z", Rfc3339Separator::kTOrSpace));
  EXPECT_FALSE(ParseRfc3339("2024-05-01_12:00:00Z", Rfc3339Separator::kTOrSpace));
}

TEST(Rfc3339Test, RefusesMalformedOrImpossibleTimes) {
  for (const char* bad : {"",
                          "yesterday",
                          "12:00:00",
                          "2024-01-31",
                          "2024-01-31T12:00Z",
                          "2024-01-31T12:00:00",
                          "2024-13-01T00:00:00Z",
                          "2024-00-01T00:00:00Z",
                          "2024-01-00T00:00:00Z",
                          "2023-02-29T00:00:00Z",
                          "2100-02-29T00:00:00Z",
                          "2024-04-31T00:00:00Z",
                          "2024-01-31T24:00:00Z",
                          "2024-01-31T12:60:00Z",
                          "2024-01-31T12:00:61Z",
                          "2024-01-31T12:00:00.Z",
                          "2024-01-31T12:00:00+0100",
                          "2024-01-31T12:00:00+01",
                          "2024-01-31T12:00:00+24:00",
                          "2024-01-31T12:00:00+01:60",
                          "2024-01-31T12:00:00Zjunk",
                          " 2024-01-31T12:00:00Z",
                          "2024-1-31T12:00:00Z",
                          "+024-01-31T12:00:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad)) << "'" << bad << "'";
    EXPECT_FALSE(ParseRfc3339(bad, Rfc3339Separator::kTOrSpace)) << "'" << bad << "'";
  }
  EXPECT_TRUE(ParseRfc3339("2000-02-29T00:00:00Z"));  // divisible by 400: a leap year
}

}  // namespace
}  // namespace kledger::domain
