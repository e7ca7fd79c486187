// Close-safety. Linux does not wake a call blocked on an fd when another
// thread closes it, and hands the fd number to the next socket() at once. So
// every asynchronous call registers the fds it uses here; close(fd) marks the
// fd closing, wakes those calls, and the real ::close() happens when the last
// of them has left (the per-fd reference count Go's runtime keeps too).
// Process-wide: fd numbers are shared by every worker_thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "trace.h"

namespace bsd {

// The part of an asynchronous call that other threads may touch: why it must
// stop, and the wake-up fd of the worker thread running it.
class InFlight {
 public:
  // Asks the call to stop with -err (the first reason wins) and wakes it.
  void Cancel(int err);
  // Wakes the call so it looks at its fd again (after shutdown(2)).
  void Nudge();
  // 0, or the errno the call must stop with.
  // seq_cst, not acquire: with Arm() this is a store-buffering pattern, and
  // only seq_cst on both sides forbids both threads missing each other.
  int cancelled() const {
    return cancel_errno_.load(std::memory_order_seq_cst);
  }

  // Worker side: publish/withdraw the fd to write to wake this call.
  void Arm(int wake_write_fd) {
    wake_fd_.store(wake_write_fd, std::memory_order_seq_cst);
  }
  void Disarm() { wake_fd_.store(-1, std::memory_order_seq_cst); }

  // A check the waiting thread runs every kTickMs while it waits, however
  // its waits are cut up; a non-zero errno it returns cancels the call. (A
  // *Sync call in a worker_thread uses it to notice worker.terminate(), which
  // nothing else can tell it.)
  using Tick = int (*)(void* arg);
  static constexpr int kTickMs = 100;
  void SetTick(Tick tick, void* arg) {
    tick_ = tick;
    tick_arg_ = arg;
    next_tick_ns_ = NowNs() + int64_t{kTickMs} * 1000000;
  }
  bool ticks() const { return tick_ != nullptr; }
  // Milliseconds until the check is due, rounded up; 0 when it is.
  int MsToTick() const {
    int64_t left = next_tick_ns_ - NowNs();
    return left <= 0 ? 0 : static_cast<int>((left + 999999) / 1000000);
  }
  void RunTick() {
    next_tick_ns_ = NowNs() + int64_t{kTickMs} * 1000000;
    if (int err = tick_(tick_arg_)) Cancel(err);
  }

 private:
  Tick tick_ = nullptr;
  void* tick_arg_ = nullptr;
  int64_t next_tick_ns_ = 0;
  std::atomic<int> cancel_errno_{0};
  std::atomic<int> wake_fd_{-1};
};

// Registers `call` as using `fd`: 0, or -EBADF when `fd` is being closed.
int AcquireFd(int fd, InFlight* call);
// Ends that use; performs a close(2) that was deferred until now.
void ReleaseFd(int fd, InFlight* call);
// close(2) for the library: closes now when no call uses `fd`, else cancels
// those calls with EBADF, sets *deferred, and closes when the last one
// releases it.
int CloseFd(int fd, bool* deferred);
// Wakes every call on `fd` to re-check it (shutdown(2) wakes them this way).
void NudgeFd(int fd);
// The lock that serialises accept(2) on a listening fd among our calls, or
// null when no asynchronous call uses `fd`. The holder keeps it alive.
std::shared_ptr<std::mutex> AcceptLockIfInUse(int fd);
// Writes to a wake-up fd (eventfd or pipe); safe from any thread.
void WakeFd(int fd);
// Cancels every registered call of the process (process exit).
void CancelAllInFlight(int err);

}  // namespace bsd
