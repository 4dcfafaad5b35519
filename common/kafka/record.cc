// Small helpers over kledger's record types.
#include "common/kafka/record.h"

namespace kledger::kafka {

std::optional<std::string_view> FindHeader(const Headers& headers, std::string_view key) {
  for (const Header& header : headers) {
    if (header.key == key) return std::string_view(header.value);
  }
  return std::nullopt;
}

}  // namespace kledger::kafka
