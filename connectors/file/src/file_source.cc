#include "shewhart/connectors/file/file_source.h"

#include <cstdio>
#include <memory>

#include "shewhart/base/thread.h"

namespace shewhart::connectors::file {

using engine::Decoded;
using engine::DecodedKind;

namespace {

// Reads one line (without its '\n') into `line`; false at end of file.
bool ReadLine(std::FILE* f, std::string& line) {
  line.clear();
  int c;
  bool any = false;
  while ((c = std::fgetc(f)) != EOF) {
    any = true;
    if (c == '\n') return true;
    line.push_back(static_cast<char>(c));
  }
  return any;
}

bool Blank(const std::string& s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

}  // namespace

Result<FileReadStats> ReadFile(const engine::FileSourceSpec& spec, const std::string& source_name,
                               const engine::CharacteristicIndex& index, std::size_t max_message_bytes,
                               engine::IngestSink& sink, const std::atomic<bool>* stop) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(spec.path.c_str(), "rb"), &std::fclose);
  if (!f) return Unavailable("cannot open input file '" + spec.path + "'");
  engine::Decoder decoder(index, max_message_bytes);
  Decoded d;
  engine::RejectRecord reject;
  FileReadStats stats;
  // Whatever way the file ends, what was handed over is flushed (IngestSink::Flush).
  struct FlushAtEnd {
    engine::IngestSink& sink;
    ~FlushAtEnd() { (void)sink.Flush(); }
  } flush_at_end{sink};
  engine::EventTime last_ts{};
  std::string line;
  line.reserve(4096);
  const bool csv = spec.format == engine::FileSourceSpec::Format::kCsv;
  bool have_header = !csv;
  while (ReadLine(f.get(), line)) {
    ++stats.lines;
    if (stop && stop->load(std::memory_order_relaxed)) break;
    if (Blank(line)) continue;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    DecodedKind kind;
    if (csv) {
      if (!have_header) {
        if (line[0] == '#') continue;
        std::string error;
        if (!decoder.SetCsvHeader(line, error)) {
          return InvalidArgument(spec.path + ":" + std::to_string(stats.lines) + ": " + error);
        }
        have_header = true;
        continue;
      }
      kind = decoder.DecodeCsv(line, last_ts, d);
    } else {
      kind = decoder.DecodeJson(line, last_ts, d);
    }
    switch (kind) {
      case DecodedKind::kMeasurement:
        ++stats.measurements;
        last_ts = d.measurement.ts;
        d.measurement.position = stats.lines;
        if (!sink.OnMeasurement(d.measurement)) return stats;
        break;
      case DecodedKind::kUnitEvent:
        ++stats.unit_events;
        last_ts = d.unit_event.ts;
        sink.OnUnitEvent(d.unit_event);
        break;
      case DecodedKind::kReject:
        ++stats.rejects;
        engine::MakeRejectRecord(d, source_name, stats.lines, line, reject);
        sink.OnReject(reject);
        break;
    }
  }
  if (std::ferror(f.get())) return Unavailable("error reading input file '" + spec.path + "'");
  if (csv && !have_header) return InvalidArgument(spec.path + ": no CSV header row");
  return stats;
}

FileSource::FileSource(engine::SourceSpec spec, const engine::CharacteristicIndex& index, std::size_t max_message_bytes)
    : spec_(std::move(spec)), index_(index), max_bytes_(max_message_bytes) {}

FileSource::~FileSource() { Stop(); }

Status FileSource::Start(engine::IngestSink& sink) {
  std::FILE* probe = std::fopen(spec_.file.path.c_str(), "rb");
  if (!probe) return Unavailable("cannot open input file '" + spec_.file.path + "'");
  std::fclose(probe);
  thread_ = std::thread([this, &sink] {
    SetThreadName("shw-src-file");
    auto r = ReadFile(spec_.file, spec_.name, index_, max_bytes_, sink, &stop_);
    std::lock_guard lock(mu_);
    if (r.ok()) stats_ = *r;
    else status_ = r.status();
    finished_.store(true, std::memory_order_release);
  });
  return Status::Ok();
}

void FileSource::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

Status FileSource::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

FileReadStats FileSource::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace shewhart::connectors::file
