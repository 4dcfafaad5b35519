// The canonical workload, generated deterministically from its seed.
#include "app/benchmark/workload.h"

#include <algorithm>
#include <cmath>

#include "common/kafka/partitioner.h"

namespace kledger::app::bench {
namespace {

constexpr char kCurrency[] = "USD";
constexpr char kSource[] = "bench";
// A pending transfer is posted this many transfers after its creation: late enough that the
// processor usually sees the two in different batches, as in real use.
constexpr int64_t kPostDelay = 64;

// Instance i is the first name "bench-<k>" that murmur2 maps to partition i, so that every
// partition carries the same share of the load.
std::vector<std::string> InstancesByPartition(int partitions) {
  std::vector<std::string> instances(partitions);
  int found = 0;
  for (int64_t k = 0; found < partitions; ++k) {
    std::string name = "bench-" + std::to_string(k);
    const int32_t p = kafka::PartitionForKey(name, partitions);
    if (instances[p].empty()) {
      instances[p] = std::move(name);
      ++found;
    }
  }
  return instances;
}

}  // namespace

Result<Distribution> ParseDistribution(std::string_view text) {
  if (text == "uniform") return Distribution::kUniform;
  if (text == "zipfian") return Distribution::kZipfian;
  return Status::InvalidArgument("distribution '" + std::string(text) +
                                 "' is unknown; use uniform or zipfian");
}

std::string AccountAddress(int64_t k) { return "acct:" + std::to_string(k); }

ZipfianGenerator::ZipfianGenerator(int64_t n, double theta) : n_(n), theta_(theta) {
  zetan_ = 0;
  for (int64_t i = 1; i <= n; ++i) zetan_ += 1.0 / std::pow(static_cast<double>(i), theta);
  const double zeta2 = 1.0 + 1.0 / std::pow(2.0, theta);
  alpha_ = 1.0 / (1.0 - theta);
  eta_ = (1.0 - std::pow(2.0 / static_cast<double>(n), 1.0 - theta)) / (1.0 - zeta2 / zetan_);
}

int64_t ZipfianGenerator::Next(std::mt19937_64& rng) {
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  const double uz = u * zetan_;
  if (uz < 1.0) return 0;
  if (uz < 1.0 + std::pow(0.5, theta_)) return std::min<int64_t>(1, n_ - 1);
  const auto i =
      static_cast<int64_t>(static_cast<double>(n_) * std::pow(eta_ * u - eta_ + 1.0, alpha_));
  return std::min(i, n_ - 1);
}

Workload::Workload(const WorkloadOptions& options)
    : options_(options),
      instances_(InstancesByPartition(options.partitions)),
      accounts_per_instance_(
          std::max<int64_t>(2, (options.accounts + options.partitions - 1) / options.partitions)),
      rng_(options.seed),
      zipf_(accounts_per_instance_) {
  const auto pending = static_cast<int64_t>(std::llround(
      static_cast<double>(options.transfers) * std::clamp(options.pending_ratio, 0.0, 1.0)));
  total_ = account_commands() + options.transfers + pending;
  // Decide pending-ness by exact count, so total() is exact whatever the random draws.
  options_.pending_ratio =
      options.transfers > 0 ? static_cast<double>(pending) / static_cast<double>(options.transfers)
                            : 0;
}

int64_t Workload::account_commands() const {
  return accounts_per_instance_ * static_cast<int64_t>(instances_.size());
}

int64_t Workload::PickAccount() {
  if (options_.distribution == Distribution::kZipfian) return zipf_.Next(rng_);
  return static_cast<int64_t>(rng_() % static_cast<uint64_t>(accounts_per_instance_));
}

Workload::Item Workload::MakeTransfer(const std::string& idempk_prefix, int64_t n, bool pending) {
  Item item;
  item.partition = static_cast<int32_t>(n % static_cast<int64_t>(instances_.size()));
  item.transfer = true;
  v1::Command& command = item.command;
  command.set_instance_id(instances_[item.partition]);
  const int64_t debit = PickAccount();
  int64_t credit = PickAccount();
  if (credit == debit) credit = (debit + 1) % accounts_per_instance_;
  const auto amount = static_cast<int64_t>(1 + rng_() % 10'000);
  auto& txn = *command.mutable_create_transaction();
  txn.set_source(kSource);
  txn.set_source_idempk(idempk_prefix + std::to_string(n));
  txn.set_status(pending ? v1::PENDING : v1::POSTED);
  for (auto [account, side] : {std::pair{debit, v1::DEBIT}, std::pair{credit, v1::CREDIT}}) {
    auto& entry = *txn.add_entries();
    entry.set_account(AccountAddress(account));
    entry.set_direction(side);
    entry.set_amount(amount);
    entry.set_currency(kCurrency);
  }
  if (!pending) item.posted_amount = amount;
  return item;
}

bool Workload::Next(Item& item) {
  if (next_account_ < account_commands()) {
    const int64_t k = next_account_++;
    item = Item();
    item.partition = static_cast<int32_t>(k % static_cast<int64_t>(instances_.size()));
    item.command.set_instance_id(instances_[item.partition]);
    auto& open = *item.command.mutable_open_account();
    open.set_address(AccountAddress(k / static_cast<int64_t>(instances_.size())));
    open.set_type(v1::ASSET);
    open.set_currency(kCurrency);
    // Transfers move money both ways at random; limits are not what this benchmark measures,
    // and every transfer must apply for the exactly-once check to count it.
    open.set_allow_negative(true);
    return true;
  }
  if (!posts_.empty() &&
      (posts_.front().due <= next_transfer_ || next_transfer_ >= options_.transfers)) {
    item = std::move(posts_.front().item);
    posts_.pop_front();
    return true;
  }
  if (next_transfer_ >= options_.transfers) return false;
  const int64_t n = next_transfer_++;
  // Bresenham-style: exactly round(transfers * ratio) pending transfers, evenly spread.
  const auto pending_before = static_cast<int64_t>(static_cast<double>(n) * options_.pending_ratio);
  const auto pending_after =
      static_cast<int64_t>(static_cast<double>(n + 1) * options_.pending_ratio);
  const bool pending = pending_after > pending_before;
  item = MakeTransfer("t-", n, pending);
  if (pending) {
    Item post;
    post.partition = item.partition;
    post.posted_amount = item.command.create_transaction().entries(0).amount();
    post.command.set_instance_id(item.command.instance_id());
    auto& update = *post.command.mutable_update_transaction();
    update.set_source(kSource);
    update.set_source_idempk(item.command.create_transaction().source_idempk());
    update.set_update_idempk("post");
    update.set_action(v1::POST);
    posts_.push_back({n + kPostDelay, std::move(post)});
  }
  return true;
}

Workload::Item Workload::ExtraTransfer(int64_t n) { return MakeTransfer("lat-", n, false); }

RoundBudget::RoundBudget(int partitions, int64_t per_partition, int64_t max_records)
    : per_partition_taken_(static_cast<size_t>(partitions), 0),
      per_partition_(std::max<int64_t>(1, per_partition)),
      max_records_(std::max<int64_t>(1, max_records)) {}

bool RoundBudget::Take(int32_t partition) {
  int64_t& n = per_partition_taken_.at(static_cast<size_t>(partition));
  if (n >= per_partition_ || taken_ >= max_records_) return false;
  ++n;
  ++taken_;
  return true;
}

void RoundBudget::NextRound() {
  std::fill(per_partition_taken_.begin(), per_partition_taken_.end(), 0);
  taken_ = 0;
}

}  // namespace kledger::app::bench
