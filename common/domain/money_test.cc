// Tests of overflow-checked money arithmetic at the edges of int64.
#include "common/domain/money.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace kledger::domain {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

TEST(MoneyTest, CheckedAddInRangeAndAtTheEdges) {
  EXPECT_EQ(CheckedAdd(2, 3), 5);
  EXPECT_EQ(CheckedAdd(kMax, 0), kMax);
  EXPECT_EQ(CheckedAdd(kMax, kMin), -1);
  EXPECT_EQ(CheckedAdd(kMax, 1), std::nullopt);
  EXPECT_EQ(CheckedAdd(kMax, kMax), std::nullopt);
  EXPECT_EQ(CheckedAdd(kMin, -1), std::nullopt);
}

TEST(MoneyTest, CheckedSubAndNeg) {
  EXPECT_EQ(CheckedSub(5, 7), -2);
  EXPECT_EQ(CheckedSub(kMin, 1), std::nullopt);
  EXPECT_EQ(CheckedSub(0, kMin), std::nullopt);
  EXPECT_EQ(CheckedSub(-1, kMax), kMin);
  EXPECT_EQ(CheckedNeg(42), -42);
  EXPECT_EQ(CheckedNeg(kMax), kMin + 1);
  EXPECT_EQ(CheckedNeg(kMin), std::nullopt);
}

TEST(MoneyTest, CheckedSumRemembersOverflowForever) {
  CheckedSum sum;
  sum.Add(kMax);
  EXPECT_EQ(sum.value(), kMax);
  sum.Add(1);
  EXPECT_TRUE(sum.overflowed());
  // Subtracting back into range must not hide the earlier overflow.
  sum.Sub(1);
  EXPECT_TRUE(sum.overflowed());
  EXPECT_EQ(sum.value(), std::nullopt);

  CheckedSum down(kMin);
  down.Sub(1);
  EXPECT_TRUE(down.overflowed());

  CheckedSum fine(10);
  fine.Sub(25);
  fine.Add(5);
  EXPECT_FALSE(fine.overflowed());
  EXPECT_EQ(fine.value(), -10);
}

}  // namespace
}  // namespace kledger::domain
