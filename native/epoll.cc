// epoll(7) on Linux: epoll_create1(2), epoll_ctl(2), epoll_wait(2). Elsewhere
// every export returns -ENOSYS, so the rest of the addon still builds.
#include <poll.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include <cerrno>
#include <cstdint>
#include <vector>

#include "addon.h"
#include "async_call.h"
#include "calls.h"
#include "errors.h"
#include "wait.h"

namespace bsd {

namespace {

#ifdef __linux__

// epoll_wait(2). Results go to the caller's Float64Array as [events, data]
// pairs (data is the u64 given to epoll_ctl, exact up to 2^53).
struct EpollWaitOp : OpBase {
  static constexpr bool kOwnDriver = true;
  static constexpr bool kHasExtra = true;
  std::vector<epoll_event> events;
  int timeout_ms = -1;
  double* out = nullptr;
  int ready = 0;

  ssize_t Sync() {
    return ready = static_cast<int>(RetryEintrFor(timeout_ms, [&](int ms) {
             return epoll_wait(fd, events.data(),
                               static_cast<int>(events.size()), ms);
           }));
  }

  // Waits on the epoll fd itself (readable when an event is ready) with the
  // wake-up fd, then collects with a zero timeout.
  ssize_t RunAsync(InFlight& call) {
    Deadline deadline = Deadline::In(timeout_ms);
    for (;;) {
      if (int c = call.cancelled()) return -c;
      ssize_t r = RetryEintr([&] {
        return epoll_wait(fd, events.data(), static_cast<int>(events.size()),
                          0);
      });
      if (r != 0) return ready = static_cast<int>(r);
      if (deadline.Passed()) return 0;
      pollfd fds[2] = {{fd, POLLIN, 0}, {}};
      int w = WaitFor(call, fds, 2, deadline);
      if (w < 0) return w;
    }
  }

  Napi::Value Extra(Napi::Env env) const {
    for (int i = 0; i < ready; i++) {
      out[i * 2] = events[i].events;
      out[i * 2 + 1] = static_cast<double>(events[i].data.u64);
    }
    return env.Undefined();
  }
};

// (epfd, maxevents, timeoutMs, Float64Array out of 2 * maxevents).
EpollWaitOp CaptureEpollWait(const Napi::CallbackInfo& info) {
  EpollWaitOp op;
  op.fd = IntArg(info, 0, "epfd");
  int maxevents = IntArg(info, 1, "maxevents");
  if (maxevents <= 0)
    throw Napi::RangeError::New(info.Env(), "maxevents must be > 0");
  op.timeout_ms = IntArg(info, 2, "timeoutMs");
  if (!info[3].IsTypedArray() ||
      info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[3].As<Napi::Float64Array>().ElementLength() <
          static_cast<size_t>(maxevents) * 2) {
    throw Napi::TypeError::New(info.Env(),
                               "out must be a Float64Array of 2 * maxevents");
  }
  op.out = info[3].As<Napi::Float64Array>().Data();
  op.events.resize(static_cast<size_t>(maxevents));
  return op;
}

Napi::Value EpollCreate1(const Napi::CallbackInfo& info) {
  int fd = epoll_create1(IntArg(info, 0, "flags") | EPOLL_CLOEXEC);
  return Napi::Number::New(info.Env(), fd < 0 ? -errno : fd);
}

// (epfd, op, fd, events, data).
Napi::Value EpollCtl(const Napi::CallbackInfo& info) {
  epoll_event ev{};
  // lib/epoll.ts gives the mask as a uint32 (EPOLLET is bit 31).
  ev.events = static_cast<uint32_t>(IntegralValue(info.Env(), info[3], 0,
                                                  4294967295.0, "events",
                                                  "a 32-bit unsigned integer"));
  ev.data.u64 = static_cast<uint64_t>(
      IntegralValue(info.Env(), info[4], 0, 9007199254740991.0, "data",
                    "an integer from 0 to 2^53-1"));
  int r = epoll_ctl(IntArg(info, 0, "epfd"), IntArg(info, 1, "op"),
                    IntArg(info, 2, "fd"), &ev);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

#else

Napi::Value NoEpoll(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), -ENOSYS);
}

#endif

}  // namespace

void InitEpoll(Napi::Env env, Napi::Object exports, AddonData* data) {
  auto add = [&](const char* name, Napi::Function::Callback fn) {
    ExportFunction(env, exports, name, fn, data);
  };
#ifdef __linux__
  add("epoll_create1", EpollCreate1);
  add("epoll_ctl", EpollCtl);
  add("epoll_waitSync", SyncExport<EpollWaitOp, CaptureEpollWait, 4>);
  add("epoll_wait", AsyncExport<EpollWaitOp, CaptureEpollWait, 4, 3>);
#else
  for (const char* name :
       {"epoll_create1", "epoll_ctl", "epoll_waitSync", "epoll_wait"}) {
    add(name, NoEpoll);
  }
#endif
}

}  // namespace bsd
