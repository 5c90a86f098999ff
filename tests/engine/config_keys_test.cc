// The configuration key registry (config_keys.h) against docs/CONFIG.md, both ways: every
// registered key is documented in its section of the reference, and every key the reference
// documents (its **`key`** entries) is registered. And the loader takes its keys from the
// registry: an unregistered key is an unknown key.
// libstdc++'s <regex> trips g++ 12's -Wmaybe-uninitialized under -fsanitize=address (a false
// positive inside std::function, reported at the library header's lines, so the pragma must
// cover the whole file; as in tests/rules/run_rules_test.cc); it says nothing about this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "shewhart/engine/config/config_keys.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "shewhart/engine/config/config.h"

namespace shewhart::engine {
namespace {

std::string ReadConfigDoc() {
  std::ifstream in(std::string(SHEWHART_SOURCE_DIR) + "/docs/CONFIG.md");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The part of CONFIG.md under "## `top`" (to the next "## "); the whole text for "".
std::string DocSection(const std::string& doc, const std::string& top) {
  if (top.empty()) return doc;
  const std::string heading = "\n## `" + top + "`";
  const std::size_t start = doc.find(heading);
  if (start == std::string::npos) return "";
  const std::size_t end = doc.find("\n## ", start + heading.size());
  return doc.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// The top-level section of CONFIG.md a registry section is documented under.
std::string TopOf(std::string_view section) {
  if (section.empty()) return "";
  if (section.rfind("rules.", 0) == 0 || section == "preset file") return "characteristics";
  const std::size_t end = section.find_first_of(".[");
  return std::string(section.substr(0, end));
}

TEST(ConfigKeysTest, EveryRegisteredKeyIsDocumentedInItsSection) {
  const std::string doc = ReadConfigDoc();
  ASSERT_FALSE(doc.empty()) << "docs/CONFIG.md not found under " << SHEWHART_SOURCE_DIR;
  std::vector<std::string> undocumented;
  for (const ConfigKey& k : ConfigKeys()) {
    const std::string text = DocSection(doc, TopOf(k.section));
    ASSERT_FALSE(text.empty()) << "CONFIG.md has no section for '" << k.section << "'";
    // The key in a code span (alone, or a component of a path or a mapping; a span may wrap a
    // line), or as `key:` in a YAML example.
    const std::string key(k.key);
    const std::regex mention("`[^`]*\\b" + key + "\\b[^`]*`|\\b" + key + ":");
    if (!std::regex_search(text, mention)) {
      undocumented.push_back(std::string(k.section) + (k.section.empty() ? "" : ".") + std::string(k.key));
    }
    EXPECT_FALSE(k.doc.empty()) << k.section << " " << k.key;
  }
  EXPECT_TRUE(undocumented.empty()) << "registered but not in docs/CONFIG.md: " << ::testing::PrintToString(undocumented);
}

TEST(ConfigKeysTest, EveryDocumentedKeyIsRegistered) {
  const std::string doc = ReadConfigDoc();
  std::set<std::string> known = {"stale", "rate", "threshold", "preset"};  // rule names with parameters
  for (const ConfigKey& k : ConfigKeys()) known.emplace(k.key);
  const std::regex entry("\\*\\*`([^`]+)`\\*\\*");
  const std::regex ident("[a-z][a-z0-9_]*");
  std::vector<std::string> unknown;
  std::size_t entries = 0;
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), entry); it != std::sregex_iterator(); ++it) {
    ++entries;
    const std::string text = (*it)[1].str();
    // Key identifiers: the components of the leading path, and each identifier followed by ':'.
    std::vector<std::string> keys;
    const std::string path = text.substr(0, text.find_first_of(" :"));
    std::string component;
    for (std::size_t i = 0; i <= path.size(); ++i) {
      if (i == path.size() || path[i] == '.') {
        const std::string name = component.substr(0, component.find_first_of("[<"));
        if (!name.empty()) keys.push_back(name);
        component.clear();
      } else {
        component += path[i];
      }
    }
    const std::regex key_colon("([a-z][a-z0-9_]*):");
    for (auto k = std::sregex_iterator(text.begin(), text.end(), key_colon); k != std::sregex_iterator(); ++k) {
      keys.push_back((*k)[1].str());
    }
    for (const std::string& k : keys) {
      if (!known.count(k)) unknown.push_back(k + " (in **`" + text + "`**)");
    }
  }
  EXPECT_GT(entries, 50u) << "CONFIG.md's **`key`** entries were not found";
  EXPECT_TRUE(unknown.empty()) << "documented but not registered: " << ::testing::PrintToString(unknown);
}

TEST(ConfigKeysTest, TheLoaderRefusesWhatIsNotRegistered) {
  const ConfigLoad load = LoadConfigText("engine: { shards: 1, shard_count: 2 }\ncharacteristics:\n"
                                         "  - { id: a, chart: { type: individuals }, limits: { mean: 0, sigma: 1 } }\n",
                                         "x.yaml");
  ASSERT_EQ(load.problems.size(), 1u);
  EXPECT_EQ(load.problems[0].path, "engine.shard_count");
  EXPECT_NE(load.problems[0].message.find("unknown key 'shard_count'"), std::string::npos) << load.problems[0].message;
  const std::vector<std::string>& engine = ConfigSectionKeys("engine");
  EXPECT_NE(std::find(engine.begin(), engine.end(), "shards"), engine.end());
}

}  // namespace
}  // namespace shewhart::engine
