// Thread names and time slices (base/include/shewhart/base/thread.h), read back from /proc.
#include "shewhart/base/thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "../test_util.h"

namespace shewhart {
namespace {

std::string TaskFile(pid_t tid, const char* name) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/" + name);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The "se.slice" line of /proc/self/task/TID/sched in ns, -1 when the kernel shows none.
long long SliceOf(pid_t tid) {
  std::istringstream in(TaskFile(tid, "sched"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("se.slice", 0) != 0) continue;
    return std::stoll(line.substr(line.find(':') + 1));
  }
  return -1;
}

TEST(ThreadTest, NamesTheCallingThreadCutToFifteenBytes) {
  std::string comm;
  std::thread t([&] {
    SetThreadName("shw-a-very-long-thread-name");
    comm = TaskFile(gettid(), "comm");
  });
  t.join();
  EXPECT_EQ(comm, "shw-a-very-long\n");
}

TEST(ThreadTest, ShortSliceIsWhatTheSchedulerShows) {
  int rc = -1;
  long long before = -1, after = -1;
  std::thread t([&] {
    const pid_t tid = gettid();
    before = SliceOf(tid);
    rc = RequestShortSlice(kLatencySliceNs);
    after = SliceOf(tid);
  });
  t.join();
  if (!testing::KernelTakesSlices()) GTEST_SKIP() << "custom slices need Linux 6.12 or later";
  ASSERT_EQ(rc, 0) << std::strerror(rc);
  ASSERT_GE(before, 0) << "no se.slice in /proc/self/task/TID/sched";
  EXPECT_EQ(after, static_cast<long long>(kLatencySliceNs));
  EXPECT_NE(before, after) << "the default slice was already the short one";
}

TEST(ThreadTest, ShortSliceOfAnotherThreadByItsId) {
  pid_t tid = 0;
  std::atomic<bool> go{false}, done{false};
  std::thread t([&] {
    tid = gettid();
    go = true;
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (!go) std::this_thread::yield();
  const long long before = SliceOf(tid);
  const int rc = RequestShortSlice(kLatencySliceNs, tid);
  const long long after = SliceOf(tid);
  done = true;
  t.join();
  if (!testing::KernelTakesSlices()) GTEST_SKIP() << "custom slices need Linux 6.12 or later";
  ASSERT_EQ(rc, 0) << std::strerror(rc);
  ASSERT_GE(before, 0) << "no se.slice in /proc/self/task/TID/sched";
  EXPECT_EQ(after, static_cast<long long>(kLatencySliceNs));
}

}  // namespace
}  // namespace shewhart
