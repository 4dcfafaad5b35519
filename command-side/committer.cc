// The transactional committer (internal/committer.h): rounds of queued command groups, each in
// one Kafka transaction, and the recovery of a transaction a failed round left open.
#include "command-side/internal/committer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

namespace kledger::command {
namespace {

using Clock = std::chrono::steady_clock;

// How long an idle committer waits before it tries again to finish a transaction a failed round
// left open (brokers still unreachable, say).
constexpr std::chrono::seconds kIdleRetry{1};

}  // namespace

CommandClient::Committer::Committer(CommandClient& client,
                                    std::unique_ptr<kafka::Producer> producer)
    : client_(client), producer_(std::move(producer)), thread_([this] { Run(); }) {}

CommandClient::Committer::~Committer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  thread_.join();
}

void CommandClient::Committer::Enqueue(std::vector<Pending> group) {
  if (group.empty()) return;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(group));
  }
  work_.notify_one();
}

Status CommandClient::Committer::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (idle_.wait_for(lock, timeout, [&] { return queue_.empty() && !busy_; })) {
    return Status::Ok();
  }
  return Status::Timeout("flush: transactions still committing after " +
                         std::to_string(timeout.count()) + " ms");
}

void CommandClient::Committer::Run() {
  for (;;) {
    std::vector<std::vector<Pending>> round;
    {
      std::unique_lock lock(mu_);
      const auto has_work = [&] { return stopping_ || !queue_.empty(); };
      while (!has_work()) {
        if (!LeftOpen()) {
          work_.wait(lock, has_work);
          break;
        }
        // A failed round left its transaction open (an abort or a commit to finish): that
        // holds back read_committed consumers of its partitions until transaction.timeout.ms,
        // so it is finished now rather than when the next command comes.
        lock.unlock();
        const Status ready = MakeReady(client_.options_.ack_timeout);
        lock.lock();
        if (!ready.ok()) work_.wait_for(lock, kIdleRetry, has_work);
      }
      // At shutdown the queue is still committed, so Flush()ed commands are not lost.
      if (queue_.empty()) return;
      size_t records = 0;
      while (!queue_.empty() && (round.empty() || records + queue_.front().size() <=
                                                      client_.options_.max_transaction_records)) {
        records += queue_.front().size();
        round.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      busy_ = true;
    }
    CommitRound(round);
    {
      std::lock_guard lock(mu_);
      busy_ = false;
    }
    idle_.notify_all();
  }
}

void CommandClient::Committer::FailRound(std::vector<std::vector<Pending>>& round,
                                         const Status& why) {
  for (auto& group : round) {
    for (Pending& p : group) client_.Resolve(p, internal::Unacknowledged(why.message()));
  }
}

void CommandClient::Committer::DropExpired(std::vector<std::vector<Pending>>& round) {
  const auto timeout = client_.options_.ack_timeout;
  for (auto& group : round) {
    const bool expired = std::any_of(group.begin(), group.end(), [&](const Pending& p) {
      return Clock::now() - p.start > timeout;
    });
    if (expired) {
      for (Pending& p : group) {
        client_.Resolve(
            p, internal::Unacknowledged("it waited longer than the acknowledgement timeout"));
      }
      group.clear();
    }
  }
  std::erase_if(round, [](const auto& group) { return group.empty(); });
}

void CommandClient::Committer::CommitRound(std::vector<std::vector<Pending>>& round) {
  DropExpired(round);
  if (round.empty()) return;
  // Every step of the round fits in what is left of its oldest command's timeout.
  Clock::time_point deadline = Clock::time_point::max();
  for (const auto& group : round) {
    for (const Pending& p : group) deadline = std::min(deadline, p.start);
  }
  deadline += client_.options_.ack_timeout;
  const auto remaining = [deadline] {
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
                    std::chrono::milliseconds(1));
  };

  if (Status s = MakeReady(remaining()); !s.ok()) return FailRound(round, s);
  // Finishing an earlier round's abort or commit took some of that time.
  DropExpired(round);
  if (round.empty()) return;
  if (Status s = producer_->BeginTransaction(); !s.ok()) {
    FailRound(round, s);
    return Recover(s);
  }
  // Written by the delivery thread; shared because a failed commit may return before the
  // last delivery report arrives.
  auto reports = std::make_shared<std::vector<std::optional<Result<kafka::DeliveryReport>>>>();
  for (const auto& group : round) reports->resize(reports->size() + group.size());
  size_t index = 0;
  for (auto& group : round) {
    for (Pending& p : group) {
      Status produced = producer_->Produce(std::move(p.record),
                                           [reports, index](Result<kafka::DeliveryReport> report) {
                                             (*reports)[index] = std::move(report);
                                           });
      ++index;
      if (!produced.ok()) {
        FailRound(round, produced);
        return Recover(produced);
      }
    }
  }
  // Delivered first, then committed: until the commit starts, a failure is an abort.
  if (Status delivered = producer_->Flush(remaining()); !delivered.ok()) {
    FailRound(round, delivered);  // answer first: the callers need not wait for the abort
    return Recover(delivered);
  }
  if (Status committed = producer_->CommitTransaction(remaining()); !committed.ok()) {
    FailRound(round, committed);
    return RecoverCommit(committed);
  }
  index = 0;
  for (auto& group : round) {
    for (Pending& p : group) {
      const auto& report = (*reports)[index++];
      if (!report || !report->ok()) {
        // A committed transaction delivered every record; anything else is a bug to see.
        client_.Resolve(p, Status::Internal("transaction committed without a delivery report"));
        continue;
      }
      client_.Resolve(p, Ack{std::move(p.event_id), (*report)->partition, (*report)->offset});
    }
  }
}

bool CommandClient::Committer::MustRecreate(const Status& s) {
  return s.code() == StatusCode::kFatal || s.code() == StatusCode::kInternal;
}

Status CommandClient::Committer::MakeReady(std::chrono::milliseconds timeout) {
  if (!producer_) {
    ASSIGN_OR_RETURN(producer_, kafka::Producer::Create(client_.producer_properties_));
    initialized_ = false;
  }
  if (!initialized_) {
    Status s = producer_->InitTransactions(timeout);
    if (!s.ok()) {
      if (MustRecreate(s)) producer_.reset();
      return s;
    }
    initialized_ = true;
    needs_abort_ = false;
    commit_unfinished_ = false;
  }
  if (commit_unfinished_) {
    // librdkafka refuses an abort while a commit it has started is unfinished: the commit is
    // resumed to its end. Its callers had Unavailable, which allows the commands to be in the
    // log ("resubmit": same idempotency key, applied once).
    Status s = producer_->CommitTransaction(timeout);
    if (s.code() == StatusCode::kFailedPrecondition) {
      needs_abort_ = true;  // the commit failed for good: the transaction is aborted instead
    } else if (!s.ok()) {
      if (MustRecreate(s)) producer_.reset();
      return s;
    } else {
      spdlog::info("command: the unfinished transaction commit completed");
    }
    commit_unfinished_ = false;
  }
  if (needs_abort_) {
    Status s = producer_->AbortTransaction(timeout);
    if (!s.ok()) {
      if (MustRecreate(s)) producer_.reset();
      return s;
    }
    spdlog::info("command: the failed transaction's abort completed");
    needs_abort_ = false;
  }
  return Status::Ok();
}

void CommandClient::Committer::RecoverCommit(const Status& failure) {
  if (failure.code() == StatusCode::kTimeout || failure.code() == StatusCode::kUnavailable) {
    spdlog::warn("command: transaction commit unfinished, resumed before the next one: {}",
                 failure.ToString());
    commit_unfinished_ = true;
    return;
  }
  Recover(failure);
}

void CommandClient::Committer::Recover(const Status& failure) {
  spdlog::warn("command: transaction failed, aborting it: {}", failure.ToString());
  if (MustRecreate(failure)) {
    producer_.reset();
    return;
  }
  Status aborted = producer_->AbortTransaction(client_.options_.ack_timeout);
  if (aborted.ok()) return;
  spdlog::warn("command: abort failed, retried before the next transaction: {}",
               aborted.ToString());
  if (MustRecreate(aborted)) {
    producer_.reset();
  } else {
    needs_abort_ = true;
  }
}

}  // namespace kledger::command
