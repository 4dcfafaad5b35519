// Every transition of a partition's state machine (partition_state.h), one test each.
#include "processors/partition_state.h"

#include <gtest/gtest.h>

namespace kledger::processors {
namespace {

using Phase = PartitionState::Phase;
using std::chrono::milliseconds;

class PartitionStateTest : public ::testing::Test {
 protected:
  Phase Fail(PartitionState& state, int64_t offset, ApplyFailure failure = ApplyFailure::kStorage) {
    return state.Failed(offset, {failure, Status::IoError("injected")}, policy_, now_, wall_ms_,
                        jitter_);
  }
  // Fails the record at `offset` until its attempts run out.
  void Exhaust(PartitionState& state, int64_t offset) {
    for (int attempt = 1; attempt < policy_.max_attempts; ++attempt) {
      ASSERT_EQ(Fail(state, offset), Phase::kBackingOff);
      ASSERT_TRUE(state.ResumeIfDue(state.resume_at()));
    }
    ASSERT_NE(Fail(state, offset), Phase::kBackingOff);
  }

  RetryPolicy policy_{.base = milliseconds(100), .cap = milliseconds(1000), .max_attempts = 3};
  PartitionState::Clock::time_point now_ = PartitionState::Clock::now();
  int64_t wall_ms_ = 1'700'000'000'000;
  std::mt19937_64 jitter_{42};
};

TEST_F(PartitionStateTest, AssignedFlowingOrHaltedWithItsReason) {
  PartitionState flowing;
  EXPECT_EQ(flowing.phase(), Phase::kFlowing);
  EXPECT_TRUE(flowing.IsFetched());
  EXPECT_FALSE(flowing.AppliesOneByOne());
  PartitionState halted("cannot read the stored offset");
  EXPECT_EQ(halted.phase(), Phase::kHalted);
  EXPECT_EQ(halted.halted_reason(), "cannot read the stored offset");
  EXPECT_FALSE(halted.IsFetched());
}

TEST_F(PartitionStateTest, FlowingToBackingOffOnAFailureUntilTheBackoffIsDue) {
  PartitionState state;
  EXPECT_EQ(Fail(state, 7, ApplyFailure::kDeadLetterWrite), Phase::kBackingOff);
  EXPECT_FALSE(state.IsFetched());
  EXPECT_EQ(state.failing_offset(), 7);
  EXPECT_EQ(state.attempts(), 1);
  EXPECT_EQ(state.first_failure_ms(), wall_ms_);
  EXPECT_EQ(state.last_failure(), ApplyFailure::kDeadLetterWrite);
  EXPECT_EQ(state.last_error().message(), "injected");
  // Equal jitter of the first backoff: between half the base and all of it.
  EXPECT_GE(state.resume_at() - now_, milliseconds(50));
  EXPECT_LE(state.resume_at() - now_, milliseconds(100));
}

TEST_F(PartitionStateTest, BackingOffToRetryingWhenDueAndNotBefore) {
  PartitionState state;
  Fail(state, 7);
  EXPECT_FALSE(state.ResumeIfDue(state.resume_at() - milliseconds(1)));
  EXPECT_EQ(state.phase(), Phase::kBackingOff);
  EXPECT_TRUE(state.ResumeIfDue(state.resume_at()));
  EXPECT_EQ(state.phase(), Phase::kRetrying);
  EXPECT_TRUE(state.AppliesOneByOne());
  EXPECT_FALSE(state.ResumeIfDue(state.resume_at() + milliseconds(1)));  // once
}

TEST_F(PartitionStateTest, RetryingToBackingOffCountsTheAttemptAndKeepsTheFirstFailureTime) {
  PartitionState state;
  Fail(state, 7);
  state.ResumeIfDue(state.resume_at());
  wall_ms_ += 500;
  EXPECT_EQ(Fail(state, 7), Phase::kBackingOff);
  EXPECT_EQ(state.attempts(), 2);
  EXPECT_EQ(state.first_failure_ms(), wall_ms_ - 500);
}

TEST_F(PartitionStateTest, RetryingToFlowingWhenTheRecordIsAppliedAndItsAttemptsAreForgotten) {
  PartitionState state;
  Fail(state, 7);
  state.ResumeIfDue(state.resume_at());
  EXPECT_EQ(state.Applied(), 1);
  EXPECT_EQ(state.phase(), Phase::kFlowing);
  EXPECT_EQ(state.attempts(), 0);
  EXPECT_EQ(Fail(state, 9), Phase::kBackingOff);  // another record starts from attempt 1
  EXPECT_EQ(state.attempts(), 1);
  EXPECT_EQ(state.failing_offset(), 9);
}

TEST_F(PartitionStateTest, AppliedWhileFlowingChangesNothing) {
  PartitionState state;
  EXPECT_EQ(state.Applied(), 0);
  EXPECT_EQ(state.phase(), Phase::kFlowing);
}

TEST_F(PartitionStateTest, RetryingToDeadLetteringWhenTheAttemptsRunOut) {
  PartitionState state;
  Exhaust(state, 7);
  EXPECT_EQ(state.phase(), Phase::kDeadLettering);
  EXPECT_TRUE(state.AppliesOneByOne());
  EXPECT_TRUE(state.IsFetched());  // read again at once: dead-lettering needs no backoff
  EXPECT_EQ(state.attempts(), 3);
  EXPECT_EQ(state.failing_offset(), 7);
}

TEST_F(PartitionStateTest, RetryingToHaltedWhenTheAttemptsRunOutAndThePolicyHalts) {
  policy_.halt_when_exhausted = true;
  PartitionState state;
  Exhaust(state, 7);
  EXPECT_EQ(state.phase(), Phase::kHalted);
  EXPECT_EQ(state.halted_reason(),
            "offset 7 failed 3 times: " + Status::IoError("injected").ToString());
  EXPECT_FALSE(state.IsFetched());
}

TEST_F(PartitionStateTest, DeadLetteringToFlowingOnceDeadLettered) {
  PartitionState state;
  Exhaust(state, 7);
  state.DeadLettered();
  EXPECT_EQ(state.phase(), Phase::kFlowing);
  EXPECT_EQ(state.attempts(), 0);
  EXPECT_EQ(state.failing_offset(), -1);
}

TEST_F(PartitionStateTest, DeadLetteringBacksOffWhenItFailsAndResumesDeadLetteringNotRetrying) {
  PartitionState state;
  Exhaust(state, 7);
  state.DeadLetterFailed(policy_, now_, jitter_);
  EXPECT_EQ(state.phase(), Phase::kBackingOff);
  EXPECT_EQ(state.attempts(), 3);  // attempts to apply; a dead letter's failures are not those
  EXPECT_TRUE(state.ResumeIfDue(state.resume_at()));
  EXPECT_EQ(state.phase(), Phase::kDeadLettering);  // never applied once its attempts ran out
  state.DeadLettered();
  EXPECT_EQ(Fail(state, 8), Phase::kBackingOff);  // the next failure backs off again
  EXPECT_TRUE(state.ResumeIfDue(state.resume_at()));
  EXPECT_EQ(state.phase(), Phase::kRetrying);
}

TEST_F(PartitionStateTest, AnyPhaseToHalted) {
  for (int steps = 0; steps < 4; ++steps) {
    PartitionState state;
    if (steps == 3) {
      Exhaust(state, 7);  // dead-lettering
    } else {
      if (steps >= 1) Fail(state, 7);                        // backing off
      if (steps >= 2) state.ResumeIfDue(state.resume_at());  // retrying
    }
    state.Halt("the log starts above the stored offset");
    EXPECT_EQ(state.phase(), Phase::kHalted) << steps;
    EXPECT_EQ(state.halted_reason(), "the log starts above the stored offset");
    EXPECT_FALSE(state.ResumeIfDue(state.resume_at() + std::chrono::hours(1)));
  }
}

TEST(PartitionStateBackoffTest, DoublesFromTheBaseUpToTheCapWithEqualJitter) {
  const RetryPolicy policy{.base = milliseconds(100), .cap = milliseconds(1000)};
  std::mt19937_64 jitter(1);
  const int64_t expected_full[] = {100, 200, 400, 800, 1000, 1000};
  for (int attempts = 1; attempts <= 6; ++attempts) {
    const int64_t full = expected_full[attempts - 1];
    for (int draw = 0; draw < 50; ++draw) {
      const int64_t backoff = PartitionState::Backoff(attempts, policy, jitter).count();
      EXPECT_GE(backoff, full / 2) << attempts;
      EXPECT_LE(backoff, full) << attempts;
    }
  }
}

}  // namespace
}  // namespace kledger::processors
