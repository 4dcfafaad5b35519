// Event ids: the SHA-256 of an event's idempotency key (domain::EventIdPreimage), so a
// re-submitted command gets the same id (and the processors can recognise the duplicate)
// whatever else its payload says. Here rather than in kledger::domain because the hash is
// OpenSSL's.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/domain/validation.h"
#include "kledger/v1/events.pb.h"

// In namespace domain, as before the hash left kledger::domain: event ids are the domain's
// vocabulary; only the library that computes them changed.
namespace kledger::domain {

// Length of an event id: the first 16 bytes of a SHA-256, in lowercase hex.
inline constexpr std::size_t kEventIdHexChars = 32;

// The id of `envelope`'s event within `instance_id`: the SHA-256 of EventIdPreimage. Returns ""
// when no event is set (such an envelope is invalid; see ValidateEnvelope). Never change this
// function: ids are stored in the log.
std::string DeriveEventId(std::string_view instance_id, const v1::EventEnvelope& envelope);

// Same, with the envelope's own instance_id.
std::string DeriveEventId(const v1::EventEnvelope& envelope);

// The id of the transaction_created event of (`source`, `source_idempk`) in `instance_id`: what
// DeriveEventId gives that event, whatever else it carries.
std::string TransactionCreatedEventId(std::string_view instance_id, std::string_view source,
                                      std::string_view source_idempk);

// ValidateEnvelopeWithId (common/domain/validation.h) against the envelope's own DeriveEventId:
// a whole envelope as the processors receive it.
FieldErrors ValidateEnvelope(const v1::EventEnvelope& envelope, const Limits& limits = {});

}  // namespace kledger::domain
