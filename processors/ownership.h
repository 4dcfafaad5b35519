// Who serves which partition. Each processor announces the partitions it is assigned, with the
// URL of its query API, on a small compacted topic (`<prefix>.owners`, key = partition) that
// every processor reads from the beginning; the query API uses it to answer 421 with the owner.
// Last announcement wins: a partition's new owner announces after the old one lost it.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "common/kafka/properties.h"
#include "common/status.h"

namespace kledger::processors {

class OwnershipDirectory {
 public:
  // `producer` must outlive the directory. `self_url` is this processor's query API.
  static Result<std::unique_ptr<OwnershipDirectory>> Create(const kafka::Properties& props,
                                                            std::string topic, std::string group,
                                                            std::string self_url,
                                                            kafka::Producer& producer);
  ~OwnershipDirectory();

  // Starts reading the topic in a thread of its own.
  Status Start();
  void Stop();

  // Announces that this processor now owns `partitions` (asynchronous; failures are logged and
  // only make 421 answers less precise).
  void Announce(const std::vector<int32_t>& partitions);

  // The last announced owner's URL, if any announcement was read.
  std::optional<std::string> OwnerOf(int32_t partition) const;
  const std::string& self_url() const { return self_url_; }

 private:
  OwnershipDirectory(std::string topic, std::string self_url, kafka::Producer& producer);
  void ReadLoop();

  std::string topic_;
  std::string self_url_;
  kafka::Producer& producer_;
  std::unique_ptr<kafka::RebalanceListener> no_rebalances_;
  std::unique_ptr<kafka::Consumer> reader_;
  mutable std::mutex mu_;
  std::map<int32_t, std::string> owners_;  // guarded by mu_
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace kledger::processors
