// libFuzzer target over the processor's input path: records from the events topic are untrusted,
// so arbitrary keys and values (raw bytes, or valid events with fuzzed fields merged on top) go
// through DecodeEvent and the ledger state machine into a real ProjectionStore batch. Besides
// "does not crash", it checks what the processor promises: storage never fails on bad input,
// a decoded event round-trips, and the books of every instance and currency still balance.
#include <fuzzer/FuzzedDataProvider.h>
#include <google/protobuf/stubs/logging.h>
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/event_id.h"
#include "processors/applier.h"
#include "projections/store.h"
#include "projections/test_util.h"

namespace {

namespace fs = std::filesystem;
namespace v1 = kledger::v1;
using kledger::kafka::ConsumedRecord;
using kledger::projections::ProjectionStore;
using namespace kledger::projections::testutil;  // NOLINT: the event builders

constexpr char kInstance[] = "fz";
constexpr int kMaxRecords = 8;

// Fuzzing runs with assertions on; this one also fires under NDEBUG.
void Check(bool condition) {
  if (!condition) abort();
}

// The processor refuses an event whose id is not the one its idempotency key derives.
v1::EventEnvelope WithDerivedId(v1::EventEnvelope event) {
  event.set_event_id(kledger::domain::DeriveEventId(event));
  return event;
}

// Valid events touching the seeded state, serialized: a fuzzed suffix merges into one of them
// (protobuf concatenation is a merge), which reaches far deeper than raw bytes would.
std::vector<std::string> Templates() {
  const std::vector<v1::EventEnvelope> events = {
      OpenAccount(kInstance, "new:acct", v1::ASSET, "USD"),
      CreateTx(kInstance, "t1", v1::POSTED,
               {MakeEntry("cash", v1::DEBIT, 100), MakeEntry("sales", v1::CREDIT, 100)}),
      CreateTx(kInstance, "t2", v1::PENDING,
               {MakeEntry("cash", v1::CREDIT, 50), MakeEntry("loan", v1::DEBIT, 50)}),
      UpdateTx(kInstance, "p1", "u1", v1::POST),
      UpdateTx(kInstance, "p1", "u2", v1::ARCHIVE),
      UpdateTx(kInstance, "p1", "u3", v1::EDIT,
               {MakeEntry("cash", v1::DEBIT, 7), MakeEntry("sales", v1::CREDIT, 7)}),
      CloseAccount(kInstance, "eur"),
      CreateTx(kInstance, "t3", v1::POSTED,
               {MakeEntry("eur", v1::DEBIT, 9, "EUR"), MakeEntry("cash", v1::CREDIT, 9, "EUR")}),
  };
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(WithDerivedId(e).SerializeAsString());
  return out;
}

struct Fixture {
  std::string dir;
  std::unique_ptr<ProjectionStore> store;
  int64_t next_offset = 0;
  std::vector<std::string> templates = Templates();
};

kledger::Status IgnorePoison(const ConsumedRecord&, const kledger::processors::DeadLetterReason&) {
  return kledger::Status::Ok();
}

// A store in a temporary directory holding a few accounts and a pending transaction, committed
// once; every input then works in its own batch that is never committed.
Fixture& TheFixture() {
  static Fixture* fixture = [] {
    auto* f = new Fixture();
    // Protobuf logs each string field with invalid UTF-8; millions of such lines only slow it.
    google::protobuf::SetLogHandler(nullptr);
    std::string pattern = (fs::temp_directory_path() / "kledger-event-fuzzer-XXXXXX").string();
    Check(mkdtemp(pattern.data()) != nullptr);
    f->dir = pattern;
    auto store = ProjectionStore::Open({.path = f->dir});
    Check(store.ok());
    f->store = std::move(store).value();
    const std::vector<v1::EventEnvelope> seed = {
        OpenAccount(kInstance, "cash", v1::ASSET, "USD"),
        OpenAccount(kInstance, "sales", v1::REVENUE, "USD"),
        OpenAccount(kInstance, "loan", v1::LIABILITY, "USD", /*allow_negative=*/true),
        OpenAccount(kInstance, "eur", v1::ASSET, "EUR"),
        CreateTx(kInstance, "p1", v1::PENDING,
                 {MakeEntry("cash", v1::DEBIT, 30), MakeEntry("sales", v1::CREDIT, 30)}),
    };
    std::vector<ConsumedRecord> records;
    for (const auto& e : seed) {
      records.push_back({"kledger.events",
                         0,
                         f->next_offset++,
                         -1,
                         kInstance,
                         WithDerivedId(e).SerializeAsString(),
                         {}});
    }
    auto batch = f->store->BeginBatch(0);
    auto run = kledger::processors::ApplyRecords(*batch, 0, records, IgnorePoison);
    Check(run.ok());
    // The seed must be applied, or the fuzzer would only ever see an empty ledger.
    for (const auto& applied : run->records) Check(applied.outcome == "applied");
    Check(f->store->Commit(*batch, run->next_offset).ok());
    std::atexit([] { fs::remove_all(TheFixture().dir); });
    return f;
  }();
  return *fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = TheFixture();
  FuzzedDataProvider input(data, size);
  std::vector<ConsumedRecord> records;
  int64_t offset = f.next_offset;
  while (input.remaining_bytes() > 0 && records.size() < kMaxRecords) {
    const uint8_t mode = input.ConsumeIntegral<uint8_t>();
    ConsumedRecord record;
    record.topic = "kledger.events";
    record.partition = 0;
    record.offset = offset++;
    record.key = (mode & 0x40) ? input.ConsumeRandomLengthString(32) : kInstance;
    const std::string suffix = input.ConsumeRandomLengthString(2048);
    record.value = (mode & 0x80) ? suffix : f.templates[mode % f.templates.size()] + suffix;
    if (mode & 0x20) record.headers.push_back({"kledger-event-type", suffix.substr(0, 16)});
    records.push_back(std::move(record));
  }

  // Decoding alone: a decoded event is well-formed and survives a round trip.
  std::set<std::pair<std::string, std::string>> touched;  // (instance, currency)
  for (const ConsumedRecord& record : records) {
    auto envelope = kledger::processors::DecodeEvent(record);
    if (!envelope.ok()) {
      Check(!envelope.status().ok() && !kledger::processors::Name(envelope.kind()).empty());
      continue;
    }
    Check(envelope->instance_id() == record.key);
    v1::EventEnvelope again;
    Check(again.ParseFromString(envelope->SerializeAsString()));
    Check(again.event_id() == envelope->event_id());
    for (const v1::Entry& e : envelope->transaction_created().entries()) {
      touched.insert({envelope->instance_id(), e.currency()});
    }
  }
  touched.insert({kInstance, "USD"});
  touched.insert({kInstance, "EUR"});

  // Applying: hostile input is an outcome or a dead letter, never a storage error; the books of
  // every instance and currency it touched still balance.
  auto batch = f.store->BeginBatch(0);
  auto run = kledger::processors::ApplyRecords(*batch, f.next_offset, records, IgnorePoison);
  Check(run.ok());
  Check(run->records.size() == records.size());
  for (const auto& [instance, currency] : touched) {
    auto totals = batch->FindCurrencyTotals(instance, currency);
    Check(totals.ok());
    if (totals->has_value()) Check((*totals)->debits() == (*totals)->credits());
  }
  return 0;
}
