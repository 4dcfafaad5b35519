// A librdkafka producer in RAII form: one handle, delivery reports served on a thread of its own
// or, for a caller that owns a produce loop, on the caller's thread inside Poll().
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "common/kafka/properties.h"
#include "common/kafka/record.h"
#include "common/status.h"

namespace kledger::kafka {

// Called exactly once per record accepted by Produce(), on the thread serving delivery reports
// (see DeliveryThread): with the partition and offset once the broker acknowledged it
// (acks=all), or with the error (kTimeout when message.timeout.ms passed, kUnavailable for broker
// errors, ...).
using DeliveryCallback = std::function<void(Result<DeliveryReport>)>;

// A header by reference (see ProducerRecordView).
struct HeaderView {
  std::string_view key;
  std::string_view value;  // may hold binary bytes
};

// A record by reference, for callers that keep its bytes elsewhere and produce many: librdkafka
// copies every byte before Produce() returns, so nothing need outlive the call.
struct ProducerRecordView {
  const char* topic = "";  // NUL-terminated
  std::string_view key;
  std::string_view value;
  std::span<const HeaderView> headers;
  std::optional<int32_t> partition;  // unset: the configured partitioner picks it from the key
};

// Which thread serves delivery reports, i.e. runs the DeliveryCallbacks. Either way one thread at
// a time serves them, so per partition they arrive in offset order.
enum class DeliveryThread {
  // A thread of the producer's own, always polling. Poll() does nothing. The default.
  kOwn,
  // The thread that calls Poll(), Flush(), CommitTransaction(), Close() or the destructor: for an
  // owner with a produce loop that polls after each Produce() and while it waits, as librdkafka's
  // own examples do, so no second thread must be woken for every batch of reports. Callbacks
  // only run inside those calls: an owner that stops polling stops its acknowledgements.
  kCaller,
};

class Producer {
 public:
  // Creates a producer with ProducerDefaults() overlaid by `props` (bootstrap.servers among them),
  // its delivery reports served as `delivery` says. On error (an unknown or malformed property,
  // ...) returns InvalidArgument naming it.
  static Result<std::unique_ptr<Producer>> Create(const Properties& props,
                                                  DeliveryThread delivery = DeliveryThread::kOwn);

  ~Producer();  // flushes for up to 5 s, then drops what is left (its callbacks get kUnavailable)
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues `record`. On OK, `on_delivery` will be called exactly once. On error (queue full,
  // unknown topic, message too large, fatal producer error) it is not called and the record is
  // not sent.
  Status Produce(ProducerRecord record, DeliveryCallback on_delivery);
  // The same for a record by reference: no copy of it on this side.
  Status Produce(const ProducerRecordView& record, DeliveryCallback on_delivery);

  // Produce() with a future in place of the callback. An enqueue error resolves the future at once.
  std::future<Result<DeliveryReport>> Produce(ProducerRecord record);

  // DeliveryThread::kCaller: runs the callbacks of the delivery reports that are ready, waiting up
  // to `timeout` for the first ones (0: not at all). Returns how many callbacks ran. Call it from
  // one thread at a time, never from inside a callback. kOwn: returns 0 at once.
  int Poll(std::chrono::milliseconds timeout);

  // Waits until every enqueued record has been delivered or failed (kCaller: serving the reports
  // meanwhile). Timeout when it could not.
  Status Flush(std::chrono::milliseconds timeout);

  // For transactional producers (transactional.id set): InitTransactions, Begin, Commit, Abort.
  Status InitTransactions(std::chrono::milliseconds timeout);
  Status BeginTransaction();
  Status CommitTransaction(std::chrono::milliseconds timeout);
  Status AbortTransaction(std::chrono::milliseconds timeout);
  // Adds `offsets` (next offsets to read) to the open transaction as commits of `group`'s
  // consumer: they land with its records or not at all. The group coordinator checks the
  // membership: a generation that is past fails this call, or the commit, and the transaction
  // must be aborted.
  Status SendOffsetsToTransaction(const std::vector<TopicPartition>& offsets,
                                  const GroupMetadata& group, std::chrono::milliseconds timeout);

  // Shuts the producer down: waits up to `flush_timeout` for outstanding records, then purges
  // the rest (their callbacks get kUnavailable) and stops the delivery thread, if any. Afterwards
  // Produce() answers FailedPrecondition. Idempotent; the destructor calls Close(5 s).
  // Returns Timeout when records had to be purged.
  Status Close(std::chrono::milliseconds flush_timeout);

  // Records enqueued and not yet delivered or failed.
  int OutQueueLength() const;

 private:
  struct Impl;
  explicit Producer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kledger::kafka
