#include "processors/ownership.h"

#include <spdlog/spdlog.h>

#include <charconv>

namespace kledger::processors {

Result<std::unique_ptr<OwnershipDirectory>> OwnershipDirectory::Create(
    const kafka::Properties& props, std::string topic, std::string group, std::string self_url,
    kafka::Producer& producer) {
  auto directory = std::unique_ptr<OwnershipDirectory>(
      new OwnershipDirectory(std::move(topic), std::move(self_url), producer));
  kafka::Properties reader_props = props;
  // Required by librdkafka's consumer; never used to join, as the reader assigns by itself.
  reader_props["group.id"] = group + ".owners-reader";
  reader_props["auto.offset.reset"] = "earliest";
  ASSIGN_OR_RETURN(directory->reader_,
                   kafka::Consumer::Create(reader_props, directory->no_rebalances_.get()));
  return directory;
}

OwnershipDirectory::OwnershipDirectory(std::string topic, std::string self_url,
                                       kafka::Producer& producer)
    : topic_(std::move(topic)),
      self_url_(std::move(self_url)),
      producer_(producer),
      no_rebalances_(std::make_unique<kafka::NoRebalanceListener>()) {}

OwnershipDirectory::~OwnershipDirectory() { Stop(); }

Status OwnershipDirectory::Start() {
  RETURN_IF_ERROR(reader_->Assign({{topic_, 0, kafka::kOffsetBeginning}}));
  thread_ = std::thread([this] { ReadLoop(); });
  return Status::Ok();
}

void OwnershipDirectory::Stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (reader_) {
    Status closed = reader_->Close();
    if (!closed.ok()) spdlog::debug("ownership reader close: {}", closed.ToString());
  }
}

void OwnershipDirectory::Announce(const std::vector<int32_t>& partitions) {
  for (int32_t p : partitions) {
    {
      // Our own view is right at once; the topic tells the others.
      std::lock_guard lock(mu_);
      owners_[p] = self_url_;
    }
    Status s = producer_.Produce(
        {topic_, std::to_string(p), self_url_, {}, 0}, [p](Result<kafka::DeliveryReport> report) {
          if (!report.ok()) {
            spdlog::warn("announcing ownership of partition {}: {}", p, report.status().ToString());
          }
        });
    if (!s.ok()) spdlog::warn("announcing ownership of partition {}: {}", p, s.ToString());
  }
}

std::optional<std::string> OwnershipDirectory::OwnerOf(int32_t partition) const {
  std::lock_guard lock(mu_);
  auto it = owners_.find(partition);
  if (it == owners_.end()) return std::nullopt;
  return it->second;
}

void OwnershipDirectory::ReadLoop() {
  while (!stopping_) {
    auto records = reader_->Poll(std::chrono::milliseconds(200), 500);
    if (!records.ok()) {
      spdlog::warn("reading the ownership topic {}: {}", topic_, records.status().ToString());
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    std::lock_guard lock(mu_);
    for (const auto& r : *records) {
      int32_t partition = -1;
      auto [end, ec] = std::from_chars(r.key.data(), r.key.data() + r.key.size(), partition);
      if (ec != std::errc() || end != r.key.data() + r.key.size() || r.value.empty()) continue;
      owners_[partition] = r.value;
    }
  }
}

}  // namespace kledger::processors
