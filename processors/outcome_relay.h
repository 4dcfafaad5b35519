// The outcome stream's relay: publishes the outbox (ProjectionStore::ReadOutbox, written by the
// applier in the same commit as the state) to kledger.outcomes, exactly once in effect, with one
// transactional producer per processor, fenced by the consumer group's generation (KIP-447).
// processors/README.md, "The outcome stream", has the design and why it holds across crashes,
// rebalances and zombie processors.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "common/kafka/properties.h"
#include "common/status.h"
#include "projections/store.h"

namespace kledger::processors {

struct OutcomeRelayOptions {
  std::string topic = "kledger.outcomes";  // default "kledger.outcomes"
  // The relay's one transactional producer: unique among the relays running, and the same for
  // a processor across restarts (a restarted one then aborts its predecessor's open transaction
  // at once instead of after `transaction_timeout`). Default
  // "kledger-processors.kledger.outcomes" (the group, then the topic); a processor appends where
  // it runs and its data directory.
  std::string transactional_id = "kledger-processors.kledger.outcomes";
  // The membership of the processor's group consumer, sent with every transaction's offsets so
  // that a zombie's transaction (a relay whose processor has left the group, or been put out of
  // it, and does not know yet) is refused by the group coordinator (KIP-447). Empty: none sent,
  // and nothing but the transactional id fences this relay (a relay on its own, in tests).
  std::function<Result<kafka::GroupMetadata>()> group_metadata;
  size_t max_records = 2000;   // per partition per transaction; default 2000
  size_t max_bytes = 4 << 20;  // per transaction, past one partition's; default 4 MiB
  // How long a partition's applied outcomes may wait for more before they are published, unless
  // max_records are waiting. A transaction costs the relay, its producer and the broker about the
  // same however few records it holds (docs/performance.md, "Lever: the relay's transactions at
  // most every 500 ms"); once one partition is due, every partition with outcomes waiting goes
  // into its transaction. Default 500 ms; 0 publishes after every commit.
  std::chrono::milliseconds interval{500};
  std::chrono::milliseconds kafka_timeout{30000};  // init, commit, recovery read; default 30 s
  // The broker aborts a transaction left open longer (a relay dead inside it): until then the
  // partitions it holds have no new last stable offset, and their next owners wait to recover.
  // Default 10 s.
  std::chrono::milliseconds transaction_timeout{10000};
  std::chrono::milliseconds retry_base{200};   // first pause after a failure; default 200 ms
  std::chrono::milliseconds retry_cap{10000};  // longest pause; default 10 s
  // Called between a transaction's records (delivered) and its offsets and commit, on the relay
  // thread, with the transaction's partitions. For the test of a fenced zombie, which holds a
  // relay there. Default none.
  std::function<void(const std::vector<int32_t>& partitions)> before_commit;
};

// What the relay knows about one partition it publishes.
struct RelayProgress {
  // Every outcome at or below this source offset is in the topic (or has none to publish); -1
  // before the first.
  int64_t published_through = -1;
  int64_t applied_next = 0;  // the processor's next offset to apply: outcomes below it exist
  bool ready = false;        // recovered its position from the topic, no earlier transaction open
  std::string failure;       // the last failure, until a transaction succeeds; empty otherwise
  // Times the partition's position was read from the topic: once when owned, and again after
  // each transaction of it whose end is not known (its commit failed, or its abort did).
  int recoveries = 0;
  // Source offsets applied whose outcomes are not yet published.
  int64_t Lag() const { return std::max<int64_t>(0, applied_next - 1 - published_through); }
  // Since when the oldest of them has waited, as far as the relay knows: the commit that ended
  // a lag of 0; the epoch when they were there before the relay was (a new owner's backlog).
  std::chrono::steady_clock::time_point waiting_since{};
};

// Reads the end of `partition` of the outcomes topic as a read_committed consumer and returns
// the source offset of its last committed outcome; -1 when it holds none. Records that are not
// OutcomeRecords (written by someone else) are passed over with a warning. Unavailable/Timeout
// when Kafka does not answer. It reads up to the last stable offset: an open transaction's
// records, which may still be committed, are not counted (see OpenTransactionProbe).
Result<int64_t> LastPublishedOffset(const kafka::Properties& props, const std::string& topic,
                                    int32_t partition, std::chrono::milliseconds timeout);

// Whether a transaction is open in a partition of the outcomes topic: its last stable offset
// (where a read_committed reader stops) below its high watermark. Two consumers, one of each
// isolation level, reused for every partition a relay recovers.
class OpenTransactionProbe {
 public:
  // `props`: bootstrap.servers and any -X overrides.
  static Result<std::unique_ptr<OpenTransactionProbe>> Create(const kafka::Properties& props);

  // Waits until no transaction is open in `partition` of `topic`. A previous owner's transaction
  // ends by its commit, by its abort (a zombie's offsets refused), or at its timeout. Timeout
  // (naming the partition) when one is still open after `timeout`; FailedPrecondition as soon
  // as `abandon` (asked every 100 ms) says the wait is no longer wanted.
  Status Await(const std::string& topic, int32_t partition, std::chrono::milliseconds timeout,
               const std::function<bool()>& abandon);

 private:
  OpenTransactionProbe(std::unique_ptr<kafka::Consumer> stable,
                       std::unique_ptr<kafka::Consumer> high);

  std::unique_ptr<kafka::Consumer> stable_;  // read_committed: its high watermark is the LSO
  std::unique_ptr<kafka::Consumer> high_;    // read_uncommitted
};

class OutcomeRelay {
 public:
  // `props`: bootstrap.servers and any -X overrides. Creates no producer yet: the relay thread
  // makes it.
  OutcomeRelay(kafka::Properties props, OutcomeRelayOptions options,
               projections::ProjectionStore& store, prometheus::Registry& registry);
  ~OutcomeRelay();  // Stop()
  OutcomeRelay(const OutcomeRelay&) = delete;
  OutcomeRelay& operator=(const OutcomeRelay&) = delete;

  void Start();  // starts the relay thread (kl-relay)
  void Stop();   // joins it; what is not yet published stays in the outbox. Idempotent.

  // The processor was assigned `partition`, whose next offset to apply is `applied_next`.
  void Own(int32_t partition, int64_t applied_next);
  // The partition was revoked or lost. Returns once no transaction of the relay holds it: one
  // in flight is committed or aborted first, so that the partition's next owner, assigned after
  // this returns, finds no transaction of this relay open in it.
  void Disown(int32_t partition);
  // A commit made everything below `next_offset` of `partition` applied, outbox included.
  void Applied(int32_t partition, int64_t next_offset);

  // The apply path writes no outbox entry below this offset of `partition`: those outcomes are
  // in the topic already. 0 while not known.
  int64_t OutboxFrom(int32_t partition) const;

  std::map<int32_t, RelayProgress> Progress() const;

 private:
  struct Partition {
    int32_t partition = 0;
    int attempts = 0;                                  // recovery failures in a row; relay thread
    std::chrono::steady_clock::time_point retry_at{};  // relay thread only
    RelayProgress progress;                            // guarded by mu_
    prometheus::Gauge* lag = nullptr;
    prometheus::Counter* published = nullptr;
  };
  // What one transaction takes of one partition.
  struct Share {
    std::shared_ptr<Partition> part;
    std::vector<projections::ProjectionStore::OutboxEntry> entries;  // oldest first
    bool drains = false;  // took every outcome applied when it was read
  };

  void Loop();
  // Creates the producer and initialises its transactions: the broker aborts whatever an
  // earlier producer of the same transactional id left open.
  Status InitProducer();
  // Recovers a newly owned partition's position: waits until no transaction is open in it,
  // then reads its end and deletes the outbox entries at or below it. The wait is abandoned
  // (FailedPrecondition) when the relay stops or the partition is disowned.
  Status Recover(const std::shared_ptr<Partition>& part);
  // Whether `part` is still what the relay publishes for its partition (not disowned, nor owned
  // again since) and the relay is not stopping.
  bool Wanted(const std::shared_ptr<Partition>& part) const;
  // When a transaction is due (one partition's interval is up, or max_records wait), what it
  // takes: every partition with outcomes waiting, within the transaction's limits. Else none,
  // and `next_due` is lowered to when one will be. `more`: another transaction is due at once
  // (this one takes less than all that waits).
  std::vector<Share> Due(const std::vector<std::shared_ptr<Partition>>& parts,
                         std::chrono::steady_clock::time_point& next_due, bool& more);
  // Publishes `shares` in one transaction, with the group's membership (fencing a zombie).
  // `committing` is set once the commit is asked for: from then on, a failure leaves the
  // transaction's end unknown.
  Status Publish(std::vector<Share>& shares, bool& committing);
  // After a failed init or transaction, and pauses. A `failed` transaction not yet `committing`
  // (its records or offsets refused: a rebalance, a zombie's membership) is aborted; once the
  // abort is done, nothing of it was published, so its partitions keep their position and the
  // producer is kept for the next one. Otherwise the producer is dropped (the next init aborts
  // what it left) and the transaction's partitions recover their position again: whether its
  // commit landed, only the topic knows.
  void TransactionFailed(const char* stage, const Status& why,
                         const std::vector<Share>* failed = nullptr, bool committing = false);
  // The pause after `attempts` failures in a row: retry_base doubling, at most retry_cap.
  std::chrono::milliseconds RetryPause(int attempts) const;
  // After a failed recovery of one partition: pauses it.
  void RecoveryFailed(Partition& part, const Status& why);
  void SetPublishedThrough(Partition& part, int64_t offset);

  const kafka::Properties props_;
  const OutcomeRelayOptions options_;
  projections::ProjectionStore& store_;
  prometheus::Family<prometheus::Gauge>& lag_;
  prometheus::Family<prometheus::Counter>& published_;
  prometheus::Family<prometheus::Counter>& failures_;

  // Held by the relay thread through each transaction; Disown takes it to wait for one to end.
  std::mutex transaction_mu_;
  std::unique_ptr<kafka::Producer> producer_;    // relay thread only
  std::unique_ptr<OpenTransactionProbe> probe_;  // relay thread only; made at the first recovery
  int attempts_ = 0;                             // transaction failures in a row; relay thread only
  // No init nor transaction before this (after a failure); relay thread only.
  std::chrono::steady_clock::time_point retry_at_{};

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool woken_ = false;                                        // guarded by mu_
  std::map<int32_t, std::shared_ptr<Partition>> partitions_;  // guarded by mu_
  std::vector<std::shared_ptr<Partition>> retired_;           // guarded by mu_
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace kledger::processors
