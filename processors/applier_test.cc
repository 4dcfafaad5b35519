// ApplyRecords with a pluggable read model: a new projection is one class, written in the same
// batch as the ledger's state and the offset, so it commits or vanishes with them. And what
// ApplyRecords records of each record, and which of its batches must survive a crash.
#include "processors/applier.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "common/domain/validation.h"
#include "common/event_id.h"
#include "processors/test_records.h"
#include "projections/test_util.h"

namespace kledger::processors {
namespace {

using projections::testutil::CreateTx;
using projections::testutil::MakeEntry;
using projections::testutil::OpenAccount;
using testutil::EventRecord;

// A read model the ledger does not have: how many events of each outcome an instance saw.
class OutcomeCounts : public projections::Projection {
 public:
  std::string_view name() const override { return "outcome_counts"; }
  Status Apply(const v1::EventEnvelope& event, const v1::EventOutcomeView& outcome,
               projections::ProjectionSpace& space) override {
    const std::string key = event.instance_id() + "/" + v1::Outcome_Name(outcome.outcome());
    ASSIGN_OR_RETURN(auto current, space.Get(key));
    return space.Put(key, std::to_string(current ? std::stoll(*current) + 1 : 1));
  }
};

class ApplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kledger-applier-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    auto store = projections::ProjectionStore::Open({.path = dir_.string()});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::optional<std::string> Count(const std::string& key) {
    auto value = store_->ReadExtension("outcome_counts", key);
    EXPECT_TRUE(value.ok());
    return value.ok() ? *value : std::nullopt;
  }

  std::filesystem::path dir_;
  std::unique_ptr<projections::ProjectionStore> store_;
};

TEST(DecodeEventTest, OnAnArenaDecidesAsOnItsOwn) {
  v1::EventEnvelope good = OpenAccount("acme", "cash", v1::ASSET, "USD");
  good.set_schema_version(domain::kSchemaVersion);
  const kafka::ConsumedRecord valid = EventRecord(good, 0);
  kafka::ConsumedRecord garbage = valid;
  garbage.value = "\xff\xff not protobuf";
  kafka::ConsumedRecord wrong_key = valid;
  wrong_key.key = "globex";
  v1::EventEnvelope future = good;
  future.set_schema_version(domain::kSchemaVersion + 1);
  v1::EventEnvelope empty = good;
  empty.clear_account_opened();
  v1::EventEnvelope forged = good;
  forged.mutable_account_opened()->set_address("savings");  // the event id no longer matches
  kafka::ConsumedRecord forged_record = valid;
  forged.SerializeToString(&forged_record.value);

  const std::vector<std::pair<kafka::ConsumedRecord, std::string>> cases = {
      {valid, ""},
      {garbage, "undecodable"},
      {wrong_key, "key_mismatch"},
      {EventRecord(future, 0), "unsupported_schema_version"},
      {EventRecord(empty, 0), "unknown_event_type"},
      {forged_record, "invalid_envelope"},
      {valid, ""}};  // after the failures, on the same arena
  google::protobuf::Arena arena;
  for (const auto& [record, expected] : cases) {
    SCOPED_TRACE(expected.empty() ? "valid" : expected);
    Decoded<v1::EventEnvelope> own = DecodeEvent(record);
    Decoded<const v1::EventEnvelope*> on_arena = DecodeEvent(record, arena);
    ASSERT_EQ(own.ok(), expected.empty()) << own.status().ToString();
    ASSERT_EQ(on_arena.ok(), expected.empty()) << on_arena.status().ToString();
    if (own.ok()) {
      EXPECT_EQ((*on_arena)->GetArena(), &arena);
      EXPECT_EQ((*on_arena)->SerializeAsString(), own->SerializeAsString());
    } else {
      EXPECT_EQ(Name(own.kind()), expected);
      EXPECT_EQ(Name(on_arena.kind()), expected);
      EXPECT_EQ(on_arena.status().ToString(), own.status().ToString());
    }
  }
}

TEST_F(ApplierTest, PluggableProjectionCommitsWithTheBatchOrNotAtAll) {
  const projections::Projections extra = {std::make_shared<OutcomeCounts>()};
  const auto no_poison = [](const kafka::ConsumedRecord&, const DeadLetterReason&) {
    ADD_FAILURE() << "no record here is poison";
    return Status::Ok();
  };
  const std::vector<kafka::ConsumedRecord> records = {
      EventRecord(OpenAccount("acme", "cash", v1::ASSET, "USD"), 0),
      EventRecord(OpenAccount("acme", "equity", v1::EQUITY, "USD"), 1),
      EventRecord(CreateTx("acme", "t1", v1::POSTED,
                           {MakeEntry("cash", v1::CREDIT, 5), MakeEntry("equity", v1::DEBIT, 5)}),
                  2),  // rejected: cash may not go negative
      EventRecord(CreateTx("acme", "t2", v1::POSTED,
                           {MakeEntry("cash", v1::DEBIT, 5), MakeEntry("equity", v1::CREDIT, 5)}),
                  3),
  };

  // A failed commit leaves the projection untouched, like the ledger's own state.
  store_->SetWriteFaultForTesting([](const auto&, int64_t) { return Status::IoError("injected"); });
  auto failed = store_->BeginBatch(0);
  ASSERT_TRUE(ApplyRecords(*failed, 0, records, no_poison, extra).ok());
  EXPECT_FALSE(store_->Commit(*failed, 4).ok());
  EXPECT_EQ(Count("acme/APPLIED"), std::nullopt);
  const auto empty_digest = store_->Digest();

  store_->SetWriteFaultForTesting(nullptr);
  auto batch = store_->BeginBatch(0);
  auto run = ApplyRecords(*batch, 0, records, no_poison, extra);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_TRUE(store_->Commit(*batch, run->next_offset).ok());
  EXPECT_EQ(Count("acme/APPLIED"), "3");
  EXPECT_EQ(Count("acme/REJECTED"), "1");
  EXPECT_NE(store_->Digest().value(), empty_digest.value());  // part of the digested state

  // Records re-delivered below the committed offset are skipped even when the batch they came
  // with commits: counted once. The record past them is applied.
  std::vector<kafka::ConsumedRecord> redelivered(records.begin() + 2, records.end());
  redelivered.push_back(EventRecord(OpenAccount("acme", "fees", v1::REVENUE, "USD"), 4));
  auto again = store_->BeginBatch(0);
  auto rerun = ApplyRecords(*again, run->next_offset, redelivered, no_poison, extra);
  ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
  ASSERT_EQ(rerun->records.size(), 1u);
  EXPECT_EQ(rerun->next_offset, 5);
  ASSERT_TRUE(store_->Commit(*again, rerun->next_offset).ok());
  EXPECT_EQ(Count("acme/APPLIED"), "4");
  EXPECT_EQ(Count("acme/REJECTED"), "1");
}

TEST_F(ApplierTest, RecordsCarryTypeAndOutcomeAndTheirIdsOnlyWhileDebugLogging) {
  v1::EventEnvelope opened = OpenAccount("acme", "cash", v1::ASSET, "USD");
  opened.set_correlation_id("corr-7");
  const std::vector<kafka::ConsumedRecord> records = {
      EventRecord(opened, 0),
      // The same event again.
      EventRecord(opened, 1),
      EventRecord(CreateTx("acme", "t1", v1::POSTED,
                           {MakeEntry("cash", v1::DEBIT, 5), MakeEntry("nowhere", v1::CREDIT, 5)}),
                  2),  // rejected: unknown account
  };
  const PoisonHandler no_poison = [](const auto&, const auto&) { return Status::Ok(); };
  const spdlog::level::level_enum was = spdlog::get_level();
  for (const auto level : {spdlog::level::info, spdlog::level::debug}) {
    SCOPED_TRACE(spdlog::level::to_string_view(level).data());
    spdlog::set_level(level);
    auto batch = store_->BeginBatch(0);
    auto run = ApplyRecords(*batch, 0, records, no_poison);
    spdlog::set_level(was);
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    ASSERT_EQ(run->records.size(), 3u);
    EXPECT_EQ(run->records[0].event_type, "account_opened");
    EXPECT_EQ(run->records[0].outcome, "applied");
    EXPECT_EQ(run->records[1].outcome, "duplicate");
    EXPECT_EQ(run->records[2].event_type, "transaction_created");
    EXPECT_EQ(run->records[2].outcome, "rejected");
    const bool debug = level == spdlog::level::debug;
    EXPECT_EQ(run->records[0].event_id, debug ? domain::DeriveEventId(opened) : "");
    EXPECT_EQ(run->records[0].correlation_id, debug ? "corr-7" : "");
  }
}

// A dead letter's outcome cannot be derived again from the log, so its batch asks the store to
// keep its commit across a crash (ProjectionStore::Batch::MakeDurable); applied records do not.
TEST_F(ApplierTest, ABatchWithADeadLettersOutcomeIsDurableAndOneWithoutIsNot) {
  int letters = 0;
  const PoisonHandler count_letters = [&](const auto&, const auto&) {
    ++letters;
    return Status::Ok();
  };
  kafka::ConsumedRecord poison;
  poison.partition = 0;
  poison.offset = 1;
  poison.key = "acme";
  poison.value = "not an event";

  auto applied = store_->BeginBatch(0);
  ASSERT_TRUE(ApplyRecords(*applied, 0,
                           {EventRecord(OpenAccount("acme", "cash", v1::ASSET, "USD"), 0)},
                           count_letters)
                  .ok());
  EXPECT_FALSE(applied->durable());
  ASSERT_TRUE(store_->Commit(*applied, 1).ok());

  auto lettered = store_->BeginBatch(0);
  ASSERT_TRUE(ApplyRecords(*lettered, 1, {poison}, count_letters).ok());
  EXPECT_EQ(letters, 1);
  EXPECT_TRUE(lettered->durable());
  ASSERT_TRUE(store_->Commit(*lettered, 2).ok());
  EXPECT_FALSE(lettered->durable()) << "a committed batch starts again as a new one";
  EXPECT_EQ(*store_->NextOffset(0), 2);
}

}  // namespace
}  // namespace kledger::processors
