#include "shewhart/engine/ingest/decoder.h"

#include <gtest/gtest.h>

#include "shewhart/engine/model/time_format.h"

namespace shewhart::engine {
namespace {

class DecoderTest : public ::testing::Test {
 protected:
  CharacteristicIndex index_{{"bore_diameter", "torque"}};
  Decoder decoder_{index_, 1024};
  Decoded d_;
  EventTime default_ts_ = FromUnixMillis(42);
};

TEST_F(DecoderTest, DecodesMeasurementWithContext) {
  ASSERT_EQ(decoder_.DecodeJson(R"({"characteristic":"torque","value":74.012,"ts":"2026-11-27T08:00:00.125Z",
      "serial":"SN000123","station":"press3","machine":"M3","operator":"op7","lot":"L42","model":"PB-10K",)"
                                R"("extra":[1,2]})",
                                default_ts_, d_),
            DecodedKind::kMeasurement)
      << d_.message;
  const Measurement& m = d_.measurement;
  EXPECT_EQ(m.characteristic, 1u);
  EXPECT_TRUE(m.has_value);
  EXPECT_DOUBLE_EQ(m.value, 74.012);
  EXPECT_EQ(FormatRfc3339(m.ts), "2026-11-27T08:00:00.125Z");
  EXPECT_EQ(m.serial.view(), "SN000123");
  EXPECT_EQ(m.station.view(), "press3");
  EXPECT_EQ(m.machine.view(), "M3");
  EXPECT_EQ(m.op.view(), "op7");
  EXPECT_EQ(m.lot.view(), "L42");
  EXPECT_EQ(m.model.view(), "PB-10K");
}

TEST_F(DecoderTest, IntegerTsIsEpochMillisecondsAndAbsentTsIsTheDefault) {
  ASSERT_EQ(decoder_.DecodeJson(R"({"characteristic":"torque","value":1,"ts":1795766400125})", default_ts_, d_),
            DecodedKind::kMeasurement);
  EXPECT_EQ(FormatRfc3339(d_.measurement.ts), "2026-11-27T08:00:00.125Z");
  EXPECT_FALSE(d_.ts_defaulted);
  ASSERT_EQ(decoder_.DecodeJson(R"({"characteristic":"torque","value":1})", default_ts_, d_),
            DecodedKind::kMeasurement);
  EXPECT_EQ(d_.measurement.ts, default_ts_);
  EXPECT_TRUE(d_.ts_defaulted);
  EXPECT_TRUE(d_.measurement.serial.empty()) << "labels of the previous message must not leak";
}

TEST_F(DecoderTest, DecodesUnitEvent) {
  ASSERT_EQ(decoder_.DecodeJson(R"({"unit":"SN1","station":"press3","ts":1000,"lots":["L42","L43"],"machine":"M3",
      "operator":"op7","parent":"PACK45"})",
                                default_ts_, d_),
            DecodedKind::kUnitEvent)
      << d_.message;
  const UnitEvent& u = d_.unit_event;
  EXPECT_EQ(u.unit.view(), "SN1");
  EXPECT_EQ(u.station.view(), "press3");
  ASSERT_EQ(u.lot_count, 2);
  EXPECT_EQ(u.lots[1].view(), "L43");
  EXPECT_EQ(u.parent.view(), "PACK45");
  EXPECT_EQ(ToUnixMicros(u.ts), 1000000);
}

struct RejectCase {
  const char* json;
  RejectReason reason;
  const char* field;
  const char* message_part;
};

TEST_F(DecoderTest, EveryBadMessageIsRejectedWithReasonAndField) {
  const std::string long_serial(100, 'x');
  const std::string oversize = R"({"characteristic":"torque","value":1,"pad":")" + std::string(2000, 'p') + "\"}";
  const std::string long_label = R"({"characteristic":"torque","value":1,"serial":")" + long_serial + "\"}";
  RejectCase cases[] = {
      {"{\"characteristic\":\"torque\",\"value\":", RejectReason::kMalformed, "", "malformed JSON"},
      {"[1,2,3]", RejectReason::kMalformed, "", "malformed JSON"},
      {"not json at all", RejectReason::kMalformed, "", "malformed JSON"},
      {R"({"characteristic":"torque","value":1} trailing)", RejectReason::kMalformed, "", "malformed JSON"},
      {R"({"value":1})", RejectReason::kMissingField, "characteristic", "neither 'characteristic'"},
      {R"({"characteristic":"torque"})", RejectReason::kMissingField, "value", "neither 'value' nor 'count'"},
      {R"({"characteristic":"torque","value":"abc"})", RejectReason::kWrongType, "value",
       "value must be a finite number, found string 'abc'"},
      {R"({"characteristic":"torque","value":true})", RejectReason::kWrongType, "value", "value must be"},
      {R"({"characteristic":"torque","value":1,"ts":"yesterday"})", RejectReason::kWrongType, "ts", "RFC 3339"},
      {R"({"characteristic":"torque","value":1,"ts":1.5})", RejectReason::kWrongType, "ts", "found number 1.5"},
      {R"({"characteristic":"torque","value":1,"station":{"a":1}})", RejectReason::kWrongType, "station",
       "must be a string"},
      {R"({"characteristic":42,"value":1})", RejectReason::kWrongType, "characteristic", "must be a string"},
      {R"({"characteristic":"nope","value":1})", RejectReason::kUnknownCharacteristic, "characteristic",
       "unknown characteristic 'nope'"},
      {R"({"unit":"SN1","ts":1})", RejectReason::kMissingField, "station", "has no 'station'"},
      {R"({"unit":"SN1","characteristic":"torque","value":1})", RejectReason::kMalformed, "unit", "both"},
      {oversize.c_str(), RejectReason::kOversize, "", "at most 1024"},
      {long_label.c_str(), RejectReason::kOversize, "serial", "serial is 100 bytes; at most 63"},
      // Not last-wins: the first would name another characteristic than the one charted.
      {R"({"characteristic":"nope","characteristic":"torque","value":1})", RejectReason::kDuplicateField,
       "characteristic", "field 'characteristic' appears twice"},
      {R"({"characteristic":"torque","value":1,"value":2})", RejectReason::kDuplicateField, "value", "appears twice"},
  };
  for (const auto& c : cases) {
    ASSERT_EQ(decoder_.DecodeJson(c.json, default_ts_, d_), DecodedKind::kReject) << c.json;
    EXPECT_EQ(d_.reason, c.reason) << c.json << " -> " << d_.message;
    EXPECT_EQ(d_.field, c.field) << c.json;
    EXPECT_NE(d_.message.find(c.message_part), std::string::npos) << c.json << " -> " << d_.message;
  }
}

TEST_F(DecoderTest, RejectRecordCapsRawBytes) {
  std::string raw(5000, 'z');
  ASSERT_EQ(decoder_.DecodeJson(raw, default_ts_, d_), DecodedKind::kReject);
  RejectRecord rec;
  MakeRejectRecord(d_, "zmq0", 7, raw, rec);
  EXPECT_EQ(rec.source, "zmq0");
  EXPECT_EQ(rec.position, 7);
  EXPECT_EQ(rec.raw.size(), kRejectRawCap);
  EXPECT_TRUE(rec.raw_truncated);
  EXPECT_EQ(rec.reason, RejectReason::kOversize);
}

TEST_F(DecoderTest, DecodesCsvRowsAgainstTheHeader) {
  std::string error;
  ASSERT_TRUE(decoder_.SetCsvHeader("characteristic,value,ts,serial,station,note", error)) << error;
  ASSERT_EQ(decoder_.DecodeCsv("torque,12.5,2026-11-27T08:00:00Z,SN1,\"st,1\",hello", default_ts_, d_),
            DecodedKind::kMeasurement)
      << d_.message;
  EXPECT_DOUBLE_EQ(d_.measurement.value, 12.5);
  EXPECT_EQ(d_.measurement.station.view(), "st,1");
  ASSERT_EQ(decoder_.DecodeCsv("torque,abc,,SN1,st1,x", default_ts_, d_), DecodedKind::kReject);
  EXPECT_EQ(d_.reason, RejectReason::kWrongType);
  EXPECT_EQ(d_.field, "value");
  ASSERT_EQ(decoder_.DecodeCsv("torque,1,2", default_ts_, d_), DecodedKind::kReject);
  EXPECT_EQ(d_.reason, RejectReason::kMalformed);
  EXPECT_NE(d_.message.find("3 cells; the header has 6"), std::string::npos);
  ASSERT_EQ(decoder_.DecodeCsv("torque,1,1000,SN1,\"st1,x", default_ts_, d_), DecodedKind::kReject);
  EXPECT_EQ(d_.reason, RejectReason::kMalformed);
}

TEST_F(DecoderTest, CsvHeaderMustNameAMessageKind) {
  std::string error;
  EXPECT_FALSE(decoder_.SetCsvHeader("batch,viscosity", error));
  EXPECT_NE(error.find("neither a 'characteristic' nor a 'unit'"), std::string::npos);
}

TEST_F(DecoderTest, CsvUnitEventsSplitLotsOnSemicolons) {
  std::string error;
  ASSERT_TRUE(decoder_.SetCsvHeader("unit,station,ts,lots", error));
  ASSERT_EQ(decoder_.DecodeCsv("SN9,st2,5000,L1;L2;L3", default_ts_, d_), DecodedKind::kUnitEvent) << d_.message;
  EXPECT_EQ(d_.unit_event.lot_count, 3);
  EXPECT_EQ(d_.unit_event.lots[2].view(), "L3");
}

}  // namespace
}  // namespace shewhart::engine

namespace shewhart::engine {
namespace {

TEST_F(DecoderTest, EachCharacteristicNeedsWhatItsChartPlots) {
  CharacteristicIndex index({"bore", "defects"}, {false, true});
  Decoder decoder(index, 1024);
  ASSERT_EQ(decoder.DecodeJson(R"({"characteristic":"bore","value":5})", default_ts_, d_), DecodedKind::kMeasurement);
  ASSERT_EQ(decoder.DecodeJson(R"({"characteristic":"bore","count":3,"n":50})", default_ts_, d_), DecodedKind::kReject);
  EXPECT_EQ(d_.reason, RejectReason::kMissingField);
  EXPECT_EQ(d_.field, "value");
  EXPECT_NE(d_.message.find("charted from values"), std::string::npos) << d_.message;
  ASSERT_EQ(decoder.DecodeJson(R"({"characteristic":"defects","count":3,"n":50})", default_ts_, d_),
            DecodedKind::kMeasurement);
  EXPECT_EQ(d_.measurement.count, 3);
  EXPECT_EQ(d_.measurement.n, 50);
  ASSERT_EQ(decoder.DecodeJson(R"({"characteristic":"defects","value":0.06})", default_ts_, d_), DecodedKind::kReject);
  EXPECT_EQ(d_.field, "count");
  // Neither value nor count (a CSV row with an empty count cell): still the missing count.
  ASSERT_EQ(decoder.DecodeJson(R"({"characteristic":"defects","n":50})", default_ts_, d_), DecodedKind::kReject);
  EXPECT_EQ(d_.reason, RejectReason::kMissingField);
  EXPECT_EQ(d_.field, "count");
  EXPECT_NE(d_.message.find("charted from counts"), std::string::npos) << d_.message;
  ASSERT_EQ(decoder.DecodeJson(R"({"characteristic":"defects","count":-1,"n":50})", default_ts_, d_),
            DecodedKind::kReject);
  EXPECT_EQ(d_.reason, RejectReason::kWrongType);
  EXPECT_NE(d_.message.find("found count -1"), std::string::npos) << d_.message;
}

}  // namespace
}  // namespace shewhart::engine

namespace shewhart::engine {
namespace {

// A T^2 characteristic of p = 3 variables beside a univariate one.
class T2DecoderTest : public ::testing::Test {
 protected:
  CharacteristicIndex index_{{"bore", "burners"}, {false, false}, {0, 3}};
  Decoder decoder_{index_, 4096};
  Decoded d_;
  EventTime default_ts_ = FromUnixMillis(42);
};

TEST_F(T2DecoderTest, DecodesTheValuesOfAMultivariateMeasurement) {
  ASSERT_EQ(decoder_.DecodeJson(R"({"characteristic":"burners","values":[507, 516.5, -2e3],"ts":1000,"station":"b1"})",
                                default_ts_, d_),
            DecodedKind::kMeasurement)
      << d_.message;
  const Measurement& m = d_.measurement;
  EXPECT_EQ(m.characteristic, 1u);
  ASSERT_EQ(m.value_count, 3);
  EXPECT_DOUBLE_EQ(m.values[0], 507);
  EXPECT_DOUBLE_EQ(m.values[1], 516.5);
  EXPECT_DOUBLE_EQ(m.values[2], -2000);
  EXPECT_EQ(m.station.view(), "b1");
  // A univariate measurement after it carries no vector; `values` on it is ignored.
  ASSERT_EQ(decoder_.DecodeJson(R"({"characteristic":"bore","value":1,"values":["x"]})", default_ts_, d_),
            DecodedKind::kMeasurement)
      << d_.message;
  EXPECT_EQ(d_.measurement.value_count, 0);
  EXPECT_DOUBLE_EQ(d_.measurement.value, 1);
}

TEST_F(T2DecoderTest, EveryBadVectorIsRejectedWithReasonAndField) {
  std::string seventeen = R"({"characteristic":"burners","values":[)";
  for (int i = 0; i < 17; ++i) seventeen += (i ? "," : "") + std::to_string(i);
  seventeen += "]}";
  RejectCase cases[] = {
      {R"({"characteristic":"burners","value":5})", RejectReason::kMissingField, "values",
       "'burners' is charted on Hotelling T^2 of 3 variables: the measurement needs 'values', an array of 3 numbers"},
      {R"({"characteristic":"burners","values":null})", RejectReason::kMissingField, "values", "needs 'values'"},
      {R"({"characteristic":"burners","values":[1,2]})", RejectReason::kWrongType, "values",
       "values has 2 elements; 'burners' is charted on Hotelling T^2 of 3 variables, so it needs exactly 3"},
      {R"({"characteristic":"burners","values":[1,2,3,4]})", RejectReason::kWrongType, "values",
       "values has 4 elements"},
      {R"({"characteristic":"burners","values":[]})", RejectReason::kWrongType, "values", "values has 0 elements"},
      {R"({"characteristic":"burners","values":[1,"n/a",3]})", RejectReason::kWrongType, "values",
       "values[1] must be a finite number, found string 'n/a'"},
      {R"({"characteristic":"burners","values":[1,2,null]})", RejectReason::kWrongType, "values",
       "values[2] must be a finite number, found an object, array, boolean or null"},
      {R"({"characteristic":"burners","values":[1,[2],3]})", RejectReason::kWrongType, "values", "values[1] must be"},
      {R"({"characteristic":"burners","values":"1;2;3"})", RejectReason::kWrongType, "values",
       "values must be an array of 3 finite numbers, found string '1;2;3'"},
      {R"({"characteristic":"burners","values":7})", RejectReason::kWrongType, "values", "found number 7"},
      {seventeen.c_str(), RejectReason::kOversize, "values", "values has 17 elements; at most 16 are allowed"},
      {R"({"characteristic":"burners","values":[1,2,1e999]})", RejectReason::kMalformed, "", "malformed JSON"},
      {R"({"characteristic":"bore","values":[1,2,3]})", RejectReason::kMissingField, "value", "neither 'value'"},
  };
  for (const auto& c : cases) {
    ASSERT_EQ(decoder_.DecodeJson(c.json, default_ts_, d_), DecodedKind::kReject) << c.json;
    EXPECT_EQ(d_.reason, c.reason) << c.json << " -> " << d_.message;
    EXPECT_EQ(d_.field, c.field) << c.json;
    EXPECT_NE(d_.message.find(c.message_part), std::string::npos) << c.json << " -> " << d_.message;
  }
}

TEST_F(T2DecoderTest, CsvValuesAreSeparatedBySemicolons) {
  std::string error;
  ASSERT_TRUE(decoder_.SetCsvHeader("characteristic,value,values,ts", error)) << error;
  ASSERT_EQ(decoder_.DecodeCsv("burners,,507;516.5;-2e3,1000", default_ts_, d_), DecodedKind::kMeasurement)
      << d_.message;
  ASSERT_EQ(d_.measurement.value_count, 3);
  EXPECT_DOUBLE_EQ(d_.measurement.values[2], -2000);
  ASSERT_EQ(decoder_.DecodeCsv("bore,4.5,,1000", default_ts_, d_), DecodedKind::kMeasurement) << d_.message;
  EXPECT_EQ(d_.measurement.value_count, 0);
  ASSERT_EQ(decoder_.DecodeCsv("burners,,1;x;3,1000", default_ts_, d_), DecodedKind::kReject);
  EXPECT_EQ(d_.reason, RejectReason::kWrongType);
  EXPECT_NE(d_.message.find("values[1] must be a finite number, found string 'x'"), std::string::npos) << d_.message;
  ASSERT_EQ(decoder_.DecodeCsv("burners,,1;inf;3,1000", default_ts_, d_), DecodedKind::kReject);
  EXPECT_NE(d_.message.find("values[1] must be a finite number, found string 'inf'"), std::string::npos) << d_.message;
  ASSERT_EQ(decoder_.DecodeCsv("burners,,1;;3,1000", default_ts_, d_), DecodedKind::kReject);
  EXPECT_NE(d_.message.find("values[1] must be a finite number, found string ''"), std::string::npos) << d_.message;
  ASSERT_EQ(decoder_.DecodeCsv("burners,,1;2,1000", default_ts_, d_), DecodedKind::kReject);
  EXPECT_NE(d_.message.find("values has 2 elements"), std::string::npos) << d_.message;
  ASSERT_EQ(decoder_.DecodeCsv("burners,5,,1000", default_ts_, d_), DecodedKind::kReject);
  EXPECT_EQ(d_.reason, RejectReason::kMissingField);
  EXPECT_EQ(d_.field, "values");
}

}  // namespace
}  // namespace shewhart::engine

namespace shewhart::engine {
namespace {

// The index's own hash table: every name of a large config found, anything else not, a
// repeated name keeps its first id.
TEST(CharacteristicIndexTest, FindsEveryNameOfALargeConfigAndNothingElse) {
  std::vector<std::string> names;
  for (int i = 0; i < 5000; ++i) names.push_back("c" + std::to_string(i));
  names.push_back("c17");  // a repeat
  names.push_back("");
  CharacteristicIndex index(names);
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(index.Find("c" + std::to_string(i)), i);
  EXPECT_EQ(index.Find(""), 5001);
  EXPECT_EQ(index.Find("c5000"), -1);
  EXPECT_EQ(index.Find("c"), -1);
  EXPECT_EQ(index.Find("c170"), 170);
  EXPECT_EQ(CharacteristicIndex().Find("c1"), -1);
}

// Every wire-format field name is recognised (by the decoder's length-first lookup), and a key
// that only shares a length or a prefix with one is ignored.
TEST_F(DecoderTest, EveryFieldNameIsRecognisedAndLookAlikesAreIgnored) {
  ASSERT_EQ(decoder_.DecodeJson(R"({"characteristic":"torque","value":2,"ts":5,"serial":"S","station":"T",
      "machine":"M","operator":"O","lot":"L","model":"X","subgroup":"G","valuE":9,"stations":"no","lo":"no","tss":1})",
                                default_ts_, d_),
            DecodedKind::kMeasurement)
      << d_.message;
  const Measurement& m = d_.measurement;
  EXPECT_DOUBLE_EQ(m.value, 2);
  EXPECT_EQ(m.ts, FromUnixMillis(5));
  std::string labels;
  for (const Label* l : {&m.serial, &m.station, &m.machine, &m.op, &m.lot, &m.model, &m.subgroup})
    labels.append(l->view());
  EXPECT_EQ(labels, "STMOLXG");
  ASSERT_EQ(decoder_.DecodeJson(R"({"characteristic":"torque","value":1,"count":3,"n":50})", default_ts_, d_),
            DecodedKind::kMeasurement);
  EXPECT_EQ(d_.measurement.count, 3);
  EXPECT_DOUBLE_EQ(d_.measurement.n, 50);
  ASSERT_EQ(decoder_.DecodeJson(R"({"unit":"U","station":"T","lots":["A","B"],"parent":"P"})", default_ts_, d_),
            DecodedKind::kUnitEvent);
  EXPECT_EQ(d_.unit_event.lot_count, 2);
  EXPECT_EQ(d_.unit_event.parent.view(), "P");
}

}  // namespace
}  // namespace shewhart::engine
