// Issue 5's dead-letter "done when", across processes, one behaviour a test: poison records
// written straight to the events topic with kcat (garbage, a truncated envelope, an unknown event
// type, an unsupported schema version) land in the dead-letter topic with every SPEC §3 header
// while the events behind them are applied; `kledger dlt list/show` report them; and a dead
// letter redriven twice with `kledger dlt redrive` is applied exactly once (the second copy is a
// DUPLICATE). The HTTP routes under /v1/dead-letters give the same letters as the CLI (issue 19).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/event_id.h"
#include "common/http.h"
#include "kledger/v1/api.pb.h"
#include "kledger/v1/events.pb.h"
#include "tests/support/cluster_suite.h"
#include "tests/support/outcome_stream.h"

namespace kledger::testing {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kInstance[] = "dlt";
constexpr auto kToolTimeout = std::chrono::seconds(30);
constexpr char kGarbage[] = "this is not a protobuf \xff\xfe\x00!";

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

struct Poisoned;
struct StuckOverHttp;

class DeadLetterTest : public ClusterSuite<DeadLetterTest> {
 public:
  static ClusterOptions Options() { return {.partitions = 4, .processors = 1}; }

 protected:
  static ToolRun Exec(const std::vector<std::string>& argv) {
    return cluster().RunTool(argv, kToolTimeout);
  }

  static ToolRun Dlt(std::vector<std::string> args) {
    args.insert(args.begin(), "dlt");
    return cluster().RunKledger(args, kToolTimeout);
  }

  // kcat -P: one record holding exactly `value` (from a file, so any byte is allowed).
  static void KcatProduce(const std::string& topic, int32_t partition, const std::string& key,
                          const std::string& value, const std::vector<std::string>& headers) {
    const std::string file = cluster().log_dir() + "/value-" + std::to_string(++values_);
    std::ofstream(file, std::ios::binary) << value;
    std::vector<std::string> argv = {
        "/usr/bin/kcat",           "-P", "-b", cluster().bootstrap(), "-t", topic, "-p",
        std::to_string(partition), "-k", key};
    for (const auto& h : headers) {
      argv.push_back("-H");
      argv.push_back(h);
    }
    argv.push_back(file);
    const ToolRun run = Exec(argv);
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }

  // kcat -C: one record of the events topic, formatted by `format`.
  static std::string KcatRead(int32_t partition, int64_t offset, const std::string& format) {
    return Exec({"/usr/bin/kcat", "-C", "-b", cluster().bootstrap(), "-t", cluster().events_topic(),
                 "-p", std::to_string(partition), "-o", std::to_string(offset), "-c", "1", "-e",
                 "-f", format})
        .out;
  }

  static v1::Ack OpenAccount(const std::string& address, const std::string& type) {
    return Accept(std::string("/v1/instances/") + kInstance + "/accounts",
                  R"({"address":")" + address + R"(","type":")" + type + R"(","currency":"USD"})");
  }

  static v1::Ack Sale(const std::string& idempk, int64_t amount) {
    const std::string a = std::to_string(amount);
    return Accept(std::string("/v1/instances/") + kInstance + "/transactions",
                  R"({"source":"shop","source_idempk":")" + idempk +
                      R"(","status":"posted","entries":[)"
                      R"({"account":"assets:cash","direction":"debit","amount":)" +
                      a +
                      R"(,"currency":"USD"},)"
                      R"({"account":"revenue:sales","direction":"credit","amount":)" +
                      a + R"(,"currency":"USD"}]})");
  }

  // assets:cash once the processor has applied `min_offset` of its partition.
  static v1::AccountView Cash(int64_t min_offset) {
    const std::string path = std::string("/v1/instances/") + kInstance +
                             "/accounts/assets:cash?min_offset=" + std::to_string(min_offset);
    v1::AccountView view;
    const Status got = GetJson(*cluster().ProcessorClient(0), path, view);
    EXPECT_TRUE(got.ok()) << got.ToString();
    return view;
  }

  static v1::EventOutcomeView Outcome(const std::string& event_id) {
    v1::EventOutcomeView view;
    const Status got =
        GetJson(*cluster().ProcessorClient(0),
                std::string("/v1/instances/") + kInstance + "/events/" + event_id, view);
    EXPECT_TRUE(got.ok()) << got.ToString();
    return view;
  }

  // An account's balances as of `offset` of its partition (waits until it is applied).
  static v1::BalancesAt BalancesAt(const std::string& address, int64_t offset) {
    const std::string path = std::string("/v1/instances/") + kInstance + "/accounts/" + address +
                             "/balances?at_offset=" + std::to_string(offset);
    v1::BalancesAt view;
    const Status got = GetJson(*cluster().ProcessorClient(0), path, view);
    EXPECT_TRUE(got.ok()) << got.ToString();
    return view;
  }

  // The poison records every test below reads, written by the first that asks.
  static const Poisoned& WrittenPoison();
  // A poison record and an exhausted letter for the HTTP tests, written by the first that asks.
  static const StuckOverHttp& WrittenForHttp();

  // kledger_events_processed_total{outcome="duplicate"} summed over event types.
  static double DuplicatesCounted() {
    auto res = cluster().ProcessorClient(0)->Get("/metrics");
    if (!res) return -1;
    double total = 0;
    for (const std::string& line : Lines(res->body)) {
      if (line.rfind("kledger_events_processed_total{", 0) == 0 &&
          line.find("outcome=\"duplicate\"") != std::string::npos) {
        total += std::stod(line.substr(line.rfind(' ') + 1));
      }
    }
    return total;
  }

  static std::vector<nlohmann::json> ListJson(const std::vector<std::string>& filters) {
    std::vector<std::string> args = {"list", "--json"};
    args.insert(args.end(), filters.begin(), filters.end());
    const ToolRun run = Dlt(args);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    std::vector<nlohmann::json> letters;
    for (const std::string& line : Lines(run.out)) letters.push_back(nlohmann::json::parse(line));
    return letters;
  }

  static inline int values_ = 0;
};

// Four poison records, each between two valid sales of one instance (same key, same partition),
// written once for the tests below that read them back.
struct Poisoned {
  struct Poison {
    std::string value;
    std::string error_code;
  };
  int64_t start_ms = 0;
  int32_t partition = -1;
  v1::EventEnvelope sale;  // the first sale, as the log holds it
  std::vector<Poison> poison;
  std::vector<v1::Ack> around;          // the sales: one before the first poison, one after each
  std::vector<nlohmann::json> letters;  // their dead letters as `dlt list --json` prints them
};

const Poisoned& DeadLetterTest::WrittenPoison() {
  static Poisoned* made = nullptr;
  if (made != nullptr) return *made;
  made = new Poisoned;
  Poisoned& p = *made;
  p.start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  OpenAccount("assets:cash", "asset");
  OpenAccount("revenue:sales", "revenue");
  p.around.push_back(Sale("s-1", 100));
  p.partition = p.around[0].partition();
  const std::string valid = KcatRead(p.partition, p.around[0].offset(), "%s");
  EXPECT_TRUE(p.sale.ParseFromString(valid)) << valid.size() << " bytes";
  EXPECT_TRUE(p.sale.has_transaction_created());
  v1::EventEnvelope unknown_type = p.sale;
  unknown_type.clear_transaction_created();
  unknown_type.set_event_id("from-a-newer-build");
  // Field 99, length-delimited, two bytes: what an event type added later looks like today.
  const std::string unknown_bytes = unknown_type.SerializeAsString() + "\x9a\x06\x02hi";
  v1::EventEnvelope next_schema = p.sale;
  next_schema.set_schema_version(2);
  p.poison = {
      {std::string(kGarbage, sizeof kGarbage - 1), "undecodable"},
      {valid.substr(0, valid.size() - 5), "undecodable"},
      {unknown_bytes, "unknown_event_type"},
      {next_schema.SerializeAsString(), "unsupported_schema_version"},
  };
  for (size_t i = 0; i < p.poison.size(); ++i) {
    KcatProduce(cluster().events_topic(), p.partition, kInstance, p.poison[i].value,
                {"kledger-event-id=poison-" + std::to_string(i)});
    p.around.push_back(Sale("s-" + std::to_string(i + 2), 100 * static_cast<int64_t>(i + 2)));
  }
  Cash(p.around.back().offset());  // applied: the poison before it is dead-lettered
  for (const nlohmann::json& letter : ListJson({})) {
    if (letter["event_id"].get<std::string>().starts_with("poison-")) p.letters.push_back(letter);
  }
  return p;
}

TEST_F(DeadLetterTest, PoisonIsDeadLetteredWhileTheEventsBehindItAreApplied) {
  const Poisoned& p = WrittenPoison();
  EXPECT_EQ(p.letters.size(), p.poison.size());
  // Everything around the poison was applied: 100 + 200 + 300 + 400 + 500, as of the last sale.
  const auto balances = BalancesAt("assets:cash", p.around.back().offset());
  EXPECT_EQ(balances.balances().posted().debit(), 1500) << balances.ShortDebugString();
}

TEST_F(DeadLetterTest, ListShowsEveryHeaderInLogOrder) {
  const Poisoned& p = WrittenPoison();
  ASSERT_EQ(p.letters.size(), p.poison.size());
  for (size_t i = 0; i < p.letters.size(); ++i) {
    const auto& letter = p.letters[i];
    SCOPED_TRACE(letter.dump());
    EXPECT_EQ(letter["reason"], "poison");
    EXPECT_EQ(letter["error_code"], p.poison[i].error_code);
    EXPECT_FALSE(letter["error_message"].get<std::string>().empty());
    EXPECT_EQ(letter["original_topic"], cluster().events_topic());
    EXPECT_EQ(letter["original_partition"], p.partition);
    EXPECT_GT(letter["original_offset"].get<int64_t>(), p.around[i].offset());
    EXPECT_LT(letter["original_offset"].get<int64_t>(), p.around[i + 1].offset());
    EXPECT_GE(letter["original_timestamp_ms"].get<int64_t>(), p.start_ms - 1000);
    EXPECT_EQ(letter["attempts"], 1);
    EXPECT_GE(letter["first_failure_ms"].get<int64_t>(), p.start_ms - 1000);
    EXPECT_EQ(letter["consumer_group"], cluster().group());
    EXPECT_EQ(letter["event_id"], "poison-" + std::to_string(i));
    EXPECT_EQ(letter["key"], kInstance);
    EXPECT_EQ(letter["value_bytes"], p.poison[i].value.size());
  }
  const ToolRun text = Dlt({"list"});
  EXPECT_EQ(text.exit_code, 0);
  ASSERT_EQ(p.letters.size(), 4u);
  EXPECT_NE(text.out.find(p.letters[2]["id"].get<std::string>() +
                          " reason=poison error=unknown_event_type"),
            std::string::npos)
      << text.out;
}

TEST_F(DeadLetterTest, FiltersNarrowTheList) {
  const Poisoned& p = WrittenPoison();
  const std::string since = std::to_string(p.start_ms - 1000);
  auto ids = [](const std::vector<nlohmann::json>& letters) {
    std::set<std::string> out;
    for (const auto& letter : letters) out.insert(letter["id"].get<std::string>());
    return out;
  };
  const auto unknown = ListJson({"--error-code", "unknown_event_type"});
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0]["event_id"], "poison-2");
  // Nothing of this run exhausted its retries (a written-in one has a first failure long ago).
  EXPECT_EQ(ListJson({"--reason", "retries_exhausted", "--since", since}).size(), 0u);
  EXPECT_EQ(ListJson({"--reason", "poison", "--original-partition", std::to_string(p.partition),
                      "--limit", "2"})
                .size(),
            2u);
  const auto recent = ids(ListJson({"--since", since}));
  for (const auto& letter : p.letters) EXPECT_TRUE(recent.contains(letter["id"])) << letter["id"];
  EXPECT_EQ(ListJson({"--since", "2999-01-01T00:00:00Z"}).size(), 0u);
}

TEST_F(DeadLetterTest, ShowPrintsEveryHeaderAndTheValueDecodedWhereItDecodes) {
  const Poisoned& p = WrittenPoison();
  ASSERT_EQ(p.letters.size(), 4u);
  const ToolRun shown = Dlt({"show", p.letters[2]["id"]});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  for (const std::string& header :
       {std::string("kledger-dlt-reason: poison"),
        std::string("kledger-dlt-error-code: unknown_event_type"),
        std::string("kledger-dlt-error-message: "),
        "kledger-dlt-original-topic: " + cluster().events_topic(),
        "kledger-dlt-original-partition: " + std::to_string(p.partition),
        "kledger-dlt-original-offset: " +
            std::to_string(p.letters[2]["original_offset"].get<int64_t>()),
        std::string("kledger-dlt-original-timestamp: "), std::string("kledger-dlt-attempts: 1"),
        std::string("kledger-dlt-first-failure-ms: "),
        std::string("kledger-dlt-consumer-group: ") + cluster().group(),
        std::string("kledger-event-id: poison-2"), std::string("key: dlt")}) {
    EXPECT_NE(shown.out.find(header), std::string::npos) << header << " missing in:\n" << shown.out;
  }
  EXPECT_NE(shown.out.find("decoded: poison (unknown_event_type)"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("\"event_id\":\"from-a-newer-build\""), std::string::npos) << shown.out;
  const ToolRun garbage = Dlt({"show", p.letters[0]["id"]});
  ASSERT_EQ(garbage.exit_code, 0) << garbage.err;
  EXPECT_NE(garbage.out.find("value: " + std::to_string(sizeof kGarbage - 1) + " bytes"),
            std::string::npos)
      << garbage.out;
  EXPECT_NE(garbage.out.find("decoded: poison (undecodable)"), std::string::npos) << garbage.out;
  EXPECT_NE(garbage.out.find("|this is not a pr|"), std::string::npos) << garbage.out;
}

TEST_F(DeadLetterTest, BadInputGetsAClearErrorAndANonZeroExit) {
  const Poisoned& p = WrittenPoison();
  ASSERT_FALSE(p.letters.empty());
  for (const auto& [args, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"show", "nonsense"}, "PARTITION:OFFSET"},
           {{"show", "99:0"}, "partition 99 does not exist"},
           {{"show", std::to_string(p.letters[0]["dlt_partition"].get<int>()) + ":100000"},
            "not in " + cluster().dlt_topic()},
           {{"list", "--reason", "banana"}, "poison or retries_exhausted"},
           {{"list", "--since", "last tuesday"}, "RFC 3339"},
           {{"redrive"}, "say which dead letters"},
       }) {
    const ToolRun bad = Dlt(args);
    EXPECT_NE(bad.exit_code, 0) << args[0] << " " << args[1];
    EXPECT_NE(bad.err.find(says), std::string::npos) << says << " not in: " << bad.err;
  }
}

// A valid event that exhausted its retries (written into the DLT as the processor would):
// redriven twice with the CLI, applied once.
TEST_F(DeadLetterTest, ARedrivenDeadLetterIsAppliedOnceHoweverOftenItIsRedriven) {
  const Poisoned& p = WrittenPoison();
  const int32_t partition = p.partition;
  v1::EventEnvelope stuck = p.sale;
  stuck.set_correlation_id("redrive-test");
  for (auto& entry : *stuck.mutable_transaction_created()->mutable_entries()) entry.set_amount(7);
  stuck.mutable_transaction_created()->set_source_idempk("stuck-1");
  stuck.set_event_id(domain::DeriveEventId(stuck));
  KcatProduce(cluster().dlt_topic(), 0, kInstance, stuck.SerializeAsString(),
              {"kledger-event-id=" + stuck.event_id(), "kledger-event-type=transaction_created",
               "kledger-schema-version=1", "content-type=application/x-protobuf",
               "kledger-dlt-reason=retries_exhausted", "kledger-dlt-error-code=storage",
               "kledger-dlt-error-message=injected write failure",
               "kledger-dlt-original-topic=" + cluster().events_topic(),
               "kledger-dlt-original-partition=" + std::to_string(partition),
               "kledger-dlt-original-offset=999", "kledger-dlt-original-timestamp=1",
               "kledger-dlt-attempts=5", "kledger-dlt-first-failure-ms=2",
               std::string("kledger-dlt-consumer-group=") + cluster().group()});
  std::string stuck_id;
  for (const auto& letter : ListJson({"--reason", "retries_exhausted"})) {
    if (letter["event_id"] == stuck.event_id()) stuck_id = letter["id"];
  }
  ASSERT_FALSE(stuck_id.empty());

  const ToolRun dry = Dlt({"redrive", "--dry-run", stuck_id});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("would redrive 1, nothing sent"), std::string::npos) << dry.out;

  const double duplicates_before = DuplicatesCounted();
  std::vector<int64_t> redriven_offsets;
  for (int round = 0; round < 2; ++round) {
    const ToolRun redrive = Dlt({"redrive", stuck_id});
    ASSERT_EQ(redrive.exit_code, 0) << redrive.out << redrive.err;
    EXPECT_NE(redrive.out.find("redriven 1, failed 0"), std::string::npos) << redrive.out;
    const std::string marker = "redriven " + stuck_id + " -> " + cluster().events_topic() + " " +
                               std::to_string(partition) + ":";
    const size_t at = redrive.out.find(marker);
    ASSERT_NE(at, std::string::npos) << redrive.out;
    redriven_offsets.push_back(std::stoll(redrive.out.substr(at + marker.size())));
  }
  // 7 more as of the first copy, nothing more as of the second.
  auto debit_at = [](int64_t offset) {
    return BalancesAt("assets:cash", offset).balances().posted().debit();
  };
  const int64_t before = debit_at(redriven_offsets[0] - 1);
  EXPECT_EQ(debit_at(redriven_offsets[0]), before + 7);
  EXPECT_EQ(debit_at(redriven_offsets[1]), before + 7);
  EXPECT_GT(redriven_offsets[1], redriven_offsets[0]);
  const v1::EventOutcomeView outcome = Outcome(stuck.event_id());
  EXPECT_EQ(outcome.outcome(), v1::APPLIED);
  EXPECT_EQ(outcome.offset(), redriven_offsets[0]);  // the first copy applied; the second not
  EXPECT_EQ(DuplicatesCounted(), duplicates_before + 1);

  // The outcome stream says the same: each copy's outcome published once at its own offset.
  auto stream = AwaitOutcomeStream(cluster().bootstrap(), cluster().events_topic(),
                                   cluster().outcomes_topic(), std::chrono::seconds(30));
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  EXPECT_EQ(stream->missing, 0) << stream->problems;
  EXPECT_EQ(stream->duplicates, 0) << stream->problems;
  const auto first = stream->first.find({partition, redriven_offsets[0]});
  const auto second = stream->first.find({partition, redriven_offsets[1]});
  ASSERT_TRUE(first != stream->first.end() && second != stream->first.end());
  EXPECT_EQ(first->second.outcome(), v1::APPLIED);
  EXPECT_EQ(first->second.event_id(), stuck.event_id());
  EXPECT_EQ(second->second.outcome(), v1::DUPLICATE);
  EXPECT_EQ(second->second.event_id(), stuck.event_id());

  // The redriven record: original key, value and event headers; no kledger-dlt-* header.
  const std::string headers = KcatRead(partition, redriven_offsets[0], "%k|%h");
  EXPECT_EQ(headers.rfind(std::string(kInstance) + "|", 0), 0u) << headers;
  EXPECT_NE(headers.find("kledger-redriven-from=" + stuck_id), std::string::npos) << headers;
  EXPECT_NE(headers.find("kledger-event-id=" + stuck.event_id()), std::string::npos) << headers;
  EXPECT_EQ(headers.find("kledger-dlt-"), std::string::npos) << headers;
  EXPECT_EQ(KcatRead(partition, redriven_offsets[0], "%s"), stuck.SerializeAsString());
}

// For the HTTP tests: a poison record between two sales, and a letter of a valid event that
// exhausted its retries (written into the DLT as the processor would), each found by its event id
// among the letters over HTTP.
struct StuckOverHttp {
  int32_t partition = -1;
  v1::EventEnvelope stuck;  // the exhausted event, redriven by the last test
  std::string poison_id;    // the poison's letter id
  std::string stuck_id;     // the exhausted event's letter id
};

const StuckOverHttp& DeadLetterTest::WrittenForHttp() {
  static StuckOverHttp* made = nullptr;
  if (made != nullptr) return *made;
  made = new StuckOverHttp;
  StuckOverHttp& w = *made;
  OpenAccount("assets:cash", "asset");
  OpenAccount("revenue:sales", "revenue");
  const v1::Ack sale = Sale("http-1", 3);
  w.partition = sale.partition();
  KcatProduce(cluster().events_topic(), w.partition, kInstance,
              std::string(kGarbage, sizeof kGarbage - 1), {"kledger-event-id=http-poison"});
  const v1::Ack after = Sale("http-2", 4);
  Cash(after.offset());  // the poison behind it was dead-lettered
  EXPECT_TRUE(w.stuck.ParseFromString(KcatRead(w.partition, sale.offset(), "%s")));
  w.stuck.mutable_transaction_created()->set_source_idempk("stuck-http");
  w.stuck.set_event_id(domain::DeriveEventId(w.stuck));
  KcatProduce(cluster().dlt_topic(), 1, kInstance, w.stuck.SerializeAsString(),
              {"kledger-event-id=" + w.stuck.event_id(), "kledger-event-type=transaction_created",
               "kledger-schema-version=1", "kledger-dlt-reason=retries_exhausted",
               "kledger-dlt-error-code=storage", "kledger-dlt-error-message=injected",
               "kledger-dlt-original-topic=" + cluster().events_topic(),
               "kledger-dlt-original-partition=" + std::to_string(w.partition),
               "kledger-dlt-original-offset=998", "kledger-dlt-attempts=5",
               "kledger-dlt-first-failure-ms=2"});
  for (const nlohmann::json& letter : ListJson({})) {
    if (letter["event_id"] == "http-poison") w.poison_id = letter["id"];
    if (letter["event_id"] == w.stuck.event_id()) w.stuck_id = letter["id"];
  }
  return w;
}

// Every letter, page by page over HTTP, in (partition, offset) order: the CLI lists the same, and
// a filter narrows both alike.
TEST_F(DeadLetterTest, HttpListsTheLettersTheCliLists) {
  WrittenForHttp();
  auto http = cluster().ProcessorClient(0);
  std::vector<v1::DeadLetterView> listed;
  std::string cursor;
  for (int pages = 0; pages < 100; ++pages) {
    v1::DeadLetterPage page;
    const Status got = GetJson(
        *http, "/v1/dead-letters?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), page);
    ASSERT_TRUE(got.ok()) << got.ToString();
    for (const auto& letter : page.items()) listed.push_back(letter);
    cursor = page.next_cursor();
    if (cursor.empty()) break;
  }
  std::vector<nlohmann::json> cli = ListJson({});
  std::sort(cli.begin(), cli.end(), [](const auto& a, const auto& b) {
    return std::pair(a["dlt_partition"].template get<int>(),
                     a["dlt_offset"].template get<int64_t>()) <
           std::pair(b["dlt_partition"].template get<int>(),
                     b["dlt_offset"].template get<int64_t>());
  });
  ASSERT_EQ(listed.size(), cli.size());
  ASSERT_GE(listed.size(), 2u);
  for (size_t i = 0; i < listed.size(); ++i) {
    SCOPED_TRACE(cli[i].dump());
    EXPECT_EQ(listed[i].id(), cli[i]["id"]);
    EXPECT_EQ(listed[i].reason(), cli[i]["reason"]);
    EXPECT_EQ(listed[i].error_code(), cli[i]["error_code"]);
    EXPECT_EQ(listed[i].event_id(), cli[i]["event_id"]);
    EXPECT_EQ(listed[i].original_offset(), cli[i]["original_offset"].get<int64_t>());
    EXPECT_EQ(listed[i].value_bytes(), cli[i]["value_bytes"].get<int64_t>());
  }

  v1::DeadLetterPage exhausted;
  const Status got =
      GetJson(*http, "/v1/dead-letters?reason=retries_exhausted&error_code=storage", exhausted);
  ASSERT_TRUE(got.ok()) << got.ToString();
  EXPECT_EQ(static_cast<size_t>(exhausted.items_size()),
            ListJson({"--reason", "retries_exhausted", "--error-code", "storage"}).size());
}

// Shown over HTTP: the headers the CLI prints, and the poison decoded as the processors would; an
// unknown id is a 404, a malformed one a 400.
TEST_F(DeadLetterTest, HttpShowsALetterAsTheCliDoes) {
  const StuckOverHttp& w = WrittenForHttp();
  ASSERT_FALSE(w.poison_id.empty());
  auto http = cluster().ProcessorClient(0);
  v1::DeadLetterDetail detail;
  const Status got = GetJson(*http, "/v1/dead-letters/" + w.poison_id, detail);
  ASSERT_TRUE(got.ok()) << got.ToString();
  EXPECT_FALSE(detail.valid());
  EXPECT_EQ(detail.poison_code(), "undecodable");
  EXPECT_EQ(detail.value(), std::string(kGarbage, sizeof kGarbage - 1));
  const ToolRun cli_show = Dlt({"show", w.poison_id});
  ASSERT_EQ(cli_show.exit_code, 0);
  for (const auto& header : detail.headers()) {
    EXPECT_NE(cli_show.out.find("  " + header.key() + ": " + header.value()), std::string::npos)
        << header.key();
  }
  EXPECT_EQ(http->Get("/v1/dead-letters/99:0")->status, 404);
  EXPECT_EQ(http->Get("/v1/dead-letters/nonsense")->status, 400);
}

// /v1/stats counts the letters as the topic's watermarks do: nothing was ever deleted from it, so
// every letter the CLI lists.
TEST_F(DeadLetterTest, StatsCountTheLettersTheCliLists) {
  WrittenForHttp();
  v1::Stats stats;
  const Status got = GetJson(*cluster().ProcessorClient(0), "/v1/stats", stats);
  ASSERT_TRUE(got.ok()) << got.ToString();
  EXPECT_EQ(stats.dead_letter_depth(), static_cast<int64_t>(ListJson({}).size()));
  EXPECT_GE(stats.outcomes().at("dead_lettered"), 1);
}

// A redrive over HTTP is refused without a selection, and a dry run sends nothing.
TEST_F(DeadLetterTest, HttpRedriveNeedsASelectionAndADryRunSendsNothing) {
  const StuckOverHttp& w = WrittenForHttp();
  ASSERT_FALSE(w.stuck_id.empty());
  auto http = cluster().ProcessorClient(0);
  auto refused = http->Post("/v1/dead-letters/redrive", "{}", kJson);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);
  EXPECT_NE(refused->body.find("say which dead letters"), std::string::npos) << refused->body;
  auto dry = http->Post("/v1/dead-letters/redrive",
                        R"({"ids":[")" + w.stuck_id + R"("],"dry_run":true})", kJson);
  ASSERT_TRUE(dry && dry->status == 200) << (dry ? dry->body : "");
  v1::RedriveResponse dry_run;
  ASSERT_TRUE(http::ParseJson(dry->body, dry_run).ok());
  EXPECT_EQ(dry_run.selected_size(), 1);
  EXPECT_EQ(dry_run.items_size(), 0);
}

// Redriven over HTTP twice: the first copy is applied, the second is a duplicate.
TEST_F(DeadLetterTest, ARedriveOverHttpTwiceAppliesOnce) {
  const StuckOverHttp& w = WrittenForHttp();
  ASSERT_FALSE(w.stuck_id.empty());
  auto http = cluster().ProcessorClient(0);
  const double duplicates_before = DuplicatesCounted();
  std::vector<int64_t> offsets;
  for (int round = 0; round < 2; ++round) {
    auto res =
        http->Post("/v1/dead-letters/redrive", R"({"ids":[")" + w.stuck_id + R"("]})", kJson);
    ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "");
    v1::RedriveResponse redriven;
    ASSERT_TRUE(http::ParseJson(res->body, redriven).ok());
    ASSERT_EQ(redriven.redriven(), 1) << res->body;
    ASSERT_EQ(redriven.items_size(), 1);
    EXPECT_EQ(redriven.items(0).partition(), w.partition);
    offsets.push_back(redriven.items(0).offset());
    Cash(offsets.back());
  }
  const v1::EventOutcomeView outcome = Outcome(w.stuck.event_id());
  EXPECT_EQ(outcome.outcome(), v1::APPLIED);
  EXPECT_EQ(outcome.offset(), offsets[0]);
  EXPECT_EQ(DuplicatesCounted(), duplicates_before + 1);
}

}  // namespace
}  // namespace kledger::testing
