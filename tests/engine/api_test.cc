// The API's route table and query parsing (engine/api), and the percent-encoding they and the
// hook templates share (engine/model/percent.h).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "shewhart/engine/api/query.h"
#include "shewhart/engine/api/route_table.h"
#include "shewhart/engine/model/percent.h"

namespace shewhart::engine {
namespace {

std::string ErrorOf(const ApiResponse& r) { return nlohmann::json::parse(r.body).at("error").get<std::string>(); }

RouteTable Table(std::vector<std::string>& seen) {
  RouteTable t;
  t.Add("/api/things", RouteTable::Methods::kGet, [&seen](const ApiRequest& r) {
    seen.push_back("list " + r.query);
    return ApiResponse{200, "text/plain", "list"};
  });
  t.Add("/api/things/", RouteTable::Methods::kAny, [&seen](const ApiRequest& r) {
    seen.push_back(r.method + " " + r.rest + " " + r.body + " " + r.authorization);
    return ApiResponse{201, "text/plain", "thing"};
  });
  t.SetNotFoundHint("try /api/things");
  return t;
}

TEST(RouteTableTest, ExactAndPrefixRoutesReachTheirHandlers) {
  std::vector<std::string> seen;
  const RouteTable t = Table(seen);
  EXPECT_EQ(t.Dispatch("GET", "/api/things", "limit=2", "", "").status, 200);
  EXPECT_EQ(t.Dispatch("POST", "/api/things/7/ack", "", "{}", "Bearer x").status, 201);
  EXPECT_EQ(seen, (std::vector<std::string>{"list limit=2", "POST 7/ack {} Bearer x"}));
  ASSERT_EQ(t.List().size(), 2u);
  EXPECT_EQ(t.List()[1].first, "/api/things/");
}

TEST(RouteTableTest, AGetOnlyRouteAnswersOtherMethodsWith405) {
  std::vector<std::string> seen;
  const RouteTable t = Table(seen);
  const ApiResponse r = t.Dispatch("DELETE", "/api/things", "", "", "");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(ErrorOf(r), "method DELETE is not allowed on /api/things");
  EXPECT_TRUE(seen.empty());
}

TEST(RouteTableTest, AnUnknownTargetIs404ForGetAnd405Otherwise) {
  std::vector<std::string> seen;
  const RouteTable t = Table(seen);
  const ApiResponse get = t.Dispatch("GET", "/api/thingsx", "", "", "");
  EXPECT_EQ(get.status, 404);
  EXPECT_EQ(ErrorOf(get), "no such endpoint: /api/thingsx (try /api/things)");
  EXPECT_EQ(t.Dispatch("POST", "/nowhere", "", "", "").status, 405);
  EXPECT_TRUE(seen.empty());
}

TEST(QueryTest, ParamsAreDecodedInOrderAndPlusStaysPlus) {
  std::vector<QueryParam> out;
  std::string error;
  ASSERT_TRUE(ParseQueryParams("from=2026-01-01T00:00:00%2B01:00&&lot=L%201&bare", out, error)) << error;
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].value, "2026-01-01T00:00:00+01:00");
  EXPECT_EQ(out[1].name, "lot");
  EXPECT_EQ(out[1].value, "L 1");
  EXPECT_EQ(out[2].name, "bare");
  EXPECT_FALSE(out[2].has_value);
  out.clear();
  ASSERT_TRUE(ParseQueryParams("t=a+b", out, error));
  EXPECT_EQ(out[0].value, "a+b");
}

TEST(QueryTest, BadEscapesAndRepeatedNamesAreRefused) {
  std::vector<QueryParam> out;
  std::string error;
  EXPECT_FALSE(ParseQueryParams("after=%zz", out, error));
  EXPECT_NE(error.find("bad %-escape"), std::string::npos) << error;
  out.clear();
  EXPECT_FALSE(ParseQueryParams("a=%4", out, error));
  out.clear();
  EXPECT_FALSE(ParseQueryParams("limit=1&limit=2", out, error));
  EXPECT_EQ(error, "query parameter 'limit' is given twice");
}

TEST(QueryTest, ListQueriesNameTheUnknownParameterAsSent) {
  std::map<std::string, std::string> params;
  std::string error;
  EXPECT_FALSE(ParseQuery("page=2", {"limit", "before"}, params, error));
  EXPECT_EQ(error, "unknown query parameter 'page=2' (expected limit, before)");
  int limit = 0;
  std::int64_t before = 0;
  params = {{"limit", "0"}};
  EXPECT_FALSE(PageParams(params, 100, 1000, limit, before, error));
  params = {{"limit", "5"}, {"before", "9"}};
  ASSERT_TRUE(PageParams(params, 100, 1000, limit, before, error)) << error;
  EXPECT_EQ(limit, 5);
  EXPECT_EQ(before, 9);
}

TEST(QueryTest, IdPathsAcceptOnlyPositiveIds) {
  IdPath p;
  ASSERT_TRUE(ParseIdPath("12/ack", p));
  EXPECT_EQ(p.id, 12);
  EXPECT_EQ(p.verb, "ack");
  EXPECT_FALSE(ParseIdPath("0", p));
  EXPECT_FALSE(ParseIdPath("-3", p));
  EXPECT_FALSE(ParseIdPath("x1", p));
  EXPECT_FALSE(ParseIdPath("", p));
}

TEST(PercentTest, EncodesAllButUnreservedAndDecodesBack) {
  std::string enc;
  AppendPercentEncoded("a b/c~ü", enc);
  EXPECT_EQ(enc, "a%20b%2Fc~%C3%BC");
  std::string dec;
  ASSERT_TRUE(PercentDecode(enc, dec));
  EXPECT_EQ(dec, "a b/c~ü");
  EXPECT_FALSE(PercentDecode("50%", dec));
  EXPECT_FALSE(PercentDecode("%g0", dec));
}

}  // namespace
}  // namespace shewhart::engine
