#include "processors/outcome_relay.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <thread>

#include "common/kafka/consumer.h"
#include "kledger/v1/outcomes.pb.h"
#include "processors/outcome_record.h"
#include "processors/topic_scan.h"

namespace kledger::processors {
namespace {

using Clock = std::chrono::steady_clock;

// The source offset an outcomes record names: its header, else its value; nullopt for a record
// that is neither (someone else's), which the relay steps over rather than stop at.
std::optional<int64_t> SourceOffsetOf(const kafka::ConsumedRecord& record) {
  if (auto header = kafka::FindHeader(record.headers, kSourceOffsetHeader)) {
    int64_t offset = -1;
    auto [end, error] = std::from_chars(header->data(), header->data() + header->size(), offset);
    if (error == std::errc() && end == header->data() + header->size()) return offset;
  }
  v1::OutcomeRecord outcome;
  if (!outcome.ParseFromString(record.value) || outcome.schema_version() == 0) {
    spdlog::warn("outcome relay: record {}:{} of {} is not an OutcomeRecord; passed over",
                 record.partition, record.offset, record.topic);
    return std::nullopt;
  }
  return outcome.source_offset();
}

}  // namespace

Result<int64_t> LastPublishedOffset(const kafka::Properties& props, const std::string& topic,
                                    int32_t partition, std::chrono::milliseconds timeout) {
  // The last committed record is near the end; transaction markers and aborted records take
  // offsets too, so look further back until one is found or the log's start is reached.
  int64_t window = 256;
  while (true) {
    // Only committed records count, whatever the -X properties say: an aborted transaction's
    // records were never published.
    kafka::Properties committed = props;
    committed["isolation.level"] = "read_committed";
    ScanOptions scan_options;
    scan_options.reader_group = "kledger-outcome-relay";
    scan_options.partitions = {partition};
    scan_options.metadata_timeout = timeout;
    scan_options.stall_timeout = timeout;
    // Placeholder start; moved to high - window once the watermarks are known.
    ASSIGN_OR_RETURN(auto probe, TopicScan::Open(committed, topic, scan_options));
    const ScanRange range = probe->ranges().at(partition);
    if (range.high <= range.low) return int64_t{-1};
    const int64_t from = std::max(range.low, range.high - window);
    scan_options.start[partition] = from;
    probe.reset();
    ASSIGN_OR_RETURN(auto scan, TopicScan::Open(committed, topic, scan_options));
    int64_t last = -1;
    while (!scan->Finished()) {
      ASSIGN_OR_RETURN(auto records, scan->Next(std::chrono::milliseconds(200), 1000));
      for (const auto& record : records) {
        if (auto offset = SourceOffsetOf(record)) last = std::max(last, *offset);
      }
    }
    if (last >= 0 || from <= range.low) return last;
    window *= 8;
  }
}

Result<std::unique_ptr<OpenTransactionProbe>> OpenTransactionProbe::Create(
    const kafka::Properties& props) {
  static kafka::NoRebalanceListener no_rebalances;
  kafka::Properties committed = props;
  committed["group.id"] = "kledger-outcome-relay";
  committed["isolation.level"] = "read_committed";
  kafka::Properties uncommitted = committed;
  uncommitted["isolation.level"] = "read_uncommitted";
  ASSIGN_OR_RETURN(auto stable, kafka::Consumer::Create(committed, &no_rebalances));
  ASSIGN_OR_RETURN(auto high, kafka::Consumer::Create(uncommitted, &no_rebalances));
  return std::unique_ptr<OpenTransactionProbe>(
      new OpenTransactionProbe(std::move(stable), std::move(high)));
}

OpenTransactionProbe::OpenTransactionProbe(std::unique_ptr<kafka::Consumer> stable,
                                           std::unique_ptr<kafka::Consumer> high)
    : stable_(std::move(stable)), high_(std::move(high)) {}

Status OpenTransactionProbe::Await(const std::string& topic, int32_t partition,
                                   std::chrono::milliseconds timeout,
                                   const std::function<bool()>& abandon) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const auto left =
        std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
                 std::chrono::milliseconds(1));
    // The stable offset first: if the high watermark read after it is no higher, no transaction
    // was open when it was read, and none has added records since.
    ASSIGN_OR_RETURN(auto stable, stable_->QueryWatermarks(topic, partition, left));
    ASSIGN_OR_RETURN(auto high, high_->QueryWatermarks(topic, partition, left));
    if (stable.second >= high.second) return Status::Ok();
    if (Clock::now() >= deadline) {
      return Status::Timeout(
          "partition " + std::to_string(partition) + " of " + topic +
          " still has a transaction open after " + std::to_string(timeout.count()) +
          " ms (last stable offset " + std::to_string(stable.second) + ", high watermark " +
          std::to_string(high.second) +
          "): a previous owner's, which the broker aborts at its transaction timeout");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (abandon()) {
      return Status::FailedPrecondition("waiting for the open transaction in partition " +
                                        std::to_string(partition) + " of " + topic + " abandoned");
    }
  }
}

OutcomeRelay::OutcomeRelay(kafka::Properties props, OutcomeRelayOptions options,
                           projections::ProjectionStore& store, prometheus::Registry& registry)
    : props_(std::move(props)),
      options_(std::move(options)),
      store_(store),
      lag_(prometheus::BuildGauge()
               .Name("kledger_outcome_relay_lag")
               .Help("Source offsets applied whose outcomes are not yet published to the "
                     "outcomes topic, per owned partition")
               .Register(registry)),
      published_(prometheus::BuildCounter()
                     .Name("kledger_outcomes_published_total")
                     .Help("Outcome records committed to the outcomes topic, per partition")
                     .Register(registry)),
      failures_(prometheus::BuildCounter()
                    .Name("kledger_outcome_relay_failures_total")
                    .Help("Failed relay steps (init, recover, read, publish), each retried")
                    .Register(registry)) {
  for (const char* stage : {"init", "recover", "read", "publish"}) {
    failures_.Add({{"stage", stage}});
  }
}

OutcomeRelay::~OutcomeRelay() { Stop(); }

void OutcomeRelay::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kl-relay");
    Loop();
  });
}

void OutcomeRelay::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    woken_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(mu_);
    partitions_.clear();
    retired_.clear();
  }
  // What is not published stays in the outbox for the next owner; no transaction is open
  // outside Publish().
  if (producer_) (void)producer_->Close(std::chrono::milliseconds(0));
  producer_.reset();
}

void OutcomeRelay::Own(int32_t partition, int64_t applied_next) {
  auto part = std::make_shared<Partition>();
  part->partition = partition;
  part->progress.applied_next = applied_next;
  const std::string label = std::to_string(partition);
  {
    std::lock_guard lock(mu_);
    // Under mu_: the relay thread removes a disowned partition's gauge under it too.
    part->lag = &lag_.Add({{"partition", label}});
    part->published = &published_.Add({{"partition", label}});
    if (auto old = partitions_.find(partition); old != partitions_.end()) {
      retired_.push_back(std::move(old->second));
    }
    partitions_[partition] = std::move(part);
    woken_ = true;
  }
  wake_.notify_all();
}

void OutcomeRelay::Disown(int32_t partition) {
  {
    std::lock_guard lock(mu_);
    auto it = partitions_.find(partition);
    if (it == partitions_.end()) return;
    retired_.push_back(std::move(it->second));
    partitions_.erase(it);
    woken_ = true;
  }
  wake_.notify_all();
  // A transaction that took the partition before it went ends first; the next one cannot take
  // it (Due() takes only partitions still owned).
  std::lock_guard transaction(transaction_mu_);
}

void OutcomeRelay::Applied(int32_t partition, int64_t next_offset) {
  {
    std::lock_guard lock(mu_);
    auto it = partitions_.find(partition);
    if (it == partitions_.end()) return;
    RelayProgress& progress = it->second->progress;
    const bool was_waiting = progress.Lag() > 0;
    progress.applied_next = std::max(progress.applied_next, next_offset);
    const int64_t lag = progress.Lag();
    it->second->lag->Set(static_cast<double>(lag));
    if (lag == 0 || (was_waiting && lag < static_cast<int64_t>(options_.max_records))) {
      return;  // nothing new is due sooner than the relay already knows
    }
    if (!was_waiting) progress.waiting_since = Clock::now();
    woken_ = true;
  }
  wake_.notify_all();
}

int64_t OutcomeRelay::OutboxFrom(int32_t partition) const {
  std::lock_guard lock(mu_);
  auto it = partitions_.find(partition);
  if (it == partitions_.end() || !it->second->progress.ready) return 0;
  return it->second->progress.published_through + 1;
}

std::map<int32_t, RelayProgress> OutcomeRelay::Progress() const {
  std::lock_guard lock(mu_);
  std::map<int32_t, RelayProgress> out;
  for (const auto& [partition, part] : partitions_) out[partition] = part->progress;
  return out;
}

void OutcomeRelay::Loop() {
  bool more = false;
  Clock::time_point next_due = Clock::time_point::max();
  while (!stopping_) {
    std::vector<std::shared_ptr<Partition>> work;
    {
      std::unique_lock lock(mu_);
      if (!more) {
        // Until a partition's transaction is due, or something changes; at least every 100 ms
        // (retries, and the producer's init after a failure, are looked at then).
        const auto wait = std::clamp(
            std::chrono::ceil<std::chrono::milliseconds>(next_due == Clock::time_point::max()
                                                             ? std::chrono::milliseconds(100)
                                                             : next_due - Clock::now()),
            std::chrono::milliseconds(0), std::chrono::milliseconds(100));
        wake_.wait_for(lock, wait, [&] { return woken_; });
      }
      woken_ = false;
      // A retired partition's gauge goes, unless the partition is owned again and the gauge is
      // the new owner's too.
      for (const auto& part : retired_) {
        if (!partitions_.contains(part->partition)) lag_.Remove(part->lag);
      }
      retired_.clear();
      for (const auto& [partition, part] : partitions_) work.push_back(part);
    }
    more = false;
    next_due = Clock::time_point::max();
    if (work.empty()) continue;
    if (!producer_) {
      if (Clock::now() < retry_at_) continue;
      if (Status s = InitProducer(); !s.ok()) continue;
    }
    for (auto& part : work) {
      if (stopping_) break;
      bool ready = false;
      {
        std::lock_guard lock(mu_);
        ready = part->progress.ready;
      }
      if (ready || Clock::now() < part->retry_at) continue;
      // A wait abandoned (stopping, or the partition disowned) is no failure.
      if (Status s = Recover(part); !s.ok() && Wanted(part)) RecoveryFailed(*part, s);
    }
    if (stopping_ || Clock::now() < retry_at_) continue;
    std::lock_guard transaction(transaction_mu_);
    std::vector<Share> shares = Due(work, next_due, more);
    if (shares.empty()) continue;
    bool committing = false;
    if (Status s = Publish(shares, committing); !s.ok()) {
      TransactionFailed("publish", s, &shares, committing);
      more = false;
    }
  }
}

Status OutcomeRelay::InitProducer() {
  kafka::Properties props = props_;
  props["transactional.id"] = options_.transactional_id;
  props["transaction.timeout.ms"] = std::to_string(options_.transaction_timeout.count());
  auto producer = kafka::Producer::Create(props, kafka::DeliveryThread::kCaller);
  if (!producer.ok()) {
    TransactionFailed("init", producer.status());
    return producer.status();
  }
  // Aborts what an earlier producer of this id (this relay before a failure, or before a
  // restart) left open, and fences that producer.
  if (Status s = (*producer)->InitTransactions(options_.kafka_timeout); !s.ok()) {
    TransactionFailed("init", s);
    return s;
  }
  producer_ = std::move(*producer);
  std::lock_guard lock(mu_);
  for (auto& [partition, part] : partitions_) {
    if (part->progress.failure.starts_with("init: ")) part->progress.failure.clear();
  }
  return Status::Ok();
}

bool OutcomeRelay::Wanted(const std::shared_ptr<Partition>& part) const {
  if (stopping_) return false;
  std::lock_guard lock(mu_);
  auto it = partitions_.find(part->partition);
  return it != partitions_.end() && it->second == part;
}

Status OutcomeRelay::Recover(const std::shared_ptr<Partition>& shared) {
  Partition& part = *shared;
  const int32_t p = part.partition;
  // A previous owner's transaction may still commit: where the topic ends is known once none
  // is open. (This relay's own were aborted by its producer's init.)
  if (!probe_) {
    ASSIGN_OR_RETURN(probe_, OpenTransactionProbe::Create(props_));
  }
  if (Status s =
          probe_->Await(options_.topic, p, options_.kafka_timeout, [&] { return !Wanted(shared); });
      !s.ok()) {
    // Unless only the wait was abandoned, the probe's consumers are made anew next time.
    if (s.code() != StatusCode::kFailedPrecondition) probe_.reset();
    return s;
  }
  ASSIGN_OR_RETURN(const int64_t last,
                   LastPublishedOffset(props_, options_.topic, p, options_.kafka_timeout));
  // Entries at or below it are published: whoever wrote them, they are the same records.
  if (Status s = store_.DeleteOutbox(p, 0, last); !s.ok()) {
    spdlog::warn("outcome relay: partition {}: cannot delete published outbox entries: {}", p,
                 s.ToString());
  }
  part.attempts = 0;
  {
    std::lock_guard lock(mu_);
    part.progress.ready = true;
    ++part.progress.recoveries;
    part.progress.published_through = std::max(part.progress.published_through, last);
    part.lag->Set(static_cast<double>(part.progress.Lag()));
  }
  spdlog::info("outcome relay: partition {} ready, {} published through source offset {}", p,
               options_.topic, last);
  return Status::Ok();
}

std::vector<OutcomeRelay::Share> OutcomeRelay::Due(
    const std::vector<std::shared_ptr<Partition>>& parts, Clock::time_point& next_due, bool& more) {
  // Once one partition's transaction is due, every partition with outcomes waiting goes into it:
  // a transaction costs about the same however many it holds.
  struct Waiting {
    std::shared_ptr<Partition> part;
    int64_t from = 0;
    int64_t applied_next = 0;
  };
  std::vector<Waiting> waiting;
  bool due_now = false;
  {
    std::lock_guard lock(mu_);
    const Clock::time_point now = Clock::now();
    for (const auto& part : parts) {
      auto owned = partitions_.find(part->partition);
      if (owned == partitions_.end() || owned->second != part || !part->progress.ready) continue;
      const int64_t lag = part->progress.Lag();
      if (lag == 0) continue;
      const Clock::time_point due = part->progress.waiting_since + options_.interval;
      if (lag >= static_cast<int64_t>(options_.max_records) || now >= due) {
        due_now = true;
      } else {
        next_due = std::min(next_due, due);
      }
      waiting.push_back({part, part->progress.published_through + 1, part->progress.applied_next});
    }
  }
  if (!due_now) return {};
  std::vector<Share> shares;
  size_t bytes = 0;
  for (const auto& [part, from, applied_next] : waiting) {
    const int32_t p = part->partition;
    if (bytes >= options_.max_bytes) {
      more = true;  // the next transaction, at once
      break;
    }
    // Everything applied below `applied_next` is committed, outbox included: what is not read
    // now has no outcome to publish.
    auto entries = store_.ReadOutbox(p, from, options_.max_records, options_.max_bytes - bytes);
    if (!entries.ok()) {
      failures_.Add({{"stage", "read"}}).Increment();
      spdlog::warn("outcome relay: partition {}: cannot read the outbox: {}", p,
                   entries.status().ToString());
      continue;
    }
    // Whether the share takes every outcome applied when it was read: what waits after it then
    // came since, and waits its interval (else the rest is due at once).
    size_t read_bytes = 0;
    for (const auto& entry : *entries) read_bytes += entry.record.size();
    Share share{part,
                {},
                entries->size() < options_.max_records && read_bytes < options_.max_bytes - bytes};
    for (auto& entry : *entries) {
      if (entry.offset < applied_next) share.entries.push_back(std::move(entry));
    }
    if (share.entries.empty()) {
      // Nothing to publish below `applied_next`; what was applied since is looked at again.
      SetPublishedThrough(*part, applied_next - 1);
      std::lock_guard lock(mu_);
      more = more || part->progress.Lag() > 0;
      continue;
    }
    for (const auto& entry : share.entries) bytes += entry.record.size();
    more = more || !share.drains;
    shares.push_back(std::move(share));
  }
  return shares;
}

Status OutcomeRelay::Publish(std::vector<Share>& shares, bool& committing) {
  RETURN_IF_ERROR(producer_->BeginTransaction());
  // Filled by the delivery reports, which run inside Flush() on this thread, or at the
  // producer's close after a failure: shared, so that they outlive this call.
  struct Delivered {
    std::map<int32_t, int64_t> next_offset;  // per outcomes partition, past its last record
    Status failure = Status::Ok();
  };
  auto delivered = std::make_shared<Delivered>();
  std::vector<kafka::HeaderView> header_views;
  std::vector<int32_t> partitions;
  for (const Share& share : shares) {
    const int32_t p = share.part->partition;
    partitions.push_back(p);
    for (const auto& entry : share.entries) {
      // Its key and headers only: the record is published as it was written.
      internal::OutcomeHeadline record;
      if (!record.ParseFromString(entry.record)) {
        return Status::Corruption("outbox entry " + std::to_string(p) + ":" +
                                  std::to_string(entry.offset) + " is not an OutcomeRecord");
      }
      const kafka::Headers headers = OutcomeHeaders(record);
      header_views.clear();
      for (const auto& h : headers) header_views.push_back({h.key, h.value});
      kafka::ProducerRecordView view{options_.topic.c_str(), record.instance_id(), entry.record,
                                     header_views, p};
      RETURN_IF_ERROR(producer_->Produce(view, [delivered](Result<kafka::DeliveryReport> report) {
        if (!report.ok()) {
          if (delivered->failure.ok()) delivered->failure = report.status();
          return;
        }
        int64_t& next = delivered->next_offset[report->partition];
        next = std::max(next, report->offset + 1);
      }));
    }
  }
  // Delivered before the offsets go: a zombie's records are then in the log, holding the
  // partitions' last stable offset, before the coordinator last accepts its membership.
  RETURN_IF_ERROR(producer_->Flush(options_.kafka_timeout));
  RETURN_IF_ERROR(delivered->failure);
  if (options_.before_commit) options_.before_commit(partitions);
  if (options_.group_metadata) {
    ASSIGN_OR_RETURN(const kafka::GroupMetadata group, options_.group_metadata());
    // The relay's position in the outcomes topic, committed as its processor's group's: what
    // the coordinator checks is the membership that comes with it.
    std::vector<kafka::TopicPartition> offsets;
    for (const auto& [p, next] : delivered->next_offset)
      offsets.push_back({options_.topic, p, next});
    RETURN_IF_ERROR(producer_->SendOffsetsToTransaction(offsets, group, options_.kafka_timeout));
  }
  committing = true;
  RETURN_IF_ERROR(producer_->CommitTransaction(options_.kafka_timeout));
  attempts_ = 0;
  for (Share& share : shares) {
    Partition& part = *share.part;
    const int64_t last = share.entries.back().offset;
    part.published->Increment(static_cast<double>(share.entries.size()));
    // Offsets between `last` and `applied_next` with no entry are passed over by the next
    // transaction, which finds nothing there.
    SetPublishedThrough(part, last);
    if (share.drains) {
      std::lock_guard lock(mu_);
      part.progress.waiting_since = Clock::now();
    }
    if (Status s = store_.DeleteOutbox(part.partition, share.entries.front().offset, last);
        !s.ok()) {
      // Left behind, they are deleted when this partition is next recovered.
      spdlog::warn("outcome relay: partition {}: cannot delete published outbox entries: {}",
                   part.partition, s.ToString());
    }
  }
  return Status::Ok();
}

void OutcomeRelay::SetPublishedThrough(Partition& part, int64_t offset) {
  std::lock_guard lock(mu_);
  part.progress.published_through = std::max(part.progress.published_through, offset);
  part.progress.failure.clear();
  part.lag->Set(static_cast<double>(part.progress.Lag()));
}

std::chrono::milliseconds OutcomeRelay::RetryPause(int attempts) const {
  const int shift = std::min(attempts - 1, 16);
  return std::min(options_.retry_cap, options_.retry_base * (1 << shift));
}

void OutcomeRelay::TransactionFailed(const char* stage, const Status& why,
                                     const std::vector<Share>* failed, bool committing) {
  failures_.Add({{"stage", stage}}).Increment();
  ++attempts_;
  const auto pause = RetryPause(attempts_);
  retry_at_ = Clock::now() + pause;
  spdlog::warn("outcome relay: {} failed (attempt {}), again in {} ms: {}", stage, attempts_,
               pause.count(), why.ToString());
  const std::string failure = std::string(stage) + ": " + why.ToString();
  // Aborted now if it can be (a zombie's refused offsets, a rebalance, a failed delivery), so
  // that the partitions' next readers need not wait for its timeout; in any other state the next
  // producer's init settles it.
  bool aborted = false;
  if (producer_ && failed != nullptr) {
    aborted =
        producer_
            ->AbortTransaction(std::min(options_.kafka_timeout, std::chrono::milliseconds(5000)))
            .ok();
  }
  if (aborted && !committing) {
    // Nothing of it was published, and the producer may begin the next one.
    spdlog::info(
        "outcome relay: the failed transaction is aborted; its partitions keep their "
        "position");
    std::lock_guard lock(mu_);
    for (const Share& share : *failed) share.part->progress.failure = failure;
    return;
  }
  if (producer_) (void)producer_->Close(std::chrono::milliseconds(0));
  producer_.reset();
  std::lock_guard lock(mu_);
  if (failed == nullptr) {
    // No transaction of the relay's was open: what each partition published is still known,
    // and nothing is until a producer is back.
    for (auto& [partition, part] : partitions_) part->progress.failure = failure;
    return;
  }
  // Whether its commit landed, each partition's end says. The other partitions had nothing in
  // the transaction: where they are is still known.
  for (const Share& share : *failed) {
    share.part->progress.ready = false;
    share.part->progress.failure = failure;
    share.part->retry_at = {};
  }
}

void OutcomeRelay::RecoveryFailed(Partition& part, const Status& why) {
  failures_.Add({{"stage", "recover"}}).Increment();
  ++part.attempts;
  const auto pause = RetryPause(part.attempts);
  part.retry_at = Clock::now() + pause;
  spdlog::warn("outcome relay: partition {}: recovery failed (attempt {}), again in {} ms: {}",
               part.partition, part.attempts, pause.count(), why.ToString());
  std::lock_guard lock(mu_);
  part.progress.failure = "recover: " + why.ToString();
}

}  // namespace kledger::processors
