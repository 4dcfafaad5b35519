// The event id pre-image: the length-prefixed idempotency-key fields of an event.
#include "common/domain/event_id_preimage.h"

#include <cstdint>
#include <cstring>
#include <initializer_list>

#include "common/domain/validation.h"

namespace kledger::domain {
namespace {

// Sets `out` to `fields`, each preceded by its length; returns true, for the callers' brevity.
bool WriteFields(std::initializer_list<std::string_view> fields, std::string& out) {
  std::size_t size = 0;
  for (std::string_view f : fields) size += sizeof(uint64_t) + f.size();
  out.resize(size);  // within the capacity of earlier ids: no allocation
  char* p = out.data();
  for (std::string_view f : fields) {
    uint64_t n = f.size();
    for (int i = sizeof(uint64_t) - 1; i >= 0; --i, n >>= 8) p[i] = static_cast<char>(n & 0xff);
    p += sizeof(uint64_t);
    std::memcpy(p, f.data(), f.size());
    p += f.size();
  }
  return true;
}

}  // namespace

void TransactionCreatedPreimage(std::string_view instance_id, std::string_view source,
                                std::string_view source_idempk, std::string& out) {
  WriteFields(
      {EventTypeName(v1::EventEnvelope::kTransactionCreated), instance_id, source, source_idempk},
      out);
}

bool EventIdPreimage(std::string_view instance_id, const v1::EventEnvelope& envelope,
                     std::string& out) {
  const std::string_view type = EventTypeName(envelope.event_case());
  switch (envelope.event_case()) {
    case v1::EventEnvelope::kInstanceCreated:
      return WriteFields({type, instance_id}, out);
    case v1::EventEnvelope::kAccountOpened:
      return WriteFields({type, instance_id, envelope.account_opened().address()}, out);
    case v1::EventEnvelope::kAccountUpdated: {
      const auto& e = envelope.account_updated();
      return WriteFields({type, instance_id, e.address(), e.update_idempk()}, out);
    }
    case v1::EventEnvelope::kAccountClosed:
      return WriteFields({type, instance_id, envelope.account_closed().address()}, out);
    case v1::EventEnvelope::kTransactionCreated: {
      const auto& e = envelope.transaction_created();
      TransactionCreatedPreimage(instance_id, e.source(), e.source_idempk(), out);
      return true;
    }
    case v1::EventEnvelope::kTransactionUpdated: {
      const auto& e = envelope.transaction_updated();
      return WriteFields({type, instance_id, e.source(), e.source_idempk(), e.update_idempk()},
                         out);
    }
    case v1::EventEnvelope::EVENT_NOT_SET:
      break;
  }
  return false;
}

}  // namespace kledger::domain
