// The benchmark's canonical workload: accounts, then transfers between them (uniform or zipfian
// over each instance's accounts), some created pending and posted later. Generated on the fly
// from a seed, so a 1,000,000-transfer run does not hold its commands in memory.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "common/status.h"
#include "kledger/v1/api.pb.h"

namespace kledger::app::bench {

enum class Distribution { kUniform, kZipfian };

// Parses "uniform" | "zipfian"; InvalidArgument naming both otherwise.
Result<Distribution> ParseDistribution(std::string_view text);

struct WorkloadOptions {
  int64_t accounts = 10'000;    // accounts over all instances; default 10,000
  int64_t transfers = 200'000;  // transactions created; default 200,000
  Distribution distribution = Distribution::kUniform;  // which accounts transfers pick; uniform
  double pending_ratio = 0.0;  // share of transfers created pending, posted later; default 0
  int partitions = 24;         // one instance per partition of the events topic; default 24
  uint64_t seed = 42;          // default 42
};

// Samples 0..n-1 with P(i) proportional to 1/(i+1)^theta (YCSB's generator, theta 0.99).
class ZipfianGenerator {
 public:
  explicit ZipfianGenerator(int64_t n, double theta = 0.99);
  int64_t Next(std::mt19937_64& rng);

 private:
  int64_t n_;
  double theta_, alpha_, zetan_, eta_;
};

class Workload {
 public:
  // One command of the workload and what it contributes to the books.
  struct Item {
    v1::Command command;
    int32_t partition = -1;     // where its instance's events land
    int64_t posted_amount = 0;  // minor units this command posts (debits = credits)
    bool transfer = false;      // a transaction_created
  };

  explicit Workload(const WorkloadOptions& options);

  // Instances, indexed by partition: instance i's events land on partition i (murmur2).
  const std::vector<std::string>& instances() const { return instances_; }
  int64_t accounts_per_instance() const { return accounts_per_instance_; }
  // Commands Next() will return in all: account openings, transfers, posts of pending transfers.
  int64_t total() const { return total_; }
  // Account openings come first; transfers must not be submitted before these are applied.
  int64_t account_commands() const;

  // The next command; false when the workload is exhausted.
  bool Next(Item& item);

  // A transfer beyond the workload (the HTTP, sustained and latency phases), with its own
  // idempotency key space: `n` must be new each time.
  Item ExtraTransfer(int64_t n);

 private:
  int64_t PickAccount();
  Item MakeTransfer(const std::string& idempk_prefix, int64_t n, bool pending);

  WorkloadOptions options_;
  std::vector<std::string> instances_;
  int64_t accounts_per_instance_;
  int64_t total_;
  std::mt19937_64 rng_;
  ZipfianGenerator zipf_;
  int64_t next_account_ = 0;   // accounts opened so far
  int64_t next_transfer_ = 0;  // transfers created so far
  struct PendingPost {
    int64_t due;  // emitted once this many transfers were created
    Item item;
  };
  std::deque<PendingPost> posts_;  // posts of pending transfers, in due order
};

// The address of account `k` of an instance.
std::string AccountAddress(int64_t k);

// Cuts a stream of records into rounds: a round ends before any partition would receive more
// than `per_partition` records, or the round more than `max_records`. The benchmark submits a
// round, then lets its consumers read it, so no partition's backlog outgrows what the embedded
// broker retains (~5 MiB per partition). The raw ceiling and the command path share it.
class RoundBudget {
 public:
  RoundBudget(int partitions, int64_t per_partition, int64_t max_records);
  // Counts one more record for `partition` and returns true if it fits this round; false (and
  // counts nothing) when the round is full.
  bool Take(int32_t partition);
  // Starts the next round.
  void NextRound();
  int64_t taken() const { return taken_; }

 private:
  std::vector<int64_t> per_partition_taken_;
  int64_t per_partition_;
  int64_t max_records_;
  int64_t taken_ = 0;
};

}  // namespace kledger::app::bench
