// How a worker thread waits so that it can always be woken: poll(2) on the
// call's fds together with the thread's own wake-up fd, then the system call
// made so that it cannot block. (N-API and libuv cannot stop a running call.)
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cerrno>

#include "errors.h"
#include "fd_registry.h"
#include "trace.h"

namespace bsd {

// Waits on fds[0 .. n-2] (fds[n-1] is filled here with this thread's wake-up
// fd) until one is ready, `timeout_ms` passes (-1: never), or `call` is
// woken. EINTR is retried with the timeout recomputed. Returns the number of
// ready fds, 0 after a timeout or a wake-up, or -errno.
int WaitFor(InFlight& call, pollfd* fds, nfds_t n, int timeout_ms);

// The write end of this thread's wake-up fd (the one WaitFor polls), or -1.
// A write to it makes this thread's current or next WaitFor return; a stale
// one costs a spurious return, which every caller already allows for.
int ThisThreadWakeFd();

// True when fd's file status flags include O_NONBLOCK: the caller chose C's
// non-blocking semantics, so an async call fails with EAGAIN as C would.
bool IsNonBlocking(int fd);

// poll(2) with a zero timeout: is `fd` ready for `events` right now?
bool ReadyNow(int fd, short events);

// The same, with the revents (POLLERR, POLLHUP and POLLNVAL come whatever
// the mask); 0 when nothing is ready.
short ReventsNow(int fd, short events);

// SO_RCVTIMEO (waiting to read) or SO_SNDTIMEO (to write) of a socket, in
// ms; -1 when unset. After it, C's blocking call fails with EAGAIN.
int SocketTimeoutMs(int fd, short events);

// A blocking call made as C makes it, EINTR retried, keeping C's
// SO_RCVTIMEO/SO_SNDTIMEO: the kernel would restart the whole timeout on
// each retry (a signal storm would make it endless), so after a signal the
// rest of it is waited with poll(2) before the call is made again.
template <typename Fn>
ssize_t RetryEintrTimed(int fd, short events, Fn&& fn) {
  int64_t start = NowNs();
  ssize_t r = fn();
  if (r >= 0 || errno != EINTR) return OrErrno(r);
  int timeout_ms = SocketTimeoutMs(fd, events);
  if (timeout_ms < 0) return RetryEintr(fn);
  int64_t deadline = start + int64_t{timeout_ms} * 1000000;
  for (;;) {
    int64_t left = deadline - NowNs();
    if (left <= 0) return -EAGAIN;
    pollfd p = {fd, events, 0};
    int w = ::poll(&p, 1, static_cast<int>((left + 999999) / 1000000));
    if (w < 0 && errno != EINTR) return -errno;
    if (w <= 0) continue;  // Interrupted, or woke a moment early: recompute.
    r = fn();
    if (r >= 0 || errno != EINTR) return OrErrno(r);
  }
}

// The generic asynchronous driver for an op on one fd: try the call without
// blocking; on EAGAIN wait for readiness (or a wake-up) and try again. An op
// with its own driver (poll, connect, getaddrinfo) defines RunAsync instead.
template <typename Op>
ssize_t RunAsync(Op& op, InFlight& call) {
  if constexpr (Op::kOwnDriver) {
    return op.RunAsync(call);
  } else {
    bool mode_checked = false;
    int64_t deadline =
        -1;  // From SO_RCVTIMEO/SO_SNDTIMEO, as the blocking call has.
    bool ready = false;  // The last wait reported op.fd ready.
    int stale = 0;       // Readiness reports in a row the call met with EAGAIN.
    for (;;) {
      if (int err = call.cancelled())
        return op.Progress() > 0 ? op.Progress() : -err;
      ssize_t before = op.Progress();
      ssize_t r = op.TryNow();
      if (r != -EAGAIN && r != -EWOULDBLOCK) return r;
      stale = ready && op.Progress() == before ? stale + 1 : 0;
      if (!mode_checked) {
        if (op.NonBlockingCall() || IsNonBlocking(op.fd)) {
          return op.Progress() > 0 ? op.Progress() : r;
        }
        int timeout = SocketTimeoutMs(op.fd, op.Events());
        if (timeout >= 0) deadline = NowNs() + int64_t{timeout} * 1000000;
        mode_checked = true;
      }
      int wait_ms = -1;
      if (deadline >= 0) {
        int64_t left = deadline - NowNs();
        if (left <= 0) return op.Progress() > 0 ? op.Progress() : -EAGAIN;
        wait_ms = static_cast<int>((left + 999999) / 1000000);
      }
      if (stale >= 2) {
        // poll(2) keeps reporting op.fd ready and the call keeps meeting
        // EAGAIN: a wait the fd cannot show, as an unconnected Unix datagram
        // socket's for room in the receiver it sends to. A pause growing to
        // 100 ms instead of a busy loop; a wake-up still ends it at once.
        int pause = stale < 9 ? 1 << (stale - 2) : 100;
        if (wait_ms >= 0 && wait_ms < pause) pause = wait_ms;
        pollfd wake_only[1];
        int w = WaitFor(call, wake_only, 1, pause);
        if (w < 0) return op.Progress() > 0 ? op.Progress() : w;
        ready = ReadyNow(op.fd, op.Events());
        continue;
      }
      pollfd fds[2] = {{op.fd, op.Events(), 0}, {}};
      int w = WaitFor(call, fds, 2, wait_ms);
      if (w < 0) return op.Progress() > 0 ? op.Progress() : w;
      ready = fds[0].revents != 0;
    }
  }
}

}  // namespace bsd
