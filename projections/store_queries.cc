// ProjectionStore's queries for the HTTP API and tools: point reads, the pages of an account's
// history and of an instance's accounts, transactions and events, balances as of an offset, the
// trial balance, and the state digest. Safe from any thread while batches commit (each reads
// RocksDB's committed state).
#include <openssl/evp.h>
#include <rocksdb/db.h>
#include <rocksdb/snapshot.h>

#include <algorithm>
#include <array>
#include <functional>
#include <memory>

#include "projections/store.h"
#include "projections/store_encoding.h"

namespace kledger::projections {

using namespace store_encoding;

namespace {

// One page of the records under `prefix` (itself under `instance_prefix`), read with `read`,
// that `decode` turns into an item (nullopt: filtered out), in key order up to `end` (exclusive;
// "" for the end of the prefix): from `start` (at or after the prefix) for the first page, else
// from the key a page's next_cursor names — the rest of the key after the instance prefix,
// hex-encoded, which must lie under `prefix`. next_cursor is set only when a further item exists,
// so an exact fit ends without an empty page. `limit` is clamped to [1, max_limit]. InvalidArgument
// for a malformed cursor.
template <typename View, typename Page>
Result<Page> ScanPage(rocksdb::DB& db, const rocksdb::ReadOptions& read,
                      const std::string& instance_prefix, const std::string& prefix,
                      std::string start, const std::string& end, std::string_view cursor, int limit,
                      int max_limit,
                      const std::function<Result<std::optional<View>>(
                          const rocksdb::Slice& key, const rocksdb::Slice& value)>& decode,
                      std::string_view what) {
  if (!cursor.empty()) {
    std::optional<std::string> rest = FromHex(cursor);
    if (!rest || !(instance_prefix + *rest).starts_with(prefix)) {
      return Status::InvalidArgument("cursor " + Quote(cursor) +
                                     " is malformed: pass a next_cursor from an earlier page "
                                     "with the same filters, or none for the first page");
    }
    start = instance_prefix + *rest;
  }
  if (limit <= 0 || limit > max_limit) limit = max_limit;
  Page page;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(read));
  for (it->Seek(start); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (!end.empty() && it->key().compare(end) >= 0) break;
    ASSIGN_OR_RETURN(std::optional<View> view, decode(it->key(), it->value()));
    if (!view) continue;
    if (page.items_size() == limit) {
      page.set_next_cursor(ToHex(it->key().ToStringView().substr(instance_prefix.size())));
      break;
    }
    *page.add_items() = std::move(*view);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "listing " + std::string(what) + "s");
  return page;
}

// A ScanPage decoder for values that are the View itself, kept when `keep` says so.
template <typename View>
auto ParsedIf(std::function<bool(const View&)> keep, std::string_view what) {
  return [keep = std::move(keep), what](
             const rocksdb::Slice&, const rocksdb::Slice& value) -> Result<std::optional<View>> {
    ASSIGN_OR_RETURN(View view, Parse<View>(value.ToString(), what));
    if (!keep(view)) return std::optional<View>();
    return std::optional<View>(std::move(view));
  };
}

// Sets `account`'s balances to those after its newest history item, read through `it`, or to
// zero (shaped as a newly opened account's) when it has none: the store keeps an account's
// balances in its history only (store_encoding.h, kAccountPrefix).
Status ReadBalances(rocksdb::Iterator& it, std::string_view instance, std::string_view address,
                    v1::AccountView& account) {
  const std::string prefix = HistoryPrefix(instance, address);
  it.Seek(prefix);  // newest first
  if (it.Valid() && it.key().starts_with(prefix)) {
    ASSIGN_OR_RETURN(v1::HistoryItem item,
                     Parse<v1::HistoryItem>(it.value().ToString(), "history item"));
    *account.mutable_balances() = std::move(*item.mutable_balances_after());
    return Status::Ok();
  }
  if (!it.status().ok()) return FromRocks(it.status(), "reading history");
  account.clear_balances();
  account.mutable_balances()->mutable_posted();
  account.mutable_balances()->mutable_pending();
  return Status::Ok();
}

}  // namespace

Result<std::optional<v1::AccountView>> ProjectionStore::ReadAccount(std::string_view instance,
                                                                    std::string_view address) {
  DisableRocksDbPerfCounters();
  rocksdb::ManagedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions read;
  read.snapshot = snapshot.snapshot();
  std::string value;
  rocksdb::Status s = db_->Get(read, AccountKey(instance, address), &value);
  if (s.IsNotFound()) return {std::nullopt};
  if (!s.ok()) return FromRocks(s, "reading account " + Quote(address));
  ASSIGN_OR_RETURN(v1::AccountView account, Parse<v1::AccountView>(value, "account"));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
  RETURN_IF_ERROR(ReadBalances(*it, instance, address, account));
  return {std::optional<v1::AccountView>(std::move(account))};
}

Result<v1::AccountView> ProjectionStore::GetAccount(std::string_view instance,
                                                    std::string_view address) {
  ASSIGN_OR_RETURN(std::optional<v1::AccountView> account, ReadAccount(instance, address));
  if (!account) {
    return Status::NotFound("account " + Quote(address) + " in instance " + Quote(instance) +
                            " does not exist");
  }
  return std::move(*account);
}

template <typename T>
Result<T> ProjectionStore::GetEventRecordPart(const std::string& key, bool transaction,
                                              std::string_view what) {
  DisableRocksDbPerfCounters();
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), key, &value);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading " + std::string(what));
  ASSIGN_OR_RETURN(EventRecord record, DecodeEventRecord(value));  // "" when not found
  const std::string_view part = transaction ? record.transaction : record.outcome;
  if (part.empty()) return Status::NotFound(std::string(what) + " does not exist");
  return Parse<T>(part, what);
}

Result<v1::TransactionView> ProjectionStore::GetTransaction(std::string_view instance,
                                                            std::string_view source,
                                                            std::string_view source_idempk) {
  return GetEventRecordPart<v1::TransactionView>(
      TransactionKey(instance, source, source_idempk), /*transaction=*/true,
      "transaction (" + Quote(source) + ", " + Quote(source_idempk) + ") in instance " +
          Quote(instance));
}

Result<v1::EventOutcomeView> ProjectionStore::GetOutcome(std::string_view instance,
                                                         std::string_view event_id) {
  return GetEventRecordPart<v1::EventOutcomeView>(
      OutcomeKey(instance, event_id), /*transaction=*/false,
      "an outcome for event " + Quote(event_id) + " in instance " + Quote(instance) +
          " (not yet processed here, or never submitted)");
}

Result<std::optional<std::string>> ProjectionStore::ReadExtension(std::string_view projection,
                                                                  std::string_view key) {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), MakeKey(kExtensionPrefix, {projection, key}), &value);
  if (s.IsNotFound()) return {std::nullopt};
  if (!s.ok()) return FromRocks(s, "reading projection " + std::string(projection));
  return {std::optional<std::string>(std::move(value))};
}

Result<v1::TrialBalance> ProjectionStore::GetTrialBalance(std::string_view instance) {
  DisableRocksDbPerfCounters();
  v1::TrialBalance balance;
  balance.set_instance_id(std::string(instance));
  const std::string prefix = TrialBalancePrefix(instance);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    ASSIGN_OR_RETURN(*balance.add_currencies(),
                     Parse<v1::CurrencyTotals>(it->value().ToString(), "trial balance totals"));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the trial balance");
  return balance;
}

Result<v1::HistoryPage> ProjectionStore::GetHistory(std::string_view instance,
                                                    std::string_view address, int limit,
                                                    std::string_view cursor) {
  DisableRocksDbPerfCounters();
  std::string start = HistoryPrefix(instance, address);
  const size_t prefix_size = start.size();
  if (!cursor.empty()) {
    std::optional<std::string> position = FromHex(cursor);
    if (!position || position->size() != kHistoryPositionSize) {
      return Status::InvalidArgument("cursor " + Quote(cursor) +
                                     " is malformed: pass a next_cursor from an earlier page, "
                                     "or none for the first page");
    }
    start += *position;
  }
  // History is listed only for existing accounts, so a typo answers NotFound, not empty pages.
  RETURN_IF_ERROR(GetAccount(instance, address).status());
  if (limit <= 0 || limit > options_.max_history_page) limit = options_.max_history_page;

  v1::HistoryPage page;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  const std::string_view prefix = std::string_view(start).substr(0, prefix_size);
  for (it->Seek(start); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (page.items_size() == limit) {
      page.set_next_cursor(ToHex(it->key().ToStringView().substr(prefix_size)));
      break;
    }
    ASSIGN_OR_RETURN(*page.add_items(),
                     Parse<v1::HistoryItem>(it->value().ToString(), "history item"));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading history");
  return page;
}

Result<std::string> ProjectionStore::Digest() {
  DisableRocksDbPerfCounters();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return Status::Internal("cannot initialise SHA-256");
  }
  // Length-prefixing each key and value keeps the encoding unambiguous.
  auto update = [&](std::string_view bytes) {
    std::string length;
    AppendBigEndian(length, bytes.size(), 8);
    return EVP_DigestUpdate(ctx.get(), length.data(), length.size()) == 1 &&
           EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) == 1;
  };
  rocksdb::ReadOptions read_options;
  read_options.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (IsBookkeepingKey(key)) continue;
    std::string_view value = it->value().ToStringView();
    std::string account;  // an account's record as this layout writes it
    if (key.front() == kAccountPrefix) {
      // A store written before balances lived in the history alone has them in its account
      // records too (ignored by every read): digested without them, it agrees with a rebuild.
      ASSIGN_OR_RETURN(v1::AccountView view, Parse<v1::AccountView>(std::string(value), "account"));
      view.clear_balances();
      value = account = SerializeDeterministic(view);
    }
    if (!update(key) || !update(value)) {
      return Status::Internal("SHA-256 update failed");
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the store for its digest");
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest.data(), &size) != 1) {
    return Status::Internal("SHA-256 finalisation failed");
  }
  return ToHex(std::string_view(reinterpret_cast<const char*>(digest.data()), size));
}

Result<v1::AccountPage> ProjectionStore::ListAccounts(std::string_view instance,
                                                      const AccountFilter& filter, int limit,
                                                      std::string_view cursor) {
  DisableRocksDbPerfCounters();
  const std::string instance_prefix = AccountKey(instance, "");
  const std::string prefix = instance_prefix + filter.address_prefix;
  // The accounts' records and their histories (for their balances) from one snapshot.
  rocksdb::ManagedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions read;
  read.snapshot = snapshot.snapshot();
  std::unique_ptr<rocksdb::Iterator> history(db_->NewIterator(read));
  const auto keep = ParsedIf<v1::AccountView>(
      [&](const v1::AccountView& account) {
        return (!filter.type || account.type() == *filter.type) &&
               (!filter.currency || account.currency() == *filter.currency) &&
               (!filter.status || account.status() == *filter.status);
      },
      "account");
  return ScanPage<v1::AccountView, v1::AccountPage>(
      *db_, read, instance_prefix, prefix, prefix, "", cursor, limit, options_.max_history_page,
      [&](const rocksdb::Slice& key,
          const rocksdb::Slice& value) -> Result<std::optional<v1::AccountView>> {
        ASSIGN_OR_RETURN(std::optional<v1::AccountView> account, keep(key, value));
        if (account) {
          RETURN_IF_ERROR(ReadBalances(*history, instance, account->address(), *account));
        }
        return account;
      },
      "account");
}

Result<v1::TransactionPage> ProjectionStore::ListTransactions(std::string_view instance,
                                                              const TransactionFilter& filter,
                                                              int limit, std::string_view cursor) {
  DisableRocksDbPerfCounters();
  // Transactions live in their creating events' records: the scan passes over the other events.
  const std::string prefix = OutcomePrefix(instance);
  return ScanPage<v1::TransactionView, v1::TransactionPage>(
      *db_, rocksdb::ReadOptions(), prefix, prefix, prefix, "", cursor, limit,
      options_.max_history_page,
      [&](const rocksdb::Slice&,
          const rocksdb::Slice& value) -> Result<std::optional<v1::TransactionView>> {
        ASSIGN_OR_RETURN(EventRecord record, DecodeEventRecord(value.ToStringView()));
        if (record.transaction.empty()) return std::optional<v1::TransactionView>();
        ASSIGN_OR_RETURN(v1::TransactionView tx,
                         Parse<v1::TransactionView>(record.transaction, "transaction"));
        const bool keep = (!filter.source || tx.source() == *filter.source) &&
                          (!filter.status || tx.status() == *filter.status) &&
                          (!filter.account || std::any_of(tx.entries().begin(), tx.entries().end(),
                                                          [&](const v1::Entry& e) {
                                                            return e.account() == *filter.account;
                                                          }));
        if (!keep) return std::optional<v1::TransactionView>();
        return std::optional<v1::TransactionView>(std::move(tx));
      },
      "transaction");
}

Result<std::vector<std::string>> ProjectionStore::ListInstances(
    std::string_view after, int limit, const std::function<bool(std::string_view)>& keep) {
  DisableRocksDbPerfCounters();
  if (limit <= 0 || limit > options_.max_history_page) limit = options_.max_history_page;
  const std::string prefix(1, kOutcomePrefix);
  // Every key of an instance is `e` instance 00 event_id: `e` instance 01 sorts past them all.
  auto past = [&prefix](std::string_view instance) {
    return prefix + std::string(instance) + '\x01';
  };
  std::vector<std::string> instances;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->Seek(after.empty() ? prefix : past(after));
  while (it->Valid() && it->key().starts_with(prefix) &&
         static_cast<int>(instances.size()) < limit) {
    const std::string_view rest = it->key().ToStringView().substr(prefix.size());
    const std::string instance(rest.substr(0, rest.find(kSeparator)));
    if (keep(instance)) instances.push_back(instance);
    it->Seek(past(instance));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "listing instances");
  return instances;
}

Result<v1::EventPage> ProjectionStore::ListEvents(std::string_view instance,
                                                  const EventFilter& filter, int limit,
                                                  std::string_view cursor) {
  DisableRocksDbPerfCounters();
  const std::string prefix = EventLogPrefix(instance);
  const std::string end =
      filter.to_offset ? EventLogKey(instance, std::max<int64_t>(*filter.to_offset, 0)) : "";
  if (filter.to_offset && *filter.to_offset <= filter.from_offset) return v1::EventPage();
  using Listed = std::optional<v1::EventOutcomeView>;
  return ScanPage<v1::EventOutcomeView, v1::EventPage>(
      *db_, rocksdb::ReadOptions(), prefix, prefix,
      EventLogKey(instance, std::max<int64_t>(filter.from_offset, 0)), end, cursor, limit,
      options_.max_history_page,
      [&](const rocksdb::Slice& key, const rocksdb::Slice& event_id) -> Result<Listed> {
        ASSIGN_OR_RETURN(
            v1::EventOutcomeView outcome,
            GetEventRecordPart<v1::EventOutcomeView>(OutcomeKey(instance, event_id.ToStringView()),
                                                     /*transaction=*/false, "a listed outcome"));
        const auto offset =
            static_cast<int64_t>(ReadBigEndian(key.ToStringView().substr(prefix.size())));
        if (outcome.offset() != offset) return Listed();  // redriven: listed at its new offset
        if ((filter.outcome && outcome.outcome() != *filter.outcome) ||
            (filter.type && outcome.event_type() != *filter.type)) {
          return Listed();
        }
        return Listed(std::move(outcome));
      },
      "event");
}

Result<v1::BalancesAt> ProjectionStore::BalancesAt(std::string_view instance,
                                                   std::string_view address, int64_t at_offset) {
  DisableRocksDbPerfCounters();
  ASSIGN_OR_RETURN(v1::AccountView account, GetAccount(instance, address));
  v1::BalancesAt answer;
  answer.set_instance_id(std::string(instance));
  answer.set_address(std::string(address));
  answer.set_currency(account.currency());
  answer.set_at_offset(at_offset);
  answer.set_last_entry_offset(-1);
  // Zero before the first entry, shaped as an account's balances are.
  answer.mutable_balances()->mutable_posted();
  answer.mutable_balances()->mutable_pending();
  // Newest first: the first item at or below (at_offset, any entry) is the one that counts.
  if (at_offset < 0) return answer;  // before the log's first record
  const std::string prefix = HistoryPrefix(instance, address);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->Seek(prefix + HistoryPosition(at_offset, INT32_MAX));
  if (it->Valid() && it->key().starts_with(prefix)) {
    ASSIGN_OR_RETURN(v1::HistoryItem item,
                     Parse<v1::HistoryItem>(it->value().ToString(), "history item"));
    *answer.mutable_balances() = item.balances_after();
    answer.set_last_entry_offset(item.offset());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading history");
  return answer;
}

}  // namespace kledger::projections
