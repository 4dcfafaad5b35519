// The processor's life (Create, Start, Stop), its rebalances, the monitor thread and the queries
// it answers. The apply path, from poll to commit, is processor_apply.cc.
#include "processors/processor.h"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "common/kafka/partitioner.h"
#include "processors/internal/processor_impl.h"

namespace kledger::processors {

Result<std::unique_ptr<Processor>> Processor::Create(const kafka::Properties& props,
                                                     ProcessorOptions options,
                                                     prometheus::Registry& registry) {
  projections::StoreOptions store_options = options.store;
  store_options.path = options.data_dir;
  ASSIGN_OR_RETURN(auto store, projections::ProjectionStore::Open(store_options));
  ASSIGN_OR_RETURN(auto dlt_producer, kafka::Producer::Create(props));
  auto processor = std::make_unique<internal::ProcessorImpl>(
      std::move(options), std::move(store), std::move(dlt_producer),
      std::make_unique<ProcessorProbe>(registry));
  RETURN_IF_ERROR(processor->Connect(props, registry));
  return std::unique_ptr<Processor>(std::move(processor));
}

namespace internal {
namespace {

using Clock = std::chrono::steady_clock;

// The events consumer's fetches, under what the client's properties say: the broker answers
// once 64 KiB are there or 10 ms have passed, rather than as soon as one record is. Under
// moderate traffic fetches are fewer and larger: at 10,000 transfers/s on a single-node Kafka
// the e2e p99 halved and the broker's CPU fell 6-7% (docs/performance.md, "Latency at 10,000
// transfers/s: where the CPU goes"). Idle, it costs 100 empty fetches a second per broker.
kafka::Properties FetchDefaults() {
  return {{"fetch.min.bytes", "65536"}, {"fetch.wait.max.ms", "10"}};
}

}  // namespace

std::string ProcessorImpl::RelayIdentity() const {
  // Where the processor runs and its data directory: no two running processors share both
  // (RocksDB locks the directory), and a restarted one has the same.
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown-host");
  std::error_code error;
  const std::filesystem::path dir = std::filesystem::absolute(options_.data_dir, error);
  return std::string(host) + ":" + (error ? options_.data_dir : dir.lexically_normal().string());
}

ProcessorImpl::ProcessorImpl(ProcessorOptions options,
                             std::unique_ptr<projections::ProjectionStore> store,
                             std::unique_ptr<kafka::Producer> dlt_producer,
                             std::unique_ptr<ProcessorProbe> probe)
    : options_(std::move(options)),
      retry_{.base = options_.retry_base,
             .cap = options_.retry_cap,
             .max_attempts = options_.retry_max_attempts,
             .halt_when_exhausted = options_.on_exhausted == ProcessorOptions::OnExhausted::kHalt},
      store_(std::move(store)),
      dlt_producer_(std::move(dlt_producer)),
      probe_(std::move(probe)),
      dead_letters_(
          std::make_unique<DeadLetterWriter>(*dlt_producer_, options_.dlt_topic, options_.group)) {}

ProcessorImpl::~ProcessorImpl() { Stop(); }

Status ProcessorImpl::Connect(const kafka::Properties& props, prometheus::Registry& registry) {
  kafka::Properties consumer_props = kafka::Merge(FetchDefaults(), props);
  consumer_props["group.id"] = options_.group;
  ASSIGN_OR_RETURN(consumer_, kafka::Consumer::Create(consumer_props, this));
  props_ = props;
  if (!options_.outcomes_topic.empty()) {
    OutcomeRelayOptions relay;
    relay.topic = options_.outcomes_topic;
    relay.interval = options_.outcomes_interval;
    relay.transactional_id = options_.group + "." + relay.topic + "." + RelayIdentity();
    // Read on the relay thread; the consumer outlives the relay (Stop() stops it first).
    relay.group_metadata = [this] { return consumer_->CurrentGroupMetadata(); };
    relay_ = std::make_unique<OutcomeRelay>(props, std::move(relay), *store_, registry);
  }
  return Status::Ok();
}

Status ProcessorImpl::Start(const std::string& query_url) {
  auto partitions = consumer_->PartitionCount(options_.events_topic, std::chrono::seconds(15));
  if (!partitions.ok()) {
    return partitions.status().WithContext("the events topic " + options_.events_topic +
                                           " is not usable (on a real cluster, create the topics "
                                           "first: see deploy/README.md)");
  }
  partition_count_ = *partitions;
  if (relay_) {
    auto outcomes = consumer_->PartitionCount(options_.outcomes_topic, std::chrono::seconds(15));
    if (!outcomes.ok()) {
      return outcomes.status().WithContext("the outcomes topic " + options_.outcomes_topic +
                                           " is not usable (create it with `kledger topics "
                                           "create`, or run without an outcome stream)");
    }
    if (*outcomes != partition_count_) {
      return Status::FailedPrecondition(
          "the outcomes topic " + options_.outcomes_topic + " has " + std::to_string(*outcomes) +
          " partitions and the events topic " + std::to_string(partition_count_) +
          ": each events partition publishes to the outcomes partition of the same number");
    }
    relay_->Start();
  }
  query_url_ = query_url;
  ASSIGN_OR_RETURN(owners_, OwnershipDirectory::Create(props_, options_.owners_topic,
                                                       options_.group, query_url, *dlt_producer_));
  RETURN_IF_ERROR(owners_->Start());
  RETURN_IF_ERROR(consumer_->Subscribe({options_.events_topic}));
  apply_thread_ = std::thread([this] {
    // Named so `top -H` and perf tell the processor's threads apart from librdkafka's.
    pthread_setname_np(pthread_self(), "kl-apply");
    ApplyLoop();
  });
  monitor_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kl-monitor");
    MonitorLoop();
  });
  return Status::Ok();
}

void ProcessorImpl::Stop() {
  if (stopping_.exchange(true)) return;
  // The relay first, while the consumer whose membership it sends is still in the group: what
  // it has not published stays in the outbox, for whoever owns the partitions next.
  if (relay_) relay_->Stop();
  if (apply_thread_.joinable()) apply_thread_.join();
  if (monitor_thread_.joinable()) monitor_thread_.join();
  if (owners_) owners_->Stop();
  progressed_.notify_all();
}

void ProcessorImpl::OnAssigned(std::vector<kafka::TopicPartition>& partitions) {
  // Offsets are read from the store next: the in-flight commit goes first.
  (void)FinishInFlight();
  probe_->Rebalance();
  std::lock_guard lock(mu_);
  joined_ = true;
  for (auto& tp : partitions) {
    auto stored = store_->NextOffset(tp.partition);
    PartitionProgress progress;
    if (!stored.ok()) {
      // Without its offset the partition cannot be resumed correctly; it stays halted.
      progress.halted = "cannot read the stored offset: " + stored.status().ToString();
      spdlog::error("partition {}: {}", tp.partition, progress.halted);
      tp.offset = kafka::kOffsetBeginning;
    } else {
      progress.next_offset = stored->value_or(0);
      // No state yet: rebuild from the start of the log.
      tp.offset = stored->has_value() ? **stored : kafka::kOffsetBeginning;
      progress.halted = CheckLogStart(tp.partition, progress.next_offset, tp.offset);
      if (progress.halted.empty() && tp.offset > progress.next_offset) {
        // A gap accepted (--allow-log-gaps): the log start is next, and is stored as such, so
        // that a restart without the flag does not halt on the same gap again. The operator's
        // decision is not in the log: kept across a crash (MakeDurable) as a dead letter is.
        auto batch = store_->BeginBatch(tp.partition);
        batch->MakeDurable();
        if (Status s = store_->Commit(*batch, tp.offset); !s.ok()) {
          spdlog::warn("partition {}: cannot store the accepted gap's new offset {}: {}",
                       tp.partition, tp.offset, s.ToString());
        }
        progress.next_offset = tp.offset;
      }
    }
    spdlog::info("partition {} assigned, applying from offset {}", tp.partition,
                 progress.next_offset);
    if (relay_) relay_->Own(tp.partition, progress.next_offset);
    owned_[tp.partition] = progress;
    states_.insert_or_assign(tp.partition, PartitionState(progress.halted));
  }
  probe_->AssignedPartitions(static_cast<int>(owned_.size()));
  probe_->HaltedPartitions(HaltedCountLocked());
  std::vector<int32_t> announced;
  for (const auto& tp : partitions) announced.push_back(tp.partition);
  if (owners_) owners_->Announce(announced);
}

std::string ProcessorImpl::CheckLogStart(int32_t partition, int64_t next_offset,
                                         int64_t& start_offset) {
  auto marks =
      consumer_->QueryWatermarks(options_.events_topic, partition, std::chrono::seconds(2));
  if (!marks.ok()) {
    // Not knowing is no reason to stop; an offset reset still stops the consumer loudly.
    spdlog::warn("partition {}: cannot check where its log starts: {}", partition,
                 marks.status().ToString());
    return "";
  }
  if (marks->first <= next_offset) return "";
  const std::string why = "the log of partition " + std::to_string(partition) +
                          " starts at offset " + std::to_string(marks->first) +
                          ", above the next offset to apply (" + std::to_string(next_offset) +
                          "): events were deleted (retention, truncation) before this processor "
                          "applied them";
  // Reading below the log start would stop the whole consumer (auto.offset.reset=error); the
  // log start is readable, and a halted partition applies nothing anyway.
  start_offset = marks->first;
  if (options_.allow_log_gaps) {
    spdlog::error("{}; applying from {} anyway because gaps are allowed", why, marks->first);
    return "";
  }
  spdlog::error("partition {} HALTED: {} (restart with --allow-log-gaps to accept the loss)",
                partition, why);
  return why;
}

void ProcessorImpl::OnRevoked(const std::vector<kafka::TopicPartition>& partitions, bool lost) {
  (void)FinishInFlight();  // while the partitions are still ours
  probe_->Rebalance();
  {
    std::lock_guard lock(mu_);
    for (const auto& tp : partitions) {
      spdlog::info("partition {} {}", tp.partition, lost ? "lost" : "revoked");
      owned_.erase(tp.partition);
      states_.erase(tp.partition);  // the next owner starts its own attempts
      unsettled_letters_.erase(tp.partition);
      probe_->ForgetPartition(tp.partition);
    }
    probe_->AssignedPartitions(static_cast<int>(owned_.size()));
    probe_->HaltedPartitions(HaltedCountLocked());
  }
  // Outside mu_: each waits for a relay transaction that holds the partition to end, so that
  // its next owner, assigned after this returns, finds none of this processor's open.
  if (relay_) {
    for (const auto& tp : partitions) relay_->Disown(tp.partition);
  }
}

void ProcessorImpl::MonitorLoop() {
  while (!stopping_) {
    // A partition being fetched learns its high watermark from every fetch response; the
    // broker is asked only for the first look and for partitions not fetched (halted, backing
    // off, held). Asking it for every partition every interval stalled the apply path for tens
    // of milliseconds each time (docs/performance.md, "Fifth pass").
    std::vector<int32_t> ask;
    {
      std::lock_guard lock(mu_);
      for (auto& [p, progress] : owned_) {
        const bool fetched = progress.high_watermark >= 0 && progress.halted.empty() &&
                             !progress.backing_off && !hold_;
        std::optional<int64_t> high;
        if (fetched) high = consumer_->FetchedHighWatermark(options_.events_topic, p);
        if (!high) {
          ask.push_back(p);
          continue;
        }
        progress.high_watermark = std::max(progress.high_watermark, *high);
        probe_->ConsumerLag(p, progress.Lag());
      }
    }
    for (int32_t p : ask) {
      auto marks =
          consumer_->QueryWatermarks(options_.events_topic, p, std::chrono::milliseconds(500));
      if (!marks.ok()) continue;
      std::lock_guard lock(mu_);
      auto it = owned_.find(p);
      if (it == owned_.end()) continue;
      it->second.high_watermark = marks->second;
      probe_->ConsumerLag(p, it->second.Lag());
    }
    const auto until = Clock::now() + options_.monitor_interval;
    while (!stopping_ && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

int ProcessorImpl::HaltedCountLocked() const {
  int halted = 0;
  for (const auto& [p, progress] : owned_) halted += progress.halted.empty() ? 0 : 1;
  return halted;
}

void ProcessorImpl::Fail(const std::string& why) {
  spdlog::critical("processor FAILED: {}", why);
  std::lock_guard lock(mu_);
  failure_ = why;
}

std::string ProcessorImpl::Failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

std::string ProcessorImpl::NotReadyReason() const {
  std::lock_guard lock(mu_);
  if (!failure_.empty()) return failure_;
  if (!joined_) return "not yet assigned partitions by the consumer group";
  for (const auto& [p, progress] : owned_) {
    if (!progress.halted.empty()) return "partition " + std::to_string(p) + " halted";
    if (progress.high_watermark < 0) return "partition " + std::to_string(p) + " not yet checked";
    if (progress.next_offset < progress.high_watermark) {
      return "partition " + std::to_string(p) + " catching up (" +
             std::to_string(progress.next_offset) + " of " +
             std::to_string(progress.high_watermark) + ")";
    }
  }
  return "";
}

InstanceRoute ProcessorImpl::Route(std::string_view instance) const {
  InstanceRoute route;
  if (partition_count_ <= 0) return route;
  route.partition = kafka::PartitionForKey(instance, partition_count_);
  std::lock_guard lock(mu_);
  route.owned = owned_.count(route.partition) > 0;
  if (!route.owned && owners_) route.owner_url = owners_->OwnerOf(route.partition).value_or("");
  return route;
}

Result<v1::Stats> ProcessorImpl::Stats() const {
  if (partition_count_ <= 0) return Status::Unavailable("the processor has not started yet");
  v1::Stats stats;
  stats.set_processor(query_url_);
  const std::map<int32_t, PartitionProgress> owned = Progress();
  const std::map<int32_t, RelayProgress> relayed_by = RelayProgressSnapshot();
  int64_t total_lag = 0;
  for (int32_t p = 0; p < partition_count_; ++p) {
    v1::PartitionStats& partition = *stats.add_partitions();
    partition.set_partition(p);
    auto it = owned.find(p);
    if (it == owned.end()) {
      partition.set_owner(owners_ ? owners_->OwnerOf(p).value_or("") : "");
      partition.set_next_offset(-1);
      partition.set_high_watermark(-1);
      partition.set_lag(-1);
      continue;
    }
    const PartitionProgress& progress = it->second;
    partition.set_owner(query_url_);
    partition.set_owned(true);
    partition.set_next_offset(progress.next_offset);
    partition.set_high_watermark(progress.high_watermark);
    partition.set_lag(progress.Lag());
    total_lag += progress.Lag();
    partition.set_halted(progress.halted);
    partition.set_backing_off(progress.backing_off);
    partition.set_outcomes_published_through(-1);
    if (auto relayed = relayed_by.find(p); relayed != relayed_by.end()) {
      partition.set_outcomes_published_through(relayed->second.published_through);
      partition.set_outcomes_lag(relayed->second.Lag());
      partition.set_outcome_relay_failure(relayed->second.failure);
    }
  }
  stats.set_lag(total_lag);
  auto dlt_partitions = consumer_->PartitionCount(options_.dlt_topic, std::chrono::seconds(5));
  if (!dlt_partitions.ok()) {
    return dlt_partitions.status().WithContext("the dead-letter topic " + options_.dlt_topic);
  }
  int64_t depth = 0;
  for (int32_t p = 0; p < *dlt_partitions; ++p) {
    auto marks = consumer_->QueryWatermarks(options_.dlt_topic, p, std::chrono::seconds(5));
    if (!marks.ok()) {
      return marks.status().WithContext("the dead-letter topic " + options_.dlt_topic +
                                        " partition " + std::to_string(p));
    }
    depth += marks->second - marks->first;
  }
  stats.set_dead_letter_depth(depth);
  for (const auto& [outcome, count] : probe_->OutcomeCounts()) {
    (*stats.mutable_outcomes())[outcome] = count;
  }
  return stats;
}

std::map<int32_t, PartitionProgress> ProcessorImpl::Progress() const {
  std::lock_guard lock(mu_);
  return owned_;
}

Status ProcessorImpl::WaitForOffset(int32_t partition, int64_t offset,
                                    std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const bool reached = progressed_.wait_for(lock, timeout, [&] {
    auto it = owned_.find(partition);
    return stopping_ || it == owned_.end() || it->second.next_offset > offset;
  });
  auto it = owned_.find(partition);
  if (it == owned_.end()) {
    return Status::FailedPrecondition("partition " + std::to_string(partition) +
                                      " is not owned by this processor");
  }
  if (reached && it->second.next_offset > offset) return Status::Ok();
  lock.unlock();
  // Every 202's offset lies below the log's end (acks=all), so an offset at or past it came from
  // no 202: say so rather than let the caller retry a wait that cannot end.
  auto marks =
      consumer_->QueryWatermarks(options_.events_topic, partition, std::chrono::seconds(2));
  if (marks.ok() && offset >= marks->second) {
    return Status::InvalidArgument("min_offset " + std::to_string(offset) +
                                   " is beyond the end of partition " + std::to_string(partition) +
                                   "'s log (next offset " + std::to_string(marks->second) +
                                   "): pass the offset of a 202");
  }
  return Status::Timeout("offset " + std::to_string(offset) + " of partition " +
                         std::to_string(partition) + " is not applied yet");
}

}  // namespace internal
}  // namespace kledger::processors
