// The read side's lists over HTTP (issue 19): a few hundred accounts across instances, served
// by two processors, paged through with each filter and compared with a plain model of what was
// opened — nothing missing, nothing twice, in ascending address order — and 421 naming the
// owner on the processor that does not own the instance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>

#include "common/http.h"
#include "kledger/v1/api.pb.h"
#include "tests/support/cluster.h"

namespace kledger::testing {
namespace {

using namespace std::chrono_literals;

struct Account {
  std::string instance, address, type, currency;
  bool closed = false;
};

// The accounts the test opens: six instances, addresses under three roots, every type, two
// currencies, every seventh closed.
std::vector<Account> Accounts() {
  const char* roots[] = {"assets:bank:", "liabilities:wallets:", "revenue:fees:"};
  const char* types[] = {"asset", "liability", "revenue", "expense", "equity"};
  std::vector<Account> out;
  for (int i = 0; i < 300; ++i) {
    out.push_back({.instance = "tenant-" + std::to_string(i % 6),
                   .address = roots[i % 3] + std::to_string(1000 - i),
                   .type = types[i % 5],
                   .currency = i % 4 ? "USD" : "EUR",
                   .closed = i % 7 == 0});
  }
  return out;
}

class ReadSideTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new Cluster({.partitions = 4, .processors = 2, .group = "read-side"});
    ASSERT_TRUE(cluster_->Start().ok()) << "logs in " << cluster_->log_dir();
    // Opened (and some closed) through /v1/batch, 100 commands a request.
    v1::BatchRequest batch;
    auto flush = [&] {
      auto res = cluster_->CommandClient()->Post("/v1/batch", http::ToJson(batch),
                                                 "application/json");
      ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
      v1::BatchResponse answer;
      ASSERT_TRUE(http::ParseJson(res->body, answer).ok());
      for (int i = 0; i < answer.results_size(); ++i) {
        const auto& item = answer.results(i);
        ASSERT_EQ(item.status(), 202) << item.error().message();
        int64_t& last = last_offset_[batch.commands(i).instance_id()];
        last = std::max(last, item.ack().offset());
      }
      batch.Clear();
    };
    for (const Account& a : Accounts()) {
      v1::Command& open = *batch.add_commands();
      open.set_instance_id(a.instance);
      auto& o = *open.mutable_open_account();
      o.set_address(a.address);
      v1::AccountType type = v1::ACCOUNT_TYPE_UNSPECIFIED;
      ASSERT_TRUE(v1::AccountType_Parse(Upper(a.type), &type));
      o.set_type(type);
      o.set_currency(a.currency);
      if (a.closed) {
        v1::Command& close = *batch.add_commands();
        close.set_instance_id(a.instance);
        close.mutable_close_account()->set_address(a.address);
      }
      if (batch.commands_size() >= 100) {
        ASSERT_NO_FATAL_FAILURE(flush());
      }
    }
    if (batch.commands_size() > 0) {
      ASSERT_NO_FATAL_FAILURE(flush());
    }
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  static std::string Upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }

  // The processor that owns `instance` (the other's 421 names it), once ownership settled.
  static int OwnerOf(const std::string& instance) {
    int owner = -1;
    WaitUntil(30s, [&] {
      for (int i = 0; i < 2; ++i) {
        auto res = cluster_->ProcessorClient(i)->Get(
            ("/v1/instances/" + instance + "/accounts?limit=1").c_str());
        if (res && res->status == 200) owner = i;
      }
      return owner >= 0;
    });
    return owner;
  }

  // Every page of `query` on processor `p` (a query string without cursor), as addresses.
  static std::vector<std::string> PageThrough(int p, const std::string& instance,
                                              const std::string& query, int* pages) {
    std::vector<std::string> listed;
    std::string cursor;
    *pages = 0;
    do {
      std::string path = "/v1/instances/" + instance + "/accounts?" + query;
      if (!cursor.empty()) path += "&cursor=" + cursor;
      // The first page waits until the owner applied every command of the instance.
      if (*pages == 0) path += "&min_offset=" + std::to_string(last_offset_.at(instance));
      auto res = cluster_->ProcessorClient(p)->Get(path.c_str());
      EXPECT_TRUE(res && res->status == 200) << path << ": " << (res ? res->body : "no answer");
      if (!res || res->status != 200) break;
      v1::AccountPage page;
      EXPECT_TRUE(http::ParseJson(res->body, page).ok()) << res->body;
      for (const auto& a : page.items()) {
        EXPECT_EQ(a.instance_id(), instance);
        listed.push_back(a.address());
      }
      cursor = page.next_cursor();
      if (++*pages > 1000) break;
    } while (!cursor.empty());
    return listed;
  }

  static inline Cluster* cluster_ = nullptr;
  static inline std::map<std::string, int64_t> last_offset_;  // instance -> its last command
};

TEST_F(ReadSideTest, EveryFilterPagesThroughExactlyTheModelsAccountsInAddressOrder) {
  const std::vector<Account> accounts = Accounts();
  struct Query {
    std::string text;
    std::function<bool(const Account&)> keep;
  };
  const std::vector<Query> queries = {
      {"", [](const Account&) { return true; }},
      {"prefix=liabilities:wallets:", [](const Account& a) {
         return a.address.starts_with("liabilities:wallets:");
       }},
      {"type=asset", [](const Account& a) { return a.type == "asset"; }},
      {"currency=EUR", [](const Account& a) { return a.currency == "EUR"; }},
      {"status=closed", [](const Account& a) { return a.closed; }},
      {"prefix=assets:&type=LIABILITY&currency=USD&status=open", [](const Account& a) {
         return a.address.starts_with("assets:") && a.type == "liability" &&
                a.currency == "USD" && !a.closed;
       }},
  };
  for (int t = 0; t < 6; ++t) {
    const std::string instance = "tenant-" + std::to_string(t);
    const int owner = OwnerOf(instance);
    ASSERT_GE(owner, 0) << instance << " has no owner; logs in " << cluster_->log_dir();
    for (const Query& q : queries) {
      std::vector<std::string> expected;
      for (const Account& a : accounts) {
        if (a.instance == instance && q.keep(a)) expected.push_back(a.address);
      }
      std::sort(expected.begin(), expected.end());
      for (int limit : {1, 7, 50}) {
        int pages = 0;
        const std::vector<std::string> listed =
            PageThrough(owner, instance, q.text + "&limit=" + std::to_string(limit), &pages);
        EXPECT_EQ(listed, expected) << instance << " ?" << q.text << " limit " << limit;
        EXPECT_EQ(pages, std::max<int>(1, (static_cast<int>(expected.size()) + limit - 1) / limit));
      }
    }
    // The other processor names the owner, once the owner's announcement reached it (the
    // ownership topic is read asynchronously; on a fresh Kafka cluster a producer's first
    // announcement waits seconds for its producer id).
    std::string named;
    EXPECT_TRUE(WaitUntil(30s, [&] {
      auto other = cluster_->ProcessorClient(1 - owner)->Get(
          ("/v1/instances/" + instance + "/accounts").c_str());
      named = other && other->status == 421 ? other->get_header_value("X-Kledger-Owner") : "";
      return named == cluster_->ProcessorUrl(owner);
    })) << instance << ": the other processor names '" << named << "'";
  }
}

// Transactions between four accounts of an instance of their own (which may go negative, so
// every transaction is applied), pending and posted, from two sources: the list of every pending
// one, of one source, of those touching one account, page by page.
TEST_F(ReadSideTest, TransactionListsFollowTheirFilters) {
  const std::string instance = "payments";
  const std::vector<std::string> addresses = {"assets:a", "assets:b", "assets:c", "assets:d"};
  v1::BatchRequest batch;
  for (const std::string& address : addresses) {
    v1::Command& c = *batch.add_commands();
    c.set_instance_id(instance);
    auto& open = *c.mutable_open_account();
    open.set_address(address);
    open.set_type(v1::ASSET);
    open.set_currency("USD");
    open.set_allow_negative(true);
  }
  struct Made {
    std::string source, key, debit, credit, status;
  };
  std::vector<Made> made;
  for (int i = 0; i < 60; ++i) {
    Made m{.source = i % 2 ? "shop" : "payroll",
           .key = "t" + std::to_string(500 + i),
           .debit = addresses[i % 4],
           .credit = addresses[(i + 1) % 4],
           .status = i % 3 ? "POSTED" : "PENDING"};
    v1::Command& c = *batch.add_commands();
    c.set_instance_id(instance);
    auto& tx = *c.mutable_create_transaction();
    tx.set_source(m.source);
    tx.set_source_idempk(m.key);
    v1::TransactionStatus status = v1::TRANSACTION_STATUS_UNSPECIFIED;
    ASSERT_TRUE(v1::TransactionStatus_Parse(m.status, &status));
    tx.set_status(status);
    for (auto [account, side] : {std::pair{m.debit, v1::DEBIT}, std::pair{m.credit, v1::CREDIT}}) {
      auto& e = *tx.add_entries();
      e.set_account(account);
      e.set_direction(side);
      e.set_amount(1);
      e.set_currency("USD");
    }
    made.push_back(m);
  }
  auto res = cluster_->CommandClient()->Post("/v1/batch", http::ToJson(batch), "application/json");
  ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
  v1::BatchResponse answer;
  ASSERT_TRUE(http::ParseJson(res->body, answer).ok());
  int64_t last = 0;
  for (const auto& item : answer.results()) {
    ASSERT_EQ(item.status(), 202) << item.error().message();
    last = std::max(last, item.ack().offset());
  }
  const int owner = OwnerOf(instance);
  ASSERT_GE(owner, 0);
  struct Query {
    std::string text;
    std::function<bool(const Made&)> keep;
  };
  const std::string account = addresses[2];
  const std::vector<Query> queries = {
      {"status=pending", [](const Made& m) { return m.status == "PENDING"; }},
      {"source=shop", [](const Made& m) { return m.source == "shop"; }},
      {"account=" + account,
       [&](const Made& m) { return m.debit == account || m.credit == account; }},
      {"source=payroll&status=POSTED",
       [](const Made& m) { return m.source == "payroll" && m.status == "POSTED"; }},
  };
  for (const Query& q : queries) {
    std::vector<std::string> expected;
    for (const Made& m : made) {
      if (q.keep(m)) expected.push_back(m.source + "/" + m.key);
    }
    std::sort(expected.begin(), expected.end());
    for (int limit : {1, 9}) {
      std::vector<std::string> listed;
      std::string cursor;
      int pages = 0;
      do {
        std::string path = "/v1/instances/" + instance + "/transactions?" + q.text +
                           "&limit=" + std::to_string(limit) + "&min_offset=" +
                           std::to_string(last);
        if (!cursor.empty()) path += "&cursor=" + cursor;
        auto page_res = cluster_->ProcessorClient(owner)->Get(path.c_str());
        ASSERT_TRUE(page_res && page_res->status == 200)
            << path << ": " << (page_res ? page_res->body : "no answer");
        v1::TransactionPage page;
        ASSERT_TRUE(http::ParseJson(page_res->body, page).ok());
        for (const auto& tx : page.items()) {
          listed.push_back(tx.source() + "/" + tx.source_idempk());
        }
        cursor = page.next_cursor();
        ASSERT_LT(++pages, 200);
      } while (!cursor.empty());
      EXPECT_EQ(listed, expected) << "?" << q.text << " limit " << limit;
    }
  }
}

TEST_F(ReadSideTest, BadListParametersAreRefusedWithTheirReason) {
  const int owner = OwnerOf("tenant-0");
  ASSERT_GE(owner, 0);
  for (const auto& [query, says] : std::vector<std::pair<std::string, std::string>>{
           {"accounts?limit=0", "limit must be a whole number from 1 to 1000"},
           {"accounts?limit=1001", "limit must be a whole number from 1 to 1000"},
           {"accounts?type=banana",
            "type must be one of ASSET, LIABILITY, EQUITY, REVENUE, EXPENSE"},
           {"accounts?status=deleted", "status must be one of OPEN, CLOSED"},
           {"accounts?cursor=zz", "is malformed"},
           {"transactions?status=open", "status must be one of PENDING, POSTED, ARCHIVED"},
           {"transactions?cursor=0", "is malformed"},
       }) {
    auto res = cluster_->ProcessorClient(owner)->Get(("/v1/instances/tenant-0/" + query).c_str());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << query << ": " << res->body;
    EXPECT_NE(res->body.find(says), std::string::npos) << query << ": " << res->body;
  }
}

}  // namespace
}  // namespace kledger::testing
