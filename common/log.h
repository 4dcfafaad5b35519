// Process-wide logging set-up (spdlog): levelled text lines on stderr.
#pragma once

#include <string>

#include "common/status.h"

namespace kledger {

struct LogOptions {
  std::string level = "info";  // trace|debug|info|warn|error|off; default "info"
};

// Installs the default logger; safe to call again. InvalidArgument for an unknown level.
Status InitLogging(const LogOptions& options);

}  // namespace kledger
