// watch(): readiness from libuv's own poller (uv_poll_t) on the event-loop
// thread, no worker thread at all. One handle per fd; update() restarts it
// with a new mask; close() stops it and frees it in the close callback. See
// libuv docs/src/poll.rst. The poll callbacks of one loop iteration only
// queue (id, status, revents); a check handle, which libuv runs right after
// the poll phase, hands the queue to lib/watch.ts's dispatcher in one call:
// one JS entry per iteration, not one per ready fd.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstring>

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
  // The file it watches: a number closed behind the library's back and
  // reused by another file is told apart (Guard). (Not between two anon-
  // inode fds, eventfd or epoll: they share one inode.)
  dev_t dev;
  ino_t ino;
  int events = 0;          // The POLL* mask it is started with; 0: paused.
  bool dead = false;       // Its file was closed behind the library's back.
  bool unchecked = false;  // In data->watch_unchecked.
  uint32_t owner;          // Index of its dispatcher.
  // Its entry in the queue, if it has one for the coming Flush: libuv may
  // report a ready fd several times in one poll phase (it repeats
  // epoll_wait while 1024 events come back), and each gets one entry.
  uint32_t queued_batch = 0;
  uint32_t queued_at = 0;
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

constexpr uint32_t kQueueHeader = 2;  // [count, next]
constexpr uint32_t kEntry = 4;        // (id, status, revents, owner)

// A queue of `capacity` entries, keeping the entries already queued. Raw
// N-API with every status checked: it runs in a libuv callback, where a C++
// exception would end the process, and JS may already be unable to run.
bool GrowQueue(AddonData* data, uint32_t capacity) {
  napi_env env = data->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return false;
  size_t length = kQueueHeader + size_t{capacity} * kEntry;
  void* bytes = nullptr;
  napi_value buffer, queue;
  napi_ref ref = nullptr;
  bool ok = napi_create_arraybuffer(env, length * sizeof(int32_t), &bytes,
                                    &buffer) == napi_ok &&
            napi_create_typedarray(env, napi_int32_array, length, buffer, 0,
                                   &queue) == napi_ok &&
            napi_create_reference(env, queue, 1, &ref) == napi_ok;
  if (ok) {
    if (data->watch_queue_data != nullptr) {
      std::memcpy(bytes, data->watch_queue_data,
                  (kQueueHeader + size_t{data->watch_queue_capacity} * kEntry) *
                      sizeof(int32_t));
    }
    if (data->watch_queue != nullptr)
      napi_delete_reference(env, data->watch_queue);
    data->watch_queue = ref;
    data->watch_queue_data = static_cast<int32_t*>(bytes);
    data->watch_queue_capacity = capacity;
  }
  napi_close_handle_scope(env, scope);
  return ok;
}

// Hands the iteration's queue to the dispatcher of the next entry's owner,
// which delivers entries until one of another owner and sets queue[1] to
// the next entry before it calls each listener: one that throws goes to
// 'uncaughtException' (MakeCallback) and the batch goes on after it.
void Flush(uv_check_t* check) {
  auto* data = static_cast<AddonData*>(check->data);
  uv_check_stop(check);
  data->watch_batch++;  // Entries queued from now on are for the next Flush.
  if (data->tearing_down) {
    data->watch_queue_data[0] = 0;
    return;
  }
  Napi::HandleScope scope(data->env);
  // The queue is looked up again on each pass: a listener that runs the loop
  // itself (a nested uv_run) may have made it grow.
  for (;;) {
    int32_t* q = data->watch_queue_data;
    if (q[1] >= q[0] || data->tearing_down) break;
    int32_t before = q[1];
    if (before < 0) break;  // The queue is JS-writable: never index with junk.
    uint32_t owner = static_cast<uint32_t>(
        q[kQueueHeader + size_t{static_cast<uint32_t>(before)} * kEntry + 3]);
    if (owner >= data->watch_dispatchers.size()) break;
    napi_value args[1];
    napi_get_reference_value(data->env, data->watch_queue, &args[0]);
    MakeCallback(data, data->watch_dispatchers[owner].Value(), 1, args);
    // No progress: the dispatcher itself failed (termination).
    if (data->watch_queue_data == q && q[1] == before) break;
  }
  data->watch_queue_data[0] = 0;
  data->watch_queue_data[1] = 0;
}

// True while `w`'s fd number still names the file it was watching.
bool SameFile(const PollWatcher* w) {
  struct stat st;
  return fstat(w->fd, &st) == 0 && st.st_dev == w->dev && st.st_ino == w->ino;
}

// Queues (id, status, revents); status 0 or -errno (libuv's errors are -errno).
void OnPoll(uv_poll_t* handle, int status, int events) {
  auto* w = static_cast<PollWatcher*>(handle->data);
  AddonData* data = w->data;
  if (data->tearing_down) return;
  // libuv turns a socket error condition (POLLERR) into UV_EBADF and stops
  // the handle; the fd is fine: report POLLERR (update() re-arms the watch).
  int error_bit = 0;
  if (status == UV_EBADF && SameFile(w)) {
    status = 0;
    error_bit = POLLERR;
  }
  uint32_t n = static_cast<uint32_t>(data->watch_queue_data[0]);
  int revents = FromUv(events) | error_bit;
  // (Not once its listener has been called: a nested uv_run in a listener
  // may poll again mid-batch; that is a new entry.)
  int32_t next_entry = data->watch_queue_data[1];
  uint32_t next = next_entry < 0 ? n : static_cast<uint32_t>(next_entry);
  if (w->queued_batch == data->watch_batch && w->queued_at < n &&
      w->queued_at >= next) {
    // Reported again in this poll phase: one entry, one listener call.
    int32_t* entry =
        data->watch_queue_data + kQueueHeader + size_t{w->queued_at} * kEntry;
    if (entry[1] == 0) entry[1] = status;
    entry[2] |= revents;
    return;
  }
  // A queue that cannot grow (JS can no longer run): nobody would hear it.
  if (n == data->watch_queue_capacity && !GrowQueue(data, n * 2)) return;
  int32_t* entry = data->watch_queue_data + kQueueHeader + size_t{n} * kEntry;
  entry[0] = static_cast<int32_t>(w->id);
  entry[1] = status;
  entry[2] = revents;
  entry[3] = static_cast<int32_t>(w->owner);
  w->queued_batch = data->watch_batch;
  w->queued_at = n;
  data->watch_queue_data[0] = static_cast<int32_t>(n + 1);
  if (n == 0) uv_check_start(&data->watch_flush, Flush);
}

int StartPoll(PollWatcher* w, int events);

// uv_poll_stop() and uv_close() of a dead watcher delete its fd *number* from
// epoll (uv__platform_invalidate_fd), which may now be another watcher's:
// that one is re-added. (A Node handle that took the number cannot be.)
void RearmNumberOf(PollWatcher* gone) {
  auto& by_fd = gone->data->watcher_fds;
  auto it = by_fd.find(gone->fd);
  if (it == by_fd.end() || it->second == gone) return;
  PollWatcher* live = it->second;
  if (live->events == 0 ||
      uv_is_closing(reinterpret_cast<uv_handle_t*>(&live->handle))) {
    return;
  }
  uv_poll_stop(&live->handle);
  StartPoll(live, live->events);
}

// Stops a watcher whose file was closed behind the library's back, for good:
// it leaves the fd index, and libuv never sees its fd again.
void Kill(PollWatcher* w) {
  if (w->dead) return;
  w->dead = true;
  auto& by_fd = w->data->watcher_fds;
  auto it = by_fd.find(w->fd);
  if (it != by_fd.end() && it->second == w) by_fd.erase(it);
  uv_poll_stop(&w->handle);
  w->events = 0;
  RearmNumberOf(w);
}

// Runs just before the loop polls. libuv hands each started or updated
// watcher to epoll_ctl then, and aborts the process if that fails: an fd
// closed behind the library's back (fs.closeSync, Node closing it) since
// watch() or update() must be stopped first. Its listener hears EBADF now:
// the poll phase may block, and a check handle does not shorten it.
void Guard(uv_prepare_t* prepare) {
  auto* data = static_cast<AddonData*>(prepare->data);
  uv_prepare_stop(prepare);
  std::vector<uint32_t> ids;
  ids.swap(data->watch_unchecked);
  bool told = false;
  for (uint32_t id : ids) {
    auto it = data->watchers.find(id);
    if (it == data->watchers.end()) continue;
    PollWatcher* w = it->second;
    w->unchecked = false;
    if (w->dead || uv_is_closing(reinterpret_cast<uv_handle_t*>(&w->handle)) ||
        SameFile(w)) {
      continue;
    }
    Kill(w);
    OnPoll(&w->handle, UV_EBADF, 0);
    told = true;
  }
  ids.clear();
  if (data->watch_unchecked.empty()) ids.swap(data->watch_unchecked);
  if (told) Flush(&data->watch_flush);
}

// (Re)starts w's poll handle; the fd is checked before the loop next polls.
int StartPoll(PollWatcher* w, int events) {
  int r = uv_poll_start(&w->handle, ToUv(events), OnPoll);
  if (r != 0) return r;
  w->events = events;
  if (!w->unchecked) {
    w->unchecked = true;
    w->data->watch_unchecked.push_back(w->id);
    uv_prepare_start(&w->data->watch_guard, Guard);
  }
  return 0;
}

void OnClose(uv_handle_t* handle) {
  auto* w = static_cast<PollWatcher*>(handle->data);
  w->data->watchers.erase(w->id);
  delete w;
}

void Close(PollWatcher* w) {
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&w->handle))) return;
  if (!w->dead && !SameFile(w)) Kill(w);
  auto& by_fd = w->data->watcher_fds;
  auto it = by_fd.find(w->fd);
  if (it != by_fd.end() && it->second == w) by_fd.erase(it);
  uv_poll_stop(&w->handle);
  w->events = 0;
  // Give the fd back in the mode it had, unless it has been closed meanwhile
  // (its number may name another file now).
  int flags = w->dead ? -1 : fcntl(w->fd, F_GETFL);
  if (flags >= 0 && !(w->saved_flags & O_NONBLOCK))
    fcntl(w->fd, F_SETFL, flags & ~O_NONBLOCK);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), OnClose);
  if (w->dead) RearmNumberOf(w);
}

// (dispatch) -> owner: registers a function the queue is handed to.
Napi::Value WatchInit(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction())
    throw Napi::TypeError::New(info.Env(), "dispatch must be a function");
  auto& dispatchers = DataOf(info)->watch_dispatchers;
  dispatchers.push_back(Napi::Persistent(info[0].As<Napi::Function>()));
  return Napi::Number::New(info.Env(),
                           static_cast<double>(dispatchers.size() - 1));
}

// (fd, events, owner) -> id, or -errno.
Napi::Value WatchStart(const Napi::CallbackInfo& info) {
  AddonData* data = DataOf(info);
  int fd = IntArg(info, 0, "fd");
  int events = IntArg(info, 1, "events");
  int owner = IntArg(info, 2, "owner");
  if (owner < 0 ||
      static_cast<size_t>(owner) >= data->watch_dispatchers.size()) {
    throw Napi::RangeError::New(info.Env(), "owner must come from watchInit");
  }
  int saved_flags = fcntl(fd, F_GETFL);
  struct stat st;
  if (saved_flags < 0 || fstat(fd, &st) != 0)
    return Napi::Number::New(info.Env(), -errno);
  // One uv_poll_t per fd and loop: a second one would take the fd's epoll
  // registration from the first, and libuv aborts when either closes. (Each
  // copy of the library sharing this addon checks only its own watchers.)
  // By fd, not a scan of every watcher: that made n watch() calls O(n^2).
  auto same_fd = data->watcher_fds.find(fd);
  if (same_fd != data->watcher_fds.end()) {
    PollWatcher* other = same_fd->second;
    if (SameFile(other)) return Napi::Number::New(info.Env(), -EEXIST);
    // Its file was closed behind the library's back and the number reused:
    // that watcher is dead, and its listener hears EBADF.
    Kill(other);
    OnPoll(&other->handle, UV_EBADF, 0);
  }
  auto* w = new PollWatcher{};
  w->data = data;
  w->fd = fd;
  w->saved_flags = saved_flags;
  w->dev = st.st_dev;
  w->ino = st.st_ino;
  w->owner = static_cast<uint32_t>(owner);
  int r = uv_poll_init(data->loop, &w->handle, fd);
  if (r != 0) {
    delete w;
    return Napi::Number::New(info.Env(), r);
  }
  w->handle.data = w;
  do {
    w->id = data->next_watcher_id++;
    if (data->next_watcher_id > INT32_MAX) data->next_watcher_id = 1;
  } while (data->watchers.count(w->id) != 0);
  data->watchers.emplace(w->id, w);
  data->watcher_fds.emplace(fd, w);
  r = StartPoll(w, events);
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
  if (w == nullptr ||
      uv_is_closing(reinterpret_cast<uv_handle_t*>(&w->handle))) {
    return Napi::Number::New(info.Env(), -EBADF);
  }
  // A file closed behind the library's back: stop, never hand it to libuv.
  if (w->dead || !SameFile(w)) {
    Kill(w);
    return Napi::Number::New(info.Env(), -EBADF);
  }
  if (events == 0) {
    w->events = 0;
    return Napi::Number::New(info.Env(), uv_poll_stop(&w->handle));
  }
  int r = StartPoll(w, events);
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
  auto* guard = reinterpret_cast<uv_handle_t*>(&data->watch_guard);
  if (data->watch_guard_open && !uv_is_closing(guard)) {
    uv_close(guard, [](uv_handle_t* handle) {
      static_cast<AddonData*>(handle->data)->watch_guard_open = false;
    });
  }
  auto* flush = reinterpret_cast<uv_handle_t*>(&data->watch_flush);
  if (data->watch_flush_open && !uv_is_closing(flush)) {
    uv_close(flush, [](uv_handle_t* handle) {
      static_cast<AddonData*>(handle->data)->watch_flush_open = false;
    });
  }
}

void InitWatch(Napi::Env env, Napi::Object exports, AddonData* data) {
  if (!GrowQueue(data, 64)) {
    throw Napi::Error::New(env, "watch(): cannot allocate its queue");
  }
  uv_check_init(data->loop, &data->watch_flush);
  data->watch_flush.data = data;
  // Runs only in iterations with readiness queued; never keeps the loop alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&data->watch_flush));
  data->watch_flush_open = true;
  uv_prepare_init(data->loop, &data->watch_guard);
  data->watch_guard.data = data;
  uv_unref(reinterpret_cast<uv_handle_t*>(&data->watch_guard));
  data->watch_guard_open = true;
  ExportFunction(env, exports, "watchInit", WatchInit, data);
  ExportFunction(env, exports, "watchStart", WatchStart, data);
  ExportFunction(env, exports, "watchUpdate", WatchUpdate, data);
  ExportFunction(env, exports, "watchClose", WatchClose, data);
  ExportFunction(env, exports, "watchRef", WatchRef, data);
}

}  // namespace bsd
