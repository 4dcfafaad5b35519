#include "common/progress.h"

#include <unistd.h>

#include <algorithm>

namespace kledger {

ProgressBar::ProgressBar(std::string label, int64_t total, std::FILE* out)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      out_(out),
      tty_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  if (!finished_) Finish();
}

void ProgressBar::Update(int64_t done) {
  done_ = std::min(done, total_);
  const auto now = std::chrono::steady_clock::now();
  const int tenth = static_cast<int>(done_ * 10 / total_);
  if (tty_ ? now - last_draw_ >= std::chrono::milliseconds(100) : tenth != last_tenth_) {
    last_draw_ = now;
    last_tenth_ = tenth;
    Draw(false);
  }
}

void ProgressBar::Finish() {
  finished_ = true;
  // Off a terminal the last tenth's line may already show the final state.
  if (tty_ || last_tenth_ != 10 || done_ != total_) Draw(true);
}

void ProgressBar::Draw(bool final) {
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(done_ * kWidth / total_);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  // A bar made after the work began (its total known late) has no honest rate for a moment.
  const double rate = seconds > 0.05 ? done_ / seconds : 0;
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  std::fprintf(out_, "%s%s [%s] %lld/%lld %.0f/s%s", tty_ ? "\r" : "", label_.c_str(), bar.c_str(),
               static_cast<long long>(done_), static_cast<long long>(total_), rate,
               (final || !tty_) ? "\n" : "");
  std::fflush(out_);
}

}  // namespace kledger
