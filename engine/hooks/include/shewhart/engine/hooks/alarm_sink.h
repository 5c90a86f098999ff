#pragma once
// A fast, non-durable channel for alarm documents: the `zmq_pub` hook kind. The responder
// publishes to it directly on its own thread (not through the outbox): a failure is counted and
// logged, never retried. Implementations live with their transport (connectors/zmq).

#include <string_view>

#include "shewhart/base/status.h"

namespace shewhart::engine {

// Receives alarm documents (JSON) from the responder thread.
class AlarmSink {
 public:
  virtual ~AlarmSink() = default;
  virtual Status Publish(std::string_view topic, std::string_view json) = 0;
};

}  // namespace shewhart::engine
