// The producer: librdkafka's C producer behind RAII, with delivery reports served on one
// background thread (or the owner's, inside Poll) and every accepted record's callback fired
// exactly once, even at shutdown.
#include "common/kafka/producer.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "common/kafka/internal/rdkafka_handle.h"
#include "common/kafka/internal/rdkafka_util.h"

namespace kledger::kafka {
namespace {

using internal::ErrorObjectToStatus;
using internal::ErrorToStatus;
using internal::HeadersPtr;
using internal::QueuePtr;
using internal::RdKafkaPtr;
using internal::ToTimeoutMs;

// How long Close() waits for librdkafka to report purged records before giving up on it.
constexpr std::chrono::milliseconds kPurgeDrainTimeout{5000};
// How often the delivery thread wakes up to notice a stop request it missed; also the longest
// single wait of a kCaller producer's Flush, so it checks its deadline.
constexpr int kPollIntervalMs = 100;

// The per-record opaque handed to librdkafka: owned by a unique_ptr until producev succeeds,
// then by librdkafka until the delivery report hands it back. Linked into the producer's list of
// outstanding contexts meanwhile (intrusive: no allocation per record).
struct DeliveryContext {
  DeliveryCallback callback;
  DeliveryContext* prev = nullptr;
  DeliveryContext* next = nullptr;
};

void InvokeSafely(DeliveryCallback& callback, Result<DeliveryReport> result) {
  // Exceptions must not unwind through librdkafka's C frames.
  try {
    callback(std::move(result));
  } catch (const std::exception& e) {
    spdlog::error("kafka producer: delivery callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("kafka producer: delivery callback threw a non-standard exception");
  }
}

}  // namespace

struct Producer::Impl {
  RdKafkaPtr rk;
  const DeliveryThread delivery;
  std::thread poller;  // kOwn only
  std::atomic<bool> stopping{false};
  std::atomic<bool> closed{false};

  std::mutex mu;
  std::condition_variable drained;
  // Every context librdkafka holds, so the ones it never reports (it was destroyed first) can
  // still be answered: a circular list through `outstanding`, and its length. Guarded by mu.
  DeliveryContext outstanding;
  size_t outstanding_count = 0;
  // Callbacks run so far; only the thread serving reports touches it (Poll's return value).
  int64_t served = 0;

  explicit Impl(DeliveryThread d) : delivery(d) {
    outstanding.prev = outstanding.next = &outstanding;
  }

  ~Impl() {
    // Close() stopped the poller; after rd_kafka_destroy no report can arrive, so whatever is
    // left gets its one answer here.
    rk.reset();
    std::vector<DeliveryContext*> left;
    {
      std::lock_guard lock(mu);
      while (outstanding.next != &outstanding) {
        left.push_back(outstanding.next);
        UnlinkLocked(outstanding.next);
      }
    }
    for (DeliveryContext* raw : left) {
      std::unique_ptr<DeliveryContext> ctx(raw);
      InvokeSafely(ctx->callback,
                   Status::Unavailable("producer destroyed before the record was delivered"));
    }
  }

  void LinkLocked(DeliveryContext* ctx) {
    ctx->prev = outstanding.prev;
    ctx->next = &outstanding;
    outstanding.prev->next = ctx;
    outstanding.prev = ctx;
    ++outstanding_count;
  }

  void UnlinkLocked(DeliveryContext* ctx) {
    ctx->prev->next = ctx->next;
    ctx->next->prev = ctx->prev;
    ctx->prev = ctx->next = nullptr;
    --outstanding_count;
  }

  void PollLoop() {
    while (!stopping.load(std::memory_order_acquire)) rd_kafka_poll(rk.get(), kPollIntervalMs);
  }

  void StopPoller() {
    stopping.store(true, std::memory_order_release);
    QueuePtr main_queue(rd_kafka_queue_get_main(rk.get()));
    if (main_queue) rd_kafka_queue_yield(main_queue.get());
    if (poller.joinable()) poller.join();
  }

  // Waits until no context is outstanding: for the delivery thread to answer them (kOwn), or
  // answering them itself (kCaller).
  bool WaitDrained(std::chrono::milliseconds timeout) {
    if (delivery == DeliveryThread::kOwn) {
      std::unique_lock lock(mu);
      return drained.wait_for(lock, timeout, [&] { return outstanding_count == 0; });
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (OutstandingCount() > 0) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      rd_kafka_poll(rk.get(), std::min<int>(static_cast<int>(left.count()), kPollIntervalMs));
    }
    return true;
  }

  size_t OutstandingCount() {
    std::lock_guard lock(mu);
    return outstanding_count;
  }

  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque) {
    auto* impl = static_cast<Impl*>(opaque);
    auto* raw = static_cast<DeliveryContext*>(message->_private);
    if (impl == nullptr || raw == nullptr) return;
    const char* topic = message->rkt ? rd_kafka_topic_name(message->rkt) : "";
    Result<DeliveryReport> result = DeliveryReport{topic, message->partition, message->offset};
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // rd_kafka_message_errstr() must not be used on the producer side: payload is the value.
      result = ErrorToStatus(message->err, std::string("delivery to topic '") + topic + "' failed");
    }
    InvokeSafely(raw->callback, std::move(result));
    ++impl->served;
    // Erased only after the callback returned, so Flush() means "every callback has run".
    std::unique_ptr<DeliveryContext> ctx(raw);
    std::lock_guard lock(impl->mu);
    impl->UnlinkLocked(raw);
    if (impl->outstanding_count == 0) impl->drained.notify_all();
  }

  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    try {
      const auto code = static_cast<rd_kafka_resp_err_t>(err);
      if (code == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512] = {0};
        const rd_kafka_resp_err_t original = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        spdlog::critical("kafka producer {}: fatal error {}: {}", rd_kafka_name(rk),
                         rd_kafka_err2name(original), fatal);
      } else if (code == RD_KAFKA_RESP_ERR__TRANSPORT ||
                 code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        // Broker churn is retried by librdkafka; records fail through their own callbacks.
        spdlog::warn("kafka producer {}: {}", rd_kafka_name(rk), reason);
      } else {
        spdlog::error("kafka producer {}: {} ({})", rd_kafka_name(rk), reason,
                      rd_kafka_err2name(code));
      }
    } catch (...) {
    }
  }
};

Producer::Producer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Producer::~Producer() {
  if (impl_) (void)Close(std::chrono::seconds(5));
}

Result<std::unique_ptr<Producer>> Producer::Create(const Properties& props,
                                                   DeliveryThread delivery) {
  ASSIGN_OR_RETURN(internal::ConfPtr conf, internal::MakeConf(Merge(ProducerDefaults(), props)));
  auto impl = std::make_unique<Impl>(delivery);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::OnDelivery);
  rd_kafka_conf_set_error_cb(conf.get(), &Impl::OnError);
  rd_kafka_conf_set_opaque(conf.get(), impl.get());
  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    return Status::InvalidArgument(std::string("cannot create Kafka producer: ") + errstr);
  }
  conf.release();  // rd_kafka_new owns it now
  impl->rk.reset(rk);
  if (delivery == DeliveryThread::kOwn) {
    impl->poller = std::thread([raw = impl.get()] { raw->PollLoop(); });
  }
  return std::unique_ptr<Producer>(new Producer(std::move(impl)));
}

Status Producer::Produce(ProducerRecord record, DeliveryCallback on_delivery) {
  std::vector<HeaderView> headers;
  headers.reserve(record.headers.size());
  for (const Header& h : record.headers) headers.push_back({h.key, h.value});
  return Produce(
      ProducerRecordView{record.topic.c_str(), record.key, record.value, headers, record.partition},
      std::move(on_delivery));
}

Status Producer::Produce(const ProducerRecordView& record, DeliveryCallback on_delivery) {
  if (impl_->closed.load()) {
    return Status::FailedPrecondition("producer is closed; create a new one to produce");
  }
  std::array<rd_kafka_vu_t, 7> args{};
  size_t count = 0;
  auto add = [&](rd_kafka_vtype_t vtype) -> rd_kafka_vu_t& {
    rd_kafka_vu_t& vu = args[count++];
    vu.vtype = vtype;
    return vu;
  };
  add(RD_KAFKA_VTYPE_TOPIC).u.cstr = record.topic;
  add(RD_KAFKA_VTYPE_MSGFLAGS).u.i = RD_KAFKA_MSG_F_COPY;
  if (record.partition) add(RD_KAFKA_VTYPE_PARTITION).u.i32 = *record.partition;
  if (!record.key.empty()) {
    rd_kafka_vu_t& key = add(RD_KAFKA_VTYPE_KEY);
    key.u.mem.ptr = const_cast<char*>(record.key.data());
    key.u.mem.size = record.key.size();
  }
  rd_kafka_vu_t& value = add(RD_KAFKA_VTYPE_VALUE);
  value.u.mem.ptr = const_cast<char*>(record.value.data());
  value.u.mem.size = record.value.size();

  HeadersPtr headers;
  if (!record.headers.empty()) {
    headers.reset(rd_kafka_headers_new(record.headers.size()));
    for (const HeaderView& h : record.headers) {
      rd_kafka_header_add(headers.get(), h.key.data(), static_cast<ssize_t>(h.key.size()),
                          h.value.data(), static_cast<ssize_t>(h.value.size()));
    }
    add(RD_KAFKA_VTYPE_HEADERS).u.headers = headers.get();
  }

  auto ctx = std::make_unique<DeliveryContext>();
  ctx->callback = std::move(on_delivery);
  add(RD_KAFKA_VTYPE_OPAQUE).u.ptr = ctx.get();
  {
    // Registered before producev: the report may arrive before producev returns.
    std::lock_guard lock(impl_->mu);
    impl_->LinkLocked(ctx.get());
  }
  rd_kafka_error_t* error = rd_kafka_produceva(impl_->rk.get(), args.data(), count);
  if (error != nullptr) {
    {
      std::lock_guard lock(impl_->mu);
      impl_->UnlinkLocked(ctx.get());
    }
    if (rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__FATAL) {
      char fatal[512] = {0};
      rd_kafka_fatal_error(impl_->rk.get(), fatal, sizeof(fatal));
      rd_kafka_error_destroy(error);
      return Status::Fatal(std::string("produce to '") + record.topic +
                           "' refused: the producer hit a fatal error (" + fatal +
                           "); recreate it");
    }
    return ErrorObjectToStatus(error, std::string("produce to '") + record.topic + "' refused");
  }
  // librdkafka now owns the headers and, until the delivery report, the context.
  headers.release();
  ctx.release();
  return Status::Ok();
}

std::future<Result<DeliveryReport>> Producer::Produce(ProducerRecord record) {
  auto promise = std::make_shared<std::promise<Result<DeliveryReport>>>();
  std::future<Result<DeliveryReport>> future = promise->get_future();
  Status status = Produce(std::move(record), [promise](Result<DeliveryReport> result) {
    promise->set_value(std::move(result));
  });
  if (!status.ok()) promise->set_value(std::move(status));
  return future;
}

int Producer::Poll(std::chrono::milliseconds timeout) {
  if (impl_->delivery != DeliveryThread::kCaller) return 0;
  const int64_t before = impl_->served;
  rd_kafka_poll(impl_->rk.get(), ToTimeoutMs(timeout));
  return static_cast<int>(impl_->served - before);
}

Status Producer::Flush(std::chrono::milliseconds timeout) {
  // Waits on our own count rather than rd_kafka_flush(), which would run delivery callbacks on
  // the caller's thread instead of the delivery thread (kOwn).
  if (impl_->WaitDrained(timeout)) return Status::Ok();
  return Status::Timeout("flush: " + std::to_string(impl_->OutstandingCount()) +
                         " records still awaiting delivery after " +
                         std::to_string(timeout.count()) + " ms");
}

Status Producer::InitTransactions(std::chrono::milliseconds timeout) {
  return ErrorObjectToStatus(rd_kafka_init_transactions(impl_->rk.get(), ToTimeoutMs(timeout)),
                             "init transactions");
}

Status Producer::BeginTransaction() {
  return ErrorObjectToStatus(rd_kafka_begin_transaction(impl_->rk.get()), "begin transaction");
}

Status Producer::CommitTransaction(std::chrono::milliseconds timeout) {
  // Flush first so delivery callbacks run on the delivery thread; commit_transaction would
  // otherwise serve them on this one.
  const auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(Flush(timeout).WithContext("commit transaction"));
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      timeout - (std::chrono::steady_clock::now() - start));
  return ErrorObjectToStatus(
      rd_kafka_commit_transaction(impl_->rk.get(),
                                  ToTimeoutMs(std::max(left, std::chrono::milliseconds(1)))),
      "commit transaction");
}

Status Producer::SendOffsetsToTransaction(const std::vector<TopicPartition>& offsets,
                                          const GroupMetadata& group,
                                          std::chrono::milliseconds timeout) {
  if (group == nullptr) {
    return Status::InvalidArgument("send offsets to transaction: no group metadata");
  }
  internal::TopicPartitionListPtr list = internal::ToPartitionList(offsets);
  return ErrorObjectToStatus(rd_kafka_send_offsets_to_transaction(
                                 impl_->rk.get(), list.get(), group.get(), ToTimeoutMs(timeout)),
                             "send offsets to transaction");
}

Status Producer::AbortTransaction(std::chrono::milliseconds timeout) {
  return ErrorObjectToStatus(rd_kafka_abort_transaction(impl_->rk.get(), ToTimeoutMs(timeout)),
                             "abort transaction");
}

Status Producer::Close(std::chrono::milliseconds flush_timeout) {
  if (impl_->closed.exchange(true)) return Status::Ok();
  Status result = Flush(flush_timeout);
  if (!result.ok()) {
    // Purged records come back through the delivery reports as _PURGE_QUEUE / _PURGE_INFLIGHT.
    rd_kafka_purge(impl_->rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    if (!impl_->WaitDrained(kPurgeDrainTimeout)) {
      spdlog::error("kafka producer: {} purged records were not reported; they fail at destruction",
                    impl_->OutstandingCount());
    }
    result = Status::Timeout("producer closed with records purged: " + result.message());
  }
  impl_->StopPoller();
  return result;
}

int Producer::OutQueueLength() const { return static_cast<int>(impl_->OutstandingCount()); }

}  // namespace kledger::kafka
