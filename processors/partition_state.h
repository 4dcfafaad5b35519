// What one owned partition is doing, and the rules that move it from one phase to the next: the
// processor's retry, dead-letter and halt decisions as a pure state machine (no Kafka, no store),
// unit-tested transition by transition. The processor acts on each transition (pause, seek,
// dead-letter); the diagram is in README.md, "One poll, from poll to commit".
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include "common/status.h"
#include "processors/failure.h"

namespace kledger::processors {

// How failures of one record are retried, and what happens when they run out.
struct RetryPolicy {
  // Backoff before attempt n+1: base * 2^(n-1), at most the cap, then between half of that and
  // all of it (equal jitter).
  std::chrono::milliseconds base{100};   // first backoff; default 100 ms
  std::chrono::milliseconds cap{10000};  // longest backoff; default 10 s
  int max_attempts = 5;                  // attempts before giving up; default 5
  bool halt_when_exhausted = false;      // halt instead of dead-lettering; default false
};

class PartitionState {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Phase {
    kFlowing,        // polled records are applied in batches, many per commit
    kBackingOff,     // paused until resume_at(): a record failed and waits for its next attempt
    kRetrying,       // the failing record's next attempt is due: one record per commit
    kDeadLettering,  // its attempts ran out: it is dead-lettered, never applied, before the rest
    kHalted,         // nothing more is applied until a restart (halted_reason() says why)
  };

  // A partition as assigned: flowing, or halted with `halted` as the reason when not empty.
  explicit PartitionState(std::string halted = "");

  Phase phase() const { return phase_; }
  bool IsFlowing() const { return phase_ == Phase::kFlowing; }
  bool IsHalted() const { return phase_ == Phase::kHalted; }
  bool IsBackingOff() const { return phase_ == Phase::kBackingOff; }
  // Whether its records are applied one per commit, so that the failing one is found alone.
  bool AppliesOneByOne() const {
    return phase_ == Phase::kRetrying || phase_ == Phase::kDeadLettering;
  }
  // Whether the consumer should fetch it: not paused for a backoff, not halted.
  bool IsFetched() const { return !IsBackingOff() && !IsHalted(); }

  // The failing record (valid from the first failure until it is applied or dead-lettered).
  int64_t failing_offset() const { return failing_offset_; }
  int attempts() const { return attempts_; }
  int64_t first_failure_ms() const { return first_failure_ms_; }  // wall clock of attempt 1
  ApplyFailure last_failure() const { return last_failure_; }
  const Status& last_error() const { return last_error_; }
  Clock::time_point resume_at() const { return resume_at_; }  // while backing off
  const std::string& halted_reason() const { return halted_reason_; }

  // The record at `offset` failed to apply (`failed`): one attempt more. Then
  // kBackingOff (until now + the backoff), or when the attempts are exhausted kDeadLettering, or
  // kHalted when the policy says so. Returns the new phase. Requires kFlowing or kRetrying.
  Phase Failed(int64_t offset, const TypedStatus<ApplyFailure>& failed, const RetryPolicy& policy,
               Clock::time_point now, int64_t now_wall_ms, std::mt19937_64& jitter);
  // The exhausted record could not be dead-lettered yet (the letter or its outcome's commit
  // failed): kBackingOff, and kDeadLettering again when due. Requires kDeadLettering.
  void DeadLetterFailed(const RetryPolicy& policy, Clock::time_point now, std::mt19937_64& jitter);
  // When a backoff is over at `now`: kRetrying (or kDeadLettering when that is what it was
  // backing off from). Returns whether it resumed.
  bool ResumeIfDue(Clock::time_point now);
  // The failing record was applied: kFlowing. Returns the attempts that had failed (0 when it
  // was flowing anyway).
  int Applied();
  // The exhausted record is dead-lettered and its outcome committed: kFlowing.
  void DeadLettered();
  // Stops the partition for good (until a restart). Any phase.
  void Halt(std::string why);

  // The backoff before the attempt after `attempts` failed ones.
  static std::chrono::milliseconds Backoff(int attempts, const RetryPolicy& policy,
                                           std::mt19937_64& jitter);

 private:
  void BackOff(const RetryPolicy& policy, Clock::time_point now, std::mt19937_64& jitter);
  void Forget();  // the failing record is done with

  Phase phase_ = Phase::kFlowing;
  bool exhausted_ = false;  // backing off from kDeadLettering rather than from an attempt
  int64_t failing_offset_ = -1;
  int attempts_ = 0;
  int64_t first_failure_ms_ = 0;
  ApplyFailure last_failure_ = ApplyFailure::kStorage;
  Status last_error_;
  Clock::time_point resume_at_;
  std::string halted_reason_;
};

// "flowing", "backing_off", ... for logs.
std::string_view Name(PartitionState::Phase phase);

}  // namespace kledger::processors
