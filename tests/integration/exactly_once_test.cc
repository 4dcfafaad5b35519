// Issue 4's "done when": exactly-once effect under SIGKILL. Broker + command + two processors on
// loopback take a seeded random workload across several instances while processors are
// SIGKILLed and restarted; afterwards every balance, history, transaction, event outcome and
// trial balance must equal an independent model (tests/support/ledger_model.h) replayed in log
// order. A second test reads the outcome stream: one outcome per record of the log, in log order,
// each the one the query API serves. A third rebuilds the projections from offset 0 and compares
// digests. One file of over 600 lines: the three tests share one run (a minute of workload with
// SIGKILLs) and the model it is checked against.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/http.h"
#include "kledger/v1/api.pb.h"
#include "kledger/v1/events.pb.h"
#include "projections/store.h"
#include "tests/support/cluster_suite.h"
#include "tests/support/ledger_model.h"
#include "tests/support/outcome_stream.h"

namespace kledger::testing {
namespace {

using Clock = std::chrono::steady_clock;
using model::Action;
using model::Outcome;
using model::Side;
using model::TxStatus;

constexpr char kJson[] = "application/json";
constexpr char kSource[] = "eo";
constexpr uint64_t kSeed = 20240404;
constexpr int kInstances = 6;
constexpr int kTransactions = 4000;  // generated commands after the account openings
constexpr int kBatchSize = 50;       // commands per POST /v1/batch
constexpr auto kSubmitSpan = std::chrono::seconds(45);  // the workload is spread over this
constexpr int kKills = 3;
constexpr int kPartitions = 6;

// ---- The workload -------------------------------------------------------------------------

// One command as submitted, and what the command side answered.
struct Planned {
  std::string instance;
  model::Command command;
  v1::Command proto;
  int original = -1;  // for a resubmission: index of the command it repeats
  std::string event_id;
  int32_t partition = -1;
  int64_t offset = -1;
};

v1::Side ToProto(Side side) { return side == Side::kDebit ? v1::DEBIT : v1::CREDIT; }

v1::TransactionStatus ToProto(TxStatus status) {
  switch (status) {
    case TxStatus::kPending:
      return v1::PENDING;
    case TxStatus::kPosted:
      return v1::POSTED;
    case TxStatus::kArchived:
      return v1::ARCHIVED;
  }
  return v1::TRANSACTION_STATUS_UNSPECIFIED;
}

v1::Outcome ToProto(Outcome outcome) {
  switch (outcome) {
    case Outcome::kApplied:
      return v1::APPLIED;
    case Outcome::kRejected:
      return v1::REJECTED;
    case Outcome::kDuplicate:
      return v1::DUPLICATE;
  }
  return v1::OUTCOME_UNSPECIFIED;
}

void EntriesToProto(const std::vector<model::Entry>& entries,
                    google::protobuf::RepeatedPtrField<v1::Entry>& out) {
  for (const model::Entry& e : entries) {
    v1::Entry& p = *out.Add();
    p.set_account(e.account);
    p.set_direction(ToProto(e.direction));
    p.set_amount(e.amount);
    p.set_currency(e.currency);
  }
}

// A command for `instance`, its proto still to be filled in with the event.
Planned NewPlanned(const std::string& instance, model::Command command) {
  Planned p;
  p.instance = instance;
  p.command = std::move(command);
  p.proto.set_instance_id(instance);
  return p;
}

Planned OpenCommand(const std::string& instance, const std::string& address, v1::AccountType type,
                    Side normal, const std::string& currency, bool allow_negative,
                    std::optional<int64_t> credit_limit) {
  Planned p = NewPlanned(
      instance, model::OpenAccount{address, normal, currency, allow_negative, credit_limit});
  v1::AccountOpened& o = *p.proto.mutable_open_account();
  o.set_address(address);
  o.set_type(type);
  o.set_currency(currency);
  o.set_allow_negative(allow_negative);
  if (credit_limit) o.set_credit_limit(*credit_limit);
  return p;
}

Planned CreateCommand(const std::string& instance, model::CreateTransaction tx) {
  Planned p = NewPlanned(instance, tx);
  v1::TransactionCreated& c = *p.proto.mutable_create_transaction();
  c.set_source(tx.source);
  c.set_source_idempk(tx.source_idempk);
  c.set_status(ToProto(tx.status));
  EntriesToProto(tx.entries, *c.mutable_entries());
  return p;
}

Planned UpdateCommand(const std::string& instance, model::UpdateTransaction update) {
  Planned p = NewPlanned(instance, update);
  v1::TransactionUpdated& u = *p.proto.mutable_update_transaction();
  u.set_source(update.source);
  u.set_source_idempk(update.source_idempk);
  u.set_update_idempk(update.update_idempk);
  u.set_action(update.action == Action::kPost      ? v1::POST
               : update.action == Action::kArchive ? v1::ARCHIVE
                                                   : v1::EDIT);
  EntriesToProto(update.entries, *u.mutable_entries());
  return p;
}

// Generates the seeded workload: per instance a bank (asset, may go negative) per currency,
// customer wallets (liabilities without overdraft, one with a credit limit) and a fee revenue
// account; then transactions of every kind the ledger decides on, interleaved across instances.
class WorkloadGenerator {
 public:
  std::vector<Planned> Generate() {
    for (int i = 0; i < kInstances; ++i) {
      const std::string instance = "eo-" + std::to_string(i);
      instances_.push_back(instance);
      Add(OpenCommand(instance, "bank:usd", v1::ASSET, Side::kDebit, "USD", true, std::nullopt));
      Add(OpenCommand(instance, "bank:eur", v1::ASSET, Side::kDebit, "EUR", true, std::nullopt));
      for (const char* w : {"wallet:u0", "wallet:u1", "wallet:u2", "wallet:u3"}) {
        Add(OpenCommand(instance, w, v1::LIABILITY, Side::kCredit, "USD", false, std::nullopt));
      }
      Add(OpenCommand(instance, "wallet:vip", v1::LIABILITY, Side::kCredit, "USD", false, 5000));
      for (const char* w : {"wallet:e0", "wallet:e1"}) {
        Add(OpenCommand(instance, w, v1::LIABILITY, Side::kCredit, "EUR", false, std::nullopt));
      }
      Add(OpenCommand(instance, "revenue:fees", v1::REVENUE, Side::kCredit, "USD", false,
                      std::nullopt));
    }
    for (int n = 0; n < kTransactions; ++n) Add(Next(n));
    // One last event per instance, so that seeing its outcome proves the partition was applied
    // up to the end: an update of a transaction that never existed, rejected.
    for (const std::string& instance : instances_) {
      Add(UpdateCommand(instance, {kSource, "sentinel", "u", Action::kPost, {}}));
    }
    return std::move(planned_);
  }

 private:
  void Add(Planned p) { planned_.push_back(std::move(p)); }
  int64_t Uniform(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(rng_() % (hi - lo + 1));
  }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[rng_() % v.size()];
  }

  static model::Entry Debit(const std::string& account, int64_t amount,
                            const std::string& currency) {
    return {account, Side::kDebit, amount, currency};
  }
  static model::Entry Credit(const std::string& account, int64_t amount,
                             const std::string& currency) {
    return {account, Side::kCredit, amount, currency};
  }

  // Two distinct wallets of one currency.
  std::pair<std::string, std::string> TwoWallets(bool euro) {
    static const std::vector<std::string> kUsdWallets = {"wallet:u0", "wallet:u1", "wallet:u2",
                                                         "wallet:u3", "wallet:vip"};
    static const std::vector<std::string> kEurWallets = {"wallet:e0", "wallet:e1"};
    const auto& wallets = euro ? kEurWallets : kUsdWallets;
    const size_t a = rng_() % wallets.size();
    const size_t b = (a + 1 + rng_() % (wallets.size() - 1)) % wallets.size();
    return {wallets[a], wallets[b]};
  }

  Planned Next(int n) {
    const std::string instance = Pick(instances_);
    const std::string key = "t" + std::to_string(n);
    const bool euro = rng_() % 4 == 0;
    const std::string cur = euro ? "EUR" : "USD";
    const std::string bank = euro ? "bank:eur" : "bank:usd";
    const std::pair<std::string, std::string> wallets = TwoWallets(euro);
    const std::string& from = wallets.first;
    const std::string& to = wallets.second;
    const int64_t roll = Uniform(0, 99);
    auto tx = [&](TxStatus status, std::vector<model::Entry> entries) {
      return CreateCommand(instance, {kSource, key, status, std::move(entries)});
    };
    auto update = [&](const std::string& target, Action action,
                      std::vector<model::Entry> entries = {}) {
      return UpdateCommand(instance, {kSource, target, key, action, std::move(entries)});
    };

    if (roll < 18) {  // deposit
      const int64_t a = Uniform(500, 20000);
      return tx(TxStatus::kPosted, {Debit(bank, a, cur), Credit(from, a, cur)});
    }
    if (roll < 40) {  // transfer between wallets, sometimes more than the payer holds
      const int64_t a = Uniform(1, 6000);
      return tx(TxStatus::kPosted, {Debit(from, a, cur), Credit(to, a, cur)});
    }
    if (roll < 47) {  // withdrawal
      const int64_t a = Uniform(1, 8000);
      return tx(TxStatus::kPosted, {Debit(from, a, cur), Credit(bank, a, cur)});
    }
    if (roll < 53 && !euro) {  // transfer with a fee: three entries
      const int64_t a = Uniform(1, 4000), fee = Uniform(1, 50);
      return tx(TxStatus::kPosted,
                {Debit(from, a + fee, cur), Credit(to, a, cur), Credit("revenue:fees", fee, cur)});
    }
    if (roll < 68) {  // pending transfer, later posted, archived or edited
      const int64_t a = Uniform(1, 5000);
      pending_[instance].push_back(key);
      pending_entries_[instance + "/" + key] = {Debit(from, a, cur), Credit(to, a, cur)};
      return tx(TxStatus::kPending, {Debit(from, a, cur), Credit(to, a, cur)});
    }
    const auto& pending = pending_[instance];
    if (roll < 88 && !pending.empty()) {  // update a pending one (maybe no longer pending)
      const std::string target = Pick(pending);
      std::vector<model::Entry> entries = pending_entries_[instance + "/" + target];
      const int64_t edited = Uniform(1, 6000);
      for (model::Entry& e : entries) e.amount = edited;
      const int64_t kind = Uniform(0, 9);
      if (kind < 4) return update(target, Action::kPost);
      if (kind < 6) return update(target, Action::kPost, entries);
      if (kind < 8) return update(target, Action::kArchive);
      return update(target, Action::kEdit, entries);
    }
    if (roll < 90) return update("never-" + key, Action::kPost);  // unknown transaction
    if (roll < 92) {                                              // unknown account
      return tx(TxStatus::kPosted, {Debit(from, 10, cur), Credit("wallet:ghost", 10, cur)});
    }
    if (roll < 94) {  // a USD wallet in an entry that says EUR: currency mismatch
      return tx(TxStatus::kPosted, {Debit("wallet:u0", 10, "EUR"), Credit("wallet:e0", 10, "EUR")});
    }
    // Resubmission of an earlier transaction command, with other amounts: the same key, so the
    // same event id, and no effect.
    std::vector<int> candidates;
    for (int i = std::max<int>(0, static_cast<int>(planned_.size()) - 400);
         i < static_cast<int>(planned_.size()); ++i) {
      if (!std::holds_alternative<model::OpenAccount>(planned_[i].command)) candidates.push_back(i);
    }
    if (candidates.empty()) {
      return tx(TxStatus::kPosted, {Debit(bank, 1, cur), Credit(from, 1, cur)});
    }
    const int original = Pick(candidates);
    Planned again = planned_[original];
    if (auto* c = std::get_if<model::CreateTransaction>(&again.command)) {
      for (model::Entry& e : c->entries) e.amount *= 2;
      again = CreateCommand(again.instance, *c);
    } else {
      auto& u = std::get<model::UpdateTransaction>(again.command);
      for (model::Entry& e : u.entries) e.amount += 1;
      again = UpdateCommand(again.instance, u);
    }
    again.original = original;
    return again;
  }

  std::mt19937_64 rng_{kSeed};
  std::vector<std::string> instances_;
  std::vector<Planned> planned_;
  std::map<std::string, std::vector<std::string>> pending_;  // instance -> pending keys
  std::map<std::string, std::vector<model::Entry>> pending_entries_;
};

// ---- The shared run -----------------------------------------------------------------------

struct Figures {
  int submitted = 0;
  int resubmitted = 0;
  int kills = 0;
  double submit_seconds = 0;
  double catch_up_seconds = 0;
};

// The workload, run on the suite's cluster: afterwards processor 1 is stopped and processor 0
// has caught up on everything.
struct SharedRun {
  std::vector<Planned> planned;
  std::string error;  // empty when the run got this far
  Figures figures;
  Clock::time_point started;
};

std::unique_ptr<httplib::Client> KeepAlive(std::unique_ptr<httplib::Client> client) {
  client->set_keep_alive(true);
  client->set_tcp_nodelay(true);
  return client;
}

// POSTs one chunk as /v1/batch; records each ack, or returns what went wrong.
std::string SubmitChunk(httplib::Client& client, std::vector<Planned>& planned, size_t begin,
                        size_t end) {
  v1::BatchRequest batch;
  for (size_t i = begin; i < end; ++i) *batch.add_commands() = planned[i].proto;
  auto res = client.Post("/v1/batch", http::ToJson(batch), kJson);
  if (!res) return "POST /v1/batch did not answer";
  if (res->status != 200)
    return "POST /v1/batch answered " + std::to_string(res->status) + " " + res->body;
  v1::BatchResponse response;
  if (Status s = http::ParseJson(res->body, response); !s.ok()) return s.ToString();
  if (response.results_size() != static_cast<int>(end - begin)) return "short batch response";
  for (size_t i = begin; i < end; ++i) {
    const v1::BatchItemResult& item = response.results(static_cast<int>(i - begin));
    // Every command must be accepted: one that was not acknowledged might still be in the log,
    // and the model could not know where.
    if (item.status() != 202) {
      return "command " + std::to_string(i) + " answered " + std::to_string(item.status()) + ": " +
             http::ToJson(item);
    }
    planned[i].event_id = item.ack().event_id();
    planned[i].partition = item.ack().partition();
    planned[i].offset = item.ack().offset();
  }
  return "";
}

// Runs once per suite, on its freshly started `cluster`: every test uses its outcome.
std::unique_ptr<SharedRun> RunWorkload(Cluster& cluster, Clock::time_point started) {
  auto r = std::make_unique<SharedRun>();
  r->started = started;
  r->planned = WorkloadGenerator().Generate();

  // Submit in chunks paced over kSubmitSpan, SIGKILLing a processor (1, 0, 1, ...) and
  // restarting it at once at evenly spaced points mid-stream.
  auto command = KeepAlive(cluster.CommandClient());
  const size_t chunks = (r->planned.size() + kBatchSize - 1) / kBatchSize;
  const auto pace = std::chrono::duration_cast<std::chrono::milliseconds>(kSubmitSpan) / chunks;
  const auto submit_start = Clock::now();
  for (size_t c = 0; c < chunks; ++c) {
    const size_t begin = c * kBatchSize, end = std::min(r->planned.size(), begin + kBatchSize);
    if (std::string e = SubmitChunk(*command, r->planned, begin, end); !e.empty()) {
      r->error = e;
      return r;
    }
    r->figures.submitted += static_cast<int>(end - begin);
    if (r->figures.kills < kKills && c == (r->figures.kills + 1) * chunks / (kKills + 1)) {
      const int victim = r->figures.kills % 2 == 0 ? 1 : 0;
      std::fprintf(stderr, "[exactly-once] SIGKILL processor %d after %d commands\n", victim,
                   r->figures.submitted);
      cluster.processor(victim).Signal(SIGKILL);
      if (Status s = cluster.StartProcessor(victim); !s.ok()) {
        r->error = "restart failed: " + s.ToString();
        return r;
      }
      ++r->figures.kills;
    }
    std::this_thread::sleep_until(submit_start + pace * (c + 1));  // pacing, not a wait
  }
  r->figures.submit_seconds = std::chrono::duration<double>(Clock::now() - submit_start).count();
  for (const Planned& p : r->planned) r->figures.resubmitted += p.original >= 0 ? 1 : 0;

  // Processor 1 leaves the group gracefully, so processor 0 owns every partition and is the
  // one to ask. It has caught up once it knows every instance's last event (the sentinel).
  const auto catch_up_start = Clock::now();
  cluster.processor(1).Signal(SIGTERM);
  if (cluster.processor(1).Wait(std::chrono::seconds(20)) != 0) {
    r->error = "processor 1 did not exit cleanly on SIGTERM; see " + cluster.log_dir();
    return r;
  }
  auto p0 = KeepAlive(cluster.ProcessorClient(0));
  std::vector<const Planned*> sentinels;
  for (auto it = r->planned.rbegin(); it != r->planned.rend() && sentinels.size() < kInstances;
       ++it) {
    sentinels.push_back(&*it);
  }
  const bool caught_up = WaitUntil(std::chrono::seconds(90), [&] {
    for (const Planned* s : sentinels) {
      if (!Answers200(*p0, "/v1/instances/" + s->instance + "/events/" + s->event_id)) {
        return false;
      }
    }
    return Answers200(*p0, "/readyz");
  });
  if (!caught_up) {
    r->error = "processor 0 did not apply every instance's last event within 90 s; see " +
               cluster.log_dir();
    return r;
  }
  r->figures.catch_up_seconds =
      std::chrono::duration<double>(Clock::now() - catch_up_start).count();
  return r;
}

void ExpectBalances(const model::Balances& want, const v1::Balances& got, const std::string& what) {
  EXPECT_EQ(got.posted().debit(), want.posted.debit) << what << " posted.debit";
  EXPECT_EQ(got.posted().credit(), want.posted.credit) << what << " posted.credit";
  EXPECT_EQ(got.posted().amount(), want.posted.amount) << what << " posted.amount";
  EXPECT_EQ(got.pending().debit(), want.pending.debit) << what << " pending.debit";
  EXPECT_EQ(got.pending().credit(), want.pending.credit) << what << " pending.credit";
  EXPECT_EQ(got.pending().amount(), want.pending.amount) << what << " pending.amount";
  EXPECT_EQ(got.available(), want.available) << what << " available";
}

// Compares everything processor 0 (`p0`) serves for `instance` with the model `m`, which
// replayed `events` (the instance's log); `first_offset` maps each event id to its first offset.
void CheckInstance(httplib::Client& p0, const std::string& instance, const model::LedgerModel& m,
                   const std::vector<const Planned*>& events,
                   const std::map<std::string, int64_t>& first_offset,
                   std::atomic<int>& histories_compared, std::atomic<int>& outcomes_compared) {
  const std::string base = "/v1/instances/" + instance;

  for (const auto& [address, account] : m.accounts()) {
    const std::string what = instance + "/" + address;
    v1::AccountView view;
    Status got = GetJson(p0, base + "/accounts/" + address, view);
    ASSERT_TRUE(got.ok()) << got.ToString();
    ExpectBalances(account.balances, view.balances(), what);

    // The whole history, newest first, a page at a time.
    std::vector<v1::HistoryItem> items;
    std::string cursor;
    do {
      v1::HistoryPage page;
      got = GetJson(p0,
                    base + "/accounts/" + address + "/history?limit=97" +
                        (cursor.empty() ? "" : "&cursor=" + cursor),
                    page);
      ASSERT_TRUE(got.ok()) << got.ToString();
      items.insert(items.end(), page.items().begin(), page.items().end());
      ASSERT_LE(items.size(), account.history.size() + 1000) << what << " history runs away";
      cursor = page.next_cursor();
    } while (!cursor.empty());
    ASSERT_EQ(items.size(), account.history.size()) << what << " history length";
    for (size_t k = 0; k < items.size(); ++k) {
      const model::HistoryItem& want = account.history[account.history.size() - 1 - k];
      const v1::HistoryItem& got = items[k];
      const std::string at = what + " history[" + std::to_string(k) + "] (event " + want.event_id +
                             ", offset " + std::to_string(want.offset) + ")";
      EXPECT_EQ(got.event_id(), want.event_id) << at;
      EXPECT_EQ(got.offset(), want.offset) << at;
      EXPECT_EQ(got.source_idempk(), want.source_idempk) << at;
      EXPECT_EQ(got.direction(), ToProto(want.direction)) << at;
      EXPECT_EQ(got.amount(), want.amount) << at;
      EXPECT_EQ(got.status(), ToProto(want.status)) << at;
      ExpectBalances(want.balances_after, got.balances_after(), at);
    }
    ++histories_compared;
  }

  // Each transaction's status, amounts (after edits) and applied updates.
  for (const auto& [key, tx] : m.transactions()) {
    v1::TransactionView view;
    const std::string path =
        base + "/transactions/" + tx.created.source + "/" + tx.created.source_idempk;
    const Status got = GetJson(p0, path, view);
    ASSERT_TRUE(got.ok()) << got.ToString();
    EXPECT_EQ(view.status(), ToProto(tx.status)) << path;
    ASSERT_EQ(view.entries_size(), static_cast<int>(tx.created.entries.size())) << path;
    for (int k = 0; k < view.entries_size(); ++k) {
      EXPECT_EQ(view.entries(k).amount(), tx.created.entries[k].amount) << path << " entry " << k;
    }
    EXPECT_EQ(std::vector<std::string>(view.update_idempks().begin(), view.update_idempks().end()),
              tx.update_idempks)
        << path;
  }

  // Each event id has exactly one recorded outcome: its first occurrence's.
  for (const Planned* p : events) {
    if (first_offset.at(p->event_id) != p->offset) continue;  // a resubmission: same record
    const model::Verdict want = *m.RecordedOutcome(p->event_id);
    v1::EventOutcomeView view;
    const Status got = GetJson(p0, base + "/events/" + p->event_id, view);
    ASSERT_TRUE(got.ok()) << got.ToString();
    EXPECT_EQ(view.outcome(), ToProto(want.outcome))
        << instance << " event " << p->event_id << " at offset " << p->offset << ": "
        << view.message();
    EXPECT_EQ(view.reason(), want.reason) << instance << " event " << p->event_id;
    EXPECT_EQ(view.offset(), p->offset) << instance << " event " << p->event_id;
    EXPECT_EQ(view.partition(), p->partition) << instance << " event " << p->event_id;
    ++outcomes_compared;
  }
  auto unknown = p0.Get((base + "/events/00000000000000000000000000000000").c_str());
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404) << "an event never submitted has no outcome";

  // The trial balance: the model's posted totals, and the books balance.
  v1::TrialBalance trial;
  const Status answered = GetJson(p0, base + "/trial-balance", trial);
  ASSERT_TRUE(answered.ok()) << answered.ToString();
  std::map<std::string, model::Totals> got;
  for (const v1::CurrencyTotals& t : trial.currencies()) {
    EXPECT_EQ(t.debits(), t.credits()) << instance << " " << t.currency() << " does not balance";
    got[t.currency()] = {t.debits(), t.credits()};
  }
  EXPECT_EQ(got.size(), m.trial_balance().size()) << instance << " currencies";
  for (const auto& [currency, totals] : m.trial_balance()) {
    EXPECT_EQ(got[currency], totals)
        << instance << " " << currency << " model " << totals.debits << "/" << totals.credits
        << " vs " << got[currency].debits << "/" << got[currency].credits;
  }
}

class ExactlyOnceTest : public ClusterSuite<ExactlyOnceTest> {
 public:
  static ClusterOptions Options() { return {.partitions = kPartitions, .processors = 2}; }
  static void SetUpTestSuite() {
    const auto started = Clock::now();
    ClusterSuite::SetUpTestSuite();
    if (Started()) run_ = RunWorkload(cluster(), started).release();
  }
  static void TearDownTestSuite() {
    delete run_;
    run_ = nullptr;
    ClusterSuite::TearDownTestSuite();
  }

 protected:
  void SetUp() override {
    ClusterSuite::SetUp();
    ASSERT_TRUE(run_ != nullptr && run_->error.empty()) << (run_ ? run_->error : "no run");
  }
  static SharedRun& TheRun() { return *run_; }

 private:
  static inline SharedRun* run_ = nullptr;
};

TEST_F(ExactlyOnceTest, EveryProjectionEqualsTheModelAfterSigkills) {
  SharedRun& run = TheRun();
  const auto check_start = Clock::now();

  // Resubmissions got their original's event id; every instance lives on one partition.
  std::map<std::string, int32_t> partition_of;
  for (const Planned& p : run.planned) {
    if (p.original >= 0) {
      EXPECT_EQ(p.event_id, run.planned[p.original].event_id) << "resubmission of " << p.original;
    }
    auto [it, inserted] = partition_of.emplace(p.instance, p.partition);
    EXPECT_EQ(it->second, p.partition) << "instance " << p.instance << " on two partitions";
  }

  // The model replays each instance's accepted commands in log order.
  std::map<std::string, std::vector<const Planned*>> log;
  for (const Planned& p : run.planned) log[p.instance].push_back(&p);
  std::map<std::string, model::LedgerModel> models;
  std::map<std::string, int64_t> first_offset;  // event id -> offset of its first occurrence
  int applied = 0, rejected = 0, duplicates = 0;
  for (auto& [instance, events] : log) {
    std::sort(events.begin(), events.end(),
              [](const Planned* a, const Planned* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < events.size(); ++i) {
      EXPECT_NE(events[i - 1]->offset, events[i]->offset) << "two acks for one offset";
    }
    for (const Planned* p : events) {
      const model::Verdict v = models[instance].Apply(p->event_id, p->offset, p->command);
      applied += v.outcome == Outcome::kApplied;
      rejected += v.outcome == Outcome::kRejected;
      duplicates += v.outcome == Outcome::kDuplicate;
      first_offset.emplace(p->event_id, p->offset);
    }
  }
  ASSERT_GT(rejected, 100) << "the workload should exercise rejections";
  ASSERT_GT(duplicates, 50) << "the workload should exercise duplicates";

  // One client and thread per instance: the checks wait on round trips, not on the CPU.
  std::atomic<int> histories_compared = 0, outcomes_compared = 0;
  std::vector<std::thread> checkers;
  for (const auto& [instance, m] : models) {
    checkers.emplace_back([&, &instance = instance, &m = m] {
      auto p0 = KeepAlive(cluster().ProcessorClient(0));
      CheckInstance(*p0, instance, m, log.at(instance), first_offset, histories_compared,
                    outcomes_compared);
    });
  }
  for (std::thread& t : checkers) t.join();

  const double check_seconds = std::chrono::duration<double>(Clock::now() - check_start).count();
  const double elapsed = std::chrono::duration<double>(Clock::now() - run.started).count();
  std::printf(
      "figures: events=%d instances=%zu applied=%d rejected=%d duplicates=%d (resubmitted %d) "
      "kills=%d accounts=%d outcomes_checked=%d elapsed=%.1fs (submit %.1fs, catch-up %.1fs, "
      "checks %.1fs)\n",
      run.figures.submitted, models.size(), applied, rejected, duplicates, run.figures.resubmitted,
      run.figures.kills, histories_compared.load(), outcomes_compared.load(), elapsed,
      run.figures.submit_seconds, run.figures.catch_up_seconds, check_seconds);
  EXPECT_EQ(run.figures.kills, kKills);
}

TEST_F(ExactlyOnceTest, TheOutcomeStreamHasOneOutcomePerRecordInLogOrderAsTheQueryApiServes) {
  SharedRun& run = TheRun();
  auto check = AwaitOutcomeStream(cluster().bootstrap(), cluster().events_topic(),
                                  cluster().outcomes_topic(), std::chrono::seconds(90));
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  std::printf("outcome stream: %s\n", Describe(*check).c_str());
  EXPECT_EQ(check->events, static_cast<int64_t>(run.planned.size()));
  EXPECT_EQ(check->missing, 0) << check->problems;
  EXPECT_EQ(check->out_of_order, 0) << check->problems;
  EXPECT_EQ(check->strays, 0) << check->problems;
  if (cluster().kafka() != nullptr) {
    EXPECT_EQ(check->duplicates, 0) << check->problems;
  } else {
    // The embedded broker ignores read_committed (EMBEDDED-BROKER.md): a killed relay's aborted
    // transaction stays visible there, so only real Kafka can show that none is published twice.
    std::printf("outcome stream: duplicates not judged on the embedded broker (%lld seen)\n",
                static_cast<long long>(check->duplicates));
  }

  // The first outcome of each event id is the one the query API serves; a resubmission's record
  // is a DUPLICATE naming the same event.
  std::map<std::string, std::vector<const Planned*>> by_instance;
  for (const Planned& p : run.planned) by_instance[p.instance].push_back(&p);
  std::atomic<int> compared = 0;
  std::vector<std::thread> checkers;
  for (const auto& [instance, events] : by_instance) {
    checkers.emplace_back([&, &instance = instance, &events = events] {
      auto p0 = KeepAlive(cluster().ProcessorClient(0));
      for (const Planned* p : events) {
        auto it = check->first.find({p->partition, p->offset});
        if (it == check->first.end()) continue;  // counted as missing above
        const v1::OutcomeRecord& streamed = it->second;
        EXPECT_EQ(streamed.event_id(), p->event_id) << p->partition << ":" << p->offset;
        EXPECT_EQ(streamed.instance_id(), instance);
        if (p->original >= 0 && run.planned[p->original].offset < p->offset) {
          EXPECT_EQ(streamed.outcome(), v1::DUPLICATE) << p->partition << ":" << p->offset;
          continue;
        }
        v1::EventOutcomeView served;
        const Status got =
            GetJson(*p0, "/v1/instances/" + instance + "/events/" + p->event_id, served);
        ASSERT_TRUE(got.ok()) << got.ToString();
        EXPECT_EQ(streamed.outcome(), served.outcome()) << p->event_id;
        EXPECT_EQ(streamed.reason(), served.reason()) << p->event_id;
        EXPECT_EQ(streamed.source_offset(), served.offset()) << p->event_id;
        ++compared;
      }
    });
  }
  for (std::thread& t : checkers) t.join();
  std::printf("outcome stream: %d outcomes compared with the query API\n", compared.load());
  EXPECT_GT(compared.load(), static_cast<int>(run.planned.size()) / 2);
}

TEST_F(ExactlyOnceTest, RebuildFromOffsetZeroGivesTheLiveDigest) {
  // Everything is published before the rebuild starts, so its outbox must come out empty.
  auto stream = AwaitOutcomeStream(cluster().bootstrap(), cluster().events_topic(),
                                   cluster().outcomes_topic(), std::chrono::seconds(90));
  ASSERT_TRUE(stream.ok() && stream->missing == 0) << "outcomes not all published";
  const TempDir scratch("kledger-rebuild");
  const std::string& data_dir = scratch.path();
  const ToolRun rebuild =
      cluster().RunKledger({"rebuild", "--data-dir", data_dir}, std::chrono::seconds(60));
  ASSERT_EQ(rebuild.exit_code, 0) << "kledger rebuild failed; stderr: " << rebuild.err
                                  << "\nstdout: " << rebuild.out;

  // The last stdout line carrying the digest.
  std::string rebuilt;
  std::istringstream lines(rebuild.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("digest=", 0) == 0) rebuilt = line.substr(7);
  }
  ASSERT_TRUE(std::regex_match(rebuilt, std::regex("[0-9a-f]{64}")))
      << "no digest=<64 hex> line in: " << rebuild.out;

  auto p0 = cluster().ProcessorClient(0);
  auto res = p0->Get("/v1/digest");
  ASSERT_TRUE(res) << "GET /v1/digest did not answer";
  ASSERT_EQ(res->status, 200) << res->body;
  std::smatch match;
  const std::string body = res->body;
  ASSERT_TRUE(std::regex_search(body, match, std::regex(R"re("digest"\s*:\s*"([0-9a-f]{64})")re")))
      << body;
  EXPECT_EQ(match[1].str(), rebuilt) << "live processor 0 vs rebuild from offset 0";

  // A processor started on the rebuilt store would publish its outbox: a rebuild republishes
  // nothing, so it holds no outcome the topic has.
  projections::StoreOptions options;
  options.path = data_dir;
  auto store = projections::ProjectionStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (int32_t p = 0; p < kPartitions; ++p) {
    auto outbox = (*store)->ReadOutbox(p, 0, 10, 1 << 20);
    ASSERT_TRUE(outbox.ok()) << outbox.status().ToString();
    EXPECT_TRUE(outbox->empty()) << "partition " << p << ": " << outbox->size()
                                 << " outcome(s) the topic has, from offset "
                                 << outbox->front().offset;
  }
}

}  // namespace
}  // namespace kledger::testing
