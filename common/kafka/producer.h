// A librdkafka producer in RAII form: one handle, one background thread serving delivery reports.
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

// Called exactly once per record accepted by Produce(), on the producer's delivery thread:
// with the partition and offset once the broker acknowledged it (acks=all), or with the error
// (kTimeout when message.timeout.ms passed, kUnavailable for broker errors, ...).
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

class Producer {
 public:
  // Creates a producer with ProducerDefaults() overlaid by `props` (bootstrap.servers among them).
  // On error (an unknown or malformed property, ...) returns InvalidArgument naming it.
  static Result<std::unique_ptr<Producer>> Create(const Properties& props);

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

  // Waits until every enqueued record has been delivered or failed. Timeout when it could not.
  Status Flush(std::chrono::milliseconds timeout);

  // For transactional producers (transactional.id set): InitTransactions, Begin, Commit, Abort.
  Status InitTransactions(std::chrono::milliseconds timeout);
  Status BeginTransaction();
  Status CommitTransaction(std::chrono::milliseconds timeout);
  Status AbortTransaction(std::chrono::milliseconds timeout);

  // Shuts the producer down: waits up to `flush_timeout` for outstanding records, then purges
  // the rest (their callbacks get kUnavailable) and stops the delivery thread. Afterwards
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
