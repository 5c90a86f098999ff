// The configuration's vocabulary (scope keys, hook templates, lookups) and its loading:
// LoadConfigText drives the loader (loader.h, load_*.cc) over a YAML document.
#include "shewhart/engine/config/config.h"

#include "loader.h"

#include "shewhart/engine/model/sha256.h"
#include "shewhart/engine/model/measurement.h"
#include "shewhart/engine/model/percent.h"
#include "shewhart/engine/model/time_format.h"
#include "shewhart/rules/constants.h"
#include "shewhart/rules/format.h"
#include "shewhart/rules/presets.h"
#include "shewhart/rules/sigma_estimators.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cctype>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace shewhart::engine {

const char* ScopeKeyName(ScopeKey key) {
  switch (key) {
    case ScopeKey::kStation: return "station";
    case ScopeKey::kMachine: return "machine";
    case ScopeKey::kLot: return "lot";
    case ScopeKey::kOperator: return "operator";
    case ScopeKey::kModel: return "model";
  }
  return "unknown";
}

const std::vector<std::string>& TemplatePlaceholderNames() {
  static const std::vector<std::string> kNames = {"id",   "key",    "characteristic", "policy",
                                                  "rule", "chart",  "tier",           "action",
                                                  "station", "machine", "lot",        "operator"};
  return kNames;
}

namespace {
// Walks a hook template: `literal(piece)` for text, `field(name, offset)` for each `{name}`.
// Returns InvalidArgument for an unmatched brace or an empty or unknown name.
template <typename Literal, typename Field>
Status WalkTemplate(std::string_view text, Literal literal, Field field) {
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      literal(std::string_view("{"));
      i += 2;
    } else if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
      literal(std::string_view("}"));
      i += 2;
    } else if (c == '{') {
      const std::size_t end = text.find('}', i + 1);
      if (end == std::string_view::npos) {
        return InvalidArgument("unmatched '{' at offset " + std::to_string(i) + " (write '{{' for a literal brace)");
      }
      const std::string name(text.substr(i + 1, end - i - 1));
      const auto& names = TemplatePlaceholderNames();
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        std::string all;
        for (const auto& n : names) all += (all.empty() ? "{" : ", {") + n + "}";
        return InvalidArgument("unknown placeholder '{" + name + "}' at offset " + std::to_string(i) +
                               "; known: " + all);
      }
      field(name);
      i = end + 1;
    } else if (c == '}') {
      return InvalidArgument("unmatched '}' at offset " + std::to_string(i) + " (write '}}' for a literal brace)");
    } else {
      const std::size_t next = text.find_first_of("{}", i);
      const std::size_t stop = next == std::string_view::npos ? text.size() : next;
      literal(text.substr(i, stop - i));
      i = stop;
    }
  }
  return Status::Ok();
}
}  // namespace

Status CheckHookTemplate(std::string_view text, std::vector<std::string>* names) {
  std::vector<std::string> found;
  SHEWHART_RETURN_IF_ERROR(WalkTemplate(
      text, [](std::string_view) {}, [&](const std::string& n) { found.push_back(n); }));
  if (names) names->insert(names->end(), found.begin(), found.end());
  return Status::Ok();
}

std::string ExpandHookTemplate(std::string_view text, const TemplateFields& fields, bool url_encode) {
  std::string out;
  Status st = WalkTemplate(
      text, [&](std::string_view piece) { out.append(piece); },
      [&](const std::string& name) {
        for (const auto& [k, v] : fields) {
          if (k != name) continue;
          if (!url_encode) {
            out += v;
            return;
          }
          AppendPercentEncoded(v, out);
          return;
        }
      });
  (void)st;  // checked at config load
  return out;
}

std::string ConfigProblem::ToString() const {
  std::string s = file;
  if (line > 0) s += ":" + std::to_string(line) + ":" + std::to_string(column);
  s += ": ";
  if (!path.empty()) s += path + ": ";
  s += message;
  return s;
}

bool IsAttribute(ChartType type) {
  return type == ChartType::kP || type == ChartType::kNp || type == ChartType::kC || type == ChartType::kU;
}

void Config::IndexCharacteristics() {
  index_.clear();
  index_.reserve(characteristics.size());
  for (std::size_t i = 0; i < characteristics.size(); ++i) index_.emplace(characteristics[i].id, static_cast<int>(i));
}

int Config::FindCharacteristic(std::string_view id) const {
  if (index_.size() == characteristics.size()) {
    auto it = index_.find(id);
    const auto i = it != index_.end() ? static_cast<std::size_t>(it->second) : characteristics.size();
    if (i < characteristics.size() && characteristics[i].id == id) return static_cast<int>(i);
  }
  for (std::size_t i = 0; i < characteristics.size(); ++i) {
    if (characteristics[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

const ResponseSpec& Config::ResponseFor(std::size_t index) const {
  const auto& name = characteristics.at(index).response;
  if (!name.empty()) {
    auto it = responses.find(name);
    if (it != responses.end()) return it->second;
  }
  return default_response_;
}



ConfigLoad LoadConfigText(const std::string& text, const std::string& file_name) {
  ConfigLoad out;
  config_loader::Loader loader(file_name);
  Config config;
  config.file = file_name;
  config.text_sha256 = Sha256Hex(text);
  try {
    // Every document is parsed (a broken one after `---` is a syntax error), and a config is one.
    const config_loader::YamlDocuments parsed = config_loader::ParseYaml(text);
    const std::vector<config_loader::Node>& docs = parsed.documents;
    if (docs.size() > 1) {
      ConfigProblem p;
      p.file = file_name;
      p.line = docs[1].Mark().line + 1;
      p.column = docs[1].Mark().column + 1;
      p.message = "a config is one YAML document; a second one starts here (remove the '---' before it, or merge it "
                  "into the first)";
      loader.problems().push_back(std::move(p));
    }
    loader.LoadRoot(docs.empty() ? config_loader::Node() : docs[0], config);
  } catch (const config_loader::YamlSyntaxError& e) {
    ConfigProblem p;
    p.file = file_name;
    p.line = e.line + 1;
    p.column = e.column + 1;
    p.message = "YAML syntax: " + e.message;
    loader.problems().push_back(std::move(p));
  }
  out.problems = std::move(loader.problems());
  std::stable_sort(out.problems.begin(), out.problems.end(), [](const ConfigProblem& a, const ConfigProblem& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  if (out.problems.empty()) {
    out.config = std::move(config);
    out.config->IndexCharacteristics();
  }
  return out;
}

ConfigLoad LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigLoad out;
    out.io_status = Unavailable("cannot read config file '" + path + "'");
    return out;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return LoadConfigText(ss.str(), path);
}

Result<std::map<std::string, std::string>> LoadTokensFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Unavailable("cannot read http.tokens file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  std::map<std::string, std::string> tokens;
  try {
    const config_loader::YamlDocuments parsed = config_loader::ParseYaml(ss.str());
    const std::vector<config_loader::Node>& docs = parsed.documents;
    if (docs.size() > 1) {
      return InvalidArgument(path + ":" + std::to_string(docs[1].Mark().line + 1) +
                             ": a tokens file is one YAML document; a second one starts here");
    }
    const config_loader::Node root = docs.empty() ? config_loader::Node() : docs[0];
    if (!root.IsMap() || root.size() == 0) {
      return InvalidArgument(path + ": expected a mapping of user names to tokens (anna: \"<token>\")");
    }
    std::set<std::string> users;
    for (auto it = root.begin(); it != root.end(); ++it) {
      const config_loader::Node key = it->first, value = it->second;
      const std::string where = path + ":" + std::to_string(key.Mark().line + 1) + ": ";
      if (!key.IsScalar() || key.Scalar().empty()) return InvalidArgument(where + "expected a user name");
      const std::string& user = key.Scalar();
      if (!users.insert(user).second) return InvalidArgument(where + "user '" + user + "' is listed twice");
      if (!value.IsScalar()) return InvalidArgument(where + "the token of '" + user + "' must be a string");
      const std::string& token = value.Scalar();
      if (token.size() < 16) {
        return InvalidArgument(where + "the token of '" + user + "' is shorter than 16 characters");
      }
      if (!tokens.emplace(token, user).second) {
        return InvalidArgument(where + "the token of '" + user + "' is also the token of '" + tokens[token] + "'");
      }
    }
  } catch (const config_loader::YamlSyntaxError& e) {
    return InvalidArgument(path + ":" + std::to_string(e.line + 1) + ": YAML syntax: " + e.message);
  }
  return tokens;
}

}  // namespace shewhart::engine
