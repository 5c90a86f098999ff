#pragma once
// Helpers shared by the GoogleTest suites.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace shewhart::testing {

// The published reference data (../shared/refdata beside the checkout), or the folder named
// by SHEWHART_REFDATA. Empty when absent: such tests skip, saying so.
inline std::string RefdataDir() {
  if (const char* env = std::getenv("SHEWHART_REFDATA")) return env;
  std::string d = SHEWHART_REFDATA_DEFAULT;
  return std::filesystem::exists(d) ? d : "";
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh temporary directory, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "shewhart-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(File(name), std::ios::binary) << text;
    return File(name);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace shewhart::testing
