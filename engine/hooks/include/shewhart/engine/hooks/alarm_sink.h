#pragma once
// A fast, non-durable channel for alarm documents: the `zmq_pub` hook kind. The engine
// publishes to it directly (not through the outbox): `signal` messages from the thread that
// judged the measurement, `alarm` messages from the responder's thread. A failure is counted
// and logged, never retried. Implementations live with their transport (connectors/zmq).

#include <string_view>

#include "shewhart/base/status.h"

namespace shewhart::engine {

// Receives alarm documents (JSON) from several threads at once: Publish must be thread-safe.
class AlarmSink {
 public:
  virtual ~AlarmSink() = default;
  virtual Status Publish(std::string_view topic, std::string_view json) = 0;
};

}  // namespace shewhart::engine
