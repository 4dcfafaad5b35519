// Writes records that cannot be processed to the dead-letter topic: original key and bytes,
// plus the kledger-dlt-* headers of SPEC §3.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/kafka/producer.h"
#include "common/kafka/record.h"
#include "common/status.h"
#include "processors/failure.h"

namespace kledger::processors {

// The dead-letter record for `original`: same key and value, original headers kept, and the
// kledger-dlt-* headers added.
kafka::ProducerRecord MakeDeadLetter(const kafka::ConsumedRecord& original,
                                     const DeadLetterReason& why, const std::string& dlt_topic,
                                     const std::string& consumer_group);

class DeadLetterWriter {
 public:
  DeadLetterWriter(kafka::Producer& producer, std::string dlt_topic, std::string consumer_group);

  // Appends the dead letter and waits for Kafka's acknowledgement: the caller advances past the
  // original only after OK. Unavailable/Timeout when it was not acknowledged in `timeout`.
  Status Write(const kafka::ConsumedRecord& original, const DeadLetterReason& why,
               std::chrono::milliseconds timeout);

 private:
  kafka::Producer& producer_;
  std::string dlt_topic_;
  std::string consumer_group_;
};

}  // namespace kledger::processors
