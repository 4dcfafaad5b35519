// The dead-letter tools behind `kledger dlt list | show | redrive`: reading dead letters back
// with their kledger-dlt-* headers, selecting them, and sending them back to the events topic.
// A redriven record is applied at most once however often it is redriven, because the
// processors treat its event id as the idempotency key (a second copy is a DUPLICATE).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/kafka/properties.h"
#include "common/kafka/record.h"
#include "common/status.h"

namespace kledger::processors {

// The header a redriven record carries: the "P:O" of the dead letter it came from.
inline constexpr char kRedrivenFromHeader[] = "kledger-redriven-from";
// Every dead-letter header starts with this; a redrive strips them.
inline constexpr char kDeadLetterHeaderPrefix[] = "kledger-dlt-";

// A dead letter's coordinates in the dead-letter topic, written "P:O".
struct DeadLetterId {
  int32_t partition = -1;
  int64_t offset = -1;
  auto operator<=>(const DeadLetterId&) const = default;
  std::string ToString() const;
};

// Parses "P:O" (decimal, P >= 0, O >= 0). InvalidArgument naming the expected form otherwise.
Result<DeadLetterId> ParseDeadLetterId(std::string_view text);

// Parses a time bound: RFC 3339 ("2024-05-01T12:00:00Z", fractions and +hh:mm offsets allowed)
// or epoch milliseconds ("1714564800000"). Returns epoch milliseconds.
Result<int64_t> ParseTimeBound(std::string_view text);

// Epoch milliseconds as RFC 3339 UTC with milliseconds: "2024-05-01T12:00:00.000Z".
std::string FormatRfc3339(int64_t epoch_ms);

// What the dead-letter headers of one record say. Numbers absent or unreadable are nullopt.
struct DeadLetterInfo {
  DeadLetterId id;
  int64_t dlt_timestamp_ms = -1;
  std::string key;
  size_t value_bytes = 0;
  std::string reason;  // kledger-dlt-reason
  std::string error_code;
  std::string error_message;
  std::string original_topic;
  std::optional<int32_t> original_partition;
  std::optional<int64_t> original_offset;
  std::optional<int64_t> original_timestamp_ms;
  std::optional<int> attempts;
  std::optional<int64_t> first_failure_ms;
  std::string consumer_group;
  std::string event_id;  // kledger-event-id; empty when the record had none (poison often has not)
};

DeadLetterInfo DescribeDeadLetter(const kafka::ConsumedRecord& record);

// Which dead letters a command means. Unset fields do not filter.
struct DeadLetterFilter {
  std::optional<std::string> reason;  // poison | retries_exhausted
  std::optional<std::string> error_code;
  std::optional<int32_t> original_partition;
  std::optional<int64_t> since_ms;  // first failure at or after (inclusive)
  std::optional<int64_t> until_ms;  // first failure before (exclusive)
  std::optional<int64_t> limit;     // at most this many, in DLT order; > 0

  // True when no field is set (a redrive without ids then needs --all).
  bool Empty() const;
  // InvalidArgument for an unknown reason, a non-positive limit or since >= until.
  Status Validate() const;
};

// A selection: explicit ids (when any are given, only those) narrowed by the filter.
struct DeadLetterSelection {
  std::set<DeadLetterId> ids;
  DeadLetterFilter filter;
};

// Whether `info` passes the filter (the limit is not applied here).
bool Matches(const DeadLetterFilter& filter, const DeadLetterInfo& info);
// Whether `info` is selected: its id is listed (or none are) and it passes the filter.
bool Selected(const DeadLetterSelection& selection, const DeadLetterInfo& info);

// Called now and then with how many offsets of how many have been read or produced.
using ToolProgress = std::function<void(int64_t done, int64_t total)>;

// Called for each selected dead letter, in DLT order per partition; an error stops the read.
using DeadLetterVisitor =
    std::function<Status(const kafka::ConsumedRecord& record, const DeadLetterInfo& info)>;

// Reads the dead-letter topic from its beginning to the high watermarks it had at the start and
// hands each selected record to `visit` (the limit counted in the order read). With explicit
// ids only their partitions and offsets are read, and NotFound names the ids not in the topic.
// InvalidArgument for a bad filter; Unavailable/Timeout when the cluster cannot be read.
Status ReadDeadLetters(const kafka::Properties& props, const std::string& dlt_topic,
                       const DeadLetterSelection& selection, const DeadLetterVisitor& visit,
                       const ToolProgress& progress = {});

// One line of `kledger dlt list`: "P:O reason=… error=… original=TOPIC/P:O event=…
// first_failure=RFC3339 attempts=N" ("-" for what the headers do not say).
std::string DeadLetterLine(const DeadLetterInfo& info);

// One line of `kledger dlt list --json`: every field of `info`, absent numbers as null, bytes
// that are not UTF-8 replaced.
std::string DeadLetterJson(const DeadLetterInfo& info);

// The record a redrive produces for `dead_letter`: same key and value, its headers without the
// kledger-dlt-* ones (and without an older kledger-redriven-from), plus
// kledger-redriven-from: <id>. The key picks the partition, as for any event.
kafka::ProducerRecord MakeRedriveRecord(const kafka::ConsumedRecord& dead_letter,
                                        const std::string& events_topic);

struct RedriveItem {
  DeadLetterId from;
  Status status;           // OK when acknowledged
  int32_t partition = -1;  // where it went in the events topic, when OK
  int64_t offset = -1;
};

struct RedriveResult {
  std::vector<RedriveItem> items;  // one per record, in the order given
  int64_t redriven = 0;
  int64_t failed = 0;
};

// Produces each record's redrive copy to `events_topic` (acks=all) and waits up to `timeout`
// for all acknowledgements. Errors are per record, in the result; an error Status only when no
// producer could be made from `props`.
Result<RedriveResult> Redrive(const kafka::Properties& props, const std::string& events_topic,
                              const std::vector<kafka::ConsumedRecord>& dead_letters,
                              std::chrono::milliseconds timeout, const ToolProgress& progress = {});

// Printing helpers for `show`: bytes with anything not printable ASCII escaped (\n, \t, \\,
// \xHH), and a hex dump (offset, hex, ASCII) of the first `max_bytes`.
std::string EscapeBytes(std::string_view bytes);
std::string HexDump(std::string_view bytes, size_t max_bytes);

}  // namespace kledger::processors
