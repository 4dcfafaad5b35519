// The query API's handlers: each reads one projection and answers it as JSON.
#include "processors/query/handlers.h"

#include <charconv>

#include "common/http.h"

namespace kledger::processors::query {
namespace {

template <typename T>
void Reply(const Result<T>& result, httplib::Response& res) {
  if (!result.ok()) return http::ReplyStatus(res, result.status());
  http::ReplyJson(res, 200, *result);
}

// ?limit= as a page size from 1 to 1000; 50 when absent.
Result<int> PageLimit(const httplib::Request& req) {
  if (!req.has_param("limit")) return 50;
  const std::string text = req.get_param_value("limit");
  int limit = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
  if (ec != std::errc() || end != text.data() + text.size() || limit < 1 || limit > 1000) {
    return Status::InvalidArgument("limit must be a whole number from 1 to 1000, not '" + text +
                                   "'");
  }
  return limit;
}

}  // namespace

void GetAccount(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  Reply(processor.store().GetAccount(req.matches[1].str(), req.matches[2].str()), res);
}

void GetHistory(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  auto limit = PageLimit(req);
  if (!limit.ok()) return http::ReplyStatus(res, limit.status());
  Reply(processor.store().GetHistory(req.matches[1].str(), req.matches[2].str(), *limit,
                                     req.get_param_value("cursor")),
        res);
}

void GetTransaction(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  Reply(processor.store().GetTransaction(req.matches[1].str(), req.matches[2].str(),
                                         req.matches[3].str()),
        res);
}

void GetEvent(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  Reply(processor.store().GetOutcome(req.matches[1].str(), req.matches[2].str()), res);
}

void GetTrialBalance(Processor& processor, const httplib::Request& req, httplib::Response& res) {
  Reply(processor.store().GetTrialBalance(req.matches[1].str()), res);
}

}  // namespace kledger::processors::query
