// Checks the outcome stream against the log, for the integration, real-Kafka and chaos tests:
// reads <prefix>.events and <prefix>.outcomes to their ends as a read_committed consumer would,
// and counts every record of the log without an outcome (missing), every outcome beyond the first
// for a record (duplicates) and every outcome published out of log order.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "common/status.h"
#include "kledger/v1/outcomes.pb.h"

namespace kledger::testing {

struct OutcomeStreamCheck {
  int64_t events = 0;      // data records of the events topic
  int64_t outcomes = 0;    // records of the outcomes topic
  int64_t missing = 0;     // events without an outcome
  int64_t duplicates = 0;  // outcomes of a record that had one already
  // First outcomes of a record whose source offset is not above every earlier one's of their
  // partition: the log order broken. (A repeat of an earlier record is a duplicate, not this.)
  int64_t out_of_order = 0;
  int64_t strays = 0;  // outcomes naming a record the events topic does not hold
  // The first outcome of each record, by (source partition, source offset).
  std::map<std::pair<int32_t, int64_t>, v1::OutcomeRecord> first;
  std::string problems;  // a few examples of what went wrong, for the failure message
};

// Reads both topics once.
Result<OutcomeStreamCheck> CheckOutcomeStream(const std::string& bootstrap,
                                              const std::string& events_topic,
                                              const std::string& outcomes_topic);

// Reads them until no outcome is missing or `timeout` passes (the relays publish after the
// processors apply), and returns the last reading.
Result<OutcomeStreamCheck> AwaitOutcomeStream(const std::string& bootstrap,
                                              const std::string& events_topic,
                                              const std::string& outcomes_topic,
                                              std::chrono::seconds timeout);

// "events=N outcomes=N missing=N duplicates=N out_of_order=N strays=N"
std::string Describe(const OutcomeStreamCheck& check);

}  // namespace kledger::testing
