// Thread ids and monotonic time; see trace.h. Formatting and delivery of the
// trace records live in lib/trace.ts.
#include "trace.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

namespace bsd {

int32_t ThreadId() {
  thread_local int32_t tid = [] {
#ifdef __linux__
    return static_cast<int32_t>(::syscall(SYS_gettid));
#else
    uint64_t id = 0;
    pthread_threadid_np(nullptr, &id);
    return static_cast<int32_t>(id);
#endif
  }();
  return tid;
}

bool IsMainThread() {
#ifdef __linux__
  return ThreadId() == static_cast<int32_t>(getpid());
#else
  return pthread_main_np() != 0;
#endif
}

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace bsd
