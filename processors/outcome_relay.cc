#include "processors/outcome_relay.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <optional>

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
  std::vector<std::shared_ptr<Partition>> parts;
  {
    std::lock_guard lock(mu_);
    for (auto& [partition, part] : partitions_) parts.push_back(std::move(part));
    for (auto& part : retired_) parts.push_back(std::move(part));
    partitions_.clear();
    retired_.clear();
  }
  // What is not published stays in the outbox for the next owner; an open transaction (none
  // outside a step) would be aborted by its init.
  for (auto& part : parts) {
    if (part->producer) (void)part->producer->Close(std::chrono::milliseconds(0));
  }
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
    std::vector<std::shared_ptr<Partition>> retired;
    {
      std::unique_lock lock(mu_);
      if (!more) {
        // Until a partition's transaction is due, or something changes; at least every 100 ms
        // (retries, and a producer's init after a failure, are looked at then).
        const auto wait = std::clamp(
            std::chrono::ceil<std::chrono::milliseconds>(next_due == Clock::time_point::max()
                                                             ? std::chrono::milliseconds(100)
                                                             : next_due - Clock::now()),
            std::chrono::milliseconds(0), std::chrono::milliseconds(100));
        wake_.wait_for(lock, wait, [&] { return woken_; });
      }
      woken_ = false;
      retired.swap(retired_);
      for (const auto& [partition, part] : partitions_) work.push_back(part);
      // The last step of a retired partition has ended (steps run below, on this thread): its
      // gauge goes, unless the partition is owned again and the gauge is the new owner's too.
      for (const auto& part : retired) {
        if (!partitions_.contains(part->partition)) lag_.Remove(part->lag);
      }
    }
    // Producers of partitions no longer owned close here, off the apply thread; an open
    // transaction of theirs is aborted by the next owner's init.
    for (auto& part : retired) {
      if (part->producer) (void)part->producer->Close(std::chrono::milliseconds(0));
    }
    retired.clear();
    more = false;
    next_due = Clock::time_point::max();
    for (auto& part : work) {
      if (stopping_) break;
      more = Step(*part, next_due) || more;
    }
  }
}

bool OutcomeRelay::Step(Partition& part, Clock::time_point& next_due) {
  if (Clock::now() < part.retry_at) return false;
  if (!part.producer) {
    Status init = Init(part);
    if (!init.ok()) return false;
  }
  {
    std::lock_guard lock(mu_);
    const int64_t lag = part.progress.Lag();
    const Clock::time_point due = part.progress.waiting_since + options_.interval;
    if (lag == 0) return false;
    if (lag < static_cast<int64_t>(options_.max_records) && Clock::now() < due) {
      next_due = std::min(next_due, due);
      return false;
    }
  }
  auto published = PublishOnce(part);
  if (!published.ok()) {
    Failed(part, "publish", published.status());
    return false;
  }
  return *published;
}

Status OutcomeRelay::Init(Partition& part) {
  const int32_t p = part.partition;
  kafka::Properties props = props_;
  props["transactional.id"] = options_.transactional_id_prefix + "." + std::to_string(p);
  props["transaction.timeout.ms"] = std::to_string(options_.kafka_timeout.count());
  auto producer = kafka::Producer::Create(props, kafka::DeliveryThread::kCaller);
  if (!producer.ok()) {
    Failed(part, "init", producer.status());
    return producer.status();
  }
  // Fences any earlier producer of this partition (a previous owner, alive or not) and aborts
  // its open transaction: from here on only this one can add to the partition.
  if (Status s = (*producer)->InitTransactions(options_.kafka_timeout); !s.ok()) {
    Failed(part, "init", s);
    return s;
  }
  // Then where the previous owners got to: the topic itself says.
  auto last = LastPublishedOffset(props_, options_.topic, p, options_.kafka_timeout);
  if (!last.ok()) {
    Failed(part, "recover", last.status());
    return last.status();
  }
  // Entries at or below it are published: whoever wrote them, they are the same records.
  if (Status s = store_.DeleteOutbox(p, 0, *last); !s.ok()) {
    spdlog::warn("outcome relay: partition {}: cannot delete published outbox entries: {}", p,
                 s.ToString());
  }
  part.producer = std::move(*producer);
  {
    std::lock_guard lock(mu_);
    part.progress.ready = true;
    part.progress.published_through = std::max(part.progress.published_through, *last);
    part.lag->Set(static_cast<double>(part.progress.Lag()));
  }
  spdlog::info("outcome relay: partition {} ready, {} published through source offset {}", p,
               options_.topic, *last);
  return Status::Ok();
}

Result<bool> OutcomeRelay::PublishOnce(Partition& part) {
  const int32_t p = part.partition;
  int64_t from = 0;
  int64_t applied_next = 0;
  {
    std::lock_guard lock(mu_);
    from = part.progress.published_through + 1;
    applied_next = part.progress.applied_next;
  }
  if (from >= applied_next) return false;
  // Everything applied below `applied_next` is committed, outbox included: what is not read
  // now has no outcome to publish.
  auto entries = store_.ReadOutbox(p, from, options_.max_records, options_.max_bytes);
  if (!entries.ok()) {
    Failed(part, "read", entries.status());
    return false;
  }
  // Whether this transaction takes every outcome applied when it began: what waits after it
  // then came since, and waits its interval (else the rest is due at once).
  size_t bytes = 0;
  for (const auto& entry : *entries) bytes += entry.record.size();
  const bool drains = entries->size() < options_.max_records && bytes < options_.max_bytes;
  std::vector<projections::ProjectionStore::OutboxEntry> below;
  for (auto& entry : *entries) {
    if (entry.offset < applied_next) below.push_back(std::move(entry));
  }
  if (below.empty()) {
    SetPublishedThrough(part, applied_next - 1);
    return false;
  }
  RETURN_IF_ERROR(part.producer->BeginTransaction());
  std::vector<kafka::HeaderView> header_views;
  for (const auto& entry : below) {
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
    RETURN_IF_ERROR(part.producer->Produce(view, [](Result<kafka::DeliveryReport>) {
      // A failed record fails the commit, which reports it.
    }));
  }
  if (options_.before_commit) {
    // Delivered first, so that what the hook holds is a transaction the broker has.
    RETURN_IF_ERROR(part.producer->Flush(options_.kafka_timeout));
    options_.before_commit(p);
  }
  RETURN_IF_ERROR(part.producer->CommitTransaction(options_.kafka_timeout));
  const int64_t last = below.back().offset;
  part.published->Increment(static_cast<double>(below.size()));
  // Offsets between `last` and `applied_next` with no entry are passed over by the next step,
  // which finds nothing there.
  SetPublishedThrough(part, last);
  if (drains) {
    std::lock_guard lock(mu_);
    part.progress.waiting_since = Clock::now();
  }
  part.attempts = 0;
  if (Status s = store_.DeleteOutbox(p, below.front().offset, last); !s.ok()) {
    // Left behind, they are deleted when this partition's relay next starts.
    spdlog::warn("outcome relay: partition {}: cannot delete published outbox entries: {}", p,
                 s.ToString());
  }
  return true;
}

void OutcomeRelay::SetPublishedThrough(Partition& part, int64_t offset) {
  std::lock_guard lock(mu_);
  part.progress.published_through = std::max(part.progress.published_through, offset);
  part.progress.failure.clear();
  part.lag->Set(static_cast<double>(part.progress.Lag()));
}

void OutcomeRelay::Failed(Partition& part, const char* stage, const Status& why) {
  failures_.Add({{"stage", stage}}).Increment();
  ++part.attempts;
  const int shift = std::min(part.attempts - 1, 16);
  const auto pause = std::min(options_.retry_cap, options_.retry_base * (1 << shift));
  part.retry_at = Clock::now() + pause;
  spdlog::warn("outcome relay: partition {}: {} failed (attempt {}), again in {} ms: {}",
               part.partition, stage, part.attempts, pause.count(), why.ToString());
  // Whatever state the transaction is in, a new producer's init settles it.
  if (part.producer) (void)part.producer->Close(std::chrono::milliseconds(0));
  part.producer.reset();
  std::lock_guard lock(mu_);
  part.progress.ready = false;
  part.progress.failure = std::string(stage) + ": " + why.ToString();
}

}  // namespace kledger::processors
