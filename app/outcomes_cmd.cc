// `kledger outcomes tail`: kcat for the outcome stream. Follows <prefix>.outcomes as a
// read_committed consumer that assigns its partitions itself (it joins no group, so it moves no
// one's offsets and any number can run), and prints each OutcomeRecord as one line or as JSON.
// What the stream is: docs/outcomes.md; how it is written: processors/README.md.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "app/cli.h"
#include "common/domain/identifiers.h"
#include "common/http.h"
#include "common/kafka/consumer.h"
#include "common/kafka/partitioner.h"
#include "kledger/v1/outcomes.pb.h"

namespace kledger::app {
namespace {

// How long one Poll() waits: also how soon a stop request (signal, --exit-at-end) is seen.
constexpr auto kPollTimeout = std::chrono::milliseconds(200);
constexpr size_t kPollRecords = 1000;
// Metadata and watermark requests at start.
constexpr auto kMetadataTimeout = std::chrono::seconds(15);

struct TailFlags {
  KafkaFlags kafka;
  std::string instance;         // only this instance's partition and records; empty: all
  bool from_beginning = false;  // start at each partition's first record, not its end
  bool json = false;
  bool exit_at_end = false;  // stop at the ends the partitions had at start
  int64_t max = 0;           // stop after this many records printed; 0: no limit
};

// Where one partition's reading is: `next` is the next offset to hand out, `end` the last stable
// offset at start (what --exit-at-end reads up to).
struct Position {
  int64_t next = 0;
  int64_t end = 0;
};

std::string SideName(v1::Side side) {
  return side == v1::DEBIT ? "DR" : side == v1::CREDIT ? "CR" : "??";
}

// What an APPLIED event changed, in a few words on the same line: the transaction after it and
// its entries, or the account; then the moved accounts' balances after it: the posted amount
// (signed in the account's normal direction), and the pending amount and available when pending
// entries make them worth saying.
std::string ChangeSummary(const v1::OutcomeRecord& record) {
  std::string out;
  if (record.has_transaction()) {
    const v1::TransactionView& t = record.transaction();
    out += "  " + t.source() + "/" + t.source_idempk() + " " +
           v1::TransactionStatus_Name(t.status()) + ":";
    for (int i = 0; i < t.entries_size(); ++i) {
      const v1::Entry& e = t.entries(i);
      out += (i == 0 ? " " : ", ") + SideName(e.direction()) + " " + e.account() + " " +
             std::to_string(e.amount()) + " " + e.currency();
    }
  }
  if (record.has_account()) {
    const v1::AccountView& a = record.account();
    out += "  account " + a.address() + " " + v1::AccountType_Name(a.type()) + " " + a.currency() +
           " " + v1::AccountStatus_Name(a.status());
  }
  if (record.balances_size() > 0) {
    out += "  | after:";
    for (const v1::AccountBalances& b : record.balances()) {
      const v1::Balances& balances = b.balances();
      out +=
          " " + b.address() + "=" + std::to_string(balances.posted().amount()) + " " + b.currency();
      if (balances.pending().amount() != 0 || balances.available() != balances.posted().amount()) {
        out += " (pending " + std::to_string(balances.pending().amount()) + ", available " +
               std::to_string(balances.available()) + ")";
      }
    }
  }
  return out;
}

// One outcome as a line: where the event is in the events topic (p<partition> @<offset>, as a
// 202 and the query API name it), instance, type, event id, outcome, then why or what changed.
std::string HumanLine(const v1::OutcomeRecord& record) {
  auto or_dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  std::string line = "p" + std::to_string(record.source_partition()) + " @" +
                     std::to_string(record.source_offset()) + " " + or_dash(record.instance_id()) +
                     " " + or_dash(record.event_type()) + " " + or_dash(record.event_id()) + "  " +
                     v1::Outcome_Name(record.outcome());
  if (!record.reason().empty()) line += " " + record.reason();
  if (record.outcome() == v1::APPLIED) {
    line += ChangeSummary(record);
  } else if (!record.message().empty()) {
    line += ": " + record.message();
  }
  return line;
}

// The record as protobuf's JSON mapping (snake_case, as the HTTP API answers), plus where it is
// in the outcomes topic; the offset a string like every int64 of the mapping.
std::string JsonLine(const v1::OutcomeRecord& record, const kafka::ConsumedRecord& kafka_record) {
  std::string json = http::ToJson(record);
  // ToJson prints one object, `{...}`: the two fields go before its closing brace.
  json.pop_back();
  if (json.size() > 1) json += ",";
  json += "\"partition\":" + std::to_string(kafka_record.partition) + ",\"offset\":\"" +
          std::to_string(kafka_record.offset) + "\"}";
  return json;
}

class Tail {
 public:
  explicit Tail(const TailFlags& flags) : flags_(flags) {}

  // Creates the consumer and assigns the partitions at their start offsets. NotFound when the
  // topic does not exist; other errors as the cluster gave them.
  Status Open(kafka::Properties props) {
    // Never joined (Assign only), but librdkafka wants one.
    props["group.id"] = "kledger-outcomes-tail";
    // The relay writes in transactions: only committed records are outcomes. -X may say
    // otherwise, to look at what an aborted transaction left.
    props.emplace("isolation.level", "read_committed");
    ASSIGN_OR_RETURN(consumer_, kafka::Consumer::Create(props, &no_rebalances_));
    const std::string topic = flags_.kafka.outcomes_topic();
    ASSIGN_OR_RETURN(const int32_t count, consumer_->PartitionCount(topic, kMetadataTimeout));
    std::vector<int32_t> partitions;
    if (!flags_.instance.empty()) {
      // The outcomes partition of an instance is its events partition: the same murmur2 of the key
      // over the same partition count.
      partitions.push_back(kafka::PartitionForKey(flags_.instance, count));
    } else {
      for (int32_t p = 0; p < count; ++p) partitions.push_back(p);
    }
    std::vector<kafka::TopicPartition> assignment;
    for (int32_t p : partitions) {
      // Under read_committed the high watermark librdkafka reports is the last stable offset:
      // starting "at the end" there does not skip a transaction that is still open.
      ASSIGN_OR_RETURN(auto marks, consumer_->QueryWatermarks(topic, p, kMetadataTimeout));
      const int64_t start = flags_.from_beginning ? marks.first : marks.second;
      positions_[p] = Position{start, marks.second};
      assignment.push_back({topic, p, start});
    }
    return consumer_->Assign(assignment);
  }

  // Prints records until `stop`, --max or (with --exit-at-end) the ends. On error (a broker gone
  // for good, records deleted under the reader) returns it.
  Status Run(const std::atomic<bool>& stop) {
    while (!stop.load() && !Done()) {
      ASSIGN_OR_RETURN(auto records, consumer_->Poll(kPollTimeout, kPollRecords));
      for (const kafka::ConsumedRecord& record : records) {
        positions_[record.partition].next = record.offset + 1;
        if (!flags_.instance.empty() && record.key != flags_.instance) continue;
        Print(record);
        if (flags_.max > 0 && printed_ >= flags_.max) break;
      }
      std::fflush(stdout);
      if (flags_.exit_at_end) RETURN_IF_ERROR(StepOverMarkers());
    }
    return Status::Ok();
  }

  int64_t printed() const { return printed_; }

 private:
  void Print(const kafka::ConsumedRecord& record) {
    v1::OutcomeRecord outcome;
    if (!outcome.ParseFromString(record.value)) {
      std::fprintf(stderr,
                   "kledger outcomes tail: record %d:%lld of %s is not an OutcomeRecord "
                   "(%zu bytes); skipped\n",
                   record.partition, static_cast<long long>(record.offset), record.topic.c_str(),
                   record.value.size());
      return;
    }
    const std::string line = flags_.json ? JsonLine(outcome, record) : HumanLine(outcome);
    std::printf("%s\n", line.c_str());
    ++printed_;
  }

  bool Done() const {
    if (flags_.max > 0 && printed_ >= flags_.max) return true;
    if (!flags_.exit_at_end) return false;
    return std::all_of(positions_.begin(), positions_.end(),
                       [](const auto& entry) { return entry.second.next >= entry.second.end; });
  }

  // Transaction markers take offsets but are never handed out, so a partition whose last record
  // before its end is a commit marker would never reach it by records alone: the consumer's
  // position, which moves past markers, says it has.
  Status StepOverMarkers() {
    std::vector<kafka::TopicPartition> pending;
    for (const auto& [p, position] : positions_) {
      if (position.next < position.end) {
        pending.push_back({flags_.kafka.outcomes_topic(), p, -1});
      }
    }
    if (pending.empty()) return Status::Ok();
    ASSIGN_OR_RETURN(auto read, consumer_->Positions(pending));
    for (const kafka::TopicPartition& tp : read) {
      Position& position = positions_[tp.partition];
      position.next = std::max(position.next, std::min(tp.offset, position.end));
    }
    return Status::Ok();
  }

  const TailFlags& flags_;
  kafka::NoRebalanceListener no_rebalances_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::map<int32_t, Position> positions_;
  int64_t printed_ = 0;
};

int RunTail(const TailFlags& flags) {
  auto props = ToProperties(flags.kafka);
  if (!props.ok()) {
    spdlog::error("{}", props.status().message());
    return 2;
  }
  if (!flags.instance.empty() && !domain::IsValidInstanceId(flags.instance)) {
    spdlog::error("--instance {}: not an instance id (^[A-Za-z0-9_.:-]{{1,128}}$)", flags.instance);
    return 2;
  }
  Tail tail(flags);
  if (Status s = tail.Open(*props); !s.ok()) {
    if (s.code() == StatusCode::kNotFound) {
      const std::string prefix = flags.kafka.topic_prefix == KafkaFlags().topic_prefix
                                     ? ""
                                     : " --topic-prefix " + flags.kafka.topic_prefix;
      spdlog::error(
          "topic {} does not exist ({}): create kledger's topics with `kledger topics "
          "create --bootstrap {}{}`, or check --topic-prefix",
          flags.kafka.outcomes_topic(), s.message(), flags.kafka.bootstrap, prefix);
    } else {
      spdlog::error("cannot read {}: {}", flags.kafka.outcomes_topic(), s.ToString());
    }
    return 1;
  }
  // The reading runs on its own thread so that this one can take SIGINT/SIGTERM (blocked in every
  // thread, see BlockShutdownSignals) and ask it to stop between two polls.
  std::atomic<bool> stop{false};
  std::atomic<bool> finished{false};
  Status result;
  std::thread reader([&] {
    result = tail.Run(stop);
    finished = true;
  });
  if (WaitForShutdown([&] { return finished.load(); })) stop = true;
  reader.join();
  std::fflush(stdout);
  if (!result.ok()) {
    spdlog::error("reading {} failed after {} record(s): {}", flags.kafka.outcomes_topic(),
                  tail.printed(), result.ToString());
    return 1;
  }
  return 0;
}

}  // namespace

void RegisterOutcomes(CLI::App& app, Runner& run) {
  auto* outcomes =
      app.add_subcommand("outcomes",
                         "the outcome stream <prefix>.outcomes: one decided outcome per event "
                         "(docs/outcomes.md)");
  outcomes->require_subcommand(1);

  auto flags = std::make_shared<TailFlags>();
  auto* tail = outcomes->add_subcommand(
      "tail",
      "follow <prefix>.outcomes decoded (read_committed, no consumer group): one line "
      "per outcome, p<partition> @<offset> of the event in <prefix>.events first");
  AddKafkaFlags(*tail, flags->kafka, /*need_bootstrap=*/true);
  tail->add_option("--instance", flags->instance,
                   "only this instance's outcomes (reads only its partition)");
  tail->add_flag("--from-beginning", flags->from_beginning,
                 "start at each partition's first record (default: only new ones)");
  tail->add_flag("--json", flags->json,
                 "one JSON object per line: the OutcomeRecord (snake_case) plus its outcomes-topic "
                 "partition and offset");
  tail->add_flag("--exit-at-end", flags->exit_at_end,
                 "stop once every partition is read to the end it had at start");
  tail->add_option("--max", flags->max, "stop after N outcomes printed (0: no limit)")
      ->check(CLI::Validator(
          [](const std::string& value) {
            return value.rfind('-', 0) == 0 ? std::string("must be 0 or more") : std::string();
          },
          "N>=0"))
      ->capture_default_str();
  tail->callback([&run, flags] { run = [flags] { return RunTail(*flags); }; });
}

}  // namespace kledger::app
