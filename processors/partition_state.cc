#include "processors/partition_state.h"

#include <algorithm>
#include <cassert>

namespace kledger::processors {

PartitionState::PartitionState(std::string halted) {
  if (!halted.empty()) Halt(std::move(halted));
}

PartitionState::Phase PartitionState::Failed(int64_t offset,
                                             const TypedStatus<ApplyFailure>& failed,
                                             const RetryPolicy& policy, Clock::time_point now,
                                             int64_t now_wall_ms, std::mt19937_64& jitter) {
  assert(phase_ == Phase::kFlowing || phase_ == Phase::kRetrying);
  if (offset != failing_offset_ || attempts_ == 0) {
    // A record failing for the first time: its attempts start from one.
    failing_offset_ = offset;
    attempts_ = 0;
    first_failure_ms_ = now_wall_ms;
  }
  ++attempts_;
  last_failure_ = failed.kind();
  last_error_ = failed.status();
  if (attempts_ < policy.max_attempts) {
    BackOff(policy, now, jitter);
  } else if (policy.halt_when_exhausted) {
    Halt("offset " + std::to_string(offset) + " failed " + std::to_string(attempts_) +
         " times: " + failed.status().ToString());
  } else {
    phase_ = Phase::kDeadLettering;
  }
  return phase_;
}

void PartitionState::DeadLetterFailed(const RetryPolicy& policy, Clock::time_point now,
                                      std::mt19937_64& jitter) {
  assert(phase_ == Phase::kDeadLettering);
  exhausted_ = true;
  BackOff(policy, now, jitter);
}

bool PartitionState::ResumeIfDue(Clock::time_point now) {
  if (phase_ != Phase::kBackingOff || now < resume_at_) return false;
  phase_ = exhausted_ ? Phase::kDeadLettering : Phase::kRetrying;
  return true;
}

int PartitionState::Applied() {
  const int failed = attempts_;
  if (phase_ == Phase::kRetrying) phase_ = Phase::kFlowing;
  Forget();
  return failed;
}

void PartitionState::DeadLettered() {
  assert(phase_ == Phase::kDeadLettering);
  phase_ = Phase::kFlowing;
  Forget();
}

void PartitionState::Halt(std::string why) {
  phase_ = Phase::kHalted;
  halted_reason_ = std::move(why);
  Forget();
}

std::chrono::milliseconds PartitionState::Backoff(int attempts, const RetryPolicy& policy,
                                                  std::mt19937_64& jitter) {
  const int64_t base = policy.base.count();
  const int64_t cap = policy.cap.count();
  int64_t backoff = base;
  for (int i = 1; i < attempts && backoff < cap; ++i) backoff *= 2;
  backoff = std::min(backoff, cap);
  // Equal jitter: processors retrying the same broken dependency do not retry in lockstep.
  const int64_t half = backoff / 2;
  return std::chrono::milliseconds(half + static_cast<int64_t>(jitter() % (half + 1)));
}

void PartitionState::BackOff(const RetryPolicy& policy, Clock::time_point now,
                             std::mt19937_64& jitter) {
  phase_ = Phase::kBackingOff;
  resume_at_ = now + Backoff(attempts_, policy, jitter);
}

void PartitionState::Forget() {
  exhausted_ = false;
  failing_offset_ = -1;
  attempts_ = 0;
  first_failure_ms_ = 0;
  last_error_ = Status::Ok();
}

std::string_view Name(PartitionState::Phase phase) {
  switch (phase) {
    case PartitionState::Phase::kFlowing:
      return "flowing";
    case PartitionState::Phase::kBackingOff:
      return "backing_off";
    case PartitionState::Phase::kRetrying:
      return "retrying";
    case PartitionState::Phase::kDeadLettering:
      return "dead_lettering";
    case PartitionState::Phase::kHalted:
      return "halted";
  }
  return "unknown";
}

}  // namespace kledger::processors
