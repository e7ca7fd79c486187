// The one asynchronous machinery every blocking call goes through: capture
// the op on the main thread, run it on a libuv worker (wait.h RunAsync), and
// settle on the main thread by calling cb(result, extra). Raw uv_queue_work,
// not napi_async_work: Node waits for napi work before it runs cleanup hooks
// when a worker_thread ends, so a blocked call there could never be woken.
#pragma once

#include <napi.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cstdint>

#include "addon.h"
#include "fd_registry.h"
#include "trace.h"
#include "wait.h"

namespace bsd {

// Calls running on a pool thread (low 32 bits) and calls waiting for one
// (high 32 bits), process-wide (the libuv pool is shared by every
// worker_thread). One word, so a call moving from queued to busy is a single
// atomic add and threadpool() never sees it in neither count.
extern std::atomic<int64_t> g_pool_counters;
constexpr int64_t kPoolBusy = 1;
constexpr int64_t kPoolQueued = int64_t{1} << 32;

class AsyncCallBase {
 public:
  // Asks the call to stop with -err; a call still queued is dequeued.
  // Loop thread of the call's environment only (uv_cancel).
  void Cancel(int err);
  // Dequeues the call if no pool thread has taken it yet (uv_cancel).
  void Dequeue();
  virtual bool UsesFd(int fd) const = 0;

 protected:
  AsyncCallBase(AddonData* data, Napi::Function cb, Napi::Value pin);
  virtual ~AsyncCallBase();
  // Registers the fds, queues the work; returns the call id (> 0), or
  // -EBADF when an fd is being closed (nothing is queued then).
  int64_t Start();

  virtual ssize_t Execute() = 0;  // Worker thread.
  // The system call is over, or will never run: free what only it needed
  // (sendmsg's duplicated fds) before JS hears of the result.
  virtual void CallDone() = 0;
  virtual Napi::Value Extra(Napi::Env env) = 0;  // Main thread, after Execute.
  // A result nobody received (teardown, or the callback could not run):
  // release what it owns (an accepted fd, fds received with SCM_RIGHTS).
  virtual void Discard(ssize_t result) = 0;
  virtual int AcquireFds() = 0;
  virtual void ReleaseFds() = 0;

  InFlight inflight_;

 private:
  static void Work(uv_work_t* req);
  static void AfterWork(uv_work_t* req, int status);
  bool Settle();

  uv_work_t req_;
  AddonData* data_;
  Napi::FunctionReference cb_;
  Napi::Reference<Napi::Value> pin_;  // The buffer a worker reads or writes.
  uint32_t id_ = 0;
  ssize_t result_ = 0;
  int32_t tid_ = 0;
  int64_t queued_at_ = 0, started_at_ = 0, ended_at_ = 0;

  friend void CancelAll(AddonData* data, int err);
};

// Registers `call` as using each of op's fds (close-safety); 0 or -EBADF,
// in which case none stays registered.
template <typename Op>
int AcquireOpFds(const Op& op, InFlight* call) {
  int err = 0;
  size_t acquired = 0;
  op.ForEachFd([&](int fd) {
    if (err == 0 && (err = AcquireFd(fd, call)) == 0) acquired++;
  });
  if (err != 0) {
    op.ForEachFd([&](int fd) {
      if (acquired > 0) ReleaseFd(fd, call), acquired--;
    });
  }
  return err;
}

template <typename Op>
void ReleaseOpFds(const Op& op, InFlight* call) {
  op.ForEachFd([&](int fd) { ReleaseFd(fd, call); });
}

// A result nobody will receive: closes the fd it returned (accept) and
// whatever else the op holds for the caller (fds received with SCM_RIGHTS).
template <typename Op>
void DiscardResult(Op& op, ssize_t result) {
  if constexpr (Op::kReturnsFd) {
    if (result >= 0) ::close(static_cast<int>(result));
  }
  op.Discard(result);
}

template <typename Op>
class AsyncCall final : public AsyncCallBase {
 public:
  // Returns the JS value the native export returns: the id or -errno.
  static Napi::Value Queue(const Napi::CallbackInfo& info, Op&& op,
                           Napi::Value pin, Napi::Function cb) {
    auto* call = new AsyncCall(DataOf(info), std::move(op), pin, cb);
    int64_t id = call->Start();
    if (id < 0) delete call;
    return Napi::Number::New(info.Env(), static_cast<double>(id));
  }

 private:
  AsyncCall(AddonData* data, Op&& op, Napi::Value pin, Napi::Function cb)
      : AsyncCallBase(data, cb, pin), op_(std::move(op)) {}

  ssize_t Execute() override { return RunAsync(op_, inflight_); }
  void CallDone() override { op_.CallDone(); }
  void Discard(ssize_t result) override { DiscardResult(op_, result); }
  bool UsesFd(int fd) const override {
    bool uses = false;
    op_.ForEachFd([&](int used) { uses = uses || used == fd; });
    return uses;
  }
  Napi::Value Extra(Napi::Env env) override {
    if constexpr (Op::kHasExtra) {
      return op_.Extra(env);
    } else {
      return env.Undefined();
    }
  }
  int AcquireFds() override { return AcquireOpFds(op_, &inflight_); }
  void ReleaseFds() override { ReleaseOpFds(op_, &inflight_); }

  Op op_;
};

// Wakes every call of this environment with -err and dequeues those not yet
// running (process exit, worker_thread end).
void CancelAll(AddonData* data, int err);

// A *Sync call in a worker_thread: the same wakeable driver as the async
// form, on the calling thread. close() from another thread settles it with
// EBADF, process exit wakes it, and worker.terminate() is noticed within
// InFlight::kTickMs — where C's blocking call would hold the thread (and
// Node, which joins the thread) forever.
int TerminationTick(void* data);
template <typename Op>
ssize_t RunOnWorkerThread(Op& op, AddonData* data) {
  InFlight call;
  call.SetTick(TerminationTick, data);
  int err = AcquireOpFds(op, &call);
  if (err != 0) return err;
  ssize_t r = RunAsync(op, call);
  ReleaseOpFds(op, &call);
  return r;
}
// The two exports of an op, each C call's sync and async forms.

// `xSync(args…, out?)`: runs the op on this thread; an op's extra result
// (an address, a list) goes to out[0].
template <typename Op, Op (*Capture)(const Napi::CallbackInfo&), size_t kArgc>
Napi::Value SyncExport(const Napi::CallbackInfo& info) {
  Op op = Capture(info);
  AddonData* data = DataOf(info);
  ssize_t r = data->worker_thread ? RunOnWorkerThread(op, data) : op.Sync();
  // A failed call has no extra result unless the op has one to give (a
  // cancelled call may be in an environment that is ending, where building
  // one would throw). A result that cannot be returned releases what it
  // holds (accepted, received fds).
  if constexpr (Op::kHasExtra) {
    if (r >= 0 || op.ExtraOnFailure()) {
      try {
        Napi::Value extra = op.Extra(info.Env());
        if (info.Length() > kArgc && info[kArgc].IsArray()) {
          DefineElement(info[kArgc].As<Napi::Array>(), 0, extra);
        }
      } catch (...) {
        DiscardResult(op, r);
        throw;
      }
    }
  }
  return Napi::Number::New(info.Env(), static_cast<double>(r));
}

// `x(args…, cb)`: runs the op on a libuv worker; returns the call id (or
// -errno when it could not start) and later calls cb(result, extra).
// info[kPin] (the buffer) stays referenced until then.
template <typename Op, Op (*Capture)(const Napi::CallbackInfo&), size_t kArgc,
          int kPin>
Napi::Value AsyncExport(const Napi::CallbackInfo& info) {
  if (info.Length() <= kArgc || !info[kArgc].IsFunction()) {
    throw Napi::TypeError::New(info.Env(), "callback must be a function");
  }
  Napi::Value pin = kPin >= 0 ? info[kPin] : Napi::Value();
  return AsyncCall<Op>::Queue(info, Capture(info), pin,
                              info[kArgc].As<Napi::Function>());
}

// Cancels call `id` of this environment; false when it has already settled.
bool CancelCall(AddonData* data, uint32_t id, int err);
// Dequeues this environment's calls on `fd` still waiting for a pool thread
// (close: CloseFd has told every call on it to stop), so they settle at once
// instead of when a thread frees up.
void DequeueCallsOnFd(AddonData* data, int fd);

}  // namespace bsd
