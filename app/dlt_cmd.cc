// `kledger dlt list | show | redrive`: the operator's view of the dead-letter topic. Reading and
// selecting live in processors/dead_letter_tool.h, the operations the HTTP routes share in
// processors/dead_letter_views.h; this file is flags and printing.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/cli.h"
#include "common/http.h"
#include "common/progress.h"
#include "processors/dead_letter_tool.h"
#include "processors/dead_letter_views.h"
#include "processors/failure.h"

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

// The flags as the request the HTTP route takes, so that both select alike (ToSelection).
v1::RedriveRequest ToRequest(const DltFlags& flags) {
  v1::RedriveRequest request;
  for (const std::string& id : flags.ids) request.add_ids(id);
  if (flags.reason_opt->count()) request.set_reason(flags.reason);
  if (flags.error_code_opt->count()) request.set_error_code(flags.error_code);
  if (flags.partition_opt->count()) request.set_original_partition(flags.original_partition);
  if (flags.limit_opt && flags.limit_opt->count()) request.set_limit(flags.limit);
  request.set_since(flags.since);
  request.set_until(flags.until);
  request.set_all(flags.all);
  request.set_dry_run(flags.dry_run);
  return request;
}

// The selection the flags describe; InvalidArgument naming the bad flag or id. `list` needs no
// selection to be given.
Result<processors::DeadLetterSelection> ToSelection(const DltFlags& flags, bool listing) {
  v1::RedriveRequest request = ToRequest(flags);
  if (listing) request.set_all(true);
  auto selection = processors::ToSelection(request);
  if (!selection.ok()) {
    // The flags' names, not the request's.
    const std::string message = selection.status().message();
    if (message.rfind("since", 0) == 0 || message.rfind("until", 0) == 0) {
      return Status::InvalidArgument("--" + message);
    }
    if (message.rfind("say which", 0) == 0) {
      return Status::InvalidArgument(
          "say which dead letters to redrive: ids (P:O as `kledger dlt list` prints them), "
          "filters, or --all");
    }
  }
  return selection;
}

int RunList(const DltFlags& flags) {
  auto props = ToProperties(flags.kafka);
  if (!props.ok()) return Fail("list", props.status(), 2);
  auto selection = ToSelection(flags, /*listing=*/true);
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
  auto detail = processors::ShowDeadLetter(*props, flags.kafka.dlt_topic(), *id);
  if (!detail.ok()) {
    return Fail("show", detail.status(), detail.status().code() == StatusCode::kNotFound ? 2 : 1);
  }
  const v1::DeadLetterView& letter = detail->dead_letter();
  std::printf("dead letter %s of %s\n", letter.id().c_str(), flags.kafka.dlt_topic().c_str());
  std::printf("timestamp: %s\n", letter.dlt_time().empty() ? "-" : letter.dlt_time().c_str());
  std::printf("key: %s\n", letter.key().c_str());
  std::printf("headers:\n");
  for (const v1::RecordHeader& header : detail->headers()) {
    std::printf("  %s: %s\n", header.key().c_str(), header.value().c_str());
  }
  std::printf("value: %zu bytes\n", detail->value().size());
  if (detail->valid()) {
    std::printf("decoded: a valid EventEnvelope\n%s\n", http::ToJson(detail->envelope()).c_str());
    return 0;
  }
  std::printf("decoded: poison (%s): %s\n", detail->poison_code().c_str(),
              detail->poison_message().c_str());
  if (detail->has_envelope()) {
    std::printf("as EventEnvelope (unknown fields not shown):\n%s\n",
                http::ToJson(detail->envelope()).c_str());
  }
  std::printf("first %zu bytes:\n%s", std::min(detail->value().size(), kHexDumpBytes),
              processors::HexDump(detail->value(), kHexDumpBytes).c_str());
  return 0;
}

int RunRedrive(const DltFlags& flags) {
  auto props = ToProperties(flags.kafka);
  if (!props.ok()) return Fail("redrive", props.status(), 2);
  auto selection = ToSelection(flags, /*listing=*/false);
  if (!selection.ok()) return Fail("redrive", selection.status(), 2);
  const std::string events_topic = flags.kafka.events_topic();
  std::optional<ProgressBar> bar;
  auto result = processors::RedriveSelected(
      *props, flags.kafka.dlt_topic(), events_topic, *selection, flags.dry_run,
      std::chrono::seconds(flags.timeout_s), [&](int64_t done, int64_t total) {
        if (!bar) bar.emplace("redrive", total);
        bar->Update(done);
      });
  if (bar) bar->Finish();
  if (!result.ok()) {
    return Fail("redrive", result.status(),
                result.status().code() == StatusCode::kNotFound ? 2 : 1);
  }
  for (const v1::DeadLetterView& letter : result->selected()) {
    if (processors::ParseDeadLetterKind(letter.reason()) == processors::DeadLetterKind::kPoison) {
      std::fprintf(stderr,
                   "note: %s was dead-lettered as poison (%s); unless the processors now "
                   "accept it, it will be dead-lettered again\n",
                   letter.id().c_str(), letter.error_code().c_str());
    }
    if (flags.dry_run) {
      std::printf("would redrive %s (reason=%s error=%s event=%s) -> %s\n", letter.id().c_str(),
                  letter.reason().c_str(), letter.error_code().c_str(),
                  letter.event_id().empty() ? "-" : letter.event_id().c_str(),
                  events_topic.c_str());
    }
  }
  if (flags.dry_run) {
    std::printf("dry run: would redrive %d, nothing sent\n", result->selected_size());
    return 0;
  }
  if (result->selected_size() == 0) {
    std::printf("no dead letter matches; redriven 0, failed 0\n");
    return 0;
  }
  for (const v1::RedrivenItem& item : result->items()) {
    if (item.ok()) {
      std::printf("redriven %s -> %s %d:%lld\n", item.from().c_str(), events_topic.c_str(),
                  item.partition(), static_cast<long long>(item.offset()));
    } else {
      std::printf("failed %s: %s\n", item.from().c_str(), item.error().c_str());
    }
  }
  std::printf("redriven %lld, failed %lld\n", static_cast<long long>(result->redriven()),
              static_cast<long long>(result->failed()));
  return result->failed() == 0 ? 0 : 1;
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
