#include "shewhart/connectors/zmq/zmq_connectors.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>
#include <zmq.hpp>

namespace shewhart::connectors::zmq {
namespace {

using namespace std::chrono_literals;

struct Collect : engine::IngestSink {
  std::mutex mu;
  std::vector<engine::Measurement> measurements;
  std::vector<engine::UnitEvent> units;
  std::vector<engine::RejectRecord> rejects;
  bool OnMeasurement(const engine::Measurement& m) override {
    std::lock_guard l(mu);
    measurements.push_back(m);
    return true;
  }
  void OnUnitEvent(const engine::UnitEvent& e) override {
    std::lock_guard l(mu);
    units.push_back(e);
  }
  void OnReject(const engine::RejectRecord& r) override {
    std::lock_guard l(mu);
    rejects.push_back(r);
  }
  void OnTransportDrop(std::uint64_t) override {}
  std::size_t total() {
    std::lock_guard l(mu);
    return measurements.size() + units.size() + rejects.size();
  }
};

TEST(ZmqSourceTest, PullDecodesFramesAndRejectsBadOnes) {
  engine::CharacteristicIndex index({"bore"});
  engine::SourceSpec spec;
  spec.name = "zmq0";
  spec.zmq.endpoint = "tcp://127.0.0.1:*";
  ZmqSource source(spec, index, 4096);
  Collect sink;
  const std::int64_t started = engine::SteadyNowNs();
  ASSERT_TRUE(source.Start(sink).ok());
  ASSERT_NE(source.endpoint().find("tcp://127.0.0.1:"), std::string::npos);

  ::zmq::context_t ctx;
  ::zmq::socket_t push(ctx, ::zmq::socket_type::push);
  push.connect(source.endpoint());
  const std::vector<std::string> frames = {
      R"({"characteristic":"bore","value":1.5,"ts":1000,"serial":"S1","station":"st1"})",
      R"({"unit":"S1","station":"st1","ts":1000})",
      R"({"characteristic":"bore","value":)",
      R"({"characteristic":"bore","value":2.5})",
  };
  for (const auto& f : frames) push.send(::zmq::buffer(f), ::zmq::send_flags::none);
  for (int i = 0; i < 200 && sink.total() < frames.size(); ++i) std::this_thread::sleep_for(10ms);
  source.Stop();
  ASSERT_EQ(sink.measurements.size(), 2u);
  EXPECT_DOUBLE_EQ(sink.measurements[0].value, 1.5);
  EXPECT_EQ(sink.measurements[0].serial.view(), "S1");
  EXPECT_GT(sink.measurements[1].ts.time_since_epoch().count(), 1'700'000'000'000'000LL)
      << "a frame without ts takes its arrival time";
  EXPECT_GE(sink.measurements[0].arrival_ns, started) << "the source stamps the steady-clock arrival";
  EXPECT_LE(sink.measurements[0].arrival_ns, sink.measurements[1].arrival_ns);
  ASSERT_EQ(sink.units.size(), 1u);
  ASSERT_EQ(sink.rejects.size(), 1u);
  EXPECT_EQ(sink.rejects[0].source, "zmq0");
  EXPECT_EQ(sink.rejects[0].position, 3);
  EXPECT_EQ(sink.rejects[0].reason, engine::RejectReason::kMalformed);
  EXPECT_TRUE(source.status().ok());
}

TEST(ZmqSourceTest, HugeFramesAreRefusedByTheTransportAndOversizeOnesRejected) {
  engine::CharacteristicIndex index({"bore"});
  engine::SourceSpec spec;
  spec.name = "zmq0";
  spec.zmq.endpoint = "tcp://127.0.0.1:*";
  ZmqSource source(spec, index, 4096);
  Collect sink;
  ASSERT_TRUE(source.Start(sink).ok());
  ::zmq::context_t ctx;
  {
    // 64 MiB, far past twice the 4096-byte limit: libzmq drops it (and this connection) before
    // allocating it, so the engine never holds it.
    ::zmq::socket_t huge(ctx, ::zmq::socket_type::push);
    huge.set(::zmq::sockopt::linger, 0);
    huge.connect(source.endpoint());
    std::string big(64 << 20, 'x');
    huge.send(::zmq::buffer(big), ::zmq::send_flags::none);
    std::this_thread::sleep_for(300ms);
  }
  ::zmq::socket_t push(ctx, ::zmq::socket_type::push);
  push.connect(source.endpoint());
  const std::string oversize = R"({"characteristic":"bore","value":1,"x":")" + std::string(5000, 'y') + "\"}";
  push.send(::zmq::buffer(oversize), ::zmq::send_flags::none);
  push.send(::zmq::buffer(std::string(R"({"characteristic":"bore","value":2.5})")), ::zmq::send_flags::none);
  for (int i = 0; i < 200 && sink.total() < 2; ++i) std::this_thread::sleep_for(10ms);
  source.Stop();
  ASSERT_EQ(sink.rejects.size(), 1u) << "the huge frame never reached the decoder";
  EXPECT_EQ(sink.rejects[0].reason, engine::RejectReason::kOversize);
  ASSERT_EQ(sink.measurements.size(), 1u);
  EXPECT_DOUBLE_EQ(sink.measurements[0].value, 2.5);
}

TEST(ZmqSourceTest, BindFailureIsUnavailableNamingTheEndpoint) {
  engine::CharacteristicIndex index({"bore"});
  engine::SourceSpec spec;
  spec.name = "zmq0";
  spec.zmq.endpoint = "nonsense://here";
  ZmqSource source(spec, index, 4096);
  Collect sink;
  Status st = source.Start(sink);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("cannot bind nonsense://here"), std::string::npos) << st.message();
}

TEST(ZmqPubSinkTest, SubscriberReceivesAlarmJson) {
  ZmqPubSink pub;
  ASSERT_TRUE(pub.Bind("tcp://127.0.0.1:*").ok());
  ::zmq::context_t ctx;
  ::zmq::socket_t sub(ctx, ::zmq::socket_type::sub);
  sub.set(::zmq::sockopt::subscribe, "alarm");
  sub.set(::zmq::sockopt::rcvtimeo, 50);
  sub.connect(pub.endpoint());
  const std::string doc = R"({"type":"alarm","id":1})";
  // PUB/SUB joins late: publish until the subscriber sees a message.
  std::vector<::zmq::message_t> parts;
  for (int i = 0; i < 100 && parts.empty(); ++i) {
    ASSERT_TRUE(pub.Publish("alarm", doc).ok());
    ::zmq::message_t topic;
    if (sub.recv(topic, ::zmq::recv_flags::none)) {
      parts.push_back(std::move(topic));
      ::zmq::message_t body;
      ASSERT_TRUE(sub.recv(body, ::zmq::recv_flags::none));
      parts.push_back(std::move(body));
    }
  }
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].to_string(), "alarm");
  EXPECT_EQ(parts[1].to_string(), doc);
}

TEST(ZmqPubSinkTest, PublishBeforeBindIsFailedPrecondition) {
  ZmqPubSink pub;
  Status st = pub.Publish("alarm", "{}");
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace shewhart::connectors::zmq
