// Thread ids and monotonic time for the trace records.
#pragma once

#include <cstdint>

namespace bsd {

// gettid(2) of the calling thread (cached per thread).
int32_t ThreadId();
// True on the process's main thread (not a worker_thread, not a pool thread).
bool IsMainThread();
// CLOCK_MONOTONIC in nanoseconds.
int64_t NowNs();

}  // namespace bsd
