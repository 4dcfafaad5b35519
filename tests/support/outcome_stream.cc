#include "tests/support/outcome_stream.h"

#include <set>
#include <thread>

#include "processors/topic_scan.h"

namespace kledger::testing {
namespace {

// Every record of `topic` up to the ends its partitions had when the read started, read
// committed (librdkafka's default isolation level).
Result<std::vector<kafka::ConsumedRecord>> ReadAll(const std::string& bootstrap,
                                                   const std::string& topic) {
  processors::ScanOptions options;
  options.reader_group = "kledger-test-outcome-check";
  ASSIGN_OR_RETURN(auto scan, processors::TopicScan::Open({{"bootstrap.servers", bootstrap},
                                                           {"isolation.level", "read_committed"}},
                                                          topic, options));
  std::vector<kafka::ConsumedRecord> out;
  while (!scan->Finished()) {
    ASSIGN_OR_RETURN(auto records, scan->Next(std::chrono::milliseconds(200), 5000));
    for (auto& r : records) out.push_back(std::move(r));
  }
  return out;
}

void Note(OutcomeStreamCheck& check, const std::string& problem) {
  if (check.problems.size() < 2000) check.problems += problem + "\n";
}

}  // namespace

Result<OutcomeStreamCheck> CheckOutcomeStream(const std::string& bootstrap,
                                              const std::string& events_topic,
                                              const std::string& outcomes_topic) {
  OutcomeStreamCheck check;
  ASSIGN_OR_RETURN(auto events, ReadAll(bootstrap, events_topic));
  std::set<std::pair<int32_t, int64_t>> logged;
  for (const auto& record : events) logged.emplace(record.partition, record.offset);
  check.events = static_cast<int64_t>(logged.size());
  ASSIGN_OR_RETURN(auto outcomes, ReadAll(bootstrap, outcomes_topic));
  check.outcomes = static_cast<int64_t>(outcomes.size());
  std::map<int32_t, int64_t> last;  // per outcomes partition, the highest source offset seen
  for (const auto& record : outcomes) {
    v1::OutcomeRecord outcome;
    if (!outcome.ParseFromString(record.value)) {
      return Status::Corruption("outcomes record " + std::to_string(record.partition) + ":" +
                                std::to_string(record.offset) + " is not an OutcomeRecord");
    }
    const std::pair<int32_t, int64_t> source{outcome.source_partition(), outcome.source_offset()};
    const std::string where = "source " + std::to_string(source.first) + ":" +
                              std::to_string(source.second) + " (outcomes " +
                              std::to_string(record.partition) + ":" +
                              std::to_string(record.offset) + ")";
    if (source.first != record.partition) Note(check, where + ": on another partition");
    if (!logged.contains(source)) {
      ++check.strays;
      Note(check, where + ": no such record in the events topic");
    }
    if (!check.first.emplace(source, outcome).second) {
      ++check.duplicates;
      Note(check, where + ": published again");
      continue;
    }
    auto [it, fresh] = last.emplace(record.partition, source.second);
    if (!fresh) {
      if (source.second <= it->second) {
        ++check.out_of_order;
        Note(check, where + ": after source offset " + std::to_string(it->second));
      }
      it->second = std::max(it->second, source.second);
    }
  }
  for (const auto& source : logged) {
    if (!check.first.contains(source)) {
      ++check.missing;
      Note(check, "source " + std::to_string(source.first) + ":" + std::to_string(source.second) +
                      ": no outcome");
    }
  }
  return check;
}

Result<OutcomeStreamCheck> AwaitOutcomeStream(const std::string& bootstrap,
                                              const std::string& events_topic,
                                              const std::string& outcomes_topic,
                                              std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    ASSIGN_OR_RETURN(auto check, CheckOutcomeStream(bootstrap, events_topic, outcomes_topic));
    if (check.missing == 0 || std::chrono::steady_clock::now() > deadline) return check;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

std::string Describe(const OutcomeStreamCheck& check) {
  return "events=" + std::to_string(check.events) + " outcomes=" + std::to_string(check.outcomes) +
         " missing=" + std::to_string(check.missing) +
         " duplicates=" + std::to_string(check.duplicates) +
         " out_of_order=" + std::to_string(check.out_of_order) +
         " strays=" + std::to_string(check.strays);
}

}  // namespace kledger::testing
