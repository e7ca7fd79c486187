// The "-errno" convention: every native call returns a C-like number, >= 0 on
// success and -errno on failure. Native code builds no SocketError;
// lib/errors.ts does, from that number and the call's own arguments.
#pragma once

#include <sys/types.h>

#include <cerrno>

namespace bsd {

// Runs `fn` (a system call returning -1 and setting errno on failure) until it
// does not fail with EINTR. Never use it for close(2): Linux has released the
// fd even when close fails with EINTR, so a retry could close a reused number.
template <typename Fn>
inline ssize_t RetryEintr(Fn&& fn) {
  for (;;) {
    ssize_t r = fn();
    if (r >= 0) return r;
    if (errno != EINTR) return -errno;
  }
}

// Maps a -1/errno result to -errno without retrying.
inline ssize_t OrErrno(ssize_t r) { return r < 0 ? -errno : r; }

// The C name of an errno value ("ECONNREFUSED"), or nullptr if unknown.
const char* ErrnoName(int err);

}  // namespace bsd
