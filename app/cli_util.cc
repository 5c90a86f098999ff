#include "cli_util.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace shewhart::app {

std::unique_ptr<engine::Store> OpenExistingStore(const std::string& path, const std::string& command) {
  std::error_code ec;
  if (path != ":memory:" && !std::filesystem::exists(path, ec)) {
    std::fprintf(stderr, "shewhart %s: no store at '%s'\n", command.c_str(), path.c_str());
    return nullptr;
  }
  auto store = engine::Store::Open(path);
  if (!store.ok()) {
    std::fprintf(stderr, "shewhart %s: %s\n", command.c_str(), store.status().message().c_str());
    return nullptr;
  }
  return std::move(*store);
}

void PrintTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& r : rows) {
    for (std::size_t c = 0; c < r.size() && c < width.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  auto print = [&](const std::vector<std::string>& r) {
    std::string line;
    for (std::size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size() && c < width.size()) line.append(width[c] - std::min(width[c], r[c].size()) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  };
  print(header);
  for (const auto& r : rows) print(r);
}

}  // namespace shewhart::app
