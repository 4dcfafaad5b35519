#include "processors/dead_letter.h"

namespace kledger::processors {

kafka::ProducerRecord MakeDeadLetter(const kafka::ConsumedRecord& original,
                                     const DeadLetterReason& why, const std::string& dlt_topic,
                                     const std::string& consumer_group) {
  kafka::ProducerRecord record;
  record.topic = dlt_topic;
  record.key = original.key;
  record.value = original.value;
  record.headers = original.headers;
  auto add = [&](const char* key, std::string value) {
    record.headers.push_back({key, std::move(value)});
  };
  add("kledger-dlt-reason", std::string(Name(why.kind())));
  add("kledger-dlt-error-code", std::string(why.code_name()));
  add("kledger-dlt-error-message", why.error_message);
  add("kledger-dlt-original-topic", original.topic);
  add("kledger-dlt-original-partition", std::to_string(original.partition));
  add("kledger-dlt-original-offset", std::to_string(original.offset));
  add("kledger-dlt-original-timestamp", std::to_string(original.timestamp_ms));
  add("kledger-dlt-attempts", std::to_string(why.attempts));
  add("kledger-dlt-first-failure-ms", std::to_string(why.first_failure_ms));
  add("kledger-dlt-consumer-group", consumer_group);
  return record;
}

DeadLetterWriter::DeadLetterWriter(kafka::Producer& producer, std::string dlt_topic,
                                   std::string consumer_group)
    : producer_(producer),
      dlt_topic_(std::move(dlt_topic)),
      consumer_group_(std::move(consumer_group)) {}

Status DeadLetterWriter::Write(const kafka::ConsumedRecord& original, const DeadLetterReason& why,
                               std::chrono::milliseconds timeout) {
  auto delivered = producer_.Produce(MakeDeadLetter(original, why, dlt_topic_, consumer_group_));
  if (delivered.wait_for(timeout) != std::future_status::ready) {
    return Status::Timeout("the dead-letter topic did not acknowledge within " +
                           std::to_string(timeout.count()) + " ms");
  }
  auto report = delivered.get();
  if (!report.ok()) return report.status().WithContext("writing to the dead-letter topic");
  return Status::Ok();
}

}  // namespace kledger::processors
