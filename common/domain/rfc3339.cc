// The RFC 3339 parser: a left-to-right reader over the fixed layout, then range checks.
#include "common/domain/rfc3339.h"

#include <cstddef>

namespace kledger::domain {
namespace {

// Reads `text` from the front; every read that fails leaves the reader where it was.
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  // Exactly `n` ASCII digits as a number. Locale-independent on purpose, like identifiers.cc.
  std::optional<int> Digits(std::size_t n) {
    if (pos_ + n > text_.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = pos_; i < pos_ + n; ++i) {
      if (!IsDigit(text_[i])) return std::nullopt;
      value = value * 10 + (text_[i] - '0');
    }
    pos_ += n;
    return value;
  }

  // One character out of `any_of`, which it returns.
  std::optional<char> Literal(std::string_view any_of) {
    if (pos_ < text_.size() && any_of.find(text_[pos_]) != std::string_view::npos) {
      return text_[pos_++];
    }
    return std::nullopt;
  }

  // A run of digits, at least one, as milliseconds (the first three digits count).
  std::optional<int> Fraction() {
    const std::size_t start = pos_;
    int millis = 0;
    for (int scale = 100; pos_ < text_.size() && IsDigit(text_[pos_]); ++pos_, scale /= 10) {
      millis += (text_[pos_] - '0') * scale;
    }
    if (pos_ == start) return std::nullopt;
    return millis;
  }

  bool AtEnd() const { return pos_ == text_.size(); }

 private:
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  std::string_view text_;
  std::size_t pos_ = 0;
};

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

}  // namespace

std::optional<DateTime> ParseRfc3339(std::string_view text, Rfc3339Separator separator) {
  Reader in(text);
  const std::string_view date_time_separator =
      separator == Rfc3339Separator::kTOrSpace ? "Tt " : "Tt";
  auto year = in.Digits(4);
  if (!year || !in.Literal("-")) return std::nullopt;
  auto month = in.Digits(2);
  if (!month || !in.Literal("-")) return std::nullopt;
  auto day = in.Digits(2);
  if (!day || !in.Literal(date_time_separator)) return std::nullopt;
  auto hour = in.Digits(2);
  if (!hour || !in.Literal(":")) return std::nullopt;
  auto minute = in.Digits(2);
  if (!minute || !in.Literal(":")) return std::nullopt;
  auto second = in.Digits(2);
  if (!second) return std::nullopt;
  DateTime t{*year, *month, *day, *hour, *minute, *second};
  if (in.Literal(".")) {
    auto millis = in.Fraction();
    if (!millis) return std::nullopt;
    t.millisecond = *millis;
  }
  if (!in.Literal("Zz")) {
    auto sign = in.Literal("+-");
    if (!sign) return std::nullopt;
    auto offset_hours = in.Digits(2);
    if (!offset_hours || !in.Literal(":")) return std::nullopt;
    auto offset_minutes = in.Digits(2);
    if (!offset_minutes || *offset_hours > 23 || *offset_minutes > 59) return std::nullopt;
    t.offset_minutes = (*sign == '-' ? -1 : 1) * (*offset_hours * 60 + *offset_minutes);
  }
  if (!in.AtEnd()) return std::nullopt;
  if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > DaysInMonth(t.year, t.month) ||
      t.hour > 23 || t.minute > 59 || t.second > 60) {
    return std::nullopt;
  }
  return t;
}

}  // namespace kledger::domain
