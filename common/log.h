// Process-wide logging set-up (spdlog): levelled lines on stderr, as text or as one JSON object
// per line, and LogFields, the structured key/value fields (event_id, correlation_id, ...) that a
// scope attaches to the lines it logs.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace kledger {

struct LogOptions {
  std::string level = "info";   // trace|debug|info|warn|error|off; default "info"
  std::string format = "text";  // text | json (one object per line); default "text"
};

// Installs the default logger; safe to call again. InvalidArgument for an unknown level or
// format.
Status InitLogging(const LogOptions& options);

// Attaches fields to every line this thread logs while the object lives (scopes nest). Text
// lines end with " key=value ..."; JSON lines carry them as top-level string members next to
// "ts", "level", "thread" and "msg". Empty values are left out. spdlog has no structured fields
// of its own, so this thread-local scope is how they reach the formatter.
class LogFields {
 public:
  LogFields(std::initializer_list<std::pair<std::string_view, std::string_view>> fields);
  ~LogFields();
  LogFields(const LogFields&) = delete;
  LogFields& operator=(const LogFields&) = delete;

 private:
  size_t added_ = 0;
};

}  // namespace kledger
