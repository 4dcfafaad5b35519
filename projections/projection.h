// Pluggable read models. The ledger state machine keeps the core projections (balances, history,
// transactions, outcomes, trial balance); any further read model is a class implementing
// Projection, handed to the processor (and to `kledger rebuild`, so that digests agree). It sees
// every event with its outcome, in log order, and writes into its own key space of the same
// WriteBatch that commits the partition's offset — so it is exactly-once in effect like the rest.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kledger/v1/api.pb.h"
#include "kledger/v1/events.pb.h"
#include "projections/store.h"

namespace kledger::projections {

// One projection's key space inside a batch: reads see the batch's own writes.
class ProjectionSpace {
 public:
  ProjectionSpace(ProjectionStore::Batch& batch, std::string_view projection)
      : batch_(batch), projection_(projection) {}

  Result<std::optional<std::string>> Get(std::string_view key) {
    return batch_.GetExtension(projection_, key);
  }
  Status Put(std::string_view key, std::string_view value) {
    return batch_.PutExtension(projection_, key, value);
  }

 private:
  ProjectionStore::Batch& batch_;
  std::string_view projection_;
};

class Projection {
 public:
  virtual ~Projection() = default;

  // Names the key space; stable across releases (it is part of every stored key). Letters,
  // digits and '_' only.
  virtual std::string_view name() const = 0;

  // Folds one event and the outcome the ledger gave it into the projection. Must be a pure
  // function of what it reads from `space` and its arguments (no clocks, no randomness), so
  // that a rebuild reproduces it. An error (storage) discards the whole batch, to be retried.
  virtual Status Apply(const v1::EventEnvelope& event, const v1::EventOutcomeView& outcome,
                       ProjectionSpace& space) = 0;
};

using Projections = std::vector<std::shared_ptr<Projection>>;

}  // namespace kledger::projections
