// The query API's handlers. Each instance lives on one partition; a processor answers only for
// the partitions it owns (421 naming the owner otherwise), and `?min_offset=` (the offset of a
// 202) waits until that record is applied: read-your-writes.
#include "processors/query/handlers.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

#include "common/domain/validation.h"
#include "common/http.h"

namespace kledger::processors::query {
namespace {

template <typename T>
void Reply(const Result<T>& result, httplib::Response& res) {
  if (!result.ok()) return http::ReplyStatus(res, result.status());
  http::ReplyJson(res, 200, *result);
}

// Parses a whole-number query parameter within [min, max]; `fallback` when absent.
Result<int64_t> IntParam(const httplib::Request& req, const char* name, int64_t fallback,
                         int64_t min, int64_t max) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return Status::InvalidArgument(std::string(name) + " must be a whole number from " +
                                   std::to_string(min) + " to " + std::to_string(max) + ", not '" +
                                   text + "'");
  }
  return value;
}

// An enum query parameter by its value name, in any case ("asset", "ASSET"); nullopt when
// absent. InvalidArgument naming the accepted values for anything else.
template <typename Enum>
Result<std::optional<Enum>> EnumParam(const httplib::Request& req, const char* name,
                                      bool (*parse)(const std::string&, Enum*),
                                      std::initializer_list<const char*> accepted) {
  if (!req.has_param(name)) return std::optional<Enum>();
  std::string text = req.get_param_value(name);
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  Enum value{};
  if (std::find_if(accepted.begin(), accepted.end(), [&](const char* a) { return text == a; }) ==
          accepted.end() ||
      !parse(text, &value)) {
    std::string names;
    for (const char* a : accepted) names += (names.empty() ? "" : ", ") + std::string(a);
    return Status::InvalidArgument(std::string(name) + " must be one of " + names +
                                   " (any case), not '" + req.get_param_value(name) + "'");
  }
  return std::optional<Enum>(value);
}

// Serves `answer` when this processor owns the instance of the request's first path parameter
// and has applied ?min_offset=; otherwise answers 421 / 503 / 400 itself.
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
  answer();
}

}  // namespace

void GetAccount(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  ForOwnedInstance(processor, req, res, [&] {
    Reply(processor.store().GetAccount(req.matches[1].str(), req.matches[2].str()), res);
  });
}

void ListAccounts(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  auto limit = IntParam(req, "limit", 100, 1, 1000);
  auto type = EnumParam<v1::AccountType>(req, "type", v1::AccountType_Parse,
                                         {"ASSET", "LIABILITY", "EQUITY", "REVENUE", "EXPENSE"});
  auto status = EnumParam<v1::AccountStatus>(req, "status", v1::AccountStatus_Parse,
                                             {"OPEN", "CLOSED"});
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
    Reply(processor.store().ListTransactions(req.matches[1].str(), filter,
                                             static_cast<int>(*limit),
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
  ForOwnedInstance(processor, req, res, [&] {
    Reply(processor.store().GetOutcome(req.matches[1].str(), req.matches[2].str()), res);
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
