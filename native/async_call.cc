// The asynchronous machinery; see async_call.h.
#include "async_call.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include <cerrno>
#include <climits>
#include <cstdint>

#include "sockopt.h"

namespace bsd {

std::atomic<int64_t> g_pool_counters{0};

namespace {

// A libuv pool thread's wake-up fd: an eventfd on Linux, a pipe elsewhere.
// Created on the thread's first call and kept for the thread's lifetime (the
// pool's threads live until the process exits).
struct WakeupFd {
  int read_fd = -1;
  int write_fd = -1;
  WakeupFd() {
#ifdef __linux__
    read_fd = write_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
#else
    int p[2];
    if (pipe(p) == 0) {
      for (int fd : p) {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, O_NONBLOCK);
      }
      read_fd = p[0];
      write_fd = p[1];
    }
#endif
  }
  // A worker_thread's *Sync calls use one too, and such a thread ends. Every
  // waker writes under the registry mutex before the call releases its fds,
  // so no write can reach these numbers after they are closed.
  ~WakeupFd() {
    if (read_fd >= 0) ::close(read_fd);
    if (write_fd >= 0 && write_fd != read_fd) ::close(write_fd);
  }
  void Drain() const {
    char buf[64];
    while (::read(read_fd, buf, sizeof(buf)) > 0) {
    }
  }
};

WakeupFd& ThreadWakeupFd() {
  thread_local WakeupFd fd;
  return fd;
}

}  // namespace

int ThisThreadWakeFd() { return ThreadWakeupFd().write_fd; }

int WaitFor(InFlight& call, pollfd* fds, nfds_t n, Deadline deadline) {
  WakeupFd& wake = ThreadWakeupFd();
  if (wake.read_fd < 0) return -EMFILE;
  fds[n - 1] = {wake.read_fd, POLLIN, 0};
  call.Arm(wake.write_fd);
  int r = 0;
  // Armed first, then checked: a Cancel() in between either sees the wake fd
  // or is seen here (both sides are seq_cst).
  while (call.cancelled() == 0) {
    int wait_ms = deadline.PollMs();
    bool tick = false;
    if (call.ticks()) {
      int tick_ms = call.MsToTick();
      if (tick_ms == 0) {
        call.RunTick();
        continue;
      }
      tick = wait_ms < 0 || wait_ms > tick_ms;
      if (tick) wait_ms = tick_ms;
    }
    r = ::poll(fds, n, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      r = -errno;
      break;
    }
    if (r == 0 && tick) continue;  // The check is due: the loop runs it.
    if (fds[n - 1].revents != 0) {
      wake.Drain();
      // Cancelled, nudged, or a stale wake-up meant for an earlier call on
      // this thread: the caller looks again either way.
      r -= 1;
    }
    break;
  }
  call.Disarm();
  return r;
}

int SocketTimeoutMs(int fd, short events) {
  int64_t us =
      SocketTimeoutUs(fd, (events & POLLOUT) ? SO_SNDTIMEO : SO_RCVTIMEO);
  if (us <= 0) return -1;  // No timeout, or not a socket.
  int64_t ms =
      us / 1000 + (us % 1000 != 0);  // Rounded up; us may be INT64_MAX.
  return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
}

bool IsNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

short ReventsNow(int fd, short events) {
  pollfd p = {fd, events, 0};
  int r;
  do {
    r = ::poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  return r > 0 ? p.revents : 0;
}

bool ReadyNow(int fd, short events) { return ReventsNow(fd, events) != 0; }

AsyncCallBase::AsyncCallBase(AddonData* data, Napi::Function cb,
                             Napi::Value pin)
    : data_(data), cb_(Napi::Persistent(cb)) {
  if (!pin.IsEmpty() && !pin.IsUndefined()) pin_ = Napi::Persistent(pin);
  req_.data = this;
}

AsyncCallBase::~AsyncCallBase() = default;

int64_t AsyncCallBase::Start() {
  int err = AcquireFds();
  if (err != 0) return err;
  // Ids stay positive int32s (lib passes them back through IntArg) and are
  // never those of a call still in flight, however long it has been pending.
  do {
    id_ = data_->next_id++;
    if (data_->next_id > INT32_MAX) data_->next_id = 1;
  } while (data_->calls.count(id_) != 0);
  queued_at_ = NowNs();
  g_pool_counters.fetch_add(kPoolQueued, std::memory_order_relaxed);
  int r = uv_queue_work(data_->loop, &req_, Work, AfterWork);
  if (r != 0) {
    g_pool_counters.fetch_sub(kPoolQueued, std::memory_order_relaxed);
    ReleaseFds();
    return r;  // libuv errors are -errno on Unix.
  }
  data_->calls.emplace(id_, this);
  return id_;
}

void AsyncCallBase::Work(uv_work_t* req) {
  auto* self = static_cast<AsyncCallBase*>(req->data);
  g_pool_counters.fetch_add(kPoolBusy - kPoolQueued, std::memory_order_relaxed);
  self->started_at_ = NowNs();
  self->tid_ = ThreadId();
  // Cancelled while queued (close, abort) but taken by a worker before
  // uv_cancel could dequeue it: do not start the call at all.
  int cancelled = self->inflight_.cancelled();
  self->result_ = cancelled != 0 ? -cancelled : self->Execute();
  self->CallDone();
  self->ended_at_ = NowNs();
  // Released here, not in AfterWork: a close() deferred until this call left
  // happens now, and does not depend on the event loop running again.
  self->ReleaseFds();
  g_pool_counters.fetch_sub(kPoolBusy, std::memory_order_relaxed);
}

void AsyncCallBase::AfterWork(uv_work_t* req, int status) {
  auto* self = static_cast<AsyncCallBase*>(req->data);
  if (status == UV_ECANCELED) {
    // Dequeued before a worker took it (Cancel or teardown).
    g_pool_counters.fetch_sub(kPoolQueued, std::memory_order_relaxed);
    self->ReleaseFds();
    self->CallDone();
    int err = self->inflight_.cancelled();
    self->result_ = -(err != 0 ? err : ECANCELED);
    self->ended_at_ = self->started_at_ = NowNs();
  }
  self->data_->calls.erase(self->id_);
  if (self->data_->tearing_down || !self->Settle())
    self->Discard(self->result_);
  delete self;
}

// Delivers the result; false when it could not be (the environment is
// ending, building the result threw, or the callback could not run), and
// nothing reached JS.
bool AsyncCallBase::Settle() {
  napi_env env = data_->env;
  Napi::HandleScope scope(env);
  napi_value args[2];
  try {
    Napi::Float64Array slots = data_->trace_slots.Value();
    slots[0] = tid_;
    slots[1] = static_cast<double>(started_at_ - queued_at_);
    slots[2] = static_cast<double>(ended_at_ - started_at_);
    args[0] = Napi::Number::New(env, static_cast<double>(result_));
    args[1] = Extra(env);
  } catch (const Napi::Error& e) {
    // No N-API frame is above a libuv callback to catch this: report it as
    // Node would an exception in a callback, and drop the result.
    if (!e.Value().IsEmpty()) napi_fatal_exception(env, e.Value());
    return false;
  }
  return MakeCallback(data_, cb_.Value(), 2, args);
}

void AsyncCallBase::Cancel(int err) {
  inflight_.Cancel(err);
  Dequeue();
}

void AsyncCallBase::Dequeue() {
  // Succeeds only while the work is still queued; AfterWork then gets
  // UV_ECANCELED.
  uv_cancel(reinterpret_cast<uv_req_t*>(&req_));
}

void CancelAll(AddonData* data, int err) {
  for (auto& entry : data->calls) entry.second->Cancel(err);
}

// Calls a JS function that does nothing: V8 handles a pending
// TerminateExecution (worker.terminate()) at JS function entry, and the call
// then fails. Runs on the worker_thread itself, inside its blocked call.
int TerminationTick(void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  napi_env env = data->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return ECANCELED;
  napi_value probe, global, ignored;
  napi_status s =
      napi_get_reference_value(env, data->termination_probe, &probe);
  if (s == napi_ok) s = napi_get_global(env, &global);
  if (s == napi_ok)
    s = napi_call_function(env, global, probe, 0, nullptr, &ignored);
  napi_close_handle_scope(env, scope);
  return s == napi_ok ? 0 : ECANCELED;
}

void DequeueCallsOnFd(AddonData* data, int fd) {
  for (auto& entry : data->calls) {
    if (entry.second->UsesFd(fd)) entry.second->Dequeue();
  }
}

bool CancelCall(AddonData* data, uint32_t id, int err) {
  auto it = data->calls.find(id);
  if (it == data->calls.end()) return false;
  it->second->Cancel(err);
  return true;
}

}  // namespace bsd
