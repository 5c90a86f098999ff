// Thread attributes for the engine's own threads (Linux).
//
// SetThreadName names the calling thread for top -H, perf and /proc/PID/task/TID/comm
// ("shw-shard0", "shw-responder", ...); Linux keeps at most 15 bytes, so a longer name is cut.
//
// RequestShortSlice asks the scheduler to treat a thread as latency-sensitive: on kernels with
// the EEVDF scheduler (Linux 6.6 and later; custom slices since 6.12) a SCHED_OTHER thread may set
// its time slice (sched_attr.sched_runtime, 0.1-100 ms). A thread with a short slice gets an early
// virtual deadline when it wakes, so it preempts a thread with the default slice (1.4 ms on the
// 2-core reference machine) instead of waiting for it to run out -- the difference between a wake-up latency of
// microseconds and of milliseconds on a machine with more runnable threads than cores. It needs
// no privilege and takes no more CPU than the thread would get anyway: its share (nice value) is
// unchanged, only sliced finer. Older kernels ignore the slice; an error is returned, not thrown.
#pragma once

#include <linux/sched.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>

namespace shewhart {

inline void SetThreadName(std::string_view name) {
  std::string n(name.substr(0, 15));
  (void)pthread_setname_np(pthread_self(), n.c_str());
}

// The layout of struct sched_attr (SCHED_ATTR_SIZE_VER0, 48 bytes): glibc 2.36 declares no
// wrapper and the kernel header's copy clashes with glibc's struct sched_param.
struct SchedAttr {
  std::uint32_t size;
  std::uint32_t sched_policy;
  std::uint64_t sched_flags;
  std::int32_t sched_nice;
  std::uint32_t sched_priority;
  std::uint64_t sched_runtime;
  std::uint64_t sched_deadline;
  std::uint64_t sched_period;
};
static_assert(sizeof(SchedAttr) == 48);

// The slice the signal path's threads (sources, libzmq's I/O threads, shards, responder) ask
// for: the kernel's minimum.
inline constexpr std::uint64_t kLatencySliceNs = 100'000;

// Sets the time slice of thread `tid` (0: the calling thread) to `slice_ns`, keeping its policy
// and nice value. Returns 0 or the errno of sched_setattr (EINVAL where the kernel takes no slice
// for SCHED_OTHER, EPERM for another process's thread).
inline int RequestShortSlice(std::uint64_t slice_ns, pid_t tid = 0) {
  SchedAttr attr{};
  attr.size = sizeof(attr);
  attr.sched_policy = SCHED_NORMAL;
  errno = 0;
  attr.sched_nice = getpriority(PRIO_PROCESS, static_cast<id_t>(tid == 0 ? gettid() : tid));
  if (errno != 0) return errno;
  attr.sched_runtime = slice_ns;
  return syscall(SYS_sched_setattr, tid, &attr, 0u) == 0 ? 0 : errno;
}

}  // namespace shewhart
