#include "shewhart/engine/store/audit.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "../test_util.h"
#include "shewhart/connectors/file/file_source.h"
#include "shewhart/engine/engine.h"
#include "shewhart/engine/model/time_format.h"

namespace shewhart::engine {
namespace {

// FIPS 180-2, appendix B: the one-block, two-block and long-message examples, and the empty
// message.
TEST(Sha256Test, MatchesTheFips180Vectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(AuditTest, CanonicalJsonSortsKeysAndHasNoWhitespace) {
  Json body{{"b", 1}, {"a", Json{{"d", true}, {"c", nullptr}}}, {"arr", Json::array({2.5, "x y"})}, {"B", -3}};
  EXPECT_EQ(CanonicalJson(body), R"({"B":-3,"a":{"c":null,"d":true},"arr":[2.5,"x y"],"b":1})");
}

AuditRecord FixedRecord() {
  AuditRecord r;
  r.seq = 1;
  r.ts = FromUnixMicros(1764230400000000);  // 2025-11-27T08:00:00Z
  r.kind = "alarm.opened";
  r.subject = "alarm/1";
  r.actor = "engine";
  r.body = R"({"id":1})";
  return r;
}

TEST(AuditTest, EncodingIsTheSixFieldsAsNetstrings) {
  EXPECT_EQ(AuditEncoding(FixedRecord()), R"(1:1,16:1764230400000000,12:alarm.opened,7:alarm/1,6:engine,8:{"id":1},)");
}

// The golden hash was computed outside the project:
//   printf '%s' "$(printf '0%.0s' {1..64})1:1,16:1764230400000000,12:alarm.opened,7:alarm/1,6:engine,8:{\"id\":1}," |
//   sha256sum
// A change here breaks every stored chain: it needs a new encoding version, not a new golden.
TEST(AuditTest, HashOfAFixedRecordIsStable) {
  constexpr const char* kGolden = "3b31c958a381fe69a362b803caaf7d89cf611569a6450253f780d134cb77b21c";
  EXPECT_EQ(AuditHash(kAuditGenesisHash, FixedRecord()), kGolden);
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store.ok()) << store.status().message();
  const AuditRecord fixed = FixedRecord();
  auto r = AppendAudit(**store, fixed.kind, fixed.subject, fixed.actor, Json{{"id", 1}}, fixed.ts);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->seq, 1);
  EXPECT_EQ(r->prev_hash, kAuditGenesisHash);
  EXPECT_EQ(r->hash, kGolden);
  auto stored = (*store)->ReadAudit(0, 10);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].body, R"({"id":1})");
  EXPECT_EQ((*stored)[0].hash, kGolden);
}

// Appends `n` records "test.event" with bodies {"n":i,"note":"ok"} at fixed times.
void AppendRecords(Store& store, int n) {
  for (int i = 1; i <= n; ++i) {
    auto r = AppendAudit(store, "test.event", "thing/" + std::to_string(i), i % 2 ? "engine" : "anna",
                         Json{{"n", i}, {"note", "ok"}}, FromUnixMillis(1764230400000 + i));
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->seq, i);
  }
}

// Runs `sql` on the database file at `path` with a raw connection, as someone with write
// access to the file could.
void RawSql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

AuditVerification Verify(const std::string& path) {
  auto store = Store::Open(path);
  SHEWHART_CHECK(store.ok());
  auto v = VerifyAuditLog(**store);
  SHEWHART_CHECK(v.ok());
  return *v;
}

// A store file of `n` records at dir/audit.db, closed, and a copy of it at dir/copy.db to
// tamper with.
class AuditChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    original_ = dir_.File("audit.db");
    copy_ = dir_.File("copy.db");
    {
      auto store = Store::Open(original_);
      ASSERT_TRUE(store.ok()) << store.status().message();
      AppendRecords(**store, 20);
    }
    std::filesystem::copy_file(original_, copy_);
  }
  void TearDown() override {
    // The untouched original still verifies, whatever was done to the copy.
    AuditVerification v = Verify(original_);
    EXPECT_TRUE(v.intact) << v.problem;
    EXPECT_EQ(v.verified, 20);
  }

  testing::TempDir dir_;
  std::string original_, copy_;
};

TEST_F(AuditChainTest, AnUntouchedChainVerifies) {
  AuditVerification v = Verify(copy_);
  EXPECT_TRUE(v.intact) << v.problem;
  EXPECT_EQ(v.verified, 20);
  EXPECT_EQ(v.broken_seq, 0);
  EXPECT_TRUE(v.problem.empty());
  auto store = Store::Open(copy_);
  ASSERT_TRUE(store.ok());
  auto last = (*store)->ReadAudit(19, 1);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ(v.last_hash, (*last)[0].hash);
}

TEST_F(AuditChainTest, ChangingOneByteOfOneBodyNamesThatRecord) {
  RawSql(copy_, "UPDATE audit_log SET body = replace(body, '\"ok\"', '\"oK\"') WHERE seq = 12");
  AuditVerification v = Verify(copy_);
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.broken_seq, 12);
  EXPECT_EQ(v.verified, 11);
  EXPECT_EQ(v.problem.rfind("record 12 (test.event, 2025-11-27T08:00:00.012Z): stored hash ", 0), 0u) << v.problem;
  EXPECT_NE(v.problem.find(" != computed "), std::string::npos) << v.problem;
}

TEST_F(AuditChainTest, ChangingTheActorOrTimeIsDetectedToo) {
  RawSql(copy_, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 4");
  AuditVerification v = Verify(copy_);
  EXPECT_EQ(v.broken_seq, 4) << v.problem;
  RawSql(copy_, "UPDATE audit_log SET actor = 'anna' WHERE seq = 4; UPDATE audit_log SET ts = ts + 1 WHERE seq = 3");
  v = Verify(copy_);
  EXPECT_EQ(v.broken_seq, 3) << v.problem;
}

TEST_F(AuditChainTest, DeletingARecordIsAGap) {
  RawSql(copy_, "DELETE FROM audit_log WHERE seq = 7");
  AuditVerification v = Verify(copy_);
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.broken_seq, 7);
  EXPECT_EQ(v.verified, 6);
  EXPECT_EQ(v.problem, "record 7 is missing (record 8 follows record 6)");
}

TEST_F(AuditChainTest, DeletingTheFirstRecordsIsDetected) {
  RawSql(copy_, "DELETE FROM audit_log WHERE seq <= 2");
  AuditVerification v = Verify(copy_);
  EXPECT_EQ(v.broken_seq, 1);
  EXPECT_EQ(v.problem, "records 1-2 are missing (the log starts at record 3)");
}

// Renumbering after a deletion closes the gap, but the records' hashes cover their seq.
TEST_F(AuditChainTest, RenumberingAfterADeletionIsDetected) {
  RawSql(copy_, "DELETE FROM audit_log WHERE seq = 7; UPDATE audit_log SET seq = seq - 1 WHERE seq > 7");
  AuditVerification v = Verify(copy_);
  EXPECT_EQ(v.broken_seq, 7) << v.problem;
  EXPECT_NE(v.problem.find("prev_hash does not match record 6's hash"), std::string::npos) << v.problem;
}

// Whoever rewrites a record and its hash breaks the link to the next record.
TEST_F(AuditChainTest, RewritingARecordWithItsHashBreaksTheNextLink) {
  std::string forged_hash;
  {
    auto store = Store::Open(copy_);
    ASSERT_TRUE(store.ok());
    auto r = (*store)->ReadAudit(4, 1);
    ASSERT_TRUE(r.ok());
    AuditRecord forged = (*r)[0];
    forged.body = R"({"n":5,"note":"no"})";
    forged_hash = AuditHash(forged.prev_hash, forged);
  }
  RawSql(copy_, "UPDATE audit_log SET body = '{\"n\":5,\"note\":\"no\"}', hash = '" + forged_hash + "' WHERE seq = 5");
  AuditVerification v = Verify(copy_);
  EXPECT_EQ(v.broken_seq, 6);
  EXPECT_EQ(v.verified, 5);
  EXPECT_EQ(
      v.problem.rfind("record 6 (test.event, 2025-11-27T08:00:00.006Z): prev_hash does not match record 5's hash (", 0),
      0u)
      << v.problem;
}

TEST_F(AuditChainTest, AForgedFirstRecordMustStillFollowTheGenesisHash) {
  RawSql(copy_, "UPDATE audit_log SET prev_hash = '" + std::string(64, '1') + "' WHERE seq = 1");
  AuditVerification v = Verify(copy_);
  EXPECT_EQ(v.broken_seq, 1);
  EXPECT_NE(v.problem.find("is not the genesis hash"), std::string::npos) << v.problem;
}

TEST(AuditTest, AnEmptyLogVerifies) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store.ok());
  auto v = VerifyAuditLog(**store);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->intact);
  EXPECT_EQ(v->verified, 0);
  EXPECT_EQ(v->last_hash, kAuditGenesisHash);
}

TEST(AuditTest, ChainSpansReadPagesAndReopening) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
    AppendRecords(**store, 1500);  // more than one page of VerifyAuditLog
  }
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok());
  auto r = AppendAudit(**store, "test.event", "thing/x", "engine", Json::object());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->seq, 1501);
  auto v = VerifyAuditLog(**store);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->intact) << v->problem;
  EXPECT_EQ(v->verified, 1501);
  EXPECT_EQ(v->last_hash, r->hash);
}

TEST(AuditTest, AStoreOfSchemaVersion3IsMigratedToTheCurrentVersion) {
  testing::TempDir dir;
  const std::string path = dir.File("s.db");
  { ASSERT_TRUE(Store::Open(path).ok()); }
  RawSql(path, "DROP TABLE audit_log; UPDATE meta SET value = '3' WHERE key = 'schema_version'");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok()) << store.status().message();
    auto r = AppendAudit(**store, "test.event", "thing/1", "engine", Json{{"n", 1}});
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->seq, 1);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &q, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(q, 0)), "11");
  sqlite3_finalize(q);
  sqlite3_close(db);
}

// What the engine records on its own: the config it starts with, a Phase I limits version,
// an alarm with its hold and held units, and the alarm's resolution.
TEST(AuditTest, TheEngineRecordsConfigLimitsAlarmsAndHolds) {
  const std::string text = R"(
characteristics:
  - id: bore
    chart: { type: individuals, mr_rules: false }
    limits: { phase1: { points: 4 } }
    rules: [nelson.1]
    scope: [station]
    response: r
responses:
  r:
    resolve_after: 2
    tiers:
      - { tier: 1, when: { signal: any }, do: [log, quarantine] }
)";
  ConfigLoad load = LoadConfigText(text, "audit.yaml");
  ASSERT_TRUE(load.config.has_value());
  const Config& config = *load.config;
  EXPECT_EQ(config.text_sha256, Sha256Hex(text));
  testing::TempDir dir;
  const std::string input =
      dir.Write("in.jsonl",
                "{\"characteristic\":\"bore\",\"value\":10.0,\"ts\":1000,\"serial\":\"U1\",\"station\":\"A\"}\n"
                "{\"characteristic\":\"bore\",\"value\":10.1,\"ts\":2000,\"serial\":\"U2\",\"station\":\"A\"}\n"
                "{\"characteristic\":\"bore\",\"value\":9.9,\"ts\":3000,\"serial\":\"U3\",\"station\":\"A\"}\n"
                "{\"characteristic\":\"bore\",\"value\":10.0,\"ts\":4000,\"serial\":\"U4\",\"station\":\"A\"}\n"
                "{\"characteristic\":\"bore\",\"value\":13.0,\"ts\":5000,\"serial\":\"U5\",\"station\":\"A\"}\n"
                "{\"characteristic\":\"bore\",\"value\":10.0,\"ts\":6000,\"serial\":\"U6\",\"station\":\"A\"}\n"
                "{\"characteristic\":\"bore\",\"value\":10.0,\"ts\":7000,\"serial\":\"U7\",\"station\":\"A\"}\n");
  EngineOptions opts;
  opts.threaded = false;
  opts.store_path = dir.File("s.db");
  {
    Engine engine(config, opts);
    ASSERT_TRUE(engine.Start().ok());
    FileSourceSpec spec;
    spec.path = input;
    auto stats = connectors::file::ReadFile(spec, "file0", engine.index(), 65536, engine.RegisterSource("file0"));
    ASSERT_TRUE(stats.ok()) << stats.status().message();
    engine.Stop();
  }
  auto store = Store::Open(opts.store_path);
  ASSERT_TRUE(store.ok());
  auto records = (*store)->ReadAudit(0, 100);
  ASSERT_TRUE(records.ok());
  std::vector<std::string> kinds;
  for (const auto& r : *records) kinds.push_back(r.kind + " " + r.subject + " " + r.actor);
  const std::vector<std::string> expected = {
      "config.loaded config engine",   "limits.version limits/bore engine", "alarm.opened alarm/1 engine",
      "hold.created hold/1 engine",    "hold.units_added hold/1 engine",    "hold.units_added hold/1 engine",
      "alarm.resolved alarm/1 engine"};
  EXPECT_EQ(kinds, expected);
  ASSERT_EQ(records->size(), expected.size());
  const Json config_body = Json::parse((*records)[0].body);
  EXPECT_EQ(config_body["sha256"], Sha256Hex(text));
  EXPECT_NE(config_body["file"].get<std::string>().find("audit.yaml"), std::string::npos);
  EXPECT_EQ(Json::parse((*records)[1].body)["version"], 1);
  EXPECT_EQ(Json::parse((*records)[2].body)["state"], "open");
  EXPECT_EQ(Json::parse((*records)[3].body)["from"], "1970-01-01T00:00:04.000Z");
  // The window starts at U4 (the last in-control point): U4 and U5 join when the alarm opens,
  // U6 with the genealogy committed before the recovery signal.
  EXPECT_EQ((*records)[4].body,
            R"({"alarm":1,"count":2,"hold":1,"units":[{"serial":"U4","since":"1970-01-01T00:00:04.000Z"},)"
            R"({"serial":"U5","since":"1970-01-01T00:00:05.000Z"}]})");
  EXPECT_EQ(Json::parse((*records)[6].body)["state"], "resolved");
  auto v = VerifyAuditLog(**store);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->intact) << v->problem;
  EXPECT_EQ(v->verified, 7);
}

}  // namespace
}  // namespace shewhart::engine
