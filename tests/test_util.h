#pragma once
// Helpers shared by the GoogleTest suites.

#include <sys/utsname.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace shewhart::testing {

// The published reference data (../shared/refdata beside the checkout), or the folder named
// by SHEWHART_REFDATA. Empty when absent: such tests skip, saying so.
inline std::string RefdataDir() {
  if (const char* env = std::getenv("SHEWHART_REFDATA")) return env;
  std::string d = SHEWHART_REFDATA_DEFAULT;
  return std::filesystem::exists(d) ? d : "";
}

// pistonrings.csv ("sample,x1,x2,x3,x4,x5,phase", one subgroup of 5 per row): the subgroups of
// phase I (samples 1-25) and phase II (26-40), in file order. Empty when the file is absent.
struct Pistonrings {
  std::vector<std::vector<double>> phase1, phase2;
};
inline Pistonrings ReadPistonrings(const std::string& dir) {
  std::ifstream in(dir + "/pistonrings.csv");
  std::string line;
  Pistonrings out;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind("sample", 0) == 0) continue;
    std::stringstream ss(line);
    std::vector<std::string> cells;
    for (std::string cell; std::getline(ss, cell, ',');) cells.push_back(cell);
    if (cells.size() != 7) continue;
    std::vector<double> values;
    for (std::size_t i = 1; i <= 5; ++i) values.push_back(std::stod(cells[i]));
    (cells[6] == "I" ? out.phase1 : out.phase2).push_back(values);
  }
  return out;
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

// True on Linux 6.12 and later, whose EEVDF scheduler takes a custom time slice for SCHED_OTHER
// threads (RequestShortSlice); earlier kernels accept or refuse the request without effect.
inline bool KernelTakesSlices() {
  utsname u{};
  if (uname(&u) != 0) return false;
  int major = 0, minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 12);
}

}  // namespace shewhart::testing
