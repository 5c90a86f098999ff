#pragma once
// The signal journal: a `signal` message leaves before its alarm is stored, so each claimed rule
// signal is appended to a file beside the store before it is published, and the responder
// records in its unit of work (meta signals_journal_done) the newest journaled signal it
// stored. A restart after the process died stores the journaled signals past that mark first
// (Engine::Start): every published signal is followed by its durable alarm, also across a crash.
//
// The file is written with write(2), not fsync'd: it survives the process (kill -9, a crash)
// but, like the store's last transactions (synchronous=NORMAL), not a power loss.
// Records: a 16-byte header (magic, the size of Signal, the sequence number) and the Signal's
// bytes, then an FNV-1a check of both; a torn last record ends the reading. The file is emptied
// whenever everything appended has been stored.
//
// Threading: Append from any thread (the judging threads; one mutex), Committed from the
// responder's, Read before the threads start. Allocation: none per record.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shewhart/base/status.h"
#include "shewhart/engine/pipeline/shard.h"

namespace shewhart::engine {

class SignalJournal {
 public:
  // Opens (creates) the journal at `path`. Unavailable naming the path and errno's text.
  static Result<std::unique_ptr<SignalJournal>> Open(const std::string& path);
  ~SignalJournal();

  // The journaled signals with sequence numbers above `done`, in order, and the highest
  // sequence number in the file (the next Append goes above it). A record of another build
  // (Signal's size differs) or a torn one ends the reading, logged.
  Result<std::vector<Signal>> Read(std::uint64_t done);

  // Gives `s` the next sequence number and appends it. On an error (disk full) the signal keeps
  // sequence 0 (it is published and stored all the same, but a crash before its unit commits
  // loses it): the caller logs and counts it.
  Status Append(Signal& s);

  // Every signal up to `seq` is stored: the file is emptied when nothing newer was appended.
  void Committed(std::uint64_t seq);

  const std::string& path() const { return path_; }

 private:
  SignalJournal(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
  std::mutex mu_;
  std::uint64_t last_ = 0;  // the highest sequence number given
};

}  // namespace shewhart::engine
