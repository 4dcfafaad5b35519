// The command path's acknowledgements as the benchmark books them: Acks receives them a batch at
// a time, Ledger keeps what the exactly-once verification checks them against.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "app/benchmark/resources.h"
#include "command-side/command_client.h"
#include "common/status.h"

namespace kledger::app::bench {

// What the command path appended, for the verification: per partition the offsets acked (they
// must be 0..n-1, each once) and the amounts posted per instance.
struct Ledger {
  std::vector<int64_t> next_offset;  // per partition: offsets acked so far are 0..next-1
  std::vector<int64_t> posted;       // per partition (= instance): sum of amounts posted
  std::vector<std::pair<std::string, int64_t>> sampled;  // (event id, partition offset) samples
  std::vector<int32_t> sampled_partition;
  int64_t events = 0;
  std::string error;  // the first inconsistency seen

  explicit Ledger(int partitions) : next_offset(partitions, 0), posted(partitions, 0) {}

  void Acked(const command::Ack& ack, int64_t posted_amount, int32_t expected_partition);
};

// Receives the command path's acks (CommandClient::SubmitAsync) and books them: tag i is the
// i-th command of the current batch of `items`. The acks arrive on the producer's delivery thread
// (ack_thread kOwn), or on the submitting thread inside CommandClient::Poll (kCaller).
//
// A run that fails returns with commands still in flight; the client reports them when it is
// destroyed (its producer's flush). So Acks outlives the client, and each batch ends (Batch)
// before its items go: a report after that is dropped, never booked into freed memory.
class Acks : public command::AckHandler {
 public:
  struct Item {
    int64_t posted_amount = 0;
    int32_t partition = -1;
    Clock::time_point submitted{};
  };
  // Called for each acked command after it was booked (under the lock), e.g. by the latency phase.
  using OnBooked = std::function<void(const command::Ack&, const Item&, Clock::time_point acked)>;

  explicit Acks(Ledger& ledger) : ledger_(ledger) {}

  // The next batch: `items` must stay put until WaitFor(items.size()) returned or End().
  void Begin(const std::vector<Item>* items, OnBooked on_booked = nullptr);

  // Forgets the batch, and what its OnBooked captured: reports still to come are dropped.
  void End();

  // Ends the batch of `acks` when it goes out of scope: declared right after the items it
  // guards, so it runs before they are destroyed, on the way out of a failed phase too.
  class Batch {
   public:
    explicit Batch(Acks& acks) : acks_(acks) {}
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;
    ~Batch() { acks_.End(); }

   private:
    Acks& acks_;
  };

  void OnAck(uint64_t tag, Result<command::Ack> ack) override;

  int64_t done() const { return done_.load(); }

  // Waits until `n` acks of this batch arrived, or the first failed one; 60 s without any is a
  // Timeout (the producer's own timeout is shorter). With `polled` (a client whose ack_thread is
  // kCaller), serves the acks on this thread meanwhile instead of sleeping until they are booked.
  Status WaitFor(int64_t n, command::CommandClient* polled = nullptr);

  Status error() const;

 private:
  Ledger& ledger_;
  mutable std::mutex mu_;  // guards the ledger, items_, on_booked_, error_
  const std::vector<Item>* items_ = nullptr;
  OnBooked on_booked_;
  Status error_;
  std::atomic<int64_t> done_{0};
  std::mutex wait_mu_;
  std::condition_variable wake_;
  std::atomic<int64_t> wake_at_{std::numeric_limits<int64_t>::max()};
};

}  // namespace kledger::app::bench
