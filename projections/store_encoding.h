// The store's key layout and encodings, shared by its writes (store.cc) and its queries
// (store_queries.cc), and by the benchmark's RocksDB ceiling for its event records'
// values (app/benchmark/ceilings.cc). projections/README.md describes the layout.
#pragma once

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message_lite.h>
#include <rocksdb/status.h>

#include <cassert>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "common/event_id.h"
#include "common/status.h"

namespace kledger::projections::store_encoding {

// One byte per record kind leads every key, so each kind is one contiguous, ordered range.
// An account's record holds what its own events set (open, update, close), not its balances:
// those are the balances after its newest history item (zero when it has none), which every
// change of them appends. So a transfer writes no account record.
constexpr char kAccountPrefix = 'a';
constexpr char kTrialBalancePrefix = 'b';
// An event's record: its outcome and, for a transaction_created event, the transaction it
// created (EncodeEventRecord). A transaction is found under its creating event's id, which is
// derived from the transaction's key (TransactionKey), so a transfer writes one record for both.
constexpr char kOutcomePrefix = 'e';
constexpr char kHistoryPrefix = 'h';
constexpr char kEventLogPrefix = 'l';  // the outcomes' event ids in log order
constexpr char kOffsetPrefix = 'o';    // not state: excluded from the digest
constexpr char kOutboxPrefix = 'q';    // outcomes not yet published: excluded from the digest
// Where a store written before transactions lived in their events' records kept them, by
// (source, source_idempk); ProjectionStore::Open moves them (MoveTransactionsIntoEvents).
constexpr char kLegacyTransactionPrefix = 't';
constexpr char kExtensionPrefix = 'x';  // pluggable projections: x projection 00 key
constexpr char kSeparator = '\0';       // identifiers never contain it (the state machine checks)
constexpr size_t kHistoryPositionSize = 12;  // ~offset (8 bytes) + ~entry_index (4 bytes)

inline void AppendBigEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

inline uint64_t ReadBigEndian(std::string_view in) {
  uint64_t value = 0;
  for (char c : in) value = (value << 8) | static_cast<uint8_t>(c);
  return value;
}

// prefix, then the parts separated by kSeparator.
inline std::string MakeKey(char prefix, std::initializer_list<std::string_view> parts) {
  std::string key(1, prefix);
  bool first = true;
  for (std::string_view part : parts) {
    if (!first) key.push_back(kSeparator);
    key.append(part);
    first = false;
  }
  return key;
}

inline std::string AccountKey(std::string_view instance, std::string_view address) {
  return MakeKey(kAccountPrefix, {instance, address});
}
inline std::string OutcomeKey(std::string_view instance, std::string_view event_id) {
  return MakeKey(kOutcomePrefix, {instance, event_id});
}
// A transaction's key: the record of the event that created it, whose id is derived from
// (instance, source, source_idempk) alone (common/event_id.h). A SHA-256 per call.
inline std::string TransactionKey(std::string_view instance, std::string_view source,
                                  std::string_view source_idempk) {
  return OutcomeKey(instance, domain::TransactionCreatedEventId(instance, source, source_idempk));
}
// Every event record of one instance starts with this.
inline std::string OutcomePrefix(std::string_view instance) {
  return MakeKey(kOutcomePrefix, {instance, ""});
}
// Every event-log key of one instance starts with this.
inline std::string EventLogPrefix(std::string_view instance) {
  return MakeKey(kEventLogPrefix, {instance, ""});
}
// The event-log key of the record at `offset` (big-endian, so key order is log order).
inline std::string EventLogKey(std::string_view instance, int64_t offset) {
  std::string key = EventLogPrefix(instance);
  AppendBigEndian(key, static_cast<uint64_t>(offset), 8);
  return key;
}
inline std::string TrialBalancePrefix(std::string_view instance) {
  return MakeKey(kTrialBalancePrefix, {instance, ""});
}
// Every history key of one account starts with this.
inline std::string HistoryPrefix(std::string_view instance, std::string_view address) {
  return MakeKey(kHistoryPrefix, {instance, address, ""});
}
// Complemented so that ascending key order lists the newest item first.
inline std::string HistoryPosition(int64_t offset, int32_t entry_index) {
  std::string position;
  AppendBigEndian(position, ~static_cast<uint64_t>(offset), 8);
  AppendBigEndian(position, ~static_cast<uint32_t>(entry_index), 4);
  return position;
}
inline std::string OffsetKey(int32_t partition) {
  std::string key(1, kOffsetPrefix);
  AppendBigEndian(key, static_cast<uint32_t>(partition), 4);
  return key;
}

// The outbox key of the outcome of `partition`'s record at `offset` (big-endian: log order).
inline std::string OutboxKey(int32_t partition, int64_t offset) {
  std::string key(1, kOutboxPrefix);
  AppendBigEndian(key, static_cast<uint32_t>(partition), 4);
  AppendBigEndian(key, static_cast<uint64_t>(offset), 8);
  return key;
}
// Whether `key` is bookkeeping of the processor rather than ledger state (not in the digest).
inline bool IsBookkeepingKey(std::string_view key) {
  return !key.empty() && (key.front() == kOffsetPrefix || key.front() == kOutboxPrefix);
}

inline Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  std::string msg = std::string(context) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsInvalidArgument()) return Status::InvalidArgument(std::move(msg));
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  return Status::IoError(std::move(msg));
}

// Maps are serialized in key order only when asked; the digest needs the same bytes every time.
inline std::string SerializeDeterministic(const google::protobuf::MessageLite& message) {
  // Sized first and written in place: through a growing StringOutputStream the serialization
  // cost twice as much (docs/performance.md).
  const size_t size = message.ByteSizeLong();
  std::string out(size, '\0');
  {
    google::protobuf::io::ArrayOutputStream array(out.data(), static_cast<int>(size));
    google::protobuf::io::CodedOutputStream coded(&array);
    coded.SetSerializationDeterministic(true);
    message.SerializeWithCachedSizes(&coded);
    assert(!coded.HadError() && static_cast<size_t>(coded.ByteCount()) == size);
  }
  return out;
}

template <typename T>
Result<T> Parse(std::string_view value, std::string_view what) {
  T message;
  if (!message.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return Status::Corruption("stored " + std::string(what) + " cannot be decoded");
  }
  return message;
}

// An event record's value (kOutcomePrefix): the serialized outcome (EventOutcomeView) and
// transaction (TransactionView), either possibly absent (empty). With no transaction it is the
// outcome's bytes alone, as every event record was before transactions moved in; else a 0x00
// byte (a serialized message never starts with one: field number 0 does not exist), the
// outcome's length as 4 bytes big-endian, the outcome, then the transaction.
struct EventRecord {
  std::string_view outcome;
  std::string_view transaction;
};

inline std::string EncodeEventRecord(std::string_view outcome, std::string_view transaction) {
  if (transaction.empty()) return std::string(outcome);
  std::string value;
  value.reserve(5 + outcome.size() + transaction.size());
  value.push_back('\0');
  AppendBigEndian(value, outcome.size(), 4);
  value.append(outcome);
  value.append(transaction);
  return value;
}

// Views into `value`. Corruption when its framing is broken.
inline Result<EventRecord> DecodeEventRecord(std::string_view value) {
  if (value.empty() || value.front() != '\0') return EventRecord{value, {}};
  if (value.size() < 5 || ReadBigEndian(value.substr(1, 4)) > value.size() - 5) {
    return Status::Corruption("a stored event record's framing is broken");
  }
  const size_t outcome_size = ReadBigEndian(value.substr(1, 4));
  return EventRecord{value.substr(5, outcome_size), value.substr(5 + outcome_size)};
}

inline std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

constexpr char kHexDigits[] = "0123456789abcdef";

inline std::string ToHex(std::string_view bytes) {
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    hex.push_back(kHexDigits[c >> 4]);
    hex.push_back(kHexDigits[c & 0xf]);
  }
  return hex;
}

inline std::optional<std::string> FromHex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    bytes.push_back(static_cast<char>(hi << 4 | lo));
  }
  return bytes;
}

}  // namespace kledger::projections::store_encoding
