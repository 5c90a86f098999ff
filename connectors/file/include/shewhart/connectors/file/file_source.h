#pragma once
// File sources: JSON lines (one message per line) and CSV (a header row naming the wire
// format's fields, then one message per row; lines starting with '#' before the header are
// comments). Each line is decoded and delivered to an IngestSink; bad lines become reject
// records with their line number and the stream goes on.
//
// A message without "ts" takes the event time of the previous message in the file (epoch 0
// before the first), so that replay stays deterministic.

#include <atomic>
#include <mutex>
#include <cstdint>
#include <string>
#include <thread>

#include "shewhart/engine/config/config.h"
#include "shewhart/engine/ingest/decoder.h"
#include "shewhart/engine/ingest/source.h"

namespace shewhart::connectors::file {

struct FileReadStats {
  std::int64_t lines = 0;         // lines read, blank and comment lines included
  std::int64_t measurements = 0;
  std::int64_t unit_events = 0;
  std::int64_t rejects = 0;
};

// Reads `spec.path` to its end (or until *stop becomes true) on the calling thread.
// Returns Unavailable when the file cannot be opened or read, InvalidArgument for a bad CSV
// header; bad lines are rejects, not errors.
Result<FileReadStats> ReadFile(const engine::FileSourceSpec& spec, const std::string& source_name,
                               const engine::CharacteristicIndex& index, std::size_t max_message_bytes,
                               engine::IngestSink& sink, const std::atomic<bool>* stop = nullptr);

// The file as a live source: ReadFile on its own thread.
class FileSource : public engine::Source {
 public:
  FileSource(engine::SourceSpec spec, const engine::CharacteristicIndex& index, std::size_t max_message_bytes);
  ~FileSource() override;
  const std::string& name() const override { return spec_.name; }
  Status Start(engine::IngestSink& sink) override;
  void Stop() override;
  Status status() const override;
  bool finished() const override { return finished_.load(std::memory_order_acquire); }
  FileReadStats stats() const;

 private:
  engine::SourceSpec spec_;
  const engine::CharacteristicIndex& index_;
  std::size_t max_bytes_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  mutable std::mutex mu_;
  Status status_;
  FileReadStats stats_;
  std::thread thread_;
};

}  // namespace shewhart::connectors::file
