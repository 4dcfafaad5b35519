// Overflow-checked int64 money arithmetic, on the compiler builtins (exact and branch-cheap).
#include "common/domain/money.h"

namespace kledger::domain {

std::optional<int64_t> CheckedAdd(int64_t a, int64_t b) {
  int64_t out;
  if (__builtin_add_overflow(a, b, &out)) return std::nullopt;
  return out;
}

std::optional<int64_t> CheckedSub(int64_t a, int64_t b) {
  int64_t out;
  if (__builtin_sub_overflow(a, b, &out)) return std::nullopt;
  return out;
}

std::optional<int64_t> CheckedNeg(int64_t a) { return CheckedSub(0, a); }

void CheckedSum::Add(int64_t v) {
  if (overflowed_) return;
  overflowed_ = __builtin_add_overflow(value_, v, &value_);
}

void CheckedSum::Sub(int64_t v) {
  if (overflowed_) return;
  overflowed_ = __builtin_sub_overflow(value_, v, &value_);
}

std::optional<int64_t> CheckedSum::value() const {
  if (overflowed_) return std::nullopt;
  return value_;
}

}  // namespace kledger::domain
