// The query API's handlers (internal to processors/).
#pragma once

#include <httplib.h>

#include <functional>
#include <string_view>

#include "processors/processor.h"

namespace kledger::processors::query {

// `may_query` says whether the request's token may query an instance: the list shows only those.
void ListInstances(Processor& processor, const std::function<bool(std::string_view)>& may_query,
                   const httplib::Request& req, httplib::Response& res);
void GetAccount(Processor& processor, const httplib::Request& req, httplib::Response& res);
void ListAccounts(Processor& processor, const httplib::Request& req, httplib::Response& res);
void ListTransactions(Processor& processor, const httplib::Request& req, httplib::Response& res);
void GetHistory(Processor& processor, const httplib::Request& req, httplib::Response& res);
void GetTransaction(Processor& processor, const httplib::Request& req, httplib::Response& res);
void GetEvent(Processor& processor, const httplib::Request& req, httplib::Response& res);
void ListEvents(Processor& processor, const httplib::Request& req, httplib::Response& res);
void GetBalances(Processor& processor, const httplib::Request& req, httplib::Response& res);
// The operations routes (operations.cc), admin right.
void GetStats(Processor& processor, const httplib::Request& req, httplib::Response& res);
void ListDeadLetters(Processor& processor, const httplib::Request& req, httplib::Response& res);
void GetDeadLetter(Processor& processor, const httplib::Request& req, httplib::Response& res);
void RedriveDeadLetters(Processor& processor, const httplib::Request& req, httplib::Response& res);
void GetTrialBalance(Processor& processor, const httplib::Request& req, httplib::Response& res);
void GetDigest(Processor& processor, const httplib::Request& req, httplib::Response& res);

}  // namespace kledger::processors::query
