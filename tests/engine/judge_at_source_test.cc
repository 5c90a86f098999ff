// engine.judge: source -- a zmq source's thread judges its own shard's measurements, and the
// measurements of other shards cross a queue; key groups place characteristics on shards.
#include <gtest/gtest.h>
#include <pthread.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "engine_fixture.h"
#include "shewhart/connectors/zmq/zmq_connectors.h"
#include "shewhart/engine/model/key_group.h"
#include "shewhart/engine/pipeline/bounded_queue.h"

namespace shewhart::engine {
namespace {

using namespace std::chrono_literals;

// The published FNV-1a 32-bit test vectors: "" 0x811c9dc5, "a" 0xe40c292c, "foobar" 0xbf9cf968.
TEST(KeyGroupTest, IsFnv1aOfTheIdModuloTheGroups) {
  EXPECT_EQ(KeyGroupOf(""), 0xc5u);
  EXPECT_EQ(KeyGroupOf("a"), 0x2cu);
  EXPECT_EQ(KeyGroupOf("foobar"), 0x68u);
  EXPECT_EQ(ShardOfGroup(0x68, 3), 0x68u % 3);
  EXPECT_EQ(ShardOfGroup(255, 1), 0u);
}

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

// A consumer waiting in poll() on an eventfd is woken by a push; one that does not wait costs
// producers no write.
TEST(BoundedQueueTest, AnExternalWaitIsWokenThroughTheEventfd) {
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  BoundedQueue<int> q(8);
  q.SetWakeFd(fd);
  ASSERT_TRUE(q.TryPush(1));
  EXPECT_FALSE(Readable(fd, 0)) << "nobody waits: no write";
  EXPECT_FALSE(q.BeginExternalWait()) << "an item is there: do not wait";
  int v;
  ASSERT_TRUE(q.TryPop(v));
  ASSERT_TRUE(q.BeginExternalWait());
  std::thread producer([&] {
    std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(q.TryPush(2));
  });
  EXPECT_TRUE(Readable(fd, 5000)) << "the push woke the waiting consumer";
  q.EndExternalWait();
  producer.join();
  EXPECT_EQ(q.size(), 1u);
  eventfd_t ignored;
  (void)eventfd_read(fd, &ignored);
  ASSERT_TRUE(q.TryPop(v));
  ASSERT_TRUE(q.TryPush(3));
  EXPECT_FALSE(Readable(fd, 0)) << "the wait ended: no write";
  ASSERT_TRUE(q.BeginExternalWait() == false);
  ::close(fd);
}

// Records the thread each signal was raised on (the listener hears it on the judging thread).
struct ThreadsOfSignals : EngineListener {
  std::mutex mu;
  std::map<std::string, std::set<std::string>> threads;  // characteristic -> thread names
  std::size_t signals = 0;
  void OnSignal(const std::string& characteristic, const Signal&) override {
    char name[32] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    std::lock_guard lock(mu);
    threads[characteristic].insert(name);
    ++signals;
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return signals;
  }
};

std::string ConfigWithTwoZmqSources(const std::string& judge, const std::string& rules = "[nelson.1]") {
  std::string c = "engine: { shards: 2, queue_capacity: 16, judge: " + judge +
                  " }\n"
                  "sources:\n"
                  "  - zmq: { bind: \"tcp://127.0.0.1:*\" }\n"
                  "  - zmq: { bind: \"tcp://127.0.0.1:*\" }\n"
                  "characteristics:\n";
  for (int i = 0; i < 8; ++i) {
    c += "  - id: k" + std::to_string(i) +
         "\n    chart: { type: individuals, mr_rules: false }\n    limits: { mean: 10, sigma: 1 }\n"
         "    rules: " +
         rules + "\n";
  }
  return c;
}

class JudgeAtSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("shewhart-judge-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts the engine and both sources; pushers_[i] sends to source i.
  void Start(const std::string& judge, const std::string& rules = "[nelson.1]") {
    config_ = fixture::LoadOrDie(ConfigWithTwoZmqSources(judge, rules));
    EngineOptions opts;
    opts.threaded = true;
    opts.listener = &listener_;
    opts.store_path = (dir_ / "s.db").string();
    engine_ = std::make_unique<Engine>(config_, opts);
    ASSERT_TRUE(engine_->Start().ok());
    for (std::size_t i = 0; i < 2; ++i) {
      sources_[i] = std::make_unique<connectors::zmq::ZmqSource>(config_.sources[i], engine_->index(), 4096);
      ASSERT_TRUE(sources_[i]->Start(engine_->RegisterSource(config_.sources[i].name)).ok());
      pushers_[i] = std::make_unique<::zmq::socket_t>(ctx_, ::zmq::socket_type::push);
      pushers_[i]->connect(sources_[i]->endpoint());
    }
  }
  // `n` measurements of characteristic k<c> through source `via`, every 10th out of control.
  void Send(std::size_t via, int c, int n) {
    for (int j = 0; j < n; ++j) {
      const std::string v = j % 10 == 9 ? "20" : "10";
      const std::string frame = R"({"characteristic":"k)" + std::to_string(c) + R"(","value":)" + v + "}";
      pushers_[via]->send(::zmq::buffer(frame), ::zmq::send_flags::none);
    }
  }
  // The source that judges a characteristic (= its shard's index).
  static std::size_t Home(int c) { return ShardOfGroup(KeyGroupOf("k" + std::to_string(c)), 2); }
  bool WaitForSignals(std::size_t n) {
    for (int i = 0; i < 1000 && listener_.count() < n; ++i) std::this_thread::sleep_for(10ms);
    return listener_.count() == n;
  }
  void StopAll() {
    for (auto& p : pushers_) p.reset();
    for (auto& s : sources_) {
      if (s) s->Stop();
    }
    engine_->Stop();
  }

  std::filesystem::path dir_;
  Config config_;
  ThreadsOfSignals listener_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<connectors::zmq::ZmqSource> sources_[2];
  ::zmq::context_t ctx_;
  std::unique_ptr<::zmq::socket_t> pushers_[2];
};

// Each characteristic sent both to its own source and to the other one, through 16-slot queues
// (the two sources wait on each other's full queue): everything is judged, on the home
// source's thread.
TEST_F(JudgeAtSourceTest, EachSourceJudgesItsShardAndTheOthersCrossAQueue) {
  Start("source");
  ASSERT_NE(Home(0), Home(1)) << "k0 and k1 must sit on different shards for this test";
  for (int c = 0; c < 8; ++c) {
    Send(0, c, 500);
    Send(1, c, 500);
  }
  EXPECT_TRUE(WaitForSignals(8 * 100)) << listener_.count();
  for (int c = 0; c < 8; ++c) {
    const std::string id = "k" + std::to_string(c);
    EXPECT_EQ(listener_.threads[id], std::set<std::string>{"shw-src-zmq" + std::to_string(Home(c))}) << id;
  }
  StopAll();
  EXPECT_EQ(engine_->measurements(), 8000u);
  EXPECT_EQ(engine_->signals(), 800u);
}

// engine.judge: shard keeps every shard on its own thread.
TEST_F(JudgeAtSourceTest, JudgeShardLeavesTheShardsTheirThreads) {
  Start("shard");
  for (int c = 0; c < 8; ++c) Send(0, c, 100);
  EXPECT_TRUE(WaitForSignals(8 * 10)) << listener_.count();
  for (int c = 0; c < 8; ++c) {
    const std::string id = "k" + std::to_string(c);
    EXPECT_EQ(listener_.threads[id], std::set<std::string>{"shw-shard" + std::to_string(Home(c))}) << id;
  }
  StopAll();
  EXPECT_EQ(engine_->measurements(), 800u);
}

// The `stale` rule's clock reaches an adopted shard through its queue: the responder's tick
// wakes the source sleeping in poll() on the queue's eventfd, and the source judges it.
TEST_F(JudgeAtSourceTest, TheStaleClockWakesASourceThatJudgesItsShard) {
  Start("source", "[nelson.1, { stale: { after: 200ms } }]");
  EXPECT_TRUE(WaitForSignals(8)) << listener_.count() << " stale signals";
  for (int c = 0; c < 8; ++c) {
    const std::string id = "k" + std::to_string(c);
    EXPECT_EQ(listener_.threads[id], std::set<std::string>{"shw-src-zmq" + std::to_string(Home(c))}) << id;
  }
  StopAll();
}

// A source that stops hands its shard back to a thread of its own, which judges what the other
// source routes there; the engine stops while the other source still judges its shard.
TEST_F(JudgeAtSourceTest, AStoppedSourceHandsItsShardBackAndStopWaitsForTheOther) {
  Start("source");
  int away = 0;  // a characteristic judged by source 1
  while (Home(away) != 1) ++away;
  sources_[1]->Stop();
  Send(0, away, 100);
  EXPECT_TRUE(WaitForSignals(10)) << listener_.count();
  EXPECT_EQ(listener_.threads["k" + std::to_string(away)], std::set<std::string>{"shw-shard1"});
  engine_->Stop();  // source 0 still attached: it lets go when the close wakes it
  StopAll();
  EXPECT_EQ(engine_->measurements(), 100u);
}

}  // namespace
}  // namespace shewhart::engine
