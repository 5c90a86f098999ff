#pragma once
// EngineListener: what the engine produces, for those who watch it (replay's output, tests).
// Called on the threads named below; implementations must be quick and must not throw.

#include <string>
#include <vector>

#include "shewhart/engine/pipeline/shard.h"
#include "shewhart/engine/store/store.h"
#include "shewhart/rules/types.h"

namespace shewhart::engine {

// Observes what the engine produces. OnPoint and OnSignal are called on shard threads (or the
// caller's thread in inline mode); OnAlarm and OnHold on the responder thread.
class EngineListener {
 public:
  virtual ~EngineListener() = default;
  virtual void OnPoint(const std::string& characteristic, const rules::ChartPoint& point) {
    (void)characteristic, (void)point;
  }
  virtual void OnSignal(const std::string& characteristic, const Signal& signal) {
    (void)characteristic, (void)signal;
  }
  // `opened` is true for a new alarm, false when an open alarm changed state (resolved).
  virtual void OnAlarm(const AlarmRecord& alarm, bool opened) { (void)alarm, (void)opened; }
  // A limits version was recorded (a Phase I estimate; on the shard's thread).
  virtual void OnLimits(const LimitVersion& version) { (void)version; }
  // `added` lists the units that joined the hold with this call.
  virtual void OnHold(const HoldRecord& hold, const std::vector<HeldUnit>& added) { (void)hold, (void)added; }
};

}  // namespace shewhart::engine
