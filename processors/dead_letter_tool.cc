#include "processors/dead_letter_tool.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <ctime>
#include <future>
#include <map>
#include <nlohmann/json.hpp>

#include "common/domain/rfc3339.h"
#include "common/kafka/producer.h"
#include "processors/failure.h"
#include "processors/topic_scan.h"

namespace kledger::processors {
namespace {

// Parses all of `text` as a decimal integer without sign or spaces.
template <typename Int>
std::optional<Int> ParseDecimal(std::string_view text) {
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text.front()))) return std::nullopt;
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

template <typename Int>
std::optional<Int> NumberHeader(const kafka::Headers& headers, std::string_view key) {
  auto value = kafka::FindHeader(headers, key);
  if (!value) return std::nullopt;
  // Negative values are legal in headers (a timestamp of -1: none).
  if (!value->empty() && value->front() == '-') {
    auto magnitude = ParseDecimal<Int>(value->substr(1));
    if (!magnitude) return std::nullopt;
    return static_cast<Int>(-*magnitude);
  }
  return ParseDecimal<Int>(*value);
}

std::string TextHeader(const kafka::Headers& headers, std::string_view key) {
  auto value = kafka::FindHeader(headers, key);
  return value ? std::string(*value) : std::string();
}

// RFC 3339 as epoch milliseconds. A space may stand for the 'T': easier to type on a command
// line.
std::optional<int64_t> Rfc3339ToEpochMillis(std::string_view text) {
  const auto t = domain::ParseRfc3339(text, domain::Rfc3339Separator::kTOrSpace);
  // 60 would be a leap second; the epoch-based clocks here have none.
  if (!t || t->second > 59) return std::nullopt;
  namespace chrono = std::chrono;
  const chrono::year_month_day date{chrono::year{t->year}, chrono::month{unsigned(t->month)},
                                    chrono::day{unsigned(t->day)}};
  const auto at = chrono::sys_days{date} + chrono::hours{t->hour} + chrono::minutes{t->minute} +
                  chrono::seconds{t->second} - chrono::minutes{t->offset_minutes};
  return chrono::duration_cast<chrono::milliseconds>(at.time_since_epoch()).count() +
         t->millisecond;
}

bool IsDeadLetterHeader(const kafka::Header& header) {
  return header.key.rfind(kDeadLetterHeaderPrefix, 0) == 0 || header.key == kRedrivenFromHeader;
}

}  // namespace

std::string DeadLetterId::ToString() const {
  return std::to_string(partition) + ":" + std::to_string(offset);
}

Result<DeadLetterId> ParseDeadLetterId(std::string_view text) {
  const size_t colon = text.find(':');
  std::optional<int32_t> partition;
  std::optional<int64_t> offset;
  if (colon != std::string_view::npos) {
    partition = ParseDecimal<int32_t>(text.substr(0, colon));
    offset = ParseDecimal<int64_t>(text.substr(colon + 1));
  }
  if (!partition || !offset) {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is not a dead-letter id; write PARTITION:OFFSET as `kledger "
                                   "dlt list` prints it, e.g. 2:17");
  }
  return DeadLetterId{*partition, *offset};
}

Result<int64_t> ParseTimeBound(std::string_view text) {
  if (auto epoch_ms = ParseDecimal<int64_t>(text)) return *epoch_ms;
  if (auto ms = Rfc3339ToEpochMillis(text)) return *ms;
  return Status::InvalidArgument("'" + std::string(text) +
                                 "' is not a time; give RFC 3339 (2024-05-01T12:00:00Z) or "
                                 "epoch milliseconds (1714564800000)");
}

std::string FormatRfc3339(int64_t epoch_ms) {
  const int64_t millis = ((epoch_ms % 1000) + 1000) % 1000;
  const std::time_t seconds = static_cast<std::time_t>((epoch_ms - millis) / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  const size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  char fraction[8];
  std::snprintf(fraction, sizeof fraction, ".%03dZ", static_cast<int>(millis));
  return std::string(text, n) + fraction;
}

DeadLetterInfo DescribeDeadLetter(const kafka::ConsumedRecord& record) {
  const kafka::Headers& h = record.headers;
  DeadLetterInfo info;
  info.id = {record.partition, record.offset};
  info.dlt_timestamp_ms = record.timestamp_ms;
  info.key = record.key;
  info.value_bytes = record.value.size();
  info.reason = TextHeader(h, "kledger-dlt-reason");
  info.error_code = TextHeader(h, "kledger-dlt-error-code");
  info.error_message = TextHeader(h, "kledger-dlt-error-message");
  info.original_topic = TextHeader(h, "kledger-dlt-original-topic");
  info.original_partition = NumberHeader<int32_t>(h, "kledger-dlt-original-partition");
  info.original_offset = NumberHeader<int64_t>(h, "kledger-dlt-original-offset");
  info.original_timestamp_ms = NumberHeader<int64_t>(h, "kledger-dlt-original-timestamp");
  info.attempts = NumberHeader<int>(h, "kledger-dlt-attempts");
  info.first_failure_ms = NumberHeader<int64_t>(h, "kledger-dlt-first-failure-ms");
  info.consumer_group = TextHeader(h, "kledger-dlt-consumer-group");
  info.event_id = TextHeader(h, "kledger-event-id");
  return info;
}

bool DeadLetterFilter::Empty() const {
  return !reason && !error_code && !original_partition && !since_ms && !until_ms && !limit;
}

Status DeadLetterFilter::Validate() const {
  if (reason && !ParseDeadLetterKind(*reason)) {
    return Status::InvalidArgument("--reason '" + *reason +
                                   "' is not a dead-letter reason; use poison or "
                                   "retries_exhausted");
  }
  if (limit && *limit <= 0) {
    return Status::InvalidArgument("--limit must be at least 1, got " + std::to_string(*limit));
  }
  if (original_partition && *original_partition < 0) {
    return Status::InvalidArgument("--original-partition must be 0 or more, got " +
                                   std::to_string(*original_partition));
  }
  if (since_ms && until_ms && *since_ms >= *until_ms) {
    return Status::InvalidArgument("--since " + FormatRfc3339(*since_ms) +
                                   " is not before --until " + FormatRfc3339(*until_ms) +
                                   "; nothing could match");
  }
  return Status::Ok();
}

bool Matches(const DeadLetterFilter& filter, const DeadLetterInfo& info) {
  if (filter.reason && info.reason != *filter.reason) return false;
  if (filter.error_code && info.error_code != *filter.error_code) return false;
  if (filter.original_partition && info.original_partition != filter.original_partition) {
    return false;
  }
  // A letter without a first-failure time cannot be placed in time: a time filter excludes it.
  if ((filter.since_ms || filter.until_ms) && !info.first_failure_ms) return false;
  if (filter.since_ms && *info.first_failure_ms < *filter.since_ms) return false;
  if (filter.until_ms && *info.first_failure_ms >= *filter.until_ms) return false;
  return true;
}

bool Selected(const DeadLetterSelection& selection, const DeadLetterInfo& info) {
  if (!selection.ids.empty() && selection.ids.count(info.id) == 0) return false;
  return Matches(selection.filter, info);
}

Status ReadDeadLetters(const kafka::Properties& props, const std::string& dlt_topic,
                       const DeadLetterSelection& selection, const DeadLetterVisitor& visit,
                       const ToolProgress& progress) {
  RETURN_IF_ERROR(selection.filter.Validate());
  ScanOptions options;
  options.reader_group = "kledger-dlt-reader";
  // Explicit ids: read only from the first to the last listed offset of their partitions.
  std::map<int32_t, std::pair<int64_t, int64_t>> id_spans;
  for (const DeadLetterId& id : selection.ids) {
    auto [it, fresh] = id_spans.try_emplace(id.partition, id.offset, id.offset);
    it->second.first = std::min(it->second.first, id.offset);
    it->second.second = std::max(it->second.second, id.offset);
  }
  for (const auto& [p, span] : id_spans) {
    options.partitions.push_back(p);
    options.start[p] = span.first;
  }
  auto scan = TopicScan::Open(props, dlt_topic, options);
  if (!scan.ok()) {
    if (scan.status().code() == StatusCode::kNotFound && !selection.ids.empty()) {
      return Status::NotFound("not every dead-letter id is in " + dlt_topic + ": " +
                              scan.status().message());
    }
    return scan.status().WithContext("reading the dead-letter topic " + dlt_topic);
  }
  for (const auto& [p, span] : id_spans) (*scan)->LimitEnd(p, span.second + 1);

  std::set<DeadLetterId> seen;
  int64_t selected = 0;
  const int64_t limit = selection.filter.limit.value_or(INT64_MAX);
  while (!(*scan)->Finished() && selected < limit) {
    auto records = (*scan)->Next(std::chrono::milliseconds(200), 1000);
    if (!records.ok()) {
      return records.status().WithContext("reading the dead-letter topic " + dlt_topic);
    }
    for (const auto& record : *records) {
      if (selected >= limit) break;
      const DeadLetterInfo info = DescribeDeadLetter(record);
      if (!Selected(selection, info)) continue;
      seen.insert(info.id);
      ++selected;
      RETURN_IF_ERROR(visit(record, info));
    }
    if (progress) progress((*scan)->done(), (*scan)->total());
  }
  std::string missing;
  for (const DeadLetterId& id : selection.ids) {
    if (seen.count(id) || selected >= limit) continue;
    const auto& range = (*scan)->ranges().at(id.partition);
    if (!missing.empty()) missing += ", ";
    missing += id.ToString() + " (partition " + std::to_string(id.partition) +
               (range.low >= range.high ? " is empty)"
                                        : " holds offsets " + std::to_string(range.low) + " to " +
                                              std::to_string(range.high - 1) + ")");
  }
  if (!missing.empty()) {
    return Status::NotFound("not in " + dlt_topic +
                            (selection.filter.Empty() ? "" : " or not matching the filters") +
                            ": " + missing + "; `kledger dlt list` shows the ids there are");
  }
  return Status::Ok();
}

std::string DeadLetterLine(const DeadLetterInfo& info) {
  auto or_dash = [](const std::string& text) { return text.empty() ? "-" : EscapeBytes(text); };
  auto number = [](const auto& value) { return value ? std::to_string(*value) : "-"; };
  return info.id.ToString() + " reason=" + or_dash(info.reason) +
         " error=" + or_dash(info.error_code) + " original=" + or_dash(info.original_topic) + "/" +
         number(info.original_partition) + ":" + number(info.original_offset) +
         " event=" + or_dash(info.event_id) +
         " first_failure=" + (info.first_failure_ms ? FormatRfc3339(*info.first_failure_ms) : "-") +
         " attempts=" + number(info.attempts);
}

std::string DeadLetterJson(const DeadLetterInfo& info) {
  auto number = [](const auto& value) -> nlohmann::json {
    if (value) return *value;
    return nullptr;
  };
  nlohmann::json j = {
      {"id", info.id.ToString()},
      {"dlt_partition", info.id.partition},
      {"dlt_offset", info.id.offset},
      {"dlt_timestamp_ms", info.dlt_timestamp_ms},
      {"key", info.key},
      {"value_bytes", info.value_bytes},
      {"reason", info.reason},
      {"error_code", info.error_code},
      {"error_message", info.error_message},
      {"original_topic", info.original_topic},
      {"original_partition", number(info.original_partition)},
      {"original_offset", number(info.original_offset)},
      {"original_timestamp_ms", number(info.original_timestamp_ms)},
      {"attempts", number(info.attempts)},
      {"first_failure_ms", number(info.first_failure_ms)},
      {"first_failure",
       info.first_failure_ms ? nlohmann::json(FormatRfc3339(*info.first_failure_ms)) : nullptr},
      {"consumer_group", info.consumer_group},
      {"event_id", info.event_id},
  };
  // Keys and headers of poison records may hold any bytes; JSON needs UTF-8.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

kafka::ProducerRecord MakeRedriveRecord(const kafka::ConsumedRecord& dead_letter,
                                        const std::string& events_topic) {
  kafka::ProducerRecord record;
  record.topic = events_topic;
  record.key = dead_letter.key;
  record.value = dead_letter.value;
  for (const kafka::Header& header : dead_letter.headers) {
    if (!IsDeadLetterHeader(header)) record.headers.push_back(header);
  }
  record.headers.push_back(
      {kRedrivenFromHeader, DeadLetterId{dead_letter.partition, dead_letter.offset}.ToString()});
  return record;
}

Result<RedriveResult> Redrive(const kafka::Properties& props, const std::string& events_topic,
                              const std::vector<kafka::ConsumedRecord>& dead_letters,
                              std::chrono::milliseconds timeout, const ToolProgress& progress) {
  ASSIGN_OR_RETURN(auto producer, kafka::Producer::Create(props));
  std::vector<std::future<Result<kafka::DeliveryReport>>> deliveries;
  deliveries.reserve(dead_letters.size());
  for (const auto& dead_letter : dead_letters) {
    deliveries.push_back(producer->Produce(MakeRedriveRecord(dead_letter, events_topic)));
  }
  RedriveResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (size_t i = 0; i < deliveries.size(); ++i) {
    RedriveItem item;
    item.from = {dead_letters[i].partition, dead_letters[i].offset};
    if (deliveries[i].wait_until(deadline) != std::future_status::ready) {
      item.status =
          Status::Timeout("not acknowledged within " + std::to_string(timeout.count() / 1000) +
                          " s; it may still arrive, and redriving it again is harmless");
    } else if (auto report = deliveries[i].get(); report.ok()) {
      item.status = Status::Ok();
      item.partition = report->partition;
      item.offset = report->offset;
    } else {
      item.status = report.status();
    }
    (item.status.ok() ? result.redriven : result.failed) += 1;
    result.items.push_back(std::move(item));
    if (progress) progress(static_cast<int64_t>(i + 1), static_cast<int64_t>(deliveries.size()));
  }
  // What timed out above is purged here, so its callbacks cannot outlive the futures.
  (void)producer->Close(std::chrono::milliseconds(0));
  return result;
}

std::string EscapeBytes(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (u >= 0x20 && u < 0x7f) {
          out += c;
        } else {
          char hex[5];
          std::snprintf(hex, sizeof hex, "\\x%02x", u);
          out += hex;
        }
    }
  }
  return out;
}

std::string HexDump(std::string_view bytes, size_t max_bytes) {
  std::string out;
  const size_t n = std::min(bytes.size(), max_bytes);
  for (size_t row = 0; row < n; row += 16) {
    char line[96];
    int used = std::snprintf(line, sizeof line, "%08zx ", row);
    std::string ascii;
    for (size_t i = row; i < row + 16; ++i) {
      if (i < n) {
        const auto u = static_cast<unsigned char>(bytes[i]);
        used += std::snprintf(line + used, sizeof line - used, " %02x", u);
        ascii += (u >= 0x20 && u < 0x7f) ? static_cast<char>(u) : '.';
      } else {
        used += std::snprintf(line + used, sizeof line - used, "   ");
      }
    }
    out += std::string(line, used) + "  |" + ascii + "|\n";
  }
  return out;
}

}  // namespace kledger::processors
