#include "shewhart/connectors/zmq/zmq_connectors.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <zmq.hpp>

#include "shewhart/base/thread.h"

namespace shewhart::connectors::zmq {

using engine::Decoded;
using engine::DecodedKind;

namespace {

// libzmq's I/O threads ("ZMQbg/IO/N") read the sockets before the source thread sees a frame:
// they get the measurement path's short slice too (see RequestShortSlice). Best effort.
void ShortenZmqIoSlices() {
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (!std::getline(comm, name) || name.rfind("ZMQbg/IO/", 0) != 0) continue;
    const std::string tid = task.path().filename().string();
    (void)RequestShortSlice(kLatencySliceNs, static_cast<pid_t>(std::stol(tid)));
  }
}

}  // namespace

ZmqSource::ZmqSource(engine::SourceSpec spec, const engine::CharacteristicIndex& index, std::size_t max_message_bytes)
    : spec_(std::move(spec)), index_(index), max_bytes_(max_message_bytes) {}

ZmqSource::~ZmqSource() { Stop(); }

Status ZmqSource::Start(engine::IngestSink& sink) {
  const auto& z = spec_.zmq;
  try {
    context_ = std::make_unique<::zmq::context_t>(1);
    socket_ =
        std::make_unique<::zmq::socket_t>(*context_, z.subscribe ? ::zmq::socket_type::sub : ::zmq::socket_type::pull);
    socket_->set(::zmq::sockopt::rcvhwm, z.receive_hwm);
    socket_->set(::zmq::sockopt::linger, 0);
    socket_->set(::zmq::sockopt::rcvtimeo, 100);
    // libzmq itself refuses a frame longer than twice engine.max_message_bytes (it closes that
    // peer's connection) before allocating it: memory stays bounded by the receive HWM times
    // this. A frame between the two gets its reject record (oversize) from the decoder.
    socket_->set(::zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(2 * max_bytes_));
    if (z.subscribe) socket_->set(::zmq::sockopt::subscribe, "");
    if (z.bind) socket_->bind(z.endpoint);
    else socket_->connect(z.endpoint);
    endpoint_ = z.bind ? socket_->get(::zmq::sockopt::last_endpoint) : z.endpoint;
    ShortenZmqIoSlices();
  } catch (const ::zmq::error_t& e) {
    socket_.reset();
    context_.reset();
    return Unavailable("source " + spec_.name + ": cannot " + (z.bind ? "bind " : "connect ") + z.endpoint + ": " +
                       e.what());
  }
  std::promise<void> attached;
  std::future<void> started = attached.get_future();
  thread_ = std::thread([this, &sink, &attached] {
    (void)RequestShortSlice(kLatencySliceNs);  // before the name: a named thread has its slice
    SetThreadName("shw-src-" + spec_.name);
    // The sink may judge on this thread and take work from others: it wakes this thread
    // through `wake_fd`, which is waited on beside the socket.
    const int wake_fd = sink.Attach();
    attached.set_value();
    Run(sink, wake_fd);
  });
  started.wait();
  return Status::Ok();
}

void ZmqSource::Run(engine::IngestSink& sink, int wake_fd) {
  engine::Decoder decoder(index_, max_bytes_);
  Decoded d;
  engine::RejectRecord reject;
  ::zmq::message_t msg;
  std::int64_t position = 0;
  struct DetachAtEnd {
    engine::IngestSink& sink;
    ~DetachAtEnd() { sink.Detach(); }
  } detach{sink};
  while (!stop_.load(std::memory_order_relaxed)) {
    try {
      // A burst is taken without waiting; before the receive waits, the sink hands over what it
      // has queued (IngestSink::Flush).
      auto got = socket_->recv(msg, ::zmq::recv_flags::dontwait);
      if (!got) {
        if (!sink.Flush()) continue;  // work for this thread arrived meanwhile
        if (wake_fd < 0) {
          got = socket_->recv(msg, ::zmq::recv_flags::none);
          if (!got) continue;  // timeout: look at the stop flag
        } else {
          ::zmq::pollitem_t items[] = {{socket_->handle(), 0, ZMQ_POLLIN, 0}, {nullptr, wake_fd, ZMQ_POLLIN, 0}};
          // 10 ms at most, as a shard's own thread: a producer that queues for this thread
          // wakes it only every so many measurements.
          (void)::zmq::poll(items, 2, std::chrono::milliseconds(10));
          continue;  // a frame, work from another thread, or the timeout: look again
        }
      }
    } catch (const ::zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      std::lock_guard lock(mu_);
      status_ = Unavailable("source " + spec_.name + ": receive failed: " + e.what());
      return;
    }
    ++position;
    const std::int64_t arrival_ns = engine::SteadyNowNs();
    received_.fetch_add(1, std::memory_order_relaxed);
    std::string_view bytes(static_cast<const char*>(msg.data()), msg.size());
    // A message without "ts" takes its arrival time on the wall clock, read only for such ones.
    auto wall_now = [] {
      return engine::EventTime(std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now())
                                   .time_since_epoch());
    };
    switch (decoder.DecodeJson(bytes, engine::EventTime{}, d)) {
      case DecodedKind::kMeasurement:
        d.measurement.position = position;
        d.measurement.arrival_ns = arrival_ns;
        if (d.ts_defaulted) d.measurement.ts = wall_now();
        if (!sink.OnMeasurement(d.measurement)) return;
        break;
      case DecodedKind::kUnitEvent:
        if (d.ts_defaulted) d.unit_event.ts = wall_now();
        sink.OnUnitEvent(d.unit_event);
        break;
      case DecodedKind::kReject:
        engine::MakeRejectRecord(d, spec_.name, position, bytes, reject);
        sink.OnReject(reject);
        break;
    }
  }
}

void ZmqSource::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  socket_.reset();
  context_.reset();
}

Status ZmqSource::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

ZmqPubSink::ZmqPubSink() = default;
ZmqPubSink::~ZmqPubSink() {
  socket_.reset();
  context_.reset();
}

Status ZmqPubSink::Bind(const std::string& endpoint) {
  try {
    context_ = std::make_unique<::zmq::context_t>(1);
    socket_ = std::make_unique<::zmq::socket_t>(*context_, ::zmq::socket_type::pub);
    socket_->set(::zmq::sockopt::linger, 1000);
    socket_->bind(endpoint);
    endpoint_ = socket_->get(::zmq::sockopt::last_endpoint);
  } catch (const ::zmq::error_t& e) {
    socket_.reset();
    context_.reset();
    return Unavailable("zmq_pub: cannot bind " + endpoint + ": " + e.what());
  }
  return Status::Ok();
}

Status ZmqPubSink::Publish(std::string_view topic, std::string_view json) {
  if (!socket_) return FailedPrecondition("zmq_pub: not bound");
  std::lock_guard lock(mu_);
  try {
    socket_->send(::zmq::buffer(topic.data(), topic.size()), ::zmq::send_flags::sndmore);
    socket_->send(::zmq::buffer(json.data(), json.size()), ::zmq::send_flags::none);
  } catch (const ::zmq::error_t& e) {
    return Unavailable("zmq_pub " + endpoint_ + ": " + e.what());
  }
  return Status::Ok();
}

}  // namespace shewhart::connectors::zmq
