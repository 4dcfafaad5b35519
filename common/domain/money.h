// Money arithmetic: signed 64-bit minor units where every operation is overflow-checked, so an
// overflow becomes a rejection rather than a silently wrapped balance.
#pragma once

#include <cstdint>
#include <optional>

namespace kledger::domain {

// a + b, or nullopt when the exact result does not fit in int64.
std::optional<int64_t> CheckedAdd(int64_t a, int64_t b);

// a - b, or nullopt when the exact result does not fit in int64.
std::optional<int64_t> CheckedSub(int64_t a, int64_t b);

// -a, or nullopt for INT64_MIN (whose negation does not fit).
std::optional<int64_t> CheckedNeg(int64_t a);

// A running sum that remembers whether it ever overflowed, so loops can add without checking
// each step and test once at the end. Once overflowed it stays overflowed.
class CheckedSum {
 public:
  CheckedSum() = default;
  explicit CheckedSum(int64_t initial) : value_(initial) {}

  void Add(int64_t v);
  void Sub(int64_t v);

  bool overflowed() const { return overflowed_; }
  // The sum, or nullopt if any step overflowed.
  std::optional<int64_t> value() const;

 private:
  int64_t value_ = 0;
  bool overflowed_ = false;
};

}  // namespace kledger::domain
