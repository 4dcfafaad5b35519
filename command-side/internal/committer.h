// Transactional mode's group commit (ProducerMode::kTransactional in command_client.h): the
// committer thread and its transactional producer. Only command_client.cc and committer.cc
// include this.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "command-side/command_client.h"

namespace kledger::command {
namespace internal {

// Unavailable: Kafka did not acknowledge the event, and resubmitting it is safe.
Status Unacknowledged(std::string_view why);

}  // namespace internal

// One thread owns the transactional producer; callers queue groups of records (a group never
// spans two transactions); each round takes every group waiting, begins a transaction, produces
// them, commits, and only then resolves their futures — with the offsets on success, Unavailable
// on any failure (the transaction is aborted, nothing of it is committed). Waiting while a round
// commits is what batches concurrent commands.
class CommandClient::Committer {
 public:
  Committer(CommandClient& client, std::unique_ptr<kafka::Producer> producer);
  ~Committer();  // commits what is queued, then joins

  void Enqueue(std::vector<Pending> group);
  // Ok once nothing is queued or committing; Timeout after `timeout`.
  Status Flush(std::chrono::milliseconds timeout);

 private:
  void Run();
  // A failed round's transaction is still open: its abort or its commit is to be finished.
  bool LeftOpen() const { return needs_abort_ || commit_unfinished_; }
  void FailRound(std::vector<std::vector<Pending>>& round, const Status& why);
  // Resolves, as Unavailable, every command whose caller has waited longer than the
  // acknowledgement timeout: its caller was told to resubmit, so it is not appended late.
  void DropExpired(std::vector<std::vector<Pending>>& round);
  void CommitRound(std::vector<std::vector<Pending>>& round);
  // A fatal error leaves the producer unusable, and one nobody can explain (a bug) leaves it in
  // a state nobody can vouch for: either way the next round starts with a new producer, whose
  // InitTransactions fences the old one off.
  static bool MustRecreate(const Status& s);
  // Registers the transactional id on first use and finishes a commit or an abort left over from
  // a failed round, so the next transaction starts clean.
  Status MakeReady(std::chrono::milliseconds timeout);
  // After rd_kafka_commit_transaction failed: a commit that timed out or met a retriable error
  // goes on in the background and must be resumed, not aborted (librdkafka would refuse the
  // abort as a conflicting call, and every later round with it); anything else is recovered.
  void RecoverCommit(const Status& failure);
  // After a failed begin/produce/delivery/commit: abort, or drop a producer that hit a fatal
  // error (a new one with the same transactional.id fences it off).
  void Recover(const Status& failure);

  CommandClient& client_;
  std::unique_ptr<kafka::Producer> producer_;  // only the committer thread touches it
  bool initialized_ = false;                   // InitTransactions succeeded on producer_
  bool needs_abort_ = false;                   // a failed abort must be retried first
  bool commit_unfinished_ = false;             // a commit that timed out must be resumed first

  std::mutex mu_;
  std::condition_variable work_;
  std::condition_variable idle_;
  std::deque<std::vector<Pending>> queue_;  // guarded by mu_
  bool busy_ = false;                       // a round is committing; guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::thread thread_;                      // last: starts once the rest is built
};

}  // namespace kledger::command
