// RFC 3339 date-times (2024-01-31T23:59:60.123+01:00): the one parser behind effective_at's
// syntax check and the operator tools' time bounds (`kledger dlt list --since`).
#pragma once

#include <optional>
#include <string_view>

namespace kledger::domain {

// The fields of a date-time as written; what to make of a leap second is the caller's choice.
struct DateTime {
  int year = 0;            // 0000-9999
  int month = 0;           // 1-12
  int day = 0;             // 1 to the month's last day, leap years counted
  int hour = 0;            // 0-23
  int minute = 0;          // 0-59
  int second = 0;          // 0-60: 60 is a leap second
  int millisecond = 0;     // the fraction's first three digits; further digits are dropped
  int offset_minutes = 0;  // the UTC offset, east of UTC positive; 0 for Z
};

// What may stand between the date and the time. RFC 3339 (section 5.6, NOTE) lets applications
// take a space for readability: an operator typing a time on the command line; stored fields
// (effective_at) keep the strict form.
enum class Rfc3339Separator {
  kT,         // 'T' or 't'
  kTOrSpace,  // 'T', 't' or ' '
};

// Parses all of `text` as YYYY-MM-DD<separator>hh:mm:ss[.fraction](Z|z|+hh:mm|-hh:mm), the
// fraction having at least one digit. nullopt when it is malformed or names an impossible time
// (month 13, 2023-02-29, hour 24, minute 60, second 61, offset beyond 23:59).
std::optional<DateTime> ParseRfc3339(std::string_view text,
                                     Rfc3339Separator separator = Rfc3339Separator::kT);

}  // namespace kledger::domain
