// Booking the command path's acknowledgements: the offsets and amounts the exactly-once
// verification checks, and the waits of the phases that submit.
#include "app/benchmark/acks.h"

namespace kledger::app::bench {

void Ledger::Acked(const command::Ack& ack, int64_t posted_amount, int32_t expected_partition) {
  ++events;
  if (ack.partition != expected_partition && error.empty()) {
    error = "event " + ack.event_id + " landed on partition " + std::to_string(ack.partition) +
            ", not its instance's " + std::to_string(expected_partition);
  }
  if (ack.partition < 0 || ack.partition >= static_cast<int32_t>(next_offset.size())) return;
  int64_t& next = next_offset[ack.partition];
  if (ack.offset != next && error.empty()) {
    error = "partition " + std::to_string(ack.partition) + " acknowledged offset " +
            std::to_string(ack.offset) + " where " + std::to_string(next) +
            " was due: a record was lost or doubled on the way in";
  }
  next = ack.offset + 1;
  posted[ack.partition] += posted_amount;
  // One in 64 outcomes is read back by id: enough to catch a mix-up, bounded in memory.
  if (events % 64 == 0) {
    sampled.emplace_back(ack.event_id, ack.offset);
    sampled_partition.push_back(ack.partition);
  }
}

void Acks::Begin(const std::vector<Item>* items, OnBooked on_booked) {
  std::lock_guard lock(mu_);
  items_ = items;
  on_booked_ = std::move(on_booked);
  done_ = 0;
}

void Acks::End() {
  std::lock_guard lock(mu_);
  items_ = nullptr;
  on_booked_ = nullptr;
}

void Acks::OnAck(uint64_t tag, Result<command::Ack> ack) {
  const auto acked = Clock::now();
  int64_t done;
  {
    std::lock_guard lock(mu_);
    if (items_ == nullptr) return;  // the batch ended: a failed run's report, at its close
    const Item& item = (*items_)[tag];
    if (!ack.ok()) {
      if (error_.ok()) error_ = ack.status().WithContext("a benchmark command was not accepted");
    } else {
      ledger_.Acked(*ack, item.posted_amount, item.partition);
      if (on_booked_) on_booked_(*ack, item, acked);
    }
    done = done_.fetch_add(1) + 1;
  }
  // seq_cst with WaitFor's store and load, so that one of the two sees the other.
  if (done >= wake_at_.load()) {
    std::lock_guard lock(wait_mu_);
    wake_.notify_one();
  }
}

Status Acks::WaitFor(int64_t n, command::CommandClient* polled) {
  constexpr auto kStall = std::chrono::seconds(60);
  auto stalled = [&] {
    return Status::Timeout("the command path acknowledged " + std::to_string(done()) + " of " +
                           std::to_string(n) + " commands and then nothing for 60 s");
  };
  if (polled != nullptr) {
    auto last_progress = Clock::now();
    while (done() < n) {
      if (Status e = error(); !e.ok()) return e;
      if (polled->Poll(std::chrono::milliseconds(10)) > 0) {
        last_progress = Clock::now();
      } else if (Clock::now() - last_progress > kStall) {
        return stalled();
      }
    }
    return error();
  }
  std::unique_lock lock(wait_mu_);
  wake_at_.store(n);
  int64_t last = -1;
  while (done() < n) {
    if (Status e = error(); !e.ok()) return e;
    const int64_t now = done();
    if (now == last) return stalled();
    last = now;
    wake_.wait_for(lock, kStall, [&] { return done() >= n; });
  }
  wake_at_.store(std::numeric_limits<int64_t>::max());
  return error();
}

Status Acks::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

}  // namespace kledger::app::bench
