// The outcome stream's relay: publishes the outbox (ProjectionStore::ReadOutbox, written by the
// applier in the same commit as the state) to kledger.outcomes, exactly once in effect, with one
// transactional producer per owned partition. processors/README.md, "The outcome stream", has
// the design and why it holds across crashes, rebalances and zombie processors.
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

#include "common/kafka/producer.h"
#include "common/kafka/properties.h"
#include "common/status.h"
#include "projections/store.h"

namespace kledger::processors {

struct OutcomeRelayOptions {
  std::string topic = "kledger.outcomes";  // default "kledger.outcomes"
  // A partition's producer is "<transactional_id_prefix>.<partition>": the same for whichever
  // processor owns the partition, so that its new owner fences the old one. Default
  // "kledger-processors.kledger.outcomes" (the group, then the topic).
  std::string transactional_id_prefix = "kledger-processors.kledger.outcomes";
  size_t max_records = 2000;   // per transaction; default 2000
  size_t max_bytes = 4 << 20;  // per transaction, past one; default 4 MiB
  // How long a partition's applied outcomes may wait for more before they are published, unless
  // max_records are waiting: a transaction per partition at most this often. A transaction
  // costs the relay, its producer and the broker about the same however few records it holds
  // (~1.9 ms of the processor's CPU besides the broker's, docs/performance.md, "Lever: the
  // relay's transactions at most every 500 ms"). Default 500 ms; 0 publishes after every commit.
  std::chrono::milliseconds interval{500};
  std::chrono::milliseconds kafka_timeout{30000};  // init, commit, recovery read; default 30 s
  std::chrono::milliseconds retry_base{200};       // first pause after a failure; default 200 ms
  std::chrono::milliseconds retry_cap{10000};      // longest pause; default 10 s
  // Called between a transaction's records and its commit, on the relay thread, with the
  // partition. For the test of a fenced zombie, which holds a relay there. Default none.
  std::function<void(int32_t partition)> before_commit;
};

// What the relay knows about one partition it publishes.
struct RelayProgress {
  // Every outcome at or below this source offset is in the topic (or has none to publish); -1
  // before the first.
  int64_t published_through = -1;
  int64_t applied_next = 0;  // the processor's next offset to apply: outcomes below it exist
  bool ready = false;        // fenced any previous owner and recovered its position
  std::string failure;       // the last failure, until a transaction succeeds; empty otherwise
  // Source offsets applied whose outcomes are not yet published.
  int64_t Lag() const { return std::max<int64_t>(0, applied_next - 1 - published_through); }
  // Since when the oldest of them has waited, as far as the relay knows: the commit that ended
  // a lag of 0; the epoch when they were there before the relay was (a new owner's backlog).
  std::chrono::steady_clock::time_point waiting_since{};
};

// Reads the end of `partition` of the outcomes topic as a read_committed consumer and returns
// the source offset of its last committed outcome; -1 when it holds none. Records that are not
// OutcomeRecords (written by someone else) are passed over with a warning. Unavailable/Timeout
// when Kafka does not answer.
Result<int64_t> LastPublishedOffset(const kafka::Properties& props, const std::string& topic,
                                    int32_t partition, std::chrono::milliseconds timeout);

class OutcomeRelay {
 public:
  // `props`: bootstrap.servers and any -X overrides. Creates no producer yet: each partition's
  // is made when it is owned.
  OutcomeRelay(kafka::Properties props, OutcomeRelayOptions options,
               projections::ProjectionStore& store, prometheus::Registry& registry);
  ~OutcomeRelay();  // Stop()
  OutcomeRelay(const OutcomeRelay&) = delete;
  OutcomeRelay& operator=(const OutcomeRelay&) = delete;

  void Start();  // starts the relay thread (kl-relay)
  void Stop();   // joins it; what is not yet published stays in the outbox. Idempotent.

  // The processor was assigned `partition`, whose next offset to apply is `applied_next`.
  void Own(int32_t partition, int64_t applied_next);
  // The partition was revoked or lost; its producer is closed on the relay thread.
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
    std::unique_ptr<kafka::Producer> producer;         // relay thread only
    int attempts = 0;                                  // failures in a row; relay thread only
    std::chrono::steady_clock::time_point retry_at{};  // relay thread only
    RelayProgress progress;                            // guarded by mu_
    prometheus::Gauge* lag = nullptr;
    prometheus::Counter* published = nullptr;
  };

  void Loop();
  // One step for one partition: initialise its producer, or publish one transaction if one is
  // due (OutcomeRelayOptions::interval), else lower `next_due` to when it will be. True when it
  // published and more may be waiting.
  bool Step(Partition& part, std::chrono::steady_clock::time_point& next_due);
  // Creates the producer, fences the previous owner and recovers the topic's position.
  Status Init(Partition& part);
  // Publishes the outbox from the recovered position, one transaction. True when it did.
  Result<bool> PublishOnce(Partition& part);
  // After a failure: drops the producer (the next Init fences and aborts what it left) and
  // waits before trying again.
  void Failed(Partition& part, const char* stage, const Status& why);
  void SetPublishedThrough(Partition& part, int64_t offset);

  const kafka::Properties props_;
  const OutcomeRelayOptions options_;
  projections::ProjectionStore& store_;
  prometheus::Family<prometheus::Gauge>& lag_;
  prometheus::Family<prometheus::Counter>& published_;
  prometheus::Family<prometheus::Counter>& failures_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool woken_ = false;                                        // guarded by mu_
  std::map<int32_t, std::shared_ptr<Partition>> partitions_;  // guarded by mu_
  std::vector<std::shared_ptr<Partition>> retired_;           // guarded by mu_
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace kledger::processors
