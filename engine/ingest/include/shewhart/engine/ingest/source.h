#pragma once
// The interfaces between the engine and the connectors: sources feed an IngestSink; alarm
// sinks receive alarm documents. Connectors implement them; the engine never includes a
// connector.

#include <string>
#include <string_view>

#include "shewhart/base/status.h"
#include "shewhart/engine/model/measurement.h"
#include "shewhart/engine/model/reject.h"

namespace shewhart::engine {

// Where one source delivers what it decoded. Each source gets its own IngestSink (bound to
// the source's name and counters) from Engine::RegisterSource; it is called only from that
// source's thread. OnMeasurement blocks while the target shard's queue is full
// (back-pressure) and returns false once the engine is stopping.
//
// A source that can wait on a descriptor besides its input calls Attach first and Detach last
// (whatever ends it); between them the sink may judge measurements on the source's thread and
// take work from other threads, which it does inside OnMeasurement and Flush. Such a source
// must call Flush before every wait and wait on the descriptor Attach returned as well.
class IngestSink {
 public:
  virtual ~IngestSink() = default;
  virtual bool OnMeasurement(const Measurement& m) = 0;
  virtual void OnUnitEvent(const UnitEvent& e) = 0;
  virtual void OnReject(const RejectRecord& r) = 0;
  // Counts a message the transport dropped before it reached the source (never silent).
  virtual void OnTransportDrop(std::uint64_t n) = 0;
  // On the source's thread, before any other call: -1, or a descriptor that becomes readable
  // when work for this thread arrives from another thread (the source then calls Flush).
  virtual int Attach() { return -1; }
  // The source has no more input for now: call it before waiting for more. The engine's sink
  // wakes a shard once per 32 measurements queued for it, or at Flush; without Flush, the last
  // measurements of a burst wait up to 10 ms for their shard. Returns false when the source
  // must not wait yet (work for its thread arrived meanwhile): it calls Flush again.
  virtual bool Flush() { return true; }
  // On the source's thread, its last call (after an error too): the sink judges nothing more
  // on it.
  virtual void Detach() {}
};

class Source {
 public:
  virtual ~Source() = default;
  virtual const std::string& name() const = 0;
  // Starts delivering into `sink` from the source's own thread. `sink` must outlive Stop().
  virtual Status Start(IngestSink& sink) = 0;
  // Stops; returns once the source's thread no longer calls the sink. Idempotent.
  virtual void Stop() = 0;
  // OK while healthy; the sticky error that stopped it otherwise.
  virtual Status status() const = 0;
  // True once a finite source (a file) has delivered everything.
  virtual bool finished() const = 0;
};

}  // namespace shewhart::engine
