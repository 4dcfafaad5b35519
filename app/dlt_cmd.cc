// `kledger dlt list | show | redrive`: the operator's view of the dead-letter topic. Reading and
// selecting live in processors/dead_letter_tool.h; this file is flags and printing.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/cli.h"
#include "common/http.h"
#include "common/progress.h"
#include "processors/applier.h"
#include "processors/dead_letter_tool.h"

namespace kledger::app {
namespace {

// The value bytes `show` dumps when they are not an envelope.
constexpr size_t kHexDumpBytes = 256;

struct DltFlags {
  KafkaFlags kafka;
  std::vector<std::string> ids;
  std::string reason;
  std::string error_code;
  int32_t original_partition = -1;
  std::string since;
  std::string until;
  int64_t limit = 0;
  bool json = false;
  bool all = false;
  bool dry_run = false;
  int timeout_s = 60;
  // Set by the parse: which filters were given at all.
  CLI::Option* reason_opt = nullptr;
  CLI::Option* error_code_opt = nullptr;
  CLI::Option* partition_opt = nullptr;
  CLI::Option* limit_opt = nullptr;
};

int Fail(const char* command, const Status& status, int exit_code) {
  std::fprintf(stderr, "kledger dlt %s: %s\n", command, status.message().c_str());
  return exit_code;
}

// The selection the flags describe; InvalidArgument naming the bad flag or id.
Result<processors::DeadLetterSelection> ToSelection(const DltFlags& flags) {
  processors::DeadLetterSelection selection;
  for (const std::string& text : flags.ids) {
    ASSIGN_OR_RETURN(processors::DeadLetterId id, processors::ParseDeadLetterId(text));
    selection.ids.insert(id);
  }
  processors::DeadLetterFilter& filter = selection.filter;
  if (flags.reason_opt->count()) filter.reason = flags.reason;
  if (flags.error_code_opt->count()) filter.error_code = flags.error_code;
  if (flags.partition_opt->count()) filter.original_partition = flags.original_partition;
  if (flags.limit_opt && flags.limit_opt->count()) filter.limit = flags.limit;
  if (!flags.since.empty()) {
    auto since = processors::ParseTimeBound(flags.since);
    if (!since.ok()) return since.status().WithContext("--since");
    filter.since_ms = *since;
  }
  if (!flags.until.empty()) {
    auto until = processors::ParseTimeBound(flags.until);
    if (!until.ok()) return until.status().WithContext("--until");
    filter.until_ms = *until;
  }
  RETURN_IF_ERROR(filter.Validate());
  return selection;
}

// Reads the selected dead letters into memory (show and redrive need their bytes).
Result<std::vector<kafka::ConsumedRecord>> ReadSelected(
    const kafka::Properties& props, const DltFlags& flags,
    const processors::DeadLetterSelection& selection) {
  std::vector<kafka::ConsumedRecord> records;
  RETURN_IF_ERROR(processors::ReadDeadLetters(
      props, flags.kafka.dlt_topic(), selection,
      [&](const kafka::ConsumedRecord& record, const processors::DeadLetterInfo&) {
        records.push_back(record);
        return Status::Ok();
      }));
  return records;
}

int RunList(const DltFlags& flags) {
  auto props = ToProperties(flags.kafka);
  if (!props.ok()) return Fail("list", props.status(), 2);
  auto selection = ToSelection(flags);
  if (!selection.ok()) return Fail("list", selection.status(), 2);
  int64_t count = 0;
  Status read = processors::ReadDeadLetters(
      *props, flags.kafka.dlt_topic(), *selection,
      [&](const kafka::ConsumedRecord&, const processors::DeadLetterInfo& info) {
        const std::string line =
            flags.json ? processors::DeadLetterJson(info) : processors::DeadLetterLine(info);
        std::printf("%s\n", line.c_str());
        ++count;
        return Status::Ok();
      });
  std::fflush(stdout);
  if (!read.ok()) return Fail("list", read, 1);
  std::fprintf(stderr, "%lld dead letter(s) listed from %s\n", static_cast<long long>(count),
               flags.kafka.dlt_topic().c_str());
  return 0;
}

int RunShow(const DltFlags& flags) {
  auto props = ToProperties(flags.kafka);
  if (!props.ok()) return Fail("show", props.status(), 2);
  auto id = processors::ParseDeadLetterId(flags.ids.empty() ? "" : flags.ids.front());
  if (!id.ok()) return Fail("show", id.status(), 2);
  processors::DeadLetterSelection selection;
  selection.ids.insert(*id);
  auto records = ReadSelected(*props, flags, selection);
  if (!records.ok()) {
    return Fail("show", records.status(), records.status().code() == StatusCode::kNotFound ? 2 : 1);
  }
  const kafka::ConsumedRecord& record = records->front();
  std::printf("dead letter %s of %s\n", id->ToString().c_str(), flags.kafka.dlt_topic().c_str());
  std::printf("timestamp: %s\n", record.timestamp_ms >= 0
                                     ? processors::FormatRfc3339(record.timestamp_ms).c_str()
                                     : "-");
  std::printf("key: %s\n", processors::EscapeBytes(record.key).c_str());
  std::printf("headers:\n");
  for (const kafka::Header& header : record.headers) {
    std::printf("  %s: %s\n", processors::EscapeBytes(header.key).c_str(),
                processors::EscapeBytes(header.value).c_str());
  }
  std::printf("value: %zu bytes\n", record.value.size());
  // The processors' own check, so that show says what they would say about it today.
  std::string poison_code;
  auto envelope = processors::DecodeEvent(record, poison_code);
  if (envelope.ok()) {
    std::printf("decoded: a valid EventEnvelope\n%s\n", http::ToJson(*envelope).c_str());
    return 0;
  }
  std::printf("decoded: poison (%s): %s\n", poison_code.c_str(),
              envelope.status().message().c_str());
  v1::EventEnvelope partial;
  if (poison_code != "undecodable" && partial.ParseFromString(record.value)) {
    std::printf("as EventEnvelope (unknown fields not shown):\n%s\n",
                http::ToJson(partial).c_str());
  }
  std::printf("first %zu bytes:\n%s", std::min(record.value.size(), kHexDumpBytes),
              processors::HexDump(record.value, kHexDumpBytes).c_str());
  return 0;
}

int RunRedrive(const DltFlags& flags) {
  auto props = ToProperties(flags.kafka);
  if (!props.ok()) return Fail("redrive", props.status(), 2);
  auto selection = ToSelection(flags);
  if (!selection.ok()) return Fail("redrive", selection.status(), 2);
  if (selection->ids.empty() && selection->filter.Empty() && !flags.all) {
    return Fail("redrive",
                Status::InvalidArgument("say which dead letters to redrive: ids (P:O as `kledger "
                                        "dlt list` prints them), filters, or --all"),
                2);
  }
  auto records = ReadSelected(*props, flags, *selection);
  if (!records.ok()) {
    return Fail("redrive", records.status(),
                records.status().code() == StatusCode::kNotFound ? 2 : 1);
  }
  const std::string events_topic = flags.kafka.events_topic();
  for (const auto& record : *records) {
    const processors::DeadLetterInfo info = processors::DescribeDeadLetter(record);
    if (info.reason == "poison") {
      std::fprintf(stderr,
                   "note: %s was dead-lettered as poison (%s); unless the processors now "
                   "accept it, it will be dead-lettered again\n",
                   info.id.ToString().c_str(), info.error_code.c_str());
    }
    if (flags.dry_run) {
      std::printf("would redrive %s -> %s\n", processors::DeadLetterLine(info).c_str(),
                  events_topic.c_str());
    }
  }
  if (flags.dry_run) {
    std::printf("dry run: would redrive %zu, nothing sent\n", records->size());
    return 0;
  }
  if (records->empty()) {
    std::printf("no dead letter matches; redriven 0, failed 0\n");
    return 0;
  }
  std::optional<ProgressBar> bar;
  bar.emplace("redrive", static_cast<int64_t>(records->size()));
  auto result =
      processors::Redrive(*props, events_topic, *records, std::chrono::seconds(flags.timeout_s),
                          [&](int64_t done, int64_t) { bar->Update(done); });
  bar->Finish();
  if (!result.ok()) return Fail("redrive", result.status(), 1);
  for (const auto& item : result->items) {
    if (item.status.ok()) {
      std::printf("redriven %s -> %s %d:%lld\n", item.from.ToString().c_str(), events_topic.c_str(),
                  item.partition, static_cast<long long>(item.offset));
    } else {
      std::printf("failed %s: %s\n", item.from.ToString().c_str(), item.status.ToString().c_str());
    }
  }
  std::printf("redriven %lld, failed %lld\n", static_cast<long long>(result->redriven),
              static_cast<long long>(result->failed));
  return result->failed == 0 ? 0 : 1;
}

// The selection flags list and redrive share.
void AddFilterFlags(CLI::App& cmd, DltFlags& flags, bool with_limit) {
  flags.reason_opt = cmd.add_option("--reason", flags.reason, "poison | retries_exhausted");
  flags.error_code_opt =
      cmd.add_option("--error-code", flags.error_code,
                     "kledger-dlt-error-code, e.g. undecodable, unknown_event_type, storage");
  flags.partition_opt = cmd.add_option("--original-partition", flags.original_partition,
                                       "the events-topic partition the record came from");
  cmd.add_option("--since", flags.since,
                 "first failure at or after this time (RFC 3339 or epoch ms)");
  cmd.add_option("--until", flags.until, "first failure before this time (RFC 3339 or epoch ms)");
  if (with_limit) flags.limit_opt = cmd.add_option("--limit", flags.limit, "at most N records");
}

}  // namespace

void RegisterDlt(CLI::App& app, Runner& run) {
  auto* dlt = app.add_subcommand(
      "dlt", "dead-letter tooling: list, show and redrive records of <prefix>.events.dlt");
  dlt->require_subcommand(1);

  auto list_flags = std::make_shared<DltFlags>();
  auto* list = dlt->add_subcommand(
      "list", "list dead letters, one line each (P:O is the id show and redrive take)");
  AddKafkaFlags(*list, list_flags->kafka, /*need_bootstrap=*/true);
  AddFilterFlags(*list, *list_flags, /*with_limit=*/true);
  list->add_flag("--json", list_flags->json, "one JSON object per line");
  list->callback([&run, list_flags] { run = [list_flags] { return RunList(*list_flags); }; });

  auto show_flags = std::make_shared<DltFlags>();
  auto* show = dlt->add_subcommand(
      "show", "show one dead letter: every header and the value, decoded when it decodes");
  AddKafkaFlags(*show, show_flags->kafka, /*need_bootstrap=*/true);
  show->add_option("id", show_flags->ids, "the dead letter's P:O")->required()->expected(1);
  show->callback([&run, show_flags] { run = [show_flags] { return RunShow(*show_flags); }; });

  auto redrive_flags = std::make_shared<DltFlags>();
  auto* redrive = dlt->add_subcommand(
      "redrive",
      "produce selected dead letters back to <prefix>.events (original key, value and headers, "
      "plus kledger-redriven-from); an event is applied once however often it is redriven");
  AddKafkaFlags(*redrive, redrive_flags->kafka, /*need_bootstrap=*/true);
  redrive->add_option("ids", redrive_flags->ids, "dead letters by P:O; with filters, narrowed");
  AddFilterFlags(*redrive, *redrive_flags, /*with_limit=*/true);
  redrive->add_flag("--all", redrive_flags->all, "every dead letter (when no id or filter given)");
  redrive->add_flag("--dry-run", redrive_flags->dry_run, "print what would be redriven, send none");
  redrive
      ->add_option("--timeout-s", redrive_flags->timeout_s,
                   "how long to wait for Kafka's acknowledgements")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  redrive->callback(
      [&run, redrive_flags] { run = [redrive_flags] { return RunRedrive(*redrive_flags); }; });
}

}  // namespace kledger::app
