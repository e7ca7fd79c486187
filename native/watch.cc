// watch(): readiness from libuv's own poller (uv_poll_t) on the event-loop
// thread, no worker thread at all. One handle per fd; update() restarts it
// with a new mask; close() stops it and frees it in the close callback. See
// libuv docs/src/poll.rst.
#include <fcntl.h>
#include <poll.h>

#include <cerrno>
#include <climits>

#include "addon.h"

namespace bsd {

struct PollWatcher {
  uv_poll_t handle;
  AddonData* data;
  uint32_t id;
  int fd;
  // uv_poll_init makes the fd non-blocking and never switches it back:
  // close() restores the status flags the fd had before the watch.
  int saved_flags;
  Napi::FunctionReference listener;
};

namespace {

int ToUv(int events) {
  int uv = 0;
  if (events & POLLIN) uv |= UV_READABLE;
  if (events & POLLOUT) uv |= UV_WRITABLE;
  if (events & POLLPRI) uv |= UV_PRIORITIZED;
#ifdef POLLRDHUP
  if (events & POLLRDHUP) uv |= UV_DISCONNECT;
#endif
  return uv;
}

int FromUv(int uv) {
  int events = 0;
  if (uv & UV_READABLE) events |= POLLIN;
  if (uv & UV_WRITABLE) events |= POLLOUT;
  if (uv & UV_PRIORITIZED) events |= POLLPRI;
  if (uv & UV_DISCONNECT) events |= POLLHUP;
  return events;
}

PollWatcher* Find(const Napi::CallbackInfo& info) {
  auto& watchers = DataOf(info)->watchers;
  auto it = watchers.find(static_cast<uint32_t>(IntArg(info, 0, "id")));
  return it == watchers.end() ? nullptr : it->second;
}

// listener(status, revents): status 0 or -errno (libuv's errors are -errno).
void OnPoll(uv_poll_t* handle, int status, int events) {
  auto* w = static_cast<PollWatcher*>(handle->data);
  // libuv turns a socket error condition (POLLERR) into UV_EBADF and stops
  // the handle; the fd is fine: report POLLERR (update() re-arms the watch).
  int error_bit = 0;
  if (status == UV_EBADF && fcntl(w->fd, F_GETFD) >= 0) {
    status = 0;
    error_bit = POLLERR;
  }
  Napi::HandleScope scope(w->data->env);
  Napi::Env env(w->data->env);
  int revents = FromUv(events) | error_bit;
  napi_value args[2] = {Napi::Number::New(env, status), Napi::Number::New(env, revents)};
  MakeCallback(w->data, w->listener.Value(), 2, args);
}

void OnClose(uv_handle_t* handle) {
  auto* w = static_cast<PollWatcher*>(handle->data);
  w->data->watchers.erase(w->id);
  delete w;
}

void Close(PollWatcher* w) {
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&w->handle))) return;
  uv_poll_stop(&w->handle);
  // Give the fd back in the mode it had, unless it has been closed meanwhile.
  int flags = fcntl(w->fd, F_GETFL);
  if (flags >= 0 && !(w->saved_flags & O_NONBLOCK)) fcntl(w->fd, F_SETFL, flags & ~O_NONBLOCK);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), OnClose);
}

// (fd, events, listener) -> id, or -errno.
Napi::Value WatchStart(const Napi::CallbackInfo& info) {
  AddonData* data = DataOf(info);
  int fd = IntArg(info, 0, "fd");
  int events = IntArg(info, 1, "events");
  if (!info[2].IsFunction()) throw Napi::TypeError::New(info.Env(), "listener must be a function");
  int saved_flags = fcntl(fd, F_GETFL);
  if (saved_flags < 0) return Napi::Number::New(info.Env(), -errno);
  auto* w = new PollWatcher{};
  w->data = data;
  w->fd = fd;
  w->saved_flags = saved_flags;
  int r = uv_poll_init(data->loop, &w->handle, fd);
  if (r != 0) {
    delete w;
    return Napi::Number::New(info.Env(), r);
  }
  w->handle.data = w;
  w->listener = Napi::Persistent(info[2].As<Napi::Function>());
  do {
    w->id = data->next_watcher_id++;
    if (data->next_watcher_id > INT32_MAX) data->next_watcher_id = 1;
  } while (data->watchers.count(w->id) != 0);
  data->watchers.emplace(w->id, w);
  r = uv_poll_start(&w->handle, ToUv(events), OnPoll);
  if (r != 0) {
    Close(w);
    return Napi::Number::New(info.Env(), r);
  }
  return Napi::Number::New(info.Env(), w->id);
}

// (id, events) -> 0 or -errno. events 0 pauses the watch.
Napi::Value WatchUpdate(const Napi::CallbackInfo& info) {
  PollWatcher* w = Find(info);
  int events = IntArg(info, 1, "events");
  if (w == nullptr || uv_is_closing(reinterpret_cast<uv_handle_t*>(&w->handle))) {
    return Napi::Number::New(info.Env(), -EBADF);
  }
  // libuv aborts the process if epoll_ctl fails on an fd that was closed
  // behind its back: check the fd is still open first.
  if (fcntl(w->fd, F_GETFD) < 0) return Napi::Number::New(info.Env(), -errno);
  int r = events == 0 ? uv_poll_stop(&w->handle) : uv_poll_start(&w->handle, ToUv(events), OnPoll);
  return Napi::Number::New(info.Env(), r);
}

Napi::Value WatchClose(const Napi::CallbackInfo& info) {
  PollWatcher* w = Find(info);
  if (w != nullptr) Close(w);
  return Napi::Boolean::New(info.Env(), w != nullptr);
}

// (id, ref: boolean).
Napi::Value WatchRef(const Napi::CallbackInfo& info) {
  PollWatcher* w = Find(info);
  if (w == nullptr) return info.Env().Undefined();
  auto* handle = reinterpret_cast<uv_handle_t*>(&w->handle);
  if (info[1].ToBoolean()) {
    uv_ref(handle);
  } else {
    uv_unref(handle);
  }
  return info.Env().Undefined();
}

}  // namespace

void CloseAllWatchers(AddonData* data) {
  for (auto& entry : data->watchers) Close(entry.second);
}

void InitWatch(Napi::Env env, Napi::Object exports, AddonData* data) {
  exports.Set("watchStart", Napi::Function::New(env, WatchStart, "watchStart", data));
  exports.Set("watchUpdate", Napi::Function::New(env, WatchUpdate, "watchUpdate", data));
  exports.Set("watchClose", Napi::Function::New(env, WatchClose, "watchClose", data));
  exports.Set("watchRef", Napi::Function::New(env, WatchRef, "watchRef", data));
}

}  // namespace bsd
