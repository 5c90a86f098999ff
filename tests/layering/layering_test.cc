// The layering test: every #include of a project header under rules/, base/, engine/*,
// connectors/ and app/ must run in an allowed direction (docs/ARCHITECTURE.md "Layering",
// whose table mirrors kAllowed below). A file may include headers of its own component and of
// the components its row names; anything else fails, and so does an include of a project
// header that belongs to no known component.
//
//   layering_test [ROOT]     checks the tree at ROOT (default: $SHEWHART_LAYERING_ROOT, else
//                            the source tree this was built from); exit 0 clean, 1 violations
//   layering_test --self-test  checks a small generated tree with one backwards include of each
//                            kind, and fails unless each is reported
// libstdc++'s <regex> trips g++ 12's -Wmaybe-uninitialized under -fsanitize=address (a false
// positive inside std::function, reported at the library header's lines, so the pragma must
// cover the whole file; as in tests/rules/run_rules_test.cc); it says nothing about this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// Component -> the components it may include (besides itself). Bottom-up.
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"base", {}},
    {"rules", {"base"}},
    {"engine/model", {"base", "rules"}},
    {"engine/config", {"base", "rules", "engine/model"}},
    {"engine/metrics", {"base", "rules", "engine/model", "engine/config"}},
    {"engine/ingest", {"base", "rules", "engine/model", "engine/config"}},
    {"engine/pipeline", {"base", "rules", "engine/model", "engine/config", "engine/metrics"}},
    {"engine/store", {"base", "rules", "engine/model", "engine/config", "engine/metrics"}},
    {"engine/hooks", {"base", "rules", "engine/model", "engine/config", "engine/metrics", "engine/store"}},
    {"engine/trace", {"base", "rules", "engine/model", "engine/config", "engine/metrics", "engine/store"}},
    {"engine/respond",
     {"base", "rules", "engine/model", "engine/config", "engine/metrics", "engine/pipeline", "engine/store",
      "engine/hooks", "engine/trace"}},
    {"engine/api",
     {"base", "rules", "engine/model", "engine/config", "engine/metrics", "engine/ingest", "engine/pipeline",
      "engine/store", "engine/hooks", "engine/trace", "engine/respond"}},
    {"engine/root",
     {"base", "rules", "engine/model", "engine/config", "engine/metrics", "engine/ingest", "engine/pipeline",
      "engine/store", "engine/hooks", "engine/trace", "engine/respond", "engine/api"}},
    {"connectors", {"base", "rules", "engine/model", "engine/config", "engine/ingest", "engine/hooks"}},
    {"app",
     {"base", "rules", "engine/model", "engine/config", "engine/metrics", "engine/ingest", "engine/pipeline",
      "engine/store", "engine/hooks", "engine/trace", "engine/respond", "engine/api", "engine/root",
      "connectors"}},
};

// The component a source file belongs to, from its path relative to the root; nullopt for a
// file outside the checked trees.
std::optional<std::string> ComponentOfFile(const fs::path& rel) {
  auto it = rel.begin();
  if (it == rel.end()) return std::nullopt;
  const std::string top = it->string();
  if (top == "base" || top == "rules" || top == "connectors" || top == "app") return top;
  if (top == "engine") {
    if (++it == rel.end()) return std::nullopt;
    const std::string sub = it->string();
    if (sub == "CMakeLists.txt") return std::nullopt;
    return "engine/" + sub;
  }
  return std::nullopt;
}

// The component a project header belongs to ("shewhart/engine/store/store.h" -> engine/store,
// "shewhart/engine/engine.h" -> engine/root); nullopt when it names none.
std::optional<std::string> ComponentOfInclude(const std::string& inc) {
  static const std::regex kSub(R"(^shewhart/engine/([a-z_]+)/.+)");
  std::smatch m;
  if (std::regex_match(inc, m, kSub)) return "engine/" + m[1].str();
  if (inc == "shewhart/engine/engine.h") return "engine/root";
  for (const char* top : {"base", "rules", "connectors"}) {
    if (inc.rfind(std::string("shewhart/") + top + "/", 0) == 0) return std::string(top);
  }
  return std::nullopt;
}

struct Violation {
  std::string file;
  int line;
  std::string text;
};

std::vector<Violation> Check(const fs::path& root, std::size_t& files) {
  std::vector<Violation> out;
  static const std::regex kInclude(R"(^\s*#\s*include\s*"(shewhart/[^"]+)\")");
  files = 0;
  for (const char* top : {"base", "rules", "engine", "connectors", "app"}) {
    if (!fs::exists(root / top)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / top)) {
      if (!entry.is_regular_file()) continue;
      const std::string ext = entry.path().extension().string();
      if (ext != ".h" && ext != ".cc") continue;
      const fs::path rel = fs::relative(entry.path(), root);
      const auto from = ComponentOfFile(rel);
      if (!from) continue;
      ++files;
      auto allowed = kAllowed.find(*from);
      std::ifstream in(entry.path());
      std::string line;
      int n = 0;
      while (std::getline(in, line)) {
        ++n;
        std::smatch m;
        if (!std::regex_search(line, m, kInclude)) continue;
        const std::string inc = m[1].str();
        const auto to = ComponentOfInclude(inc);
        if (allowed == kAllowed.end()) {
          out.push_back({rel.string(), n, "component '" + *from + "' is not in the layering table"});
        } else if (!to) {
          out.push_back({rel.string(), n, "\"" + inc + "\" belongs to no component of the layering table"});
        } else if (*to != *from && !allowed->second.count(*to)) {
          out.push_back({rel.string(), n, *from + " may not include " + *to + " (\"" + inc + "\")"});
        }
      }
    }
  }
  return out;
}

int Report(const fs::path& root) {
  std::size_t files = 0;
  const auto v = Check(root, files);
  for (const auto& x : v) std::printf("%s:%d: %s\n", x.file.c_str(), x.line, x.text.c_str());
  std::printf("layering: %zu files under %s, %zu includes against the allowed direction\n", files,
              root.string().c_str(), v.size());
  if (files == 0) {
    std::printf("layering: no source files found: is %s the source root?\n", root.string().c_str());
    return 1;
  }
  return v.empty() ? 0 : 1;
}

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// A generated tree: one allowed include, and backwards ones that must each be reported.
int SelfTest() {
  const fs::path root = fs::temp_directory_path() / ("shewhart-layering-" + std::to_string(::getpid()));
  fs::remove_all(root);
  Write(root / "engine/respond/src/ok.cc", "#include \"shewhart/engine/store/store.h\"\n");
  Write(root / "rules/src/up.cc", "#include \"shewhart/engine/respond/responder.h\"\n");
  Write(root / "engine/store/src/up.cc", "  #  include \"shewhart/engine/respond/silence.h\"\n");
  Write(root / "engine/model/include/x.h", "#include \"shewhart/engine/engine.h\"\n");
  Write(root / "connectors/zmq/src/up.cc", "#include \"shewhart/engine/root/x.h\"\n");
  Write(root / "engine/pipeline/src/unknown.cc", "#include \"shewhart/nowhere/x.h\"\n");
  Write(root / "engine/newsub/src/x.cc", "#include \"shewhart/base/status.h\"\n");
  std::size_t files = 0;
  const auto v = Check(root, files);
  fs::remove_all(root);
  std::set<std::string> reported;
  for (const auto& x : v) reported.insert(x.file);
  const std::set<std::string> expected = {"rules/src/up.cc", "engine/store/src/up.cc", "engine/model/include/x.h",
                                          "connectors/zmq/src/up.cc", "engine/pipeline/src/unknown.cc",
                                          "engine/newsub/src/x.cc"};
  for (const auto& x : v) std::printf("self-test reports %s:%d: %s\n", x.file.c_str(), x.line, x.text.c_str());
  if (files != 7 || reported != expected) {
    std::printf("self-test FAILED: %zu files, %zu reports; expected 7 files and the 6 backwards ones\n", files,
                v.size());
    return 1;
  }
  std::printf("self-test passed: 6 backwards includes reported, the allowed one not\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--self-test") return SelfTest();
  if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf("usage: layering_test [ROOT] | --self-test\n");
    return 0;
  }
  fs::path root = SHEWHART_SOURCE_DIR;
  if (const char* env = std::getenv("SHEWHART_LAYERING_ROOT"); env && *env) root = env;
  if (argc > 1) root = argv[1];
  return Report(root);
}
