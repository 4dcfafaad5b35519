// The query API's handlers. Each instance lives on one partition; a processor answers only for
// the partitions it owns (421 naming the owner otherwise), and `?min_offset=` (the offset of a
// 202) waits until that record is applied: read-your-writes.
#include "processors/query/handlers.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <type_traits>

#include "common/domain/validation.h"
#include "common/http.h"
#include "processors/query/params.h"

namespace kledger::processors::query {
namespace {

// Serves `answer` when this processor owns the instance of the request's first path parameter
// and has applied ?min_offset=; otherwise answers 421 / 503 / 400 itself. An `answer` that takes
// an int32_t is given the instance's partition.
template <typename Answer>
void ForOwnedInstance(Processor& processor, const httplib::Request& req, httplib::Response& res,
                      Answer answer) {
  const std::string instance = req.matches[1].str();
  // No such instance can exist (the command side refuses it), and its bytes would be echoed.
  domain::FieldErrors invalid;
  domain::ValidateInstanceId(instance, invalid);
  if (!invalid.empty()) {
    v1::FieldError detail;
    detail.set_field(invalid.front().field);
    detail.set_code(invalid.front().code);
    return http::ReplyError(res, 400, "invalid_argument",
                            domain::FieldErrorsToStatus(invalid).message(), {detail});
  }
  auto min_offset = IntParam(req, "min_offset", -1, 0, INT64_MAX);
  if (!min_offset.ok()) return http::ReplyStatus(res, min_offset.status());

  const InstanceRoute route = processor.Route(instance);
  if (route.partition < 0) {
    return http::ReplyStatus(res, Status::Unavailable("the processor has not started yet"));
  }
  if (!route.owned) {
    const std::string where =
        "instance '" + instance + "' lives on partition " + std::to_string(route.partition);
    if (route.owner_url.empty()) {
      return http::ReplyStatus(
          res, Status::Unavailable(where + ", whose owner is not known yet (rebalancing)"));
    }
    res.set_header("X-Kledger-Owner", route.owner_url);
    return http::ReplyError(res, 421, "misdirected",
                            where + ", served by " + route.owner_url + "; ask it instead");
  }
  if (*min_offset >= 0) {
    Status applied = processor.WaitForOffset(route.partition, *min_offset,
                                             processor.options().read_your_writes_timeout);
    if (!applied.ok()) return http::ReplyStatus(res, applied);
  }
  if constexpr (std::is_invocable_v<Answer, int32_t>) {
    answer(route.partition);
  } else {
    answer();
  }
}

}  // namespace

void ListInstances(Processor& processor, const std::function<bool(std::string_view)>& may_query,
                   const httplib::Request& req, httplib::Response& res) {
  auto limit = IntParam(req, "limit", 100, 1, 1000);
  if (!limit.ok()) return http::ReplyStatus(res, limit.status());
  const std::string cursor = req.get_param_value("cursor");
  domain::FieldErrors invalid;
  if (!cursor.empty()) domain::ValidateInstanceId(cursor, invalid);
  if (!invalid.empty()) {
    return http::ReplyStatus(
        res, Status::InvalidArgument("cursor is malformed: pass a next_cursor from an earlier "
                                     "page, or none for the first page"));
  }
  v1::InstancePage page;
  std::vector<int32_t> partitions;  // of the listed instances, in their order
  auto listed = processor.store().ListInstances(
      cursor, static_cast<int>(*limit) + 1, [&](std::string_view instance) {
        // Served here (a store keeps what it applied before a rebalance moved the partition
        // away) and visible to the token.
        const InstanceRoute route = processor.Route(std::string(instance));
        if (!route.owned || !may_query(instance)) return false;
        partitions.push_back(route.partition);
        return true;
      });
  if (!listed.ok()) return http::ReplyStatus(res, listed.status());
  for (size_t i = 0; i < listed->size() && i < static_cast<size_t>(*limit); ++i) {
    v1::InstanceSummary& item = *page.add_items();
    item.set_instance_id((*listed)[i]);
    item.set_partition(partitions[i]);
  }
  // One more than asked came back: there is a next page, starting past the last one shown.
  if (listed->size() > static_cast<size_t>(*limit)) {
    page.set_next_cursor(page.items(page.items_size() - 1).instance_id());
  }
  http::ReplyJson(res, 200, page);
}

void GetAccount(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  ForOwnedInstance(processor, req, res, [&] {
    Reply(processor.store().GetAccount(req.matches[1].str(), req.matches[2].str()), res);
  });
}

void ListAccounts(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  auto limit = IntParam(req, "limit", 100, 1, 1000);
  auto type = EnumParam<v1::AccountType>(req, "type", v1::AccountType_Parse,
                                         {"ASSET", "LIABILITY", "EQUITY", "REVENUE", "EXPENSE"});
  auto status =
      EnumParam<v1::AccountStatus>(req, "status", v1::AccountStatus_Parse, {"OPEN", "CLOSED"});
  for (const Status* s : {&limit.status(), &type.status(), &status.status()}) {
    if (!s->ok()) return http::ReplyStatus(res, *s);
  }
  projections::ProjectionStore::AccountFilter filter{
      .address_prefix = req.get_param_value("prefix"), .type = *type, .status = *status};
  if (req.has_param("currency")) filter.currency = req.get_param_value("currency");
  ForOwnedInstance(processor, req, res, [&] {
    Reply(processor.store().ListAccounts(req.matches[1].str(), filter, static_cast<int>(*limit),
                                         req.get_param_value("cursor")),
          res);
  });
}

void ListTransactions(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  auto limit = IntParam(req, "limit", 100, 1, 1000);
  auto status = EnumParam<v1::TransactionStatus>(req, "status", v1::TransactionStatus_Parse,
                                                 {"PENDING", "POSTED", "ARCHIVED"});
  for (const Status* s : {&limit.status(), &status.status()}) {
    if (!s->ok()) return http::ReplyStatus(res, *s);
  }
  projections::ProjectionStore::TransactionFilter filter{.status = *status};
  if (req.has_param("source")) filter.source = req.get_param_value("source");
  if (req.has_param("account")) filter.account = req.get_param_value("account");
  ForOwnedInstance(processor, req, res, [&] {
    Reply(processor.store().ListTransactions(req.matches[1].str(), filter, static_cast<int>(*limit),
                                             req.get_param_value("cursor")),
          res);
  });
}

void GetHistory(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  auto limit = IntParam(req, "limit", 50, 1, 1000);
  if (!limit.ok()) return http::ReplyStatus(res, limit.status());
  ForOwnedInstance(processor, req, res, [&] {
    Reply(processor.store().GetHistory(req.matches[1].str(), req.matches[2].str(),
                                       static_cast<int>(*limit), req.get_param_value("cursor")),
          res);
  });
}

void GetTransaction(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  ForOwnedInstance(processor, req, res, [&] {
    Reply(processor.store().GetTransaction(req.matches[1].str(), req.matches[2].str(),
                                           req.matches[3].str()),
          res);
  });
}

void GetEvent(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  auto offset = IntParam(req, "offset", -1, 0, INT64_MAX);
  auto partition = IntParam(req, "partition", -1, 0, INT32_MAX);
  for (const Status* s : {&offset.status(), &partition.status()}) {
    if (!s->ok()) return http::ReplyStatus(res, *s);
  }
  ForOwnedInstance(processor, req, res, [&](int32_t owned) {
    const std::string instance = req.matches[1].str();
    const std::string event_id = req.matches[2].str();
    auto outcome = processor.store().GetOutcome(instance, event_id);
    if (outcome.ok() || outcome.status().code() != StatusCode::kNotFound || *offset < 0) {
      return Reply(outcome, res);
    }
    // Not recorded, and the caller says where its 202 put it: on its way, or not that event.
    if (*partition >= 0 && *partition != owned) {
      return http::ReplyStatus(
          res,
          Status::InvalidArgument("instance '" + instance + "' lives on partition " +
                                  std::to_string(owned) + ", not " + std::to_string(*partition)));
    }
    const auto progress = processor.Progress();
    const auto it = progress.find(owned);
    if (it == progress.end()) return Reply(outcome, res);  // lost the partition meanwhile
    const int64_t next = it->second.next_offset;
    if (*offset < next) {
      return http::ReplyStatus(
          res, Status::NotFound("partition " + std::to_string(owned) + " is applied past offset " +
                                std::to_string(*offset) + " and recorded no event '" + event_id +
                                "' of instance '" + instance +
                                "': check the event id and offset of the 202"));
    }
    v1::EventOutcomeView pending;
    pending.set_event_id(event_id);
    pending.set_instance_id(instance);
    pending.set_outcome(v1::OUTCOME_PENDING);
    pending.set_partition(owned);
    pending.set_offset(*offset);
    pending.set_message("accepted into the log, not applied yet: partition " +
                        std::to_string(owned) + " is applied up to offset " +
                        std::to_string(next - 1) +
                        (it->second.halted.empty() ? "" : " and halted: " + it->second.halted));
    http::ReplyJson(res, 200, pending);
  });
}

void ListEvents(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  auto limit = IntParam(req, "limit", 100, 1, 1000);
  auto outcome = EnumParam<v1::Outcome>(req, "outcome", v1::Outcome_Parse,
                                        {"APPLIED", "REJECTED", "DEAD_LETTERED"});
  auto from = IntParam(req, "from_offset", 0, 0, INT64_MAX);
  auto to = IntParam(req, "to_offset", -1, 0, INT64_MAX);
  for (const Status* s : {&limit.status(), &outcome.status(), &from.status(), &to.status()}) {
    if (!s->ok()) return http::ReplyStatus(res, *s);
  }
  projections::ProjectionStore::EventFilter filter{.outcome = *outcome, .from_offset = *from};
  if (*to >= 0) filter.to_offset = *to;
  if (req.has_param("type")) {
    // The event types are the envelope's oneof members.
    const std::string type = req.get_param_value("type");
    const auto* member = v1::EventEnvelope::descriptor()->FindFieldByName(type);
    if (member == nullptr || member->containing_oneof() == nullptr) {
      std::string names;
      const auto* event = v1::EventEnvelope::descriptor()->FindOneofByName("event");
      for (int i = 0; i < event->field_count(); ++i) {
        names += (names.empty() ? "" : ", ") + event->field(i)->name();
      }
      return http::ReplyStatus(
          res, Status::InvalidArgument("type must be one of " + names + ", not '" + type + "'"));
    }
    filter.type = type;
  }
  ForOwnedInstance(processor, req, res, [&] {
    Reply(processor.store().ListEvents(req.matches[1].str(), filter, static_cast<int>(*limit),
                                       req.get_param_value("cursor")),
          res);
  });
}

void GetBalances(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  auto at_offset = IntParam(req, "at_offset", -1, 0, INT64_MAX);
  if (!at_offset.ok()) return http::ReplyStatus(res, at_offset.status());
  ForOwnedInstance(processor, req, res, [&](int32_t partition) {
    const std::string instance = req.matches[1].str();
    int64_t as_of = *at_offset;
    if (as_of >= 0) {
      // Balances as of an offset not applied yet would be made up: wait for it.
      Status applied =
          processor.WaitForOffset(partition, as_of, processor.options().read_your_writes_timeout);
      if (!applied.ok()) return http::ReplyStatus(res, applied);
    } else {
      const auto progress = processor.Progress();
      const auto it = progress.find(partition);
      if (it == progress.end()) {
        return http::ReplyStatus(res, Status::Unavailable("partition " + std::to_string(partition) +
                                                          " moved while answering; ask again"));
      }
      as_of = it->second.next_offset - 1;  // everything applied so far
    }
    Reply(processor.store().BalancesAt(instance, req.matches[2].str(), as_of), res);
  });
}

void GetTrialBalance(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  ForOwnedInstance(processor, req, res,
                   [&] { Reply(processor.store().GetTrialBalance(req.matches[1].str()), res); });
}

void GetDigest(Processor& processor, const httplib::Request&, httplib::Response& res) {
  auto digest = processor.store().Digest();
  if (!digest.ok()) return http::ReplyStatus(res, digest.status());
  v1::StateDigest body;
  body.set_digest(*digest);
  http::ReplyJson(res, 200, body);
}

}  // namespace kledger::processors::query
