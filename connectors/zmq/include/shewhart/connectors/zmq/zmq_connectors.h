#pragma once
// ZeroMQ connectors: a PULL (or SUB) source that decodes one JSON message per frame, and a
// PUB sink for alarm documents. cppzmq exceptions are caught here and become Status.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "shewhart/engine/config/config.h"
#include "shewhart/engine/ingest/decoder.h"
#include "shewhart/engine/hooks/alarm_sink.h"
#include "shewhart/engine/ingest/source.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace shewhart::connectors::zmq {

// Receives frames on its own thread. A message without "ts" takes its arrival time.
// PULL applies back-pressure: when a shard queue is full the receive loop blocks, the socket's
// receive buffer fills and senders block. SUB cannot push back: ZeroMQ drops at the
// high-water mark without telling the subscriber, so prefer PULL where loss is unacceptable.
class ZmqSource : public engine::Source {
 public:
  ZmqSource(engine::SourceSpec spec, const engine::CharacteristicIndex& index, std::size_t max_message_bytes);
  ~ZmqSource() override;
  const std::string& name() const override { return spec_.name; }
  // Binds or connects, then starts the receive thread, and returns once that thread has attached
  // to the sink (IngestSink::Attach: from then on, a sink that judges on it does). Unavailable
  // with the endpoint and ZeroMQ's message when the socket cannot be set up.
  Status Start(engine::IngestSink& sink) override;
  void Stop() override;
  Status status() const override;
  bool finished() const override { return false; }
  std::uint64_t received() const { return received_.load(std::memory_order_relaxed); }
  // The endpoint as bound or connected (a "tcp://host:*" bind resolved to its port); valid
  // after a successful Start().
  const std::string& endpoint() const { return endpoint_; }

 private:
  // The receive loop; `wake_fd` is what the sink's Attach returned.
  void Run(engine::IngestSink& sink, int wake_fd);

  engine::SourceSpec spec_;
  const engine::CharacteristicIndex& index_;
  std::size_t max_bytes_;
  std::unique_ptr<::zmq::context_t> context_;
  std::unique_ptr<::zmq::socket_t> socket_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> received_{0};
  mutable std::mutex mu_;
  Status status_;
  std::string endpoint_;
  std::thread thread_;
};

// Publishes [topic, json] as a two-frame message on a bound PUB socket. Called from the
// responder thread only.
class ZmqPubSink : public engine::AlarmSink {
 public:
  ZmqPubSink();
  ~ZmqPubSink() override;
  Status Bind(const std::string& endpoint);
  // Any thread: a mutex keeps the two frames of a message together on the one socket.
  Status Publish(std::string_view topic, std::string_view json) override;
  // The bound endpoint ("tcp://host:*" resolved to its port).
  const std::string& endpoint() const { return endpoint_; }

 private:
  std::mutex mu_;
  std::unique_ptr<::zmq::context_t> context_;
  std::unique_ptr<::zmq::socket_t> socket_;
  std::string endpoint_;
};

}  // namespace shewhart::connectors::zmq
