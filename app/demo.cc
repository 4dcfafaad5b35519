#include "app/demo.h"

#include <cstdio>
#include <deque>
#include <map>
#include <random>
#include <vector>

#include "common/progress.h"

namespace kledger::app {
namespace {

const char* const kCurrencies[] = {"USD", "EUR"};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string BankAccount(const std::string& currency) { return "assets:bank:" + Lower(currency); }

std::string Wallet(int customer, const std::string& currency) {
  char name[64];
  std::snprintf(name, sizeof name, "liabilities:wallets:c%02d:%s", customer,
                Lower(currency).c_str());
  return name;
}

v1::Command OpenAccount(const std::string& instance, const std::string& address,
                        v1::AccountType type, const std::string& currency) {
  v1::Command command;
  command.set_instance_id(instance);
  auto& open = *command.mutable_open_account();
  open.set_address(address);
  open.set_type(type);
  open.set_currency(currency);
  return command;
}

v1::Command Transfer(const std::string& instance, int64_t n, const std::string& debit,
                     const std::string& credit, int64_t amount, const std::string& currency,
                     const char* description) {
  v1::Command command;
  command.set_instance_id(instance);
  auto& txn = *command.mutable_create_transaction();
  txn.set_source("demo");
  txn.set_source_idempk("txn-" + std::to_string(n));
  txn.set_status(v1::POSTED);
  txn.set_description(description);
  for (auto [account, side] : {std::pair{debit, v1::DEBIT}, std::pair{credit, v1::CREDIT}}) {
    auto& entry = *txn.add_entries();
    entry.set_account(account);
    entry.set_direction(side);
    entry.set_amount(amount);
    entry.set_currency(currency);
  }
  return command;
}

// The workload: accounts first, then a seeded mix of deposits, transfers and withdrawals.
std::vector<v1::Command> MakeWorkload(const DemoOptions& options) {
  std::vector<v1::Command> commands;
  for (const std::string currency : kCurrencies) {
    commands.push_back(OpenAccount(options.instance, BankAccount(currency), v1::ASSET, currency));
    for (int c = 1; c <= options.customers; ++c) {
      commands.push_back(
          OpenAccount(options.instance, Wallet(c, currency), v1::LIABILITY, currency));
    }
  }
  std::mt19937_64 rng(options.seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  for (int64_t n = 0; n < options.transactions; ++n) {
    const std::string currency = kCurrencies[pick(2)];
    const int64_t amount = 100 + pick(50'000);
    const int kind = pick(100);
    const int a = 1 + pick(options.customers);
    const int b = 1 + (a % options.customers);  // another customer
    if (kind < 40) {
      commands.push_back(Transfer(options.instance, n, BankAccount(currency), Wallet(a, currency),
                                  amount, currency, "deposit"));
    } else if (kind < 85) {
      commands.push_back(Transfer(options.instance, n, Wallet(a, currency), Wallet(b, currency),
                                  amount, currency, "transfer"));
    } else {
      commands.push_back(Transfer(options.instance, n, Wallet(a, currency), BankAccount(currency),
                                  amount, currency, "withdrawal"));
    }
  }
  return commands;
}

}  // namespace

Status RunDemo(command::CommandClient& client, processors::Processor& processor,
               const DemoOptions& options) {
  const std::vector<v1::Command> workload = MakeWorkload(options);
  std::vector<std::string> event_ids;
  std::map<int32_t, int64_t> last_offset;  // per partition
  const auto start = std::chrono::steady_clock::now();
  {
    ProgressBar bar("demo: submitting", static_cast<int64_t>(workload.size()));
    std::deque<std::future<Result<command::Ack>>> in_flight;
    auto settle_one = [&]() -> Status {
      auto ack = in_flight.front().get();
      in_flight.pop_front();
      if (!ack.ok()) return ack.status().WithContext("a demo command was not accepted");
      event_ids.push_back(ack->event_id);
      last_offset[ack->partition] = std::max(last_offset[ack->partition], ack->offset);
      bar.Update(static_cast<int64_t>(event_ids.size()));
      return Status::Ok();
    };
    // Accounts must be in the log before the first transaction that names them; one instance
    // means one partition, so log order is submission order.
    for (const auto& command : workload) {
      in_flight.push_back(client.Submit(command));
      if (in_flight.size() >= 1000) RETURN_IF_ERROR(settle_one());
    }
    while (!in_flight.empty()) RETURN_IF_ERROR(settle_one());
    bar.Finish();
  }
  const double submit_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  for (const auto& [partition, offset] : last_offset) {
    RETURN_IF_ERROR(processor.WaitForOffset(partition, offset, std::chrono::seconds(60))
                        .WithContext("waiting for the processor to apply the demo"));
  }
  const double applied_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::map<std::string, int> outcomes;
  for (const auto& id : event_ids) {
    ASSIGN_OR_RETURN(v1::EventOutcomeView outcome,
                     processor.store().GetOutcome(options.instance, id));
    std::string name = Lower(v1::Outcome_Name(outcome.outcome()));
    if (!outcome.reason().empty()) name += " (" + outcome.reason() + ")";
    ++outcomes[name];
  }

  std::printf(
      "\nkledger demo: %zu commands accepted in %.2f s (%.0f/s); all applied after %.2f s\n",
      event_ids.size(), submit_s, event_ids.size() / submit_s, applied_s);
  std::printf("outcomes:\n");
  for (const auto& [name, count] : outcomes) std::printf("  %-36s %6d\n", name.c_str(), count);

  std::printf("\n%-32s %-4s %14s %14s %14s\n", "account", "ccy", "posted debit", "posted credit",
              "balance");
  for (const std::string currency : kCurrencies) {
    for (const std::string& address :
         {BankAccount(currency), Wallet(1, currency), Wallet(2, currency)}) {
      ASSIGN_OR_RETURN(v1::AccountView account,
                       processor.store().GetAccount(options.instance, address));
      const auto& posted = account.balances().posted();
      std::printf("%-32s %-4s %14lld %14lld %14lld\n", address.c_str(), currency.c_str(),
                  static_cast<long long>(posted.debit()), static_cast<long long>(posted.credit()),
                  static_cast<long long>(posted.amount()));
    }
  }

  ASSIGN_OR_RETURN(v1::TrialBalance trial, processor.store().GetTrialBalance(options.instance));
  std::printf("\ntrial balance of instance '%s' (minor units):\n", options.instance.c_str());
  bool balanced = true;
  for (const auto& totals : trial.currencies()) {
    const bool ok = totals.debits() == totals.credits();
    balanced = balanced && ok;
    std::printf("  %-4s debits %14lld  credits %14lld  %s\n", totals.currency().c_str(),
                static_cast<long long>(totals.debits()), static_cast<long long>(totals.credits()),
                ok ? "balanced" : "NOT BALANCED");
  }
  std::fflush(stdout);
  if (!balanced) return Status::Internal("the trial balance is not zero");
  return Status::Ok();
}

}  // namespace kledger::app
