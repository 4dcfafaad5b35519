// The dead-letter operations as API messages, shared by `kledger dlt` (app/dlt_cmd.cc) and the
// HTTP routes under /v1/dead-letters (processors/query/dead_letters.cc): one page of the list,
// one letter shown decoded, and a redrive of a selection. Reading and selecting are
// dead_letter_tool.h's.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/kafka/properties.h"
#include "common/status.h"
#include "kledger/v1/api.pb.h"
#include "processors/dead_letter_tool.h"

namespace kledger::processors {

// Every field `info` has, absent numbers left unset, times in RFC 3339.
v1::DeadLetterView ToView(const DeadLetterInfo& info);

// One page of the dead letters that pass `filter` (its limit unused: `limit` is the page size,
// clamped to [1, 1000]) in (partition, offset) order, from the `cursor` of an earlier page ("P:O"
// of the next letter; "" for the first). Reads the whole topic each time: meant for a
// dead-letter topic's size, not a log's. InvalidArgument for a bad filter or cursor.
Result<v1::DeadLetterPage> ListDeadLetterPage(const kafka::Properties& props,
                                              const std::string& dlt_topic,
                                              const DeadLetterFilter& filter, int limit,
                                              std::string_view cursor);

// One dead letter with every header and its value, decoded as the processors decode records
// today. NotFound when the id is not in the topic.
Result<v1::DeadLetterDetail> ShowDeadLetter(const kafka::Properties& props,
                                            const std::string& dlt_topic, DeadLetterId id);

// The selection a redrive request means. InvalidArgument for a malformed id, filter or time, or
// for a request that names nothing (no id, no filter) without `all`.
Result<DeadLetterSelection> ToSelection(const v1::RedriveRequest& request);

// Reads the selected dead letters and, unless `dry_run`, produces each back to `events_topic`
// (Redrive), waiting up to `timeout` for the acknowledgements. The response lists what was
// selected and, for a real run, each record's result. NotFound names explicit ids not in the
// topic; other errors as ReadDeadLetters and Redrive.
Result<v1::RedriveResponse> RedriveSelected(const kafka::Properties& props,
                                            const std::string& dlt_topic,
                                            const std::string& events_topic,
                                            const DeadLetterSelection& selection, bool dry_run,
                                            std::chrono::milliseconds timeout,
                                            const ToolProgress& progress = {});

}  // namespace kledger::processors
