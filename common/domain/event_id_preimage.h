// What an event id is derived from: the bytes of an event's idempotency key. The hash over them
// is kledger::common's (common/event_id.h), so that this library links no crypto.
#pragma once

#include <string>
#include <string_view>

#include "kledger/v1/events.pb.h"

namespace kledger::domain {

// Sets `out` to the bytes whose hash is the id of `envelope`'s event within `instance_id`: the
// event type name (EventTypeName), then the idempotency key's fields,
//   instance_created     (instance)
//   account_opened       (instance, address)
//   account_updated      (instance, address, update_idempk)
//   account_closed       (instance, address)
//   transaction_created  (instance, source, source_idempk)
//   transaction_updated  (instance, source, source_idempk, update_idempk)
// each preceded by its length as 8 bytes big-endian, so that ("ab", "c") and ("a", "bc") differ
// whatever bytes the fields hold. Nothing else of the payload enters, so a re-submitted command
// gets the same id. Returns false, leaving `out` alone, when no event is set. `out` is reused:
// once its capacity suffices, no allocation (the command path derives an id per command).
// Never change this layout: event ids are stored in the log and the projections.
bool EventIdPreimage(std::string_view instance_id, const v1::EventEnvelope& envelope,
                     std::string& out);

// The same for the transaction_created event of (`source`, `source_idempk`) in `instance_id`,
// without an envelope: where the projection store keeps that transaction (its creating event's
// record, projections/store_encoding.h).
void TransactionCreatedPreimage(std::string_view instance_id, std::string_view source,
                                std::string_view source_idempk, std::string& out);

}  // namespace kledger::domain
