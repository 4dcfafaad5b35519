// A progress bar for long operator work (demo, rebuild, redrive, benchmark) on stderr: redrawn
// in place on a terminal, a line per tenth of the work otherwise (logs, CI).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace kledger {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, std::FILE* out = stderr);
  ~ProgressBar();  // finishes the line if Finish() was not called

  // Sets how much is done; cheap enough to call per item (redraws at most 10 times a second).
  void Update(int64_t done);
  // Draws the final state and ends the line.
  void Finish();

 private:
  void Draw(bool final);

  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  std::FILE* out_;
  bool tty_;
  bool finished_ = false;
  int last_tenth_ = -1;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace kledger
