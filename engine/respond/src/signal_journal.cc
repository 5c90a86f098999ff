#include "shewhart/engine/respond/signal_journal.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <type_traits>

namespace shewhart::engine {

namespace {
static_assert(std::is_trivially_copyable_v<Signal>);
constexpr std::uint32_t kMagic = 0x4a574853;  // "SHWJ"
constexpr std::size_t kHeader = 16;           // magic, size, sequence number
constexpr std::size_t kRecord = kHeader + sizeof(Signal) + sizeof(std::uint64_t);

std::uint64_t Fnv1a64(const unsigned char* p, std::size_t n) {
  std::uint64_t h = 14695981039346656037ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}
}  // namespace

Result<std::unique_ptr<SignalJournal>> SignalJournal::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Unavailable(Errno("cannot open the signal journal", path));
  return std::unique_ptr<SignalJournal>(new SignalJournal(path, fd));
}

SignalJournal::~SignalJournal() { ::close(fd_); }

Result<std::vector<Signal>> SignalJournal::Read(std::uint64_t done) {
  std::lock_guard lock(mu_);
  std::vector<Signal> out;
  unsigned char record[kRecord];
  off_t at = 0;
  last_ = std::max(last_, done);
  for (;;) {
    const ssize_t n = ::pread(fd_, record, kRecord, at);
    if (n < 0) return Unavailable(Errno("cannot read the signal journal", path_));
    if (n == 0) break;
    std::uint32_t magic, size;
    std::uint64_t seq, check;
    std::memcpy(&magic, record, 4);
    std::memcpy(&size, record + 4, 4);
    std::memcpy(&seq, record + 8, 8);
    if (static_cast<std::size_t>(n) < kRecord || magic != kMagic || size != sizeof(Signal)) {
      spdlog::error(
          "signal journal {}: the record at byte {} is {}; what follows it is not read", path_, at,
          static_cast<std::size_t>(n) < kRecord ? "torn (the process died writing it)" : "not one this build writes");
      break;
    }
    std::memcpy(&check, record + kHeader + sizeof(Signal), 8);
    if (check != Fnv1a64(record, kHeader + sizeof(Signal))) {
      spdlog::error("signal journal {}: the record at byte {} fails its check; what follows it is not read", path_, at);
      break;
    }
    last_ = std::max(last_, seq);
    if (seq > done) {
      Signal s;
      std::memcpy(static_cast<void*>(&s), record + kHeader, sizeof(Signal));
      s.journal_seq = seq;
      out.push_back(s);
    }
    at += static_cast<off_t>(kRecord);
  }
  return out;
}

Status SignalJournal::Append(Signal& s) {
  unsigned char record[kRecord];
  std::lock_guard lock(mu_);
  const std::uint64_t seq = last_ + 1;
  const std::uint32_t size = sizeof(Signal);
  std::memcpy(record, &kMagic, 4);
  std::memcpy(record + 4, &size, 4);
  std::memcpy(record + 8, &seq, 8);
  s.journal_seq = seq;
  std::memcpy(record + kHeader, static_cast<const void*>(&s), sizeof(Signal));
  const std::uint64_t check = Fnv1a64(record, kHeader + sizeof(Signal));
  std::memcpy(record + kHeader + sizeof(Signal), &check, 8);
  const ssize_t n = ::write(fd_, record, kRecord);
  if (n != static_cast<ssize_t>(kRecord)) {
    s.journal_seq = 0;
    const std::string why = n < 0 ? std::strerror(errno) : "short write";
    // A torn record would end the reading at restart: cut it off.
    struct stat st {};
    if (n > 0 && ::fstat(fd_, &st) == 0) (void)::ftruncate(fd_, st.st_size - n);
    return Unavailable("cannot append to the signal journal " + path_ + ": " + why);
  }
  last_ = seq;
  return Status::Ok();
}

void SignalJournal::Committed(std::uint64_t seq) {
  std::lock_guard lock(mu_);
  if (seq < last_) return;
  if (::ftruncate(fd_, 0) != 0) spdlog::warn("{}", Errno("cannot empty the signal journal", path_));
}

}  // namespace shewhart::engine
