// The dead-letter tools: id and time parsing, filters and selection, the redrive record, and a
// read/redrive round trip on an in-process embedded broker.
#include "processors/dead_letter_tool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/kafka/embedded_broker.h"
#include "common/kafka/producer.h"
#include "processors/dead_letter.h"
#include "processors/topic_scan.h"

namespace kledger::processors {
namespace {

// A consumed copy of what the processor's DeadLetterWriter would write for `original`.
kafka::ConsumedRecord DeadLetterOf(const kafka::ConsumedRecord& original,
                                   const DeadLetterReason& why, int32_t partition, int64_t offset) {
  kafka::ProducerRecord written = MakeDeadLetter(original, why, "kledger.events.dlt", "procs");
  kafka::ConsumedRecord read;
  read.topic = written.topic;
  read.partition = partition;
  read.offset = offset;
  read.timestamp_ms = 1700000001000;
  read.key = written.key;
  read.value = written.value;
  read.headers = written.headers;
  return read;
}

kafka::ConsumedRecord Original(int32_t partition, int64_t offset) {
  kafka::ConsumedRecord original;
  original.topic = "kledger.events";
  original.partition = partition;
  original.offset = offset;
  original.timestamp_ms = 1700000000123;
  original.key = "acme";
  original.value = std::string("\x00\xff garbage", 10);
  original.headers = {{"kledger-event-id", "evt-1"}, {"kledger-event-type", "account_opened"}};
  return original;
}

// Filters spelled out field by field (designated initializers would warn of the fields left out).
struct F {
  DeadLetterFilter filter;
  F& Reason(std::string v) { return filter.reason = std::move(v), *this; }
  F& ErrorCode(std::string v) { return filter.error_code = std::move(v), *this; }
  F& Partition(int32_t v) { return filter.original_partition = v, *this; }
  F& Since(int64_t v) { return filter.since_ms = v, *this; }
  F& Until(int64_t v) { return filter.until_ms = v, *this; }
  F& Limit(int64_t v) { return filter.limit = v, *this; }
  operator DeadLetterFilter() const { return filter; }
  operator DeadLetterSelection() const { return {{}, filter}; }
};

DeadLetterSelection Ids(std::set<DeadLetterId> ids, DeadLetterFilter filter = {}) {
  return {std::move(ids), std::move(filter)};
}

TEST(DeadLetterIdTest, ParsesPartitionColonOffset) {
  auto id = ParseDeadLetterId("2:17");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->partition, 2);
  EXPECT_EQ(id->offset, 17);
  EXPECT_EQ(id->ToString(), "2:17");
  EXPECT_EQ(ParseDeadLetterId("0:9223372036854775807")->offset, INT64_MAX);
}

TEST(DeadLetterIdTest, RefusesEverythingElseNamingTheForm) {
  for (const char* bad : {"", "2", "2:", ":17", "a:1", "1:b", "-1:3", "1:-3", "+1:3", " 1:3",
                          "1:3 ", "1:2:3", "1.0:3", "99999999999:1", "1:99999999999999999999"}) {
    auto id = ParseDeadLetterId(bad);
    ASSERT_FALSE(id.ok()) << "'" << bad << "'";
    EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(id.status().message().find("PARTITION:OFFSET"), std::string::npos);
  }
}

TEST(TimeBoundTest, AcceptsEpochMillisAndRfc3339) {
  EXPECT_EQ(*ParseTimeBound("1714564800000"), 1714564800000);
  EXPECT_EQ(*ParseTimeBound("0"), 0);
  EXPECT_EQ(*ParseTimeBound("2024-05-01T12:00:00Z"), 1714564800000);
  EXPECT_EQ(*ParseTimeBound("2024-05-01t12:00:00z"), 1714564800000);
  EXPECT_EQ(*ParseTimeBound("2024-05-01 12:00:00Z"), 1714564800000);
  EXPECT_EQ(*ParseTimeBound("2024-05-01T12:00:00.5Z"), 1714564800500);
  EXPECT_EQ(*ParseTimeBound("2024-05-01T12:00:00.123456Z"), 1714564800123);
  EXPECT_EQ(*ParseTimeBound("2024-05-01T14:30:00+02:30"), 1714564800000);
  EXPECT_EQ(*ParseTimeBound("2024-05-01T07:00:00-05:00"), 1714564800000);
  EXPECT_EQ(*ParseTimeBound("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseTimeBound("2024-02-29T00:00:00Z"), 1709164800000);
}

TEST(TimeBoundTest, RefusesMalformedOrImpossibleTimes) {
  for (const char* bad : {"", "yesterday", "-5", "2024-05-01", "2024-05-01T12:00Z",
                          "2024-05-01T12:00:00", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
                          "2024-05-01T24:00:00Z", "2024-05-01T12:00:60Z", "2024-05-01T12:00:00.Z",
                          "2024-05-01T12:00:00+0200", "2024-05-01T12:00:00Zjunk", "12:00:00"}) {
    auto t = ParseTimeBound(bad);
    ASSERT_FALSE(t.ok()) << "'" << bad << "'";
    EXPECT_NE(t.status().message().find("RFC 3339"), std::string::npos);
  }
}

TEST(TimeBoundTest, FormatsUtcWithMillisecondsAndRoundTrips) {
  EXPECT_EQ(FormatRfc3339(1714564800123), "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59.999Z");
  for (int64_t ms : {int64_t{1}, int64_t{1700000000999}, int64_t{4102444800000}}) {
    EXPECT_EQ(*ParseTimeBound(FormatRfc3339(ms)), ms);
  }
}

TEST(DescribeDeadLetterTest, ReadsBackEveryHeaderTheWriterWrites) {
  const auto record = DeadLetterOf(
      Original(7, 42), {PoisonCode::kUndecodable, "not an EventEnvelope", 1, 1700000000999}, 3, 5);
  const DeadLetterInfo info = DescribeDeadLetter(record);
  EXPECT_EQ(info.id, (DeadLetterId{3, 5}));
  EXPECT_EQ(info.reason, "poison");
  EXPECT_EQ(info.error_code, "undecodable");
  EXPECT_EQ(info.error_message, "not an EventEnvelope");
  EXPECT_EQ(info.original_topic, "kledger.events");
  EXPECT_EQ(info.original_partition, 7);
  EXPECT_EQ(info.original_offset, 42);
  EXPECT_EQ(info.original_timestamp_ms, 1700000000123);
  EXPECT_EQ(info.attempts, 1);
  EXPECT_EQ(info.first_failure_ms, 1700000000999);
  EXPECT_EQ(info.consumer_group, "procs");
  EXPECT_EQ(info.event_id, "evt-1");
  EXPECT_EQ(info.key, "acme");
  EXPECT_EQ(info.value_bytes, 10u);

  EXPECT_EQ(DeadLetterLine(info),
            "3:5 reason=poison error=undecodable original=kledger.events/7:42 event=evt-1 "
            "first_failure=2023-11-14T22:13:20.999Z attempts=1");
  const auto json = nlohmann::json::parse(DeadLetterJson(info));
  EXPECT_EQ(json["id"], "3:5");
  EXPECT_EQ(json["reason"], "poison");
  EXPECT_EQ(json["original_offset"], 42);
  EXPECT_EQ(json["first_failure"], "2023-11-14T22:13:20.999Z");
  EXPECT_EQ(json["consumer_group"], "procs");
}

TEST(DescribeDeadLetterTest, MissingOrBrokenHeadersAreUnknownNotZero) {
  kafka::ConsumedRecord bare;
  bare.partition = 0;
  bare.offset = 1;
  bare.key = std::string("k\xff\x00", 3);
  bare.headers = {{"kledger-dlt-attempts", "three"}, {"kledger-dlt-original-timestamp", "-1"}};
  const DeadLetterInfo info = DescribeDeadLetter(bare);
  EXPECT_FALSE(info.attempts);
  EXPECT_FALSE(info.first_failure_ms);
  EXPECT_EQ(info.original_timestamp_ms, -1);
  EXPECT_EQ(DeadLetterLine(info),
            "0:1 reason=- error=- original=-/-:- event=- first_failure=- attempts=-");
  // Binary bytes do not break the JSON line.
  const auto json = nlohmann::json::parse(DeadLetterJson(info));
  EXPECT_TRUE(json["attempts"].is_null());
  EXPECT_TRUE(json["key"].is_string());
}

TEST(FilterTest, ValidatesReasonLimitAndTimeRange) {
  DeadLetterFilter filter;
  EXPECT_TRUE(filter.Empty());
  EXPECT_TRUE(filter.Validate().ok());
  filter.reason = "bogus";
  Status bad = filter.Validate();
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("poison or retries_exhausted"), std::string::npos);
  filter.reason = "retries_exhausted";
  EXPECT_TRUE(filter.Validate().ok());
  filter.limit = 0;
  EXPECT_FALSE(filter.Validate().ok());
  filter.limit = 3;
  filter.since_ms = 10;
  filter.until_ms = 10;
  EXPECT_FALSE(filter.Validate().ok());
  filter.until_ms = 11;
  EXPECT_TRUE(filter.Validate().ok());
  EXPECT_FALSE(filter.Empty());
}

TEST(FilterTest, MatchesEachFieldAndTimeBoundsAreHalfOpen) {
  DeadLetterInfo info;
  info.reason = "poison";
  info.error_code = "undecodable";
  info.original_partition = 2;
  info.first_failure_ms = 1000;

  EXPECT_TRUE(Matches({}, info));
  EXPECT_TRUE(Matches(F().Reason("poison"), info));
  EXPECT_FALSE(Matches(F().Reason("retries_exhausted"), info));
  EXPECT_TRUE(Matches(F().ErrorCode("undecodable"), info));
  EXPECT_FALSE(Matches(F().ErrorCode("storage"), info));
  EXPECT_TRUE(Matches(F().Partition(2), info));
  EXPECT_FALSE(Matches(F().Partition(3), info));
  EXPECT_TRUE(Matches(F().Since(1000), info));
  EXPECT_FALSE(Matches(F().Since(1001), info));
  EXPECT_TRUE(Matches(F().Until(1001), info));
  EXPECT_FALSE(Matches(F().Until(1000), info));
  EXPECT_TRUE(Matches(
      F().Reason("poison").ErrorCode("undecodable").Partition(2).Since(0).Until(2000), info));

  info.first_failure_ms.reset();  // cannot be placed in time
  EXPECT_FALSE(Matches(F().Since(0), info));
  EXPECT_TRUE(Matches(F().Reason("poison"), info));
}

TEST(SelectionTest, IdsNarrowedByFilters) {
  DeadLetterInfo a;
  a.id = {0, 1};
  a.reason = "poison";
  DeadLetterInfo b;
  b.id = {1, 1};
  b.reason = "retries_exhausted";

  DeadLetterSelection everything;
  EXPECT_TRUE(Selected(everything, a));
  EXPECT_TRUE(Selected(everything, b));
  DeadLetterSelection only_a = Ids({{0, 1}});
  EXPECT_TRUE(Selected(only_a, a));
  EXPECT_FALSE(Selected(only_a, b));
  DeadLetterSelection both_but_exhausted = Ids({{0, 1}, {1, 1}}, F().Reason("retries_exhausted"));
  EXPECT_FALSE(Selected(both_but_exhausted, a));
  EXPECT_TRUE(Selected(both_but_exhausted, b));
}

TEST(RedriveRecordTest, KeepsKeyValueAndEventHeadersDropsDltHeadersNamesItsSource) {
  kafka::ConsumedRecord dead =
      DeadLetterOf(Original(7, 42), {ApplyFailure::kStorage, "disk full", 5, 1700000000999}, 3, 5);
  dead.headers.push_back({kRedrivenFromHeader, "1:1"});  // from an earlier round trip
  const kafka::ProducerRecord out = MakeRedriveRecord(dead, "kledger.events");
  EXPECT_EQ(out.topic, "kledger.events");
  EXPECT_EQ(out.key, "acme");
  EXPECT_EQ(out.value, dead.value);
  EXPECT_FALSE(out.partition);  // the key decides, as for every event
  EXPECT_EQ(out.headers, (kafka::Headers{{"kledger-event-id", "evt-1"},
                                         {"kledger-event-type", "account_opened"},
                                         {"kledger-redriven-from", "3:5"}}));
}

TEST(EscapingTest, BinarySafePrintingAndHexDump) {
  EXPECT_EQ(EscapeBytes(std::string("ok\n\t\\\x00\xff", 7)), "ok\\n\\t\\\\\\x00\\xff");
  EXPECT_EQ(HexDump("ABC", 16), "00000000  41 42 43" + std::string(13 * 3, ' ') + "  |ABC|\n");
  const std::string two_rows = HexDump(std::string(40, 'x'), 20);  // cut at 20 bytes
  EXPECT_EQ(std::count(two_rows.begin(), two_rows.end(), '\n'), 2);
  EXPECT_NE(two_rows.find("00000010  78 78 78 78   "), std::string::npos) << two_rows;
}

// Against an in-process broker: what `list`, `show` and `redrive` do end to end.
class DeadLetterToolBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = kafka::EmbeddedBroker::Start(
        {.brokers = 1, .topics = {{"t.events", 2, 1}, {"t.events.dlt", 2, 1}}});
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(*broker);
    props_ =
        kafka::Merge(kafka::DevClientDefaults(), {{"bootstrap.servers", broker_->bootstrap()}});
    auto producer = kafka::Producer::Create(props_);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    // Partition 0: poison at 0 and 2, exhausted at 1; partition 1: one exhausted letter.
    const std::pair<int32_t, DeadLetterReason> letters[] = {
        {0, {PoisonCode::kUndecodable, "bad bytes", 1, 1000}},
        {0, {ApplyFailure::kStorage, "disk", 5, 2000}},
        {0, {PoisonCode::kUnknownEventType, "new type", 1, 3000}},
        {1, {ApplyFailure::kStorage, "disk", 5, 4000}},
    };
    int64_t original_offset = 10;
    for (const auto& [partition, why] : letters) {
      kafka::ProducerRecord record =
          MakeDeadLetter(Original(1, original_offset++), why, "t.events.dlt", "procs");
      record.partition = partition;
      auto delivered = (*producer)->Produce(std::move(record)).get();
      ASSERT_TRUE(delivered.ok()) << delivered.status().ToString();
    }
  }

  std::vector<DeadLetterInfo> Read(const DeadLetterSelection& selection, Status* status = nullptr) {
    std::vector<DeadLetterInfo> infos;
    Status s = ReadDeadLetters(props_, "t.events.dlt", selection,
                               [&](const kafka::ConsumedRecord&, const DeadLetterInfo& info) {
                                 infos.push_back(info);
                                 return Status::Ok();
                               });
    if (status) {
      *status = s;
    } else {
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return infos;
  }

  std::unique_ptr<kafka::EmbeddedBroker> broker_;
  kafka::Properties props_;
};

TEST_F(DeadLetterToolBrokerTest, ListsEverythingOrWhatTheFiltersAndIdsSelect) {
  EXPECT_EQ(Read({}).size(), 4u);
  auto exhausted = Read(F().Reason("retries_exhausted"));
  ASSERT_EQ(exhausted.size(), 2u);
  EXPECT_EQ(Read(F().ErrorCode("unknown_event_type")).front().id, (DeadLetterId{0, 2}));
  EXPECT_EQ(Read(F().Since(2000).Until(4000)).size(), 2u);
  EXPECT_EQ(Read(F().Limit(1)).size(), 1u);
  auto two = Read(Ids({{0, 2}, {1, 0}}));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].first_failure_ms.value_or(0) + two[1].first_failure_ms.value_or(0), 7000);
}

TEST_F(DeadLetterToolBrokerTest, UnknownIdsAreNotFoundAndNamed) {
  Status status;
  Read(Ids({{0, 1}, {0, 3}}), &status);
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("0:3"), std::string::npos) << status.message();
  EXPECT_EQ(status.message().find("0:1 "), std::string::npos) << status.message();
  Read(Ids({{5, 0}}), &status);
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("partition 5"), std::string::npos) << status.message();
  Read(F().Reason("sideways"), &status);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
}

TEST_F(DeadLetterToolBrokerTest, RedriveProducesToTheEventsTopicWithoutDltHeaders) {
  std::vector<kafka::ConsumedRecord> selected;
  Status read = ReadDeadLetters(props_, "t.events.dlt", Ids({{0, 1}}),
                                [&](const kafka::ConsumedRecord& r, const DeadLetterInfo&) {
                                  selected.push_back(r);
                                  return Status::Ok();
                                });
  ASSERT_TRUE(read.ok()) << read.ToString();
  ASSERT_EQ(selected.size(), 1u);
  int64_t last_done = 0;
  auto result = Redrive(props_, "t.events", selected, std::chrono::seconds(20),
                        [&](int64_t done, int64_t) { last_done = done; });
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->redriven, 1);
  EXPECT_EQ(result->failed, 0);
  EXPECT_EQ(last_done, 1);
  ASSERT_EQ(result->items.size(), 1u);
  const RedriveItem& item = result->items[0];
  ASSERT_TRUE(item.status.ok()) << item.status.ToString();

  auto scan = TopicScan::Open(props_, "t.events", [&] {
    ScanOptions options;
    options.partitions = {item.partition};
    return options;
  }());
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  std::vector<kafka::ConsumedRecord> events;
  while (!(*scan)->Finished()) {
    auto records = (*scan)->Next(std::chrono::milliseconds(200), 100);
    ASSERT_TRUE(records.ok()) << records.status().ToString();
    events.insert(events.end(), records->begin(), records->end());
  }
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].offset, item.offset);
  EXPECT_EQ(events[0].key, "acme");
  EXPECT_EQ(events[0].value, selected[0].value);
  EXPECT_EQ(kafka::FindHeader(events[0].headers, "kledger-redriven-from"), "0:1");
  EXPECT_EQ(kafka::FindHeader(events[0].headers, "kledger-event-id"), "evt-1");
  for (const auto& h : events[0].headers) EXPECT_NE(h.key.rfind("kledger-dlt-", 0), 0u) << h.key;
}

}  // namespace
}  // namespace kledger::processors
