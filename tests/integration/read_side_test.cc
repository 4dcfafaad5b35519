// The read side over HTTP (issue 19): a few hundred accounts across instances, served by two
// processors, paged through with each filter and compared with a plain model of what was opened
// — nothing missing, nothing twice, in ascending address order — and 421 naming the owner on
// the processor that does not own the instance; transactions and events listed likewise;
// balances as of an offset; accounts updated and closed over their own routes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>

#include "common/event_id.h"
#include "common/http.h"
#include "kledger/v1/api.pb.h"
#include "tests/support/cluster_suite.h"

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

class ReadSideTest : public ClusterSuite<ReadSideTest> {
 public:
  static ClusterOptions Options() {
    return {.partitions = 4, .processors = 2, .group = "read-side"};
  }
  static void SetUpTestSuite() {
    ClusterSuite::SetUpTestSuite();
    if (!Started()) return;
    // Opened (and some closed) through /v1/batch, 100 commands a request.
    v1::BatchRequest batch;
    auto flush = [&] {
      auto res =
          cluster().CommandClient()->Post("/v1/batch", http::ToJson(batch), "application/json");
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

 protected:
  static std::string Upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }

  // The processor that owns `instance` (the other's 421 names it), once ownership settled.
  static int OwnerOf(const std::string& instance) {
    int owner = -1;
    WaitUntil(30s, [&] {
      for (int i = 0; i < 2; ++i) {
        auto res = cluster().ProcessorClient(i)->Get(
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
      auto res = cluster().ProcessorClient(p)->Get(path.c_str());
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

  // GETs `path` from the instance's owner and parses the 200 answer into `message`.
  template <typename Message>
  static Message Query(int owner, const std::string& path) {
    Message message;
    const Status got = GetJson(*cluster().ProcessorClient(owner), path, message);
    EXPECT_TRUE(got.ok()) << got.ToString();
    return message;
  }

  static std::string Transfer(const std::string& source, const std::string& key,
                              const std::string& status, const std::string& debit,
                              const std::string& credit, int64_t amount) {
    return R"({"source":")" + source + R"(","source_idempk":")" + key + R"(","status":")" + status +
           R"(","entries":[{"account":")" + debit + R"(","direction":"DEBIT","amount":)" +
           std::to_string(amount) + R"(,"currency":"USD"},{"account":")" + credit +
           R"(","direction":"CREDIT","amount":)" + std::to_string(amount) +
           R"(,"currency":"USD"}]})";
  }

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
      {"prefix=liabilities:wallets:",
       [](const Account& a) { return a.address.starts_with("liabilities:wallets:"); }},
      {"type=asset", [](const Account& a) { return a.type == "asset"; }},
      {"currency=EUR", [](const Account& a) { return a.currency == "EUR"; }},
      {"status=closed", [](const Account& a) { return a.closed; }},
      {"prefix=assets:&type=LIABILITY&currency=USD&status=open",
       [](const Account& a) {
         return a.address.starts_with("assets:") && a.type == "liability" && a.currency == "USD" &&
                !a.closed;
       }},
  };
  for (int t = 0; t < 6; ++t) {
    const std::string instance = "tenant-" + std::to_string(t);
    const int owner = OwnerOf(instance);
    ASSERT_GE(owner, 0) << instance << " has no owner; logs in " << cluster().log_dir();
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
    EXPECT_TRUE(WaitUntil(30s,
                          [&] {
                            auto other = cluster().ProcessorClient(1 - owner)->Get(
                                ("/v1/instances/" + instance + "/accounts").c_str());
                            named = other && other->status == 421
                                        ? other->get_header_value("X-Kledger-Owner")
                                        : "";
                            return named == cluster().ProcessorUrl(owner);
                          }))
        << instance << ": the other processor names '" << named << "'";
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
  auto res = cluster().CommandClient()->Post("/v1/batch", http::ToJson(batch), "application/json");
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
    // In the order of their creating events' ids: each lives in its creating event's record.
    std::sort(expected.begin(), expected.end(), [&](const std::string& a, const std::string& b) {
      auto id = [&](const std::string& tx) {
        const size_t slash = tx.find('/');
        return domain::TransactionCreatedEventId(instance, tx.substr(0, slash),
                                                 tx.substr(slash + 1));
      };
      return id(a) < id(b);
    });
    for (int limit : {1, 9}) {
      std::vector<std::string> listed;
      std::string cursor;
      int pages = 0;
      do {
        std::string path = "/v1/instances/" + instance + "/transactions?" + q.text +
                           "&limit=" + std::to_string(limit) +
                           "&min_offset=" + std::to_string(last);
        if (!cursor.empty()) path += "&cursor=" + cursor;
        auto page_res = cluster().ProcessorClient(owner)->Get(path.c_str());
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

// Sales and refunds (a refund larger than the cash is rejected), one resubmitted (a duplicate
// records nothing): the event list, by outcome, type and offset range, page by page, equals the
// model built from the 202s.
TEST_F(ReadSideTest, EventListsFollowTheirFilters) {
  const std::string instance = "events-ledger";
  const std::string base = "/v1/instances/" + instance;
  struct Recorded {
    std::string event_id, type, outcome;
    int64_t offset;
  };
  std::vector<Recorded> model;
  for (const char* body : {R"({"address":"cash","type":"ASSET","currency":"USD"})",
                           R"({"address":"sales","type":"REVENUE","currency":"USD",)"
                           R"("allow_negative":true})"}) {
    const v1::Ack ack = Accept(base + "/accounts", body);
    model.push_back({ack.event_id(), "account_opened", "APPLIED", ack.offset()});
  }
  for (int i = 0; i < 40; ++i) {
    const bool refund = i % 4 == 3;
    const std::string body =
        refund ? Transfer("pos", "r" + std::to_string(i), "POSTED", "sales", "cash", 1'000'000)
               : Transfer("pos", "s" + std::to_string(i), "POSTED", "cash", "sales", 10);
    const v1::Ack ack = Accept(base + "/transactions", body);
    model.push_back(
        {ack.event_id(), "transaction_created", refund ? "REJECTED" : "APPLIED", ack.offset()});
    if (i == 5) Accept(base + "/transactions", body);  // a duplicate: nothing recorded
  }
  const int64_t last = model.back().offset;
  const int owner = OwnerOf(instance);
  ASSERT_GE(owner, 0);
  struct Filter {
    std::string text;
    std::function<bool(const Recorded&)> keep;
  };
  const int64_t from = model[10].offset;
  const int64_t to = model[30].offset;
  const std::vector<Filter> filters = {
      {"", [](const Recorded&) { return true; }},
      {"outcome=rejected", [](const Recorded& r) { return r.outcome == "REJECTED"; }},
      {"type=account_opened", [](const Recorded& r) { return r.type == "account_opened"; }},
      {"outcome=APPLIED&type=transaction_created",
       [](const Recorded& r) { return r.outcome == "APPLIED" && r.type == "transaction_created"; }},
      {"from_offset=" + std::to_string(from) + "&to_offset=" + std::to_string(to),
       [&](const Recorded& r) { return r.offset >= from && r.offset < to; }},
  };
  for (const Filter& f : filters) {
    std::vector<std::string> expected;
    for (const Recorded& r : model) {
      if (f.keep(r))
        expected.push_back(r.event_id + " " + r.outcome + " " + std::to_string(r.offset));
    }
    for (int limit : {1, 6, 100}) {
      std::vector<std::string> listed;
      std::string cursor;
      int pages = 0;
      do {
        std::string path = base + "/events?" + f.text + "&limit=" + std::to_string(limit) +
                           "&min_offset=" + std::to_string(last);
        if (!cursor.empty()) path += "&cursor=" + cursor;
        const auto page = Query<v1::EventPage>(owner, path);
        for (const auto& e : page.items()) {
          listed.push_back(e.event_id() + " " + v1::Outcome_Name(e.outcome()) + " " +
                           std::to_string(e.offset()));
          if (e.outcome() == v1::REJECTED) {
            EXPECT_EQ(e.reason(), "insufficient_funds");
          }
        }
        cursor = page.next_cursor();
        ASSERT_LT(++pages, 200);
      } while (!cursor.empty());
      EXPECT_EQ(listed, expected) << "?" << f.text << " limit " << limit;
    }
  }
  auto other = cluster().ProcessorClient(1 - owner)->Get((base + "/events").c_str());
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 421);
}

// A pending transfer then its post: the balances as of the offset before the post are the pending
// view the account showed then; as of the post, the posted one.
TEST_F(ReadSideTest, BalanceAtTheOffsetBeforeAPostIsThePendingView) {
  const std::string instance = "pending-post";
  const std::string base = "/v1/instances/" + instance;
  Accept(base + "/accounts", R"({"address":"cash","type":"ASSET","currency":"USD"})");
  Accept(base + "/accounts",
         R"({"address":"equity","type":"EQUITY","currency":"USD","allow_negative":true})");
  const v1::Ack pending =
      Accept(base + "/transactions", Transfer("bank", "t1", "PENDING", "cash", "equity", 50));
  const int owner = OwnerOf(instance);
  ASSERT_GE(owner, 0);
  const auto pending_view = Query<v1::AccountView>(
      owner, base + "/accounts/cash?min_offset=" + std::to_string(pending.offset()));
  EXPECT_EQ(pending_view.balances().pending().debit(), 50);
  const v1::Ack post = Accept(base + "/transactions/bank/t1/updates",
                              R"({"update_idempk":"post-1","action":"POST"})");
  const auto posted_view = Query<v1::AccountView>(
      owner, base + "/accounts/cash?min_offset=" + std::to_string(post.offset()));
  EXPECT_EQ(posted_view.balances().posted().debit(), 50);

  const auto before = Query<v1::BalancesAt>(
      owner, base + "/accounts/cash/balances?at_offset=" + std::to_string(post.offset() - 1));
  EXPECT_EQ(before.balances().ShortDebugString(), pending_view.balances().ShortDebugString());
  EXPECT_EQ(before.last_entry_offset(), pending.offset());
  const auto after = Query<v1::BalancesAt>(
      owner, base + "/accounts/cash/balances?at_offset=" + std::to_string(post.offset()));
  EXPECT_EQ(after.balances().ShortDebugString(), posted_view.balances().ShortDebugString());
  const auto now = Query<v1::BalancesAt>(owner, base + "/accounts/cash/balances");
  EXPECT_EQ(now.balances().ShortDebugString(), posted_view.balances().ShortDebugString());
  EXPECT_GE(now.at_offset(), post.offset());
  const auto first = Query<v1::BalancesAt>(
      owner, base + "/accounts/cash/balances?at_offset=" + std::to_string(pending.offset() - 1));
  EXPECT_EQ(first.last_entry_offset(), -1);
  EXPECT_EQ(first.balances().pending().debit(), 0);
}

// Update and close over their own routes: an update shows, a closed account refuses entries
// (rejected, account_closed), and the same call again (same key) changes nothing.
TEST_F(ReadSideTest, AccountsAreUpdatedAndClosedOverHttpOnceEach) {
  const std::string instance = "lifecycle";
  const std::string base = "/v1/instances/" + instance;
  Accept(base + "/accounts", R"({"address":"wallet:1","type":"LIABILITY","currency":"USD"})");
  Accept(base + "/accounts",
         R"({"address":"bank","type":"ASSET","currency":"USD","allow_negative":true})");
  const std::string update =
      R"({"update_idempk":"kyc-1","allow_negative":true,"metadata_set":{"tier":"gold"}})";
  const v1::Ack updated = Accept(base + "/accounts/wallet:1/updates", update);
  const int owner = OwnerOf(instance);
  ASSERT_GE(owner, 0);
  const std::string wallet = base + "/accounts/wallet:1?min_offset=";
  const auto after_update =
      Query<v1::AccountView>(owner, wallet + std::to_string(updated.offset()));
  EXPECT_EQ(after_update.metadata().at("tier"), "gold");
  EXPECT_TRUE(after_update.allow_negative());

  const v1::Ack again = Accept(base + "/accounts/wallet:1/updates", update);
  EXPECT_EQ(again.event_id(), updated.event_id());
  const auto after_again = Query<v1::AccountView>(owner, wallet + std::to_string(again.offset()));
  EXPECT_EQ(after_again.ShortDebugString(), after_update.ShortDebugString());
  // The body may repeat the path's address, never contradict it.
  auto contradicting = cluster().CommandClient()->Post(
      (base + "/accounts/wallet:1/updates").c_str(),
      R"({"address":"wallet:2","update_idempk":"x"})", "application/json");
  ASSERT_TRUE(contradicting);
  EXPECT_EQ(contradicting->status, 400) << contradicting->body;

  const v1::Ack closed = Accept(base + "/accounts/wallet:1/close", "");
  const v1::Ack closed_again = Accept(base + "/accounts/wallet:1/close", "{}");
  EXPECT_EQ(closed_again.event_id(), closed.event_id());
  const auto after_close =
      Query<v1::AccountView>(owner, wallet + std::to_string(closed_again.offset()));
  EXPECT_EQ(after_close.status(), v1::CLOSED);
  const auto first_close =
      Query<v1::EventOutcomeView>(owner, base + "/events/" + closed.event_id());
  EXPECT_EQ(first_close.outcome(), v1::APPLIED);
  EXPECT_EQ(first_close.offset(), closed.offset());

  const v1::Ack refused = Accept(base + "/transactions",
                                 Transfer("app", "after-close", "POSTED", "bank", "wallet:1", 5));
  const auto outcome =
      Query<v1::EventOutcomeView>(owner, base + "/events/" + refused.event_id() +
                                             "?min_offset=" + std::to_string(refused.offset()));
  EXPECT_EQ(outcome.outcome(), v1::REJECTED);
  EXPECT_EQ(outcome.reason(), "account_closed");
  const auto unchanged = Query<v1::AccountView>(owner, wallet + std::to_string(refused.offset()));
  EXPECT_EQ(unchanged.balances().ShortDebugString(), after_close.balances().ShortDebugString());
}

// GET /v1/instances: each processor lists the instances of the partitions it owns, so the two
// lists together hold every instance exactly once, each on its owner, paged in id order.
TEST_F(ReadSideTest, EachInstanceIsListedOnceByItsOwner) {
  std::map<std::string, int> owners;  // instance -> the processor that owns it
  for (int i = 0; i < 6; ++i) {
    const std::string instance = "tenant-" + std::to_string(i);
    owners[instance] = OwnerOf(instance);
    ASSERT_GE(owners[instance], 0) << instance;
  }
  std::map<std::string, int> listed;  // instance -> the processor that listed it
  for (int p = 0; p < 2; ++p) {
    std::vector<std::string> ids;
    std::string cursor;
    int pages = 0;
    do {
      std::string path = "/v1/instances?limit=2";
      if (!cursor.empty()) path += "&cursor=" + cursor;
      auto res = cluster().ProcessorClient(p)->Get(path.c_str());
      ASSERT_TRUE(res && res->status == 200) << path << ": " << (res ? res->body : "no answer");
      v1::InstancePage page;
      ASSERT_TRUE(http::ParseJson(res->body, page).ok()) << res->body;
      ASSERT_LE(page.items_size(), 2);
      for (const v1::InstanceSummary& item : page.items()) {
        ids.push_back(item.instance_id());
        EXPECT_TRUE(listed.emplace(item.instance_id(), p).second)
            << item.instance_id() << " listed twice";
        // The partition it names is the one whose owner answers for the instance.
        auto stats = cluster().ProcessorClient(p)->Get(
            ("/v1/instances/" + item.instance_id() + "/events/nope").c_str());
        ASSERT_TRUE(stats);
        EXPECT_NE(stats->status, 421)
            << item.instance_id() << " listed by a processor not its owner";
      }
      cursor = page.next_cursor();
      ASSERT_LT(++pages, 10);
    } while (!cursor.empty());
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end())) << "ascending id order on processor " << p;
  }
  // Other tests of the suite add instances of their own; the six tenants are this test's.
  std::map<std::string, int> tenants;
  for (const auto& [instance, p] : listed) {
    if (instance.starts_with("tenant-")) tenants[instance] = p;
  }
  EXPECT_EQ(tenants, owners);

  auto bad = cluster().ProcessorClient(0)->Get("/v1/instances?cursor=%2A%2A");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_NE(bad->body.find("cursor is malformed"), std::string::npos) << bad->body;
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
           {"events?outcome=duplicate", "outcome must be one of APPLIED, REJECTED, DEAD_LETTERED"},
           {"events?type=transfer", "type must be one of instance_created, account_opened"},
           {"events?from_offset=-1", "from_offset must be a whole number"},
           {"events?cursor=q", "is malformed"},
           {"accounts/x/balances?at_offset=abc", "at_offset must be a whole number"},
       }) {
    auto res = cluster().ProcessorClient(owner)->Get(("/v1/instances/tenant-0/" + query).c_str());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << query << ": " << res->body;
    EXPECT_NE(res->body.find(says), std::string::npos) << query << ": " << res->body;
  }
}

}  // namespace
}  // namespace kledger::testing
