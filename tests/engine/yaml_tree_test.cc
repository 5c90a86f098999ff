// The config loader's YAML tree (engine/config/src/yaml_tree.h): what it keeps of a document,
// and that it answers as the YAML::Node interface the loader was written against.
#include "yaml_tree.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shewhart::engine::config_loader {
namespace {

// The one document of `d` (a Node points into its documents' tree: `d` must outlive it).
Node Root(const YamlDocuments& d) {
  EXPECT_EQ(d.documents.size(), 1u);
  return d.documents.empty() ? Node::Undefined() : d.documents[0];
}

TEST(YamlTreeTest, PlainNullSpellingsAreNullAndQuotedOnesAreStrings) {
  const YamlDocuments d = ParseYaml("a:\nb: ~\nc: null\nd: Null\ne: NULL\nf: \"null\"\ng: ''\nh: nil\n");
  const Node root = Root(d);
  for (const char* k : {"a", "b", "c", "d", "e"}) EXPECT_TRUE(root[k].IsNull()) << k;
  EXPECT_TRUE(root["f"].IsScalar());
  EXPECT_EQ(root["f"].Scalar(), "null");
  EXPECT_TRUE(root["g"].IsScalar());
  EXPECT_EQ(root["g"].Scalar(), "");
  EXPECT_EQ(root["h"].Scalar(), "nil");
}

TEST(YamlTreeTest, MappingsKeepEveryPairInOrderAndLookupTakesTheFirst) {
  const YamlDocuments d = ParseYaml("x: 1\ny: 2\nx: 3\n");
  const Node root = Root(d);
  ASSERT_TRUE(root.IsMap());
  EXPECT_EQ(root.size(), 3u);
  EXPECT_EQ(root["x"].Scalar(), "1");
  std::vector<std::string> keys, values;
  for (auto it = root.begin(); it != root.end(); ++it) {
    keys.push_back(it->first.Scalar());
    values.push_back(it->second.Scalar());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"x", "y", "x"}));
  EXPECT_EQ(values, (std::vector<std::string>{"1", "2", "3"}));
}

TEST(YamlTreeTest, ListsIterateTheirElementsAndIndexPastTheEndIsUndefined) {
  const YamlDocuments d = ParseYaml("- a\n- [b, c]\n- {d: e}\n");
  const Node root = Root(d);
  ASSERT_TRUE(root.IsSequence());
  ASSERT_EQ(root.size(), 3u);
  EXPECT_EQ(root[0].Scalar(), "a");
  EXPECT_TRUE(root[1].IsSequence());
  EXPECT_EQ(root[1][1].Scalar(), "c");
  EXPECT_EQ(root[2]["d"].Scalar(), "e");
  EXPECT_FALSE(root[3]);
  EXPECT_FALSE(root[3].IsDefined());
  int n = 0;
  for (const auto& item : root) n += item.IsDefined() ? 1 : 0;
  EXPECT_EQ(n, 3);
}

TEST(YamlTreeTest, MissingKeysAndLookupsOnScalarsAreUndefined) {
  const YamlDocuments d = ParseYaml("a: 1\n");
  const Node root = Root(d);
  EXPECT_FALSE(root["b"]);
  EXPECT_EQ(root["b"].Type(), NodeType::Undefined);
  EXPECT_FALSE(root["a"]["c"]);
  EXPECT_FALSE(root["a"][0]);
  EXPECT_EQ(root["a"].size(), 0u);
  EXPECT_EQ(root["a"].begin(), root["a"].end());
  EXPECT_EQ(root["b"].Scalar(), "");
}

TEST(YamlTreeTest, ADefaultNodeIsADetachedNullWithoutAMark) {
  const Node n;
  EXPECT_TRUE(n.IsDefined());
  EXPECT_TRUE(n.IsNull());
  EXPECT_EQ(n.Mark().line, -1);
  EXPECT_EQ(n.Mark().column, -1);
}

TEST(YamlTreeTest, MarksAreZeroBasedLineAndColumn) {
  const YamlDocuments d = ParseYaml("top:\n  inner: { k: 42 }\n");
  const Node root = Root(d);
  const Node v = root["top"]["inner"]["k"];
  EXPECT_EQ(v.Mark().line, 1);
  EXPECT_EQ(v.Mark().column, 14);
}

TEST(YamlTreeTest, AnAliasIsTheNodeItsAnchorNames) {
  const YamlDocuments d = ParseYaml("a: &common { k: 1 }\nb: *common\n");
  const Node root = Root(d);
  EXPECT_EQ(root["b"]["k"].Scalar(), "1");
  EXPECT_EQ(root["b"].Mark().line, root["a"].Mark().line);
}

TEST(YamlTreeTest, AnAliasWithoutItsAnchorIsASyntaxError) {
  try {
    (void)ParseYaml("a: 1\nb: *missing\n");
    FAIL() << "no error";
  } catch (const YamlSyntaxError& e) {
    EXPECT_EQ(e.line, 1);
    EXPECT_NE(e.message.find("*missing"), std::string::npos) << e.message;
  }
}

TEST(YamlTreeTest, AnAliasOfAnotherDocumentOrOfItsOwnContainerIsASyntaxError) {
  EXPECT_THROW((void)ParseYaml("a: &x 1\n---\nb: *x\n"), YamlSyntaxError);
  EXPECT_THROW((void)ParseYaml("a: &x [1, *x]\n"), YamlSyntaxError);
}

TEST(YamlTreeTest, TextThatIsNotUtf8IsRefusedAtItsByte) {
  try {
    (void)ParseYaml("a: 1\nb: caf\xe9\n");
    FAIL() << "no error";
  } catch (const YamlSyntaxError& e) {
    EXPECT_EQ(e.line, 1);
    EXPECT_EQ(e.column, 6);
    EXPECT_NE(e.message.find("0xE9"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("UTF-8"), std::string::npos) << e.message;
  }
}

TEST(YamlTreeTest, ASyntaxErrorCarriesItsPositionAndLibyamlsProblem) {
  try {
    (void)ParseYaml("a: 1\nb: { c: 2\nd: 3\n");
    FAIL() << "no error";
  } catch (const YamlSyntaxError& e) {
    EXPECT_GE(e.line, 1);
    EXPECT_FALSE(e.message.empty());
  }
}

TEST(YamlTreeTest, EveryDocumentIsKeptAndAnEmptyTextHasNone) {
  const YamlDocuments two = ParseYaml("a: 1\n---\nb: 2\n");
  ASSERT_EQ(two.documents.size(), 2u);
  EXPECT_EQ(two.documents[1]["b"].Scalar(), "2");
  EXPECT_EQ(two.documents[1].Mark().line, 2);
  EXPECT_TRUE(ParseYaml("").documents.empty());
  EXPECT_TRUE(ParseYaml("# only a comment\n").documents.empty());
}

}  // namespace
}  // namespace shewhart::engine::config_loader
