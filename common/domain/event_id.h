// Event ids: derived from each event's idempotency key, so a re-submitted command gets the same
// id (and the processors can recognise the duplicate) whatever else its payload says.
#pragma once

#include <string>
#include <string_view>

#include "kledger/v1/events.pb.h"

namespace kledger::domain {

// Length of an event id: the first 16 bytes of a SHA-256, in lowercase hex.
inline constexpr std::size_t kEventIdHexChars = 32;

// The id of `envelope`'s event within `instance_id`. Only the idempotency key enters the hash:
//   instance_created     (instance)
//   account_opened       (instance, address)
//   account_updated      (instance, address, update_idempk)
//   account_closed       (instance, address)
//   transaction_created  (instance, source, source_idempk)
//   transaction_updated  (instance, source, source_idempk, update_idempk)
// each prefixed by the event type name. Returns "" when no event is set (such an envelope is
// invalid; see ValidateEnvelope). Never change this function: ids are stored in the log.
std::string DeriveEventId(std::string_view instance_id, const v1::EventEnvelope& envelope);

// Same, with the envelope's own instance_id.
std::string DeriveEventId(const v1::EventEnvelope& envelope);

}  // namespace kledger::domain
