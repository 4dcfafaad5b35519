// Test-only builders of ledger events, shared by the projections tests. Event ids follow from
// the idempotency keys, so equal keys give equal ids: a created transaction's is the command
// side's own (DeriveEventId), the others are readable ("open:cash").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/event_id.h"
#include "kledger/v1/events.pb.h"

namespace kledger::projections::testutil {

inline v1::EventEnvelope Envelope(const std::string& instance, const std::string& event_id) {
  v1::EventEnvelope e;
  e.set_instance_id(instance);
  e.set_event_id(event_id);
  e.set_schema_version(1);
  return e;
}

inline v1::EventEnvelope OpenAccount(const std::string& instance, const std::string& address,
                                     v1::AccountType type, const std::string& currency,
                                     bool allow_negative = false,
                                     std::optional<int64_t> credit_limit = std::nullopt) {
  v1::EventEnvelope e = Envelope(instance, "open:" + address);
  v1::AccountOpened* m = e.mutable_account_opened();
  m->set_address(address);
  m->set_type(type);
  m->set_currency(currency);
  m->set_allow_negative(allow_negative);
  if (credit_limit) m->set_credit_limit(*credit_limit);
  return e;
}

inline v1::EventEnvelope CloseAccount(const std::string& instance, const std::string& address) {
  v1::EventEnvelope e = Envelope(instance, "close:" + address);
  e.mutable_account_closed()->set_address(address);
  return e;
}

inline v1::Entry MakeEntry(const std::string& account, v1::Side direction, int64_t amount,
                           const std::string& currency = "USD") {
  v1::Entry entry;
  entry.set_account(account);
  entry.set_direction(direction);
  entry.set_amount(amount);
  entry.set_currency(currency);
  return entry;
}

inline v1::EventEnvelope CreateTx(const std::string& instance, const std::string& idempk,
                                  v1::TransactionStatus status,
                                  const std::vector<v1::Entry>& entries,
                                  const std::string& source = "src") {
  v1::EventEnvelope e = Envelope(instance, "");
  v1::TransactionCreated* m = e.mutable_transaction_created();
  m->set_source(source);
  m->set_source_idempk(idempk);
  m->set_status(status);
  for (const v1::Entry& entry : entries) *m->add_entries() = entry;
  // The command side's id: the store keeps a transaction in its creating event's record, found
  // by this id (store_encoding.h, TransactionKey).
  e.set_event_id(domain::DeriveEventId(e));
  return e;
}

inline v1::EventEnvelope UpdateTx(const std::string& instance, const std::string& idempk,
                                  const std::string& update_idempk, v1::UpdateAction action,
                                  const std::vector<v1::Entry>& entries = {},
                                  const std::string& source = "src") {
  v1::EventEnvelope e = Envelope(instance, "upd:" + source + ":" + idempk + ":" + update_idempk);
  v1::TransactionUpdated* m = e.mutable_transaction_updated();
  m->set_source(source);
  m->set_source_idempk(idempk);
  m->set_update_idempk(update_idempk);
  m->set_action(action);
  for (const v1::Entry& entry : entries) *m->add_entries() = entry;
  return e;
}

}  // namespace kledger::projections::testutil
