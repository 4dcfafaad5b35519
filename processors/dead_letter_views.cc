#include "processors/dead_letter_views.h"

#include <algorithm>
#include <vector>

#include "processors/applier.h"

namespace kledger::processors {

v1::DeadLetterView ToView(const DeadLetterInfo& info) {
  v1::DeadLetterView view;
  view.set_id(info.id.ToString());
  view.set_dlt_partition(info.id.partition);
  view.set_dlt_offset(info.id.offset);
  if (info.dlt_timestamp_ms >= 0) view.set_dlt_time(FormatRfc3339(info.dlt_timestamp_ms));
  view.set_key(EscapeBytes(info.key));
  view.set_value_bytes(static_cast<int64_t>(info.value_bytes));
  view.set_reason(info.reason);
  view.set_error_code(info.error_code);
  view.set_error_message(info.error_message);
  view.set_original_topic(info.original_topic);
  if (info.original_partition) view.set_original_partition(*info.original_partition);
  if (info.original_offset) view.set_original_offset(*info.original_offset);
  if (info.original_timestamp_ms && *info.original_timestamp_ms >= 0) {
    view.set_original_time(FormatRfc3339(*info.original_timestamp_ms));
  }
  if (info.attempts) view.set_attempts(*info.attempts);
  if (info.first_failure_ms) view.set_first_failure(FormatRfc3339(*info.first_failure_ms));
  view.set_consumer_group(info.consumer_group);
  view.set_event_id(info.event_id);
  return view;
}

Result<v1::DeadLetterPage> ListDeadLetterPage(const kafka::Properties& props,
                                              const std::string& dlt_topic,
                                              const DeadLetterFilter& filter, int limit,
                                              std::string_view cursor) {
  DeadLetterId from{0, 0};
  if (!cursor.empty()) {
    auto id = ParseDeadLetterId(cursor);
    if (!id.ok()) {
      return Status::InvalidArgument("cursor '" + std::string(cursor) +
                                     "' is malformed: pass a next_cursor from an earlier page, or "
                                     "none for the first page");
    }
    from = *id;
  }
  limit = std::clamp(limit, 1, 1000);
  DeadLetterSelection selection;
  selection.filter = filter;
  selection.filter.limit.reset();
  std::vector<DeadLetterInfo> letters;
  RETURN_IF_ERROR(ReadDeadLetters(props, dlt_topic, selection,
                                  [&](const kafka::ConsumedRecord&, const DeadLetterInfo& info) {
                                    if (info.id >= from) letters.push_back(info);
                                    return Status::Ok();
                                  }));
  // The scan reads partitions side by side; pages go in (partition, offset) order.
  std::sort(letters.begin(), letters.end(),
            [](const DeadLetterInfo& a, const DeadLetterInfo& b) { return a.id < b.id; });
  v1::DeadLetterPage page;
  for (const DeadLetterInfo& info : letters) {
    if (page.items_size() == limit) {
      page.set_next_cursor(info.id.ToString());
      break;
    }
    *page.add_items() = ToView(info);
  }
  return page;
}

Result<v1::DeadLetterDetail> ShowDeadLetter(const kafka::Properties& props,
                                            const std::string& dlt_topic, DeadLetterId id) {
  DeadLetterSelection selection;
  selection.ids.insert(id);
  v1::DeadLetterDetail detail;
  RETURN_IF_ERROR(ReadDeadLetters(
      props, dlt_topic, selection,
      [&](const kafka::ConsumedRecord& record, const DeadLetterInfo& info) {
        *detail.mutable_dead_letter() = ToView(info);
        for (const kafka::Header& header : record.headers) {
          v1::RecordHeader& shown = *detail.add_headers();
          shown.set_key(EscapeBytes(header.key));
          shown.set_value(EscapeBytes(header.value));
        }
        detail.set_value(record.value);
        // The processors' own check, so that it says what they would say about it
        // today.
        auto envelope = DecodeEvent(record);
        detail.set_valid(envelope.ok());
        if (envelope.ok()) {
          *detail.mutable_envelope() = *std::move(envelope);
          return Status::Ok();
        }
        detail.set_poison_code(std::string(Name(envelope.kind())));
        detail.set_poison_message(envelope.status().message());
        v1::EventEnvelope partial;
        if (envelope.kind() != PoisonCode::kUndecodable && partial.ParseFromString(record.value)) {
          *detail.mutable_envelope() = std::move(partial);
        }
        return Status::Ok();
      }));
  return detail;
}

Result<DeadLetterSelection> ToSelection(const v1::RedriveRequest& request) {
  DeadLetterSelection selection;
  for (const std::string& text : request.ids()) {
    ASSIGN_OR_RETURN(DeadLetterId id, ParseDeadLetterId(text));
    selection.ids.insert(id);
  }
  DeadLetterFilter& filter = selection.filter;
  if (!request.reason().empty()) filter.reason = request.reason();
  if (!request.error_code().empty()) filter.error_code = request.error_code();
  if (request.has_original_partition()) filter.original_partition = request.original_partition();
  if (request.has_limit()) filter.limit = request.limit();
  if (!request.since().empty()) {
    auto since = ParseTimeBound(request.since());
    if (!since.ok()) return since.status().WithContext("since");
    filter.since_ms = *since;
  }
  if (!request.until().empty()) {
    auto until = ParseTimeBound(request.until());
    if (!until.ok()) return until.status().WithContext("until");
    filter.until_ms = *until;
  }
  RETURN_IF_ERROR(filter.Validate());
  if (selection.ids.empty() && filter.Empty() && !request.all()) {
    return Status::InvalidArgument(
        "say which dead letters to redrive: ids (P:O as the list shows them), filters, or all");
  }
  return selection;
}

Result<v1::RedriveResponse> RedriveSelected(const kafka::Properties& props,
                                            const std::string& dlt_topic,
                                            const std::string& events_topic,
                                            const DeadLetterSelection& selection, bool dry_run,
                                            std::chrono::milliseconds timeout,
                                            const ToolProgress& progress) {
  std::vector<kafka::ConsumedRecord> records;
  v1::RedriveResponse response;
  RETURN_IF_ERROR(
      ReadDeadLetters(props, dlt_topic, selection,
                      [&](const kafka::ConsumedRecord& record, const DeadLetterInfo& info) {
                        records.push_back(record);
                        *response.add_selected() = ToView(info);
                        return Status::Ok();
                      }));
  if (dry_run || records.empty()) return response;
  ASSIGN_OR_RETURN(RedriveResult result, Redrive(props, events_topic, records, timeout, progress));
  for (const RedriveItem& item : result.items) {
    v1::RedrivenItem& shown = *response.add_items();
    shown.set_from(item.from.ToString());
    shown.set_ok(item.status.ok());
    if (item.status.ok()) {
      shown.set_partition(item.partition);
      shown.set_offset(item.offset);
    } else {
      shown.set_error(item.status.ToString());
    }
  }
  response.set_redriven(result.redriven);
  response.set_failed(result.failed);
  return response;
}

}  // namespace kledger::processors
