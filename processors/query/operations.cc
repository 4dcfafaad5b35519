// The operations routes (admin right on "*"): the processor's view of the group in
// GET /v1/stats, and the dead letters listed, shown and redriven with the operations
// `kledger dlt` runs (processors/dead_letter_views.h).
#include "common/http.h"
#include "processors/dead_letter_views.h"
#include "processors/query/handlers.h"
#include "processors/query/params.h"

namespace kledger::processors::query {

void GetStats(Processor& processor, const httplib::Request&, httplib::Response& res) {
  Reply(processor.Stats(), res);
}

void ListDeadLetters(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  auto limit = IntParam(req, "limit", 100, 1, 1000);
  auto partition = IntParam(req, "original_partition", -1, 0, INT32_MAX);
  for (const Status* s : {&limit.status(), &partition.status()}) {
    if (!s->ok()) return http::ReplyStatus(res, *s);
  }
  DeadLetterFilter filter;
  if (req.has_param("reason")) filter.reason = req.get_param_value("reason");
  if (req.has_param("error_code")) filter.error_code = req.get_param_value("error_code");
  if (*partition >= 0) filter.original_partition = static_cast<int32_t>(*partition);
  for (auto [name, bound] : {std::pair{"since", &filter.since_ms}, {"until", &filter.until_ms}}) {
    if (!req.has_param(name)) continue;
    auto ms = ParseTimeBound(req.get_param_value(name));
    if (!ms.ok()) return http::ReplyStatus(res, ms.status().WithContext(name));
    *bound = *ms;
  }
  if (Status valid = filter.Validate(); !valid.ok()) return http::ReplyStatus(res, valid);
  Reply(ListDeadLetterPage(processor.props(), processor.options().dlt_topic, filter,
                           static_cast<int>(*limit), req.get_param_value("cursor")),
        res);
}

void GetDeadLetter(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  auto id = ParseDeadLetterId(req.matches[1].str());
  if (!id.ok()) return http::ReplyStatus(res, id.status());
  Reply(ShowDeadLetter(processor.props(), processor.options().dlt_topic, *id), res);
}

void RedriveDeadLetters(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  v1::RedriveRequest request;
  if (Status parsed = http::ParseJson(req.body, request); !parsed.ok()) {
    return http::ReplyStatus(res, parsed);
  }
  auto selection = ToSelection(request);
  if (!selection.ok()) return http::ReplyStatus(res, selection.status());
  Reply(RedriveSelected(processor.props(), processor.options().dlt_topic,
                        processor.options().events_topic, *selection, request.dry_run(),
                        processor.options().dlt_timeout),
        res);
}

}  // namespace kledger::processors::query
