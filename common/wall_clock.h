// Wall-clock milliseconds since the Unix epoch: for informational stamps and latency figures
// only — nothing that decides an outcome may read the clock (SPEC §4, determinism).
#pragma once

#include <chrono>
#include <cstdint>

namespace kledger {

inline int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace kledger
