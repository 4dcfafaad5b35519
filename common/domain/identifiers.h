// Syntax checks for the identifiers of the ledger (instances, accounts, currencies, idempotency
// keys). Hand-written loops rather than std::regex: these run on every command and every event.
#pragma once

#include <cstddef>
#include <string_view>

namespace kledger::domain {

// Longest accepted identifiers, in bytes.
inline constexpr std::size_t kMaxInstanceIdBytes = 128;
inline constexpr std::size_t kMaxAddressBytes = 256;
inline constexpr std::size_t kMaxSourceBytes = 128;
inline constexpr std::size_t kMaxIdempotencyKeyBytes = 256;
inline constexpr std::size_t kMinCurrencyBytes = 3;
inline constexpr std::size_t kMaxCurrencyBytes = 12;

// ^[A-Za-z0-9_.:-]{1,128}$ — it is also the Kafka record key.
bool IsValidInstanceId(std::string_view id);

// ^[A-Za-z0-9_]+(:[A-Za-z0-9_]+)*$, at most 256 bytes: "assets:bank:checking".
bool IsValidAddress(std::string_view address);

// ^[A-Z0-9]{3,12}$: ISO 4217 codes and longer tickers ("USD", "USDC", "POINTS").
bool IsValidCurrency(std::string_view currency);

// ^[A-Za-z0-9_.:-]{1,128}$ — the upstream system's name; it appears in URL paths.
bool IsValidSource(std::string_view source);

// ^[A-Za-z0-9_.:-]{1,256}$ — source_idempk and update_idempk; they appear in URL paths.
bool IsValidIdempotencyKey(std::string_view key);

// Non-empty and free of 0x00: all the projections ask of an identifier they apply, as they join
// key parts with 0x00 (one holding a 0x00 could alias another). Weaker than the checks above on
// purpose: the log may hold events validated under older, looser rules.
bool IsKeySafe(std::string_view id);

}  // namespace kledger::domain
