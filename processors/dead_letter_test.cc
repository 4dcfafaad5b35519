#include "processors/dead_letter.h"

#include <gtest/gtest.h>

namespace kledger::processors {
namespace {

TEST(DeadLetterTest, KeepsKeyValueAndHeadersAndAddsEverySpecHeader) {
  kafka::ConsumedRecord original;
  original.topic = "kledger.events";
  original.partition = 7;
  original.offset = 42;
  original.timestamp_ms = 1700000000123;
  original.key = "acme";
  original.value = std::string("\x00\xff garbage", 10);
  original.headers = {{"kledger-event-id", "abc"}};

  DeadLetterReason why{PoisonCode::kUndecodable, "not an EventEnvelope", 1, 1700000000999};
  kafka::ProducerRecord dlt = MakeDeadLetter(original, why, "kledger.events.dlt", "procs");

  EXPECT_EQ(dlt.topic, "kledger.events.dlt");
  EXPECT_EQ(dlt.key, original.key);
  EXPECT_EQ(dlt.value, original.value);
  EXPECT_EQ(kafka::FindHeader(dlt.headers, "kledger-event-id"), "abc");
  const std::pair<const char*, const char*> expected[] = {
      {"kledger-dlt-reason", "poison"},
      {"kledger-dlt-error-code", "undecodable"},
      {"kledger-dlt-error-message", "not an EventEnvelope"},
      {"kledger-dlt-original-topic", "kledger.events"},
      {"kledger-dlt-original-partition", "7"},
      {"kledger-dlt-original-offset", "42"},
      {"kledger-dlt-original-timestamp", "1700000000123"},
      {"kledger-dlt-attempts", "1"},
      {"kledger-dlt-first-failure-ms", "1700000000999"},
      {"kledger-dlt-consumer-group", "procs"},
  };
  for (const auto& [key, value] : expected) {
    EXPECT_EQ(kafka::FindHeader(dlt.headers, key), value) << key;
  }
}

}  // namespace

TEST(DeadLetterTest, AnExhaustedRetryIsLabelledByItsLastFailure) {
  kafka::ConsumedRecord original;
  original.topic = "kledger.events";
  original.key = "acme";
  DeadLetterReason why{ApplyFailure::kDeadLetterWrite, "not acknowledged", 5, 1700000000999};
  EXPECT_EQ(why.kind(), DeadLetterKind::kRetriesExhausted);
  kafka::ProducerRecord dlt = MakeDeadLetter(original, why, "kledger.events.dlt", "procs");
  EXPECT_EQ(kafka::FindHeader(dlt.headers, "kledger-dlt-reason"), "retries_exhausted");
  EXPECT_EQ(kafka::FindHeader(dlt.headers, "kledger-dlt-error-code"), "dead_letter_write");
  EXPECT_EQ(kafka::FindHeader(dlt.headers, "kledger-dlt-attempts"), "5");
}

TEST(DeadLetterTest, ReasonNamesAreTheSpecsAndParseBack) {
  EXPECT_EQ(Name(DeadLetterKind::kPoison), "poison");
  EXPECT_EQ(Name(DeadLetterKind::kRetriesExhausted), "retries_exhausted");
  for (DeadLetterKind kind : kDeadLetterKinds) EXPECT_EQ(ParseDeadLetterKind(Name(kind)), kind);
  EXPECT_EQ(ParseDeadLetterKind("Poison"), std::nullopt);
  EXPECT_EQ(ParseDeadLetterKind(""), std::nullopt);
  EXPECT_EQ(Name(ApplyFailure::kStorage), "storage");
  EXPECT_EQ(Name(ApplyFailure::kDeadLetterWrite), "dead_letter_write");
  EXPECT_EQ(Name(PoisonCode::kUnsupportedSchemaVersion), "unsupported_schema_version");
}

}  // namespace kledger::processors
