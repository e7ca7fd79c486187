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

// When a wait must end, on the monotonic clock; or never. Each retry after
// EINTR (or a wake-up that asked nothing) waits only for what is left.
class Deadline {
 public:
  static Deadline Never() { return Deadline(-1); }
  // `timeout_ms` after `from_ns`; a negative timeout is never, as poll(2)
  // has it.
  static Deadline In(int timeout_ms, int64_t from_ns = NowNs()) {
    return timeout_ms < 0 ? Never()
                          : Deadline(from_ns + int64_t{timeout_ms} * 1000000);
  }
  bool never() const { return at_ns_ < 0; }
  Deadline Sooner(Deadline other) const {
    if (never()) return other;
    return other.never() || at_ns_ <= other.at_ns_ ? *this : other;
  }
  bool Passed() const { return !never() && NowNs() >= at_ns_; }
  // What is left as poll(2)'s timeout: -1 for never, else ms rounded up
  // (0 once passed).
  int PollMs() const {
    if (never()) return -1;
    int64_t left = at_ns_ - NowNs();
    return left <= 0 ? 0 : static_cast<int>((left + 999999) / 1000000);
  }

 private:
  explicit Deadline(int64_t at_ns) : at_ns_(at_ns) {}
  int64_t at_ns_;
};

// The pause before retry `attempt` (0, 1, …) of a call that has no readiness
// to wait for: 1, 2, 4 … 64, then 100 ms.
inline int BackoffMs(int attempt) { return attempt < 7 ? 1 << attempt : 100; }

// Waits on fds[0 .. n-2] (fds[n-1] is filled here with this thread's wake-up
// fd) until one is ready, `deadline` passes, or `call` is woken. EINTR is
// retried. Returns the number of ready fds, 0 after the deadline or a
// wake-up, or -errno.
int WaitFor(InFlight& call, pollfd* fds, nfds_t n, Deadline deadline);

// A wait C restarts after a signal with what is left of its timeout
// (poll(2), epoll_wait(2)): wait(ms) is the call.
template <typename Fn>
ssize_t RetryEintrFor(int timeout_ms, Fn&& wait) {
  Deadline deadline = Deadline::In(timeout_ms);
  for (;;) {
    ssize_t r = wait(deadline.PollMs());
    if (r >= 0 || errno != EINTR) return OrErrno(r);
  }
}

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
  Deadline deadline = Deadline::In(timeout_ms, start);
  for (;;) {
    if (deadline.Passed()) return -EAGAIN;
    pollfd p = {fd, events, 0};
    int w = ::poll(&p, 1, deadline.PollMs());
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
    // From SO_RCVTIMEO/SO_SNDTIMEO, as the blocking call has.
    Deadline deadline = Deadline::Never();
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
        deadline = Deadline::In(SocketTimeoutMs(op.fd, op.Events()));
        mode_checked = true;
      }
      if (deadline.Passed()) return op.Progress() > 0 ? op.Progress() : -EAGAIN;
      if (stale >= 2) {
        // poll(2) keeps reporting op.fd ready and the call keeps meeting
        // EAGAIN: a wait the fd cannot show, as an unconnected Unix datagram
        // socket's for room in the receiver it sends to. A growing pause
        // instead of a busy loop; a wake-up still ends it at once.
        pollfd wake_only[1];
        Deadline pause = Deadline::In(BackoffMs(stale - 2));
        int w = WaitFor(call, wake_only, 1, pause.Sooner(deadline));
        if (w < 0) return op.Progress() > 0 ? op.Progress() : w;
        ready = ReadyNow(op.fd, op.Events());
        continue;
      }
      pollfd fds[2] = {{op.fd, op.Events(), 0}, {}};
      int w = WaitFor(call, fds, 2, deadline);
      if (w < 0) return op.Progress() > 0 ? op.Progress() : w;
      ready = fds[0].revents != 0;
    }
  }
}

}  // namespace bsd
