// Syntax checks for the ledger's identifiers; see identifiers.h for the accepted shapes.
#include "common/domain/identifiers.h"

namespace kledger::domain {
namespace {

// Locale-independent on purpose: <cctype> depends on the C locale, the wire format does not.
constexpr bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

constexpr bool IsWordChar(char c) { return IsAsciiAlnum(c) || c == '_'; }

constexpr bool IsKeyChar(char c) { return IsWordChar(c) || c == '.' || c == ':' || c == '-'; }

bool IsKeyOfLength(std::string_view s, std::size_t max_bytes) {
  if (s.empty() || s.size() > max_bytes) return false;
  for (char c : s) {
    if (!IsKeyChar(c)) return false;
  }
  return true;
}

}  // namespace

bool IsValidInstanceId(std::string_view id) { return IsKeyOfLength(id, kMaxInstanceIdBytes); }

bool IsValidAddress(std::string_view address) {
  if (address.empty() || address.size() > kMaxAddressBytes) return false;
  // Segments of word characters separated by single colons: no leading, trailing or double colon.
  bool segment_empty = true;
  for (char c : address) {
    if (c == ':') {
      if (segment_empty) return false;
      segment_empty = true;
    } else if (IsWordChar(c)) {
      segment_empty = false;
    } else {
      return false;
    }
  }
  return !segment_empty;
}

bool IsValidCurrency(std::string_view currency) {
  if (currency.size() < kMinCurrencyBytes || currency.size() > kMaxCurrencyBytes) return false;
  for (char c : currency) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

bool IsValidSource(std::string_view source) { return IsKeyOfLength(source, kMaxSourceBytes); }

bool IsValidIdempotencyKey(std::string_view key) {
  return IsKeyOfLength(key, kMaxIdempotencyKeyBytes);
}

bool IsKeySafe(std::string_view id) {
  return !id.empty() && id.find('\0') == std::string_view::npos;
}

}  // namespace kledger::domain
