// The signal journal: a claimed rule signal is on file before it is published, so a restart
// after the process died stores what was published and not stored (issue 17: "the restart
// completes it").
#include "shewhart/engine/respond/signal_journal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../test_util.h"
#include "engine_fixture.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/store/store.h"

namespace shewhart::engine {
namespace {

using fixture::LoadOrDie;

// A nelson.1 signal of characteristic 0 at `station`, claimed as `claim` of `alarm`.
Signal Claimed(Signal::Claim claim, std::int64_t alarm, const char* station, std::int64_t ms) {
  Signal s;
  s.characteristic = 0;
  s.hit = rules::RuleHit{rules::RuleKind::kNelson1,
                         rules::ChartKind::kIndividuals,
                         3,
                         3,
                         3,
                         EventTime(std::chrono::milliseconds(ms)),
                         EventTime(std::chrono::milliseconds(ms)),
                         12.0};
  s.scope_count = 1;
  s.scope_values[0].Assign(station);
  s.labels[0].Assign(station);
  s.claim = claim;
  s.alarm = alarm;
  return s;
}

TEST(SignalJournalTest, AppendsReadsPastTheMarkStopsAtATornRecordAndEmptiesWhenAllIsStored) {
  testing::TempDir dir;
  const std::string path = dir.File("j");
  {
    auto j = SignalJournal::Open(path);
    ASSERT_TRUE(j.ok()) << j.status().message();
    auto none = (*j)->Read(0);
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty());
    for (int i = 0; i < 3; ++i) {
      Signal s = Claimed(Signal::Claim::kOpens, 7 + i, "st1", 1000 * i);
      ASSERT_TRUE((*j)->Append(s).ok());
      EXPECT_EQ(s.journal_seq, static_cast<std::uint64_t>(i + 1));
    }
    auto past = (*j)->Read(1);
    ASSERT_TRUE(past.ok());
    ASSERT_EQ(past->size(), 2u);
    EXPECT_EQ((*past)[0].journal_seq, 2u);
    EXPECT_EQ((*past)[0].alarm, 8);
    EXPECT_EQ((*past)[1].alarm, 9);
    EXPECT_EQ((*past)[1].scope_values[0].view(), "st1");
    const auto full = std::filesystem::file_size(path);
    (*j)->Committed(2);
    EXPECT_EQ(std::filesystem::file_size(path), full) << "seq 3 is not stored yet";
    (*j)->Committed(3);
    EXPECT_EQ(std::filesystem::file_size(path), 0u);
    Signal s4 = Claimed(Signal::Claim::kJoins, 9, "st1", 4000);
    ASSERT_TRUE((*j)->Append(s4).ok());
    EXPECT_EQ(s4.journal_seq, 4u) << "numbers go on after the file was emptied";
    Signal s5 = Claimed(Signal::Claim::kJoins, 9, "st1", 5000);
    ASSERT_TRUE((*j)->Append(s5).ok());
  }
  // The process died writing the fifth: its record is torn.
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
  auto j = SignalJournal::Open(path);
  ASSERT_TRUE(j.ok());
  auto left = (*j)->Read(3);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].journal_seq, 4u);
  EXPECT_EQ((*left)[0].claim, Signal::Claim::kJoins);
  Signal next = Claimed(Signal::Claim::kJoins, 9, "st1", 6000);
  ASSERT_TRUE((*j)->Append(next).ok());
  EXPECT_EQ(next.journal_seq, 5u);
}

TEST(SignalJournalTest, ARestartStoresWhatTheRunThatDiedPublishedAndNothingTwice) {
  testing::TempDir dir;
  Config config = LoadOrDie(fixture::kConfig);
  const std::string store = dir.File("s.db");
  EngineOptions opts;
  opts.store_path = store;
  {
    Engine engine(config, opts);
    ASSERT_TRUE(engine.Start().ok());
    engine.Stop();
  }
  // What a run killed after publishing leaves: its reservation and two journaled signals of an
  // alarm it opened under id 5, never stored.
  {
    auto s = Store::Open(store);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->ReserveAlarmIds(1000).ok());
    auto j = SignalJournal::Open(store + "-signals");
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->Read(0).ok());
    Signal opens = Claimed(Signal::Claim::kOpens, 5, "st7", 1000);
    Signal joins = Claimed(Signal::Claim::kJoins, 5, "st7", 2000);
    ASSERT_TRUE((*j)->Append(opens).ok());
    ASSERT_TRUE((*j)->Append(joins).ok());
  }
  for (int run = 0; run < 2; ++run) {
    Engine engine(config, opts);
    ASSERT_TRUE(engine.Start().ok());
    engine.Stop();
    auto s = Store::Open(store);
    ASSERT_TRUE(s.ok());
    auto a = (*s)->GetAlarm(5);
    ASSERT_TRUE(a.ok()) << "run " << run << ": the published alarm was not stored";
    EXPECT_EQ(a->characteristic, "bore");
    EXPECT_EQ(FormatScope(a->scope), "station=st7");
    EXPECT_EQ(a->state, "open");
    EXPECT_EQ(a->signals, 2) << "run " << run << ": stored once, not again";
    auto all = (*s)->ListAlarms(/*open_only=*/false, 100);
    ASSERT_TRUE(all.ok());
    EXPECT_EQ(all->size(), 1u);
    auto done = (*s)->MetaCount("signals_journal_done");
    ASSERT_TRUE(done.ok());
    EXPECT_EQ(*done, 2);
    EXPECT_EQ(std::filesystem::file_size(store + "-signals"), 0u) << "emptied once stored";
  }
}

}  // namespace
}  // namespace shewhart::engine
