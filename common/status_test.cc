#include "common/status.h"

#include <gtest/gtest.h>

namespace kledger {
namespace {

Result<int> Half(int n) {
  if (n % 2 != 0) return Status::InvalidArgument(std::to_string(n) + " is odd");
  return n / 2;
}

Result<int> Quarter(int n) {
  ASSIGN_OR_RETURN(int half, Half(n));
  ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

Status CheckEven(int n) {
  RETURN_IF_ERROR(Half(n).status());
  return Status::Ok();
}

TEST(StatusTest, OkByDefaultAndNamedFactoriesCarryCodeAndMessage) {
  EXPECT_TRUE(Status().ok());
  Status s = Status::NotFound("account 'cash' does not exist");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NotFound: account 'cash' does not exist");
  EXPECT_EQ(s.WithContext("query").message(), "query: account 'cash' does not exist");
  EXPECT_EQ(Status::Ok().WithContext("x"), Status::Ok());
}

TEST(StatusTest, AnyCodeCanBeMadeAndFatalIsNotInternal) {
  const Status fatal(StatusCode::kFatal, "producer fenced");
  EXPECT_EQ(fatal, Status::Fatal("producer fenced"));
  EXPECT_EQ(fatal.ToString(), "Fatal: producer fenced");
  EXPECT_NE(fatal.code(), Status::Internal("producer fenced").code());
  EXPECT_EQ(Status(StatusCode::kTimeout, "late"), Status::Timeout("late"));
  EXPECT_TRUE(Status(StatusCode::kOk, "").ok());
}

TEST(StatusTest, MacrosPropagateTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> odd = Quarter(6);  // 6 -> 3 -> odd
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.status().message(), "3 is odd");
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(5).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kledger
