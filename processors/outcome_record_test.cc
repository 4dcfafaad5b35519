// The outcome record's headline: the relay reads an outbox entry's key and headers from it, so it
// must be the OutcomeRecord's own fields, read from the OutcomeRecord's bytes.
#include "processors/outcome_record.h"

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace kledger::processors {
namespace {

using google::protobuf::FieldDescriptor;

TEST(OutcomeHeadlineTest, EveryFieldIsTheOutcomeRecordsFieldOfTheSameNumberNameAndWireType) {
  const auto* headline = internal::OutcomeHeadline::descriptor();
  const auto* record = v1::OutcomeRecord::descriptor();
  ASSERT_GT(headline->field_count(), 0);
  for (int i = 0; i < headline->field_count(); ++i) {
    const FieldDescriptor* field = headline->field(i);
    const FieldDescriptor* original = record->FindFieldByNumber(field->number());
    ASSERT_NE(original, nullptr) << field->name();
    EXPECT_EQ(field->name(), original->name());
    EXPECT_EQ(field->is_repeated(), original->is_repeated()) << field->name();
    // An enum is read as the int32 of its number: both are varints on the wire.
    const auto type = original->type() == FieldDescriptor::TYPE_ENUM ? FieldDescriptor::TYPE_INT32
                                                                     : original->type();
    EXPECT_EQ(field->type(), type) << field->name();
  }
}

TEST(OutcomeHeadlineTest, HeadersAreReadFromAWholeRecordsBytes) {
  v1::OutcomeRecord record;
  record.set_schema_version(1);
  record.set_event_id("e-1");
  record.set_instance_id("acme");
  record.set_event_type("transaction_created");
  record.set_correlation_id("c-9");
  record.set_submitted_at_ms(1234);
  record.set_source_partition(7);
  record.set_source_offset(4242);
  record.set_outcome(v1::REJECTED);
  record.set_reason("insufficient_funds");
  record.mutable_transaction()->set_source("shop");
  auto* moved = record.add_balances();
  moved->set_address("assets:cash");
  moved->mutable_balances()->set_available(-5);

  internal::OutcomeHeadline headline;
  ASSERT_TRUE(headline.ParseFromString(record.SerializeAsString()));
  EXPECT_EQ(headline.instance_id(), "acme");  // the Kafka key
  std::map<std::string, std::string> headers;
  for (const auto& [key, value] : OutcomeHeaders(headline)) headers[key] = value;
  EXPECT_EQ(headers["kledger-event-id"], "e-1");
  EXPECT_EQ(headers["kledger-event-type"], "transaction_created");
  EXPECT_EQ(headers["kledger-schema-version"], "1");
  EXPECT_EQ(headers["kledger-correlation-id"], "c-9");
  EXPECT_EQ(headers["content-type"], "application/x-protobuf");
  EXPECT_EQ(headers[std::string(kOutcomeHeader)], "rejected");
  EXPECT_EQ(headers[std::string(kSourcePartitionHeader)], "7");
  EXPECT_EQ(headers[std::string(kSourceOffsetHeader)], "4242");
  EXPECT_EQ(headers.size(), 8u);
}

}  // namespace
}  // namespace kledger::processors
