// The system calls: each op's synchronous and non-blocking forms, the
// capture of its arguments, and the native exports (one sync and, for calls
// that can block, one async export per op, both from the same capture).
// Man pages: socket(2) bind(2) listen(2) accept(2) connect(2) recv(2) send(2)
// read(2) write(2) sendmsg(2) recvmsg(2) poll(2) shutdown(2) close(2)
// getsockopt(2) setsockopt(2) getsockname(2) getpeername(2) fcntl(2)
// socketpair(2) getaddrinfo(3).
#include "calls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "addon.h"
#include "async_call.h"
#include "cmsg.h"
#include "errors.h"
#include "trace.h"
#include "wait.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0  // macOS: sockets get SO_NOSIGPIPE at creation instead.
#endif
#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

namespace bsd {

namespace {

// Makes a new fd close-on-exec where the platform could not do it atomically.
int Cloexec(int fd) {
#if !defined(SOCK_CLOEXEC)
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
#ifdef SO_NOSIGPIPE
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
  return fd;
}

#ifdef SOCK_CLOEXEC
constexpr int kCloexecType = SOCK_CLOEXEC;
#else
constexpr int kCloexecType = 0;
#endif

ssize_t Accept(int fd, Sockaddr* peer, int flags) {
  peer->len = sizeof(peer->storage);
#if defined(__linux__)
  ssize_t r = RetryEintrTimed(fd, POLLIN, [&] {
    return ::accept4(fd, peer->get(), &peer->len, flags | SOCK_CLOEXEC);
  });
#else
  ssize_t r = RetryEintrTimed(
      fd, POLLIN, [&] { return ::accept(fd, peer->get(), &peer->len); });
  if (r >= 0 && (flags & O_NONBLOCK))
    fcntl(static_cast<int>(r), F_SETFL, O_NONBLOCK);
  Cloexec(static_cast<int>(r));
#endif
  if (r < 0) peer->len = 0;  // No peer: report null, not stale bytes.
  return r;
}

// A socket that is not listening (a datagram socket, a connected stream)
// never becomes ready to accept: accept(2) fails on it at once (EOPNOTSUPP,
// EINVAL), and so must we rather than wait.
bool IsListening(int fd) {
  int listening = 0;
  socklen_t len = sizeof(listening);
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 &&
         listening != 0;
}

// Two workers woken for one pending connection must not both call accept(2)
// on a blocking listener: the loser would block where no wake-up reaches it.
// Accepts of our calls on one fd are serialised by that fd's lock, and
// readiness is re-checked under it. Only a process outside ours (or a
// node:net server) accepting on the same listener can still take the
// connection between the check and the call.
ssize_t AcceptWhenReady(int fd, Sockaddr* peer, int flags, std::mutex& lock) {
  std::lock_guard<std::mutex> guard(lock);
  if (!ReadyNow(fd, POLLIN) && IsListening(fd)) return -EAGAIN;
  return Accept(fd, peer, flags);
}

// Waits for a connect(2) that is in progress: writability, then SO_ERROR.
ssize_t ConnectResult(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
  return err == 0 ? 0 : -err;
}

bool IsStream(int fd) {
  int type = 0;
  socklen_t len = sizeof(type);
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
         type == SOCK_STREAM;
}

// Drops the first n bytes of iov[first..]: what a partial send or receive
// moved, so the next call goes on from there.
void AdvanceIov(std::vector<iovec>& iov, size_t& first, size_t n) {
  while (first < iov.size() && (n > 0 || iov[first].iov_len == 0)) {
    size_t k = n < iov[first].iov_len ? n : iov[first].iov_len;
    iov[first].iov_base =
        static_cast<char*>(iov[first].iov_base) + k;  // SAFETY: k <= iov_len.
    iov[first].iov_len -= k;
    n -= k;
    if (iov[first].iov_len == 0) first++;
  }
}

// MSG_WAITALL after a partial gather, with an error (a reset) pending on the
// socket: C's recv returns the bytes it has and leaves the error for the next
// call. Another receive would consume the error, so the gather takes only
// what is queued (a receive cannot fail while bytes are queued) and stops.
bool ErrorPending(int fd) { return (ReventsNow(fd, POLLIN) & POLLERR) != 0; }

const char* EaiName(int code) {
  switch (code) {
// clang-format off
#define BSD_EAI(name) \
  case name:          \
    return #name;
    BSD_EAI(EAI_AGAIN) BSD_EAI(EAI_BADFLAGS) BSD_EAI(EAI_FAIL) BSD_EAI(EAI_FAMILY)
    BSD_EAI(EAI_MEMORY) BSD_EAI(EAI_NONAME) BSD_EAI(EAI_SERVICE) BSD_EAI(EAI_SOCKTYPE)
    BSD_EAI(EAI_SYSTEM) BSD_EAI(EAI_OVERFLOW)
#ifdef EAI_NODATA
    BSD_EAI(EAI_NODATA)
#endif
#ifdef EAI_ADDRFAMILY
    BSD_EAI(EAI_ADDRFAMILY)
#endif
#undef BSD_EAI
    default:
      return "EAI_UNKNOWN";
    // clang-format on
  }
}

}  // namespace

// accept(2). While async accepts wait on the same blocking listener, a
// blocking acceptSync takes part in their serialisation (poll, then accept
// under the lock); otherwise it is the plain call.
ssize_t AcceptOp::Sync() {
  std::shared_ptr<std::mutex> lock = AcceptLockIfInUse(fd);
  if (!lock || IsNonBlocking(fd) || !IsListening(fd))
    return Accept(fd, &peer, flags);
  // As accept(2) would: SO_RCVTIMEO bounds the wait (then EAGAIN).
  Deadline deadline = Deadline::In(SocketTimeoutMs(fd, POLLIN));
  for (;;) {
    if (deadline.Passed()) return -EAGAIN;
    pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, deadline.PollMs()) < 0 && errno != EINTR) return -errno;
    ssize_t r = AcceptWhenReady(fd, &peer, flags, *lock);
    if (r != -EAGAIN) return r;
  }
}

ssize_t AcceptOp::TryNow() {
  std::shared_ptr<std::mutex> lock =
      AcceptLockIfInUse(fd);  // Ours is registered.
  return AcceptWhenReady(fd, &peer, flags, *lock);
}

// connect(2). EINTR is not retried with a second connect (EALREADY): the
// connection goes on in the kernel, so wait for it as a non-blocking one.
ssize_t ConnectOp::Sync() {
  for (;;) {
    if (::connect(fd, addr.get(), addr.len) == 0) return 0;
    // A Unix-domain connect is complete or not started: repeat it.
    if (errno != EINTR || addr.storage.ss_family != AF_UNIX) break;
  }
  if (errno != EINTR) return -errno;
  pollfd p = {fd, POLLOUT, 0};
  while (::poll(&p, 1, -1) < 0) {
    if (errno != EINTR) return -errno;
  }
  return ConnectResult(fd);
}

ssize_t ConnectOp::RunAsync(InFlight& call) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -errno;
  // A non-blocking fd keeps C's semantics: EINPROGRESS at once.
  if (flags & O_NONBLOCK) return OrErrno(::connect(fd, addr.get(), addr.len));
  // Briefly non-blocking so the connect can be waited for with a wake-up fd.
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int r = ::connect(fd, addr.get(), addr.len);
  int err = r < 0 ? errno : 0;
  fcntl(fd, F_SETFL, flags);
  if (r == 0) return 0;
  // A Unix stream listener with a full backlog gives EAGAIN and no way to
  // wait for room: retry with a growing pause, still wakeable.
  for (int attempt = 0; err == EAGAIN; attempt++) {
    pollfd wake_only[1];
    int w = WaitFor(call, wake_only, 1, Deadline::In(BackoffMs(attempt)));
    if (w < 0) return w;
    if (int c = call.cancelled()) return -c;
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    r = ::connect(fd, addr.get(), addr.len);
    err = r < 0 ? errno : 0;
    fcntl(fd, F_SETFL, flags);
    if (r == 0) return 0;
  }
  if (err != EINPROGRESS && err != EINTR) return -err;
  for (;;) {
    if (int c = call.cancelled()) return -c;
    pollfd fds[2] = {{fd, POLLOUT, 0}, {}};
    int w = WaitFor(call, fds, 2, Deadline::Never());
    if (w < 0) return w;
    if (w > 0) return ConnectResult(fd);
  }
}

// recv(2), recvfrom(2), read(2).
ssize_t RecvOp::Sync() {
  if (is_read)
    return RetryEintrTimed(fd, POLLIN, [&] { return ::read(fd, buf, len); });
  from.len = sizeof(from.storage);
  ssize_t r = RetryEintrTimed(fd, POLLIN, [&] {
    return ::recvfrom(fd, buf, len, flags, want_from ? from.get() : nullptr,
                      want_from ? &from.len : nullptr);
  });
  if (r < 0) from.len = 0;
  return r;
}

ssize_t RecvOp::TryNow() {
  if (not_socket) {
    if (!ReadyNow(fd, POLLIN)) return -EAGAIN;
    return RetryEintr([&] { return ::read(fd, buf, len); });
  }
  bool gather = (flags & MSG_WAITALL) && !(flags & MSG_PEEK) && IsStream(fd);
  for (;;) {
    if (done > 0 && ErrorPending(fd)) return GatherQueuedThenStop();
    from.len = sizeof(from.storage);
    // SAFETY: done <= len, so buf + done stays inside the caller's buffer.
    ssize_t r = RetryEintr([&] {
      return ::recvfrom(fd, static_cast<char*>(buf) + done, len - done,
                        flags | MSG_DONTWAIT, want_from ? from.get() : nullptr,
                        want_from ? &from.len : nullptr);
    });
    if (r == -ENOTSOCK && is_read) {
      not_socket = true;
      return TryNow();
    }
    if (r < 0) {
      if (want_from) from.len = 0;
      return (done > 0 && r != -EAGAIN) ? static_cast<ssize_t>(done) : r;
    }
    if (!gather || r == 0) return static_cast<ssize_t>(done) + r;
    done += static_cast<size_t>(r);
    if (done == len) return static_cast<ssize_t>(done);
  }
}

// See ErrorPending.
ssize_t RecvOp::GatherQueuedThenStop() {
  int queued = 0;
  if (ioctl(fd, FIONREAD, &queued) == 0 && queued > 0) {
    size_t n = std::min(static_cast<size_t>(queued), len - done);
    ssize_t r = ::recv(fd, static_cast<char*>(buf) + done, n, MSG_DONTWAIT);
    if (r > 0) done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

Napi::Value RecvOp::Extra(Napi::Env env) const {
  if (!want_from) return env.Undefined();
  return AddressOut(env, from.get(), from.len, addr_scratch);
}

// send(2), sendto(2), write(2).
ssize_t SendOp::Sync() {
  ssize_t r = RetryEintrTimed(fd, POLLOUT, [&] {
    return ::sendto(fd, buf, len, flags | MSG_NOSIGNAL,
                    has_to ? to.get() : nullptr, has_to ? to.len : 0);
  });
  if (r == -ENOTSOCK && is_write)
    r = RetryEintrTimed(fd, POLLOUT, [&] { return ::write(fd, buf, len); });
  return r;
}

ssize_t SendOp::TryNow() {
  for (;;) {
    const char* from =
        static_cast<const char*>(buf) + done;  // SAFETY: done <= len.
    ssize_t r;
    if (not_socket) {
      if (!ReadyNow(fd, POLLOUT)) return -EAGAIN;
      // After POLLOUT a pipe takes PIPE_BUF bytes without blocking; more may
      // block.
      size_t n =
          max_chunk > 0 && len - done > max_chunk ? max_chunk : len - done;
      r = RetryEintr([&] { return ::write(fd, from, n); });
    } else {
      r = RetryEintr([&] {
        return ::sendto(fd, from, len - done,
                        flags | MSG_DONTWAIT | MSG_NOSIGNAL,
                        has_to ? to.get() : nullptr, has_to ? to.len : 0);
      });
      if (r == -ENOTSOCK && is_write) {
        not_socket = true;
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) max_chunk = PIPE_BUF;
        continue;
      }
    }
    if (r < 0)
      return (done > 0 && r != -EAGAIN) ? static_cast<ssize_t>(done) : r;
    done += static_cast<size_t>(r);
    // A stream takes the rest on the next readiness; len 0 sends once;
    // MSG_DONTWAIT returns what went out, as C does.
    if (done >= len || (flags & MSG_DONTWAIT))
      return static_cast<ssize_t>(done);
  }
}

// sendmsg(2).
namespace {
msghdr SendHeader(SendmsgOp& op) {
  msghdr msg{};
  if (op.has_to) {
    msg.msg_name = op.to.get();
    msg.msg_namelen = op.to.len;
  }
  msg.msg_iov = op.iov.data() + op.first;
  msg.msg_iovlen = op.iov.size() - op.first;
  // Ancillary data goes with the first byte only, as one blocking call sends
  // it.
  if (op.done == 0 && !op.control.empty()) {
    msg.msg_control = op.control.data();
    msg.msg_controllen = op.control.size();
  }
  return msg;
}
}  // namespace

ssize_t SendmsgOp::Sync() {
  if (capture_error != 0) return -capture_error;
  msghdr msg = SendHeader(*this);
  return RetryEintrTimed(
      fd, POLLOUT, [&] { return ::sendmsg(fd, &msg, flags | MSG_NOSIGNAL); });
}

ssize_t SendmsgOp::TryNow() {
  if (capture_error != 0) return -capture_error;
  for (;;) {
    msghdr msg = SendHeader(*this);
    ssize_t r = RetryEintr([&] {
      return ::sendmsg(fd, &msg, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
    });
    if (r < 0)
      return (done > 0 && r != -EAGAIN) ? static_cast<ssize_t>(done) : r;
    done += static_cast<size_t>(r);
    AdvanceIov(iov, first, static_cast<size_t>(r));
    if (done >= total || (flags & MSG_DONTWAIT))
      return static_cast<ssize_t>(done);
  }
}

// recvmsg(2): one call with `flags` into iov[first..], at most `limit`
// bytes, appending to what earlier ones of a gather received. A blocking one
// keeps SO_RCVTIMEO across signals.
namespace {
ssize_t ReceiveOnce(RecvmsgOp& op, int flags, size_t limit = SIZE_MAX) {
  msghdr msg{};
  if (op.done == 0) {
    msg.msg_name = op.from.get();
    msg.msg_namelen = sizeof(op.from.storage);
  }
  msg.msg_iov = op.iov.data() + op.first;
  msg.msg_iovlen = op.iov.size() - op.first;
  std::vector<iovec> window;  // iov[first..] cut to `limit` bytes.
  if (limit < op.total - op.done) {
    for (size_t i = op.first; i < op.iov.size() && limit > 0; i++) {
      size_t k = std::min(op.iov[i].iov_len, limit);
      window.push_back({op.iov[i].iov_base, k});
      limit -= k;
    }
    msg.msg_iov = window.data();
    msg.msg_iovlen = window.size();
  }
  if (!op.control.empty()) {
    msg.msg_control = op.control.data();
    msg.msg_controllen = op.control.size();
  }
  auto call = [&] { return ::recvmsg(op.fd, &msg, flags | op.added_flags); };
  ssize_t r = (flags & MSG_DONTWAIT)
                  ? RetryEintr(call)
                  : RetryEintrTimed(op.fd, op.Events(), call);
  if (r < 0) return r;
  if (op.done == 0) op.from.len = msg.msg_namelen;
  op.control_used = msg.msg_control != nullptr ? msg.msg_controllen : 0;
  op.msg_flags |= msg.msg_flags & ~op.added_flags;
#ifndef MSG_CMSG_CLOEXEC
  CloexecReceivedFds(op.control.data(), op.control_used);
#endif
  return r;
}
}  // namespace

ssize_t RecvmsgOp::Sync() { return ReceiveOnce(*this, flags); }

// A MSG_WAITALL gather ends, as the kernel's own read does, where ancillary
// data arrives: the control buffer is offered whole to each call until then.
ssize_t RecvmsgOp::TryNow() {
  bool gather = (flags & MSG_WAITALL) && !(flags & MSG_PEEK) && IsStream(fd);
  for (;;) {
    if (done > 0 && ErrorPending(fd)) return GatherQueuedThenStop();
    ssize_t r = ReceiveOnce(*this, flags | MSG_DONTWAIT);
    if (r < 0)
      return (done > 0 && r != -EAGAIN) ? static_cast<ssize_t>(done) : r;
    if (!gather || r == 0 || control_used > 0)
      return static_cast<ssize_t>(done) + r;
    done += static_cast<size_t>(r);
    AdvanceIov(iov, first, static_cast<size_t>(r));
    if (done >= total) return static_cast<ssize_t>(done);
  }
}

// See ErrorPending: the queued bytes, without MSG_WAITALL, and stop.
ssize_t RecvmsgOp::GatherQueuedThenStop() {
  int queued = 0;
  if (ioctl(fd, FIONREAD, &queued) == 0 && queued > 0) {
    ssize_t r = ReceiveOnce(*this, (flags & ~MSG_WAITALL) | MSG_DONTWAIT,
                            static_cast<size_t>(queued));
    if (r > 0) done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

// Defined properties, not Set: a setter on Array.prototype could take the
// fds (or throw) before they are the caller's.
Napi::Value RecvmsgOp::Extra(Napi::Env env) const {
  Napi::Array out = Napi::Array::New(env);
  DefineElement(out, 0, AddressOut(env, from.get(), from.len, addr_scratch));
  DefineElement(out, 1, Napi::Number::New(env, msg_flags));
  DefineElement(out, 2, DecodeCmsgs(env, control.data(), control_used));
  return out;
}

void RecvmsgOp::Discard(ssize_t result) {
  if (result < 0 || fds_closed) return;
  fds_closed = true;
  CloseReceivedFds(control.data(), control_used);
}

// poll(2). EINTR is retried with the timeout recomputed.
ssize_t PollOp::Sync() {
  nfds_t n = fds.size() - 1;
  return RetryEintrFor(timeout_ms,
                       [&](int ms) { return ::poll(fds.data(), n, ms); });
}

ssize_t PollOp::RunAsync(InFlight& call) {
  Deadline deadline = Deadline::In(timeout_ms);
  for (;;) {
    if (int c = call.cancelled()) return -c;
    int r = WaitFor(call, fds.data(), fds.size(), deadline);
    if (r != 0 || deadline.Passed()) return r;
  }
}

// getaddrinfo(3).
GetaddrinfoOp::Lookup::~Lookup() {
  if (list != nullptr) freeaddrinfo(list);
}

int GetaddrinfoOp::Lookup::Run() {
  gai_error =
      getaddrinfo(has_node ? node.c_str() : nullptr,
                  has_service ? service.c_str() : nullptr, &hints, &list);
  if (gai_error == EAI_SYSTEM) sys_errno = errno;
  return gai_error == 0 ? 0 : -1;
}

bool GetaddrinfoOp::Lookup::Immediate() const {
  bool numeric_host = !has_node || (hints.ai_flags & AI_NUMERICHOST);
  if (!numeric_host) {
    // An IPv6 literal may carry a zone (%eth0); the address before it decides.
    std::string host = node.substr(0, node.find('%'));
    unsigned char addr[sizeof(in6_addr)];
    numeric_host = inet_pton(AF_INET, host.c_str(), addr) == 1 ||
                   inet_pton(AF_INET6, host.c_str(), addr) == 1;
  }
  bool numeric_service =
      !has_service || (hints.ai_flags & AI_NUMERICSERV) ||
      (!service.empty() &&
       service.find_first_not_of("0123456789") == std::string::npos);
  return numeric_host && numeric_service;
}

ssize_t GetaddrinfoOp::Sync() {
  ssize_t r = lookup->Run();
  done = true;
  return r;
}

namespace {

// Lookup threads still running, abandoned ones included. Past the cap a
// lookup waits (wakeably) for one to end, rather than letting lookups that
// are aborted as fast as they start pile up threads.
std::atomic<int> g_lookup_threads{0};
constexpr int kMaxLookupThreads = 64;

}  // namespace

ssize_t GetaddrinfoOp::RunAsync(InFlight& call) {
  if (lookup->Immediate()) return Sync();
  lookup->waiter_fd = ThisThreadWakeFd();  // No thread shares it yet.
  if (lookup->waiter_fd < 0) return Sync();
  for (int attempt = 0; g_lookup_threads.fetch_add(1) >= kMaxLookupThreads;
       attempt++) {
    g_lookup_threads.fetch_sub(1);
    if (int c = call.cancelled()) return -c;
    pollfd wake[1];
    int w = WaitFor(call, wake, 1, Deadline::In(BackoffMs(attempt)));
    if (w < 0) return w;
  }
  std::thread thread;
  try {
    thread = std::thread([l = lookup] {
      l->Run();
      std::lock_guard<std::mutex> lock(l->mu);
      l->finished = true;
      if (l->waiter_fd >= 0) WakeFd(l->waiter_fd);
      g_lookup_threads.fetch_sub(1);
    });
  } catch (...) {
    g_lookup_threads.fetch_sub(1);
    return Sync();  // No thread to be had: look up here.
  }
  ssize_t stopped = 0;
  for (;;) {
    if (int c = call.cancelled()) {
      stopped = -c;
      break;
    }
    {
      std::lock_guard<std::mutex> lock(lookup->mu);
      if (lookup->finished) break;
    }
    pollfd wake[1];
    int w = WaitFor(call, wake, 1, Deadline::Never());
    if (w < 0) {
      stopped = w;
      break;
    }
  }
  bool finished;
  {
    std::lock_guard<std::mutex> lock(lookup->mu);
    lookup->waiter_fd = -1;  // Nothing rings this thread's fd from now on.
    finished = lookup->finished;
  }
  if (!finished) {
    thread.detach();  // The lookup ends, and frees itself, on its own.
    return stopped;
  }
  thread.join();  // Finished first: its result stands.
  done = true;
  return lookup->gai_error == 0 ? 0 : -1;
}

Napi::Value GetaddrinfoOp::Extra(Napi::Env env) const {
  if (!done) return env.Undefined();  // Stopped before the lookup ended.
  const addrinfo* list = lookup->list;
  int gai_error = lookup->gai_error;
  if (gai_error != 0) {
    Napi::Object err = Napi::Object::New(env);
    err.Set("code", EaiName(gai_error));
    err.Set("message", gai_strerror(gai_error));
    err.Set("gai", gai_error);
    if (gai_error == EAI_SYSTEM) err.Set("errno", lookup->sys_errno);
    return err;
  }
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("family", ai->ai_family);
    entry.Set("socktype", ai->ai_socktype);
    entry.Set("protocol", ai->ai_protocol);
    entry.Set("addr", FromSockaddr(env, ai->ai_addr, ai->ai_addrlen));
    if (ai->ai_canonname != nullptr) entry.Set("canonname", ai->ai_canonname);
    DefineElement(out, i++, entry);
  }
  return out;
}

// ---- Argument capture: one function per op, shared by its two exports. ----

namespace {

AcceptOp CaptureAccept(const Napi::CallbackInfo& info) {
  AcceptOp op;
  op.fd = IntArg(info, 0, "fd");
  op.flags = IntArg(info, 1, "flags");
  op.addr_scratch = DataOf(info)->addr_scratch_data;
  return op;
}

ConnectOp CaptureConnect(const Napi::CallbackInfo& info) {
  ConnectOp op;
  op.fd = IntArg(info, 0, "fd");
  ToSockaddr(info.Env(), info[1], &op.addr);
  return op;
}

// (fd, buf, nbytes[, flags]) for read/recv/recvfrom.
template <bool kRead, bool kFrom>
RecvOp CaptureRecv(const Napi::CallbackInfo& info) {
  RecvOp op;
  op.fd = IntArg(info, 0, "fd");
  BufferRef b = BufferArg(info, 1, 2);
  op.buf = b.data;
  op.len = b.length;
  op.flags = kRead ? 0 : IntArg(info, 3, "flags");
  op.is_read = kRead;
  op.want_from = kFrom;
  op.addr_scratch = DataOf(info)->addr_scratch_data;
  return op;
}

// (fd, buf, nbytes[, flags[, addr]]) for write/send/sendto.
template <bool kWrite, bool kTo>
SendOp CaptureSend(const Napi::CallbackInfo& info) {
  SendOp op;
  op.fd = IntArg(info, 0, "fd");
  BufferRef b = BufferArg(info, 1, 2);
  op.buf = b.data;
  op.len = b.length;
  op.flags = kWrite ? 0 : IntArg(info, 3, "flags");
  op.is_write = kWrite;
  op.has_to = kTo;
  if (kTo) ToSockaddr(info.Env(), info[4], &op.to);
  return op;
}

// iov: an array of ArrayBufferViews (lib/ keeps its own copy of the caller's
// array, pinned while a worker uses the views).
void CaptureIov(Napi::Env env, Napi::Value value, std::vector<iovec>* iov,
                size_t* total) {
  if (!value.IsArray()) throw Napi::TypeError::New(env, "iov must be an array");
  Napi::Array views = value.As<Napi::Array>();
  uint32_t n = views.Length();
  if (n > IOV_MAX)
    throw Napi::RangeError::New(env, "iov has more than IOV_MAX entries");
  iov->resize(n);
  *total = 0;
  for (uint32_t i = 0; i < n; i++) {
    BufferRef b = ViewBytes(env, views.Get(i), "iov[i]");
    (*iov)[i] = {b.data, b.length};
    *total += b.length;
  }
}

// (fd, iov, name: packed sockaddr | undefined, control: Cmsg[] | undefined,
// flags).
SendmsgOp CaptureSendmsg(const Napi::CallbackInfo& info) {
  SendmsgOp op;
  op.fd = IntArg(info, 0, "fd");
  CaptureIov(info.Env(), info[1], &op.iov, &op.total);
  op.has_to = !info[2].IsUndefined();
  if (op.has_to) ToSockaddr(info.Env(), info[2], &op.to);
  op.flags = IntArg(info, 4, "flags");
  EncodeCmsgs(info.Env(), info[3], &op.control);
  op.capture_error =
      DupPassedFds(op.control.data(), op.control.size(), &op.dups);
  return op;
}

// (fd, iov, controllen, flags).
RecvmsgOp CaptureRecvmsg(const Napi::CallbackInfo& info) {
  RecvmsgOp op;
  op.fd = IntArg(info, 0, "fd");
  CaptureIov(info.Env(), info[1], &op.iov, &op.total);
  int controllen = IntArg(info, 2, "controllen");
  if (controllen < 0 || controllen > 65536) {
    throw Napi::RangeError::New(info.Env(),
                                "controllen must be from 0 to 65536");
  }
  op.control.assign(static_cast<size_t>(controllen), 0);
  op.flags = IntArg(info, 3, "flags");
#ifdef MSG_CMSG_CLOEXEC
  op.added_flags = MSG_CMSG_CLOEXEC & ~op.flags;
#endif
  op.addr_scratch = DataOf(info)->addr_scratch_data;
  return op;
}

// (Int32Array [fd, events, revents]*, nfds, timeoutMs).
PollOp CapturePoll(const Napi::CallbackInfo& info) {
  PollOp op;
  if (!info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(info.Env(), "fds must be an Int32Array");
  }
  Napi::Int32Array triples = info[0].As<Napi::Int32Array>();
  int nfds = IntArg(info, 1, "nfds");
  if (nfds < 0 || static_cast<size_t>(nfds) * 3 > triples.ElementLength()) {
    throw Napi::RangeError::New(info.Env(),
                                "nfds is larger than the fds array");
  }
  op.triples = triples.Data();
  op.fds.resize(static_cast<size_t>(nfds) + 1);  // + the wake-up fd's slot.
  for (int i = 0; i < nfds; i++) {
    op.fds[i] = {triples[i * 3], static_cast<short>(triples[i * 3 + 1]), 0};
  }
  Napi::Value t = info[2];
  op.timeout_ms = t.IsNumber() ? t.As<Napi::Number>().Int32Value() : -1;
  return op;
}

GetaddrinfoOp CaptureGetaddrinfo(const Napi::CallbackInfo& info) {
  GetaddrinfoOp op;
  GetaddrinfoOp::Lookup& l = *op.lookup;
  l.has_node = info[0].IsString();
  if (l.has_node) l.node = info[0].As<Napi::String>().Utf8Value();
  l.has_service = info[1].IsString();
  if (l.has_service) l.service = info[1].As<Napi::String>().Utf8Value();
  l.hints.ai_flags = IntArg(info, 2, "hints.flags");
  l.hints.ai_family = IntArg(info, 3, "hints.family");
  l.hints.ai_socktype = IntArg(info, 4, "hints.socktype");
  l.hints.ai_protocol = IntArg(info, 5, "hints.protocol");
  return op;
}

// ---- Calls that never block: synchronous only. ----

Napi::Value Socket(const Napi::CallbackInfo& info) {
  int type = IntArg(info, 1, "type") | kCloexecType;
  int fd =
      ::socket(IntArg(info, 0, "domain"), type, IntArg(info, 2, "protocol"));
  return Napi::Number::New(info.Env(), fd < 0 ? -errno : Cloexec(fd));
}

Napi::Value Bind(const Napi::CallbackInfo& info) {
  Sockaddr addr;
  ToSockaddr(info.Env(), info[1], &addr);
  int r = ::bind(IntArg(info, 0, "fd"), addr.get(), addr.len);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

Napi::Value Listen(const Napi::CallbackInfo& info) {
  int r = ::listen(IntArg(info, 0, "fd"), IntArg(info, 1, "backlog"));
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0, "fd");
  bool deferred;
  int r = CloseFd(fd, &deferred);
  // Calls of ours still queued on fd are dequeued now, not when a pool
  // thread frees up; the deferred close then happens as they leave.
  if (deferred) DequeueCallsOnFd(DataOf(info), fd);
  return Napi::Number::New(info.Env(), r);
}

// shutdown(2), then wake our calls on fd so they see EOF/EPIPE at once
// (macOS does not wake every blocked call itself).
Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0, "fd");
  int r = ::shutdown(fd, IntArg(info, 1, "how"));
  if (r == 0) NudgeFd(fd);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

// (fd, level, optname, value: int | Uint8Array).
Napi::Value Setsockopt(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0, "fd"), level = IntArg(info, 1, "level");
  int name = IntArg(info, 2, "optname");
  int r;
  if (info[3].IsTypedArray() || info[3].IsDataView()) {
    BufferRef b = BufferArg(info, 3, 4);
    r = ::setsockopt(fd, level, name, b.data, static_cast<socklen_t>(b.length));
  } else {
    int value = IntArg(info, 3, "value");
    r = ::setsockopt(fd, level, name, &value, sizeof(value));
  }
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

// (fd, level, optname, out): an int option; out[0] = its value.
Napi::Value GetsockoptInt(const Napi::CallbackInfo& info) {
  int value = 0;
  socklen_t len = sizeof(value);
  int r = ::getsockopt(IntArg(info, 0, "fd"), IntArg(info, 1, "level"),
                       IntArg(info, 2, "optname"), &value, &len);
  if (r == 0)
    DefineElement(info[3].As<Napi::Object>(), 0,
                  Napi::Number::New(info.Env(), value));
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

// (fd, level, optname, buf, buflen): raw bytes; returns optlen.
Napi::Value GetsockoptBuf(const Napi::CallbackInfo& info) {
  BufferRef b = BufferArg(info, 3, 4);
  socklen_t len = static_cast<socklen_t>(b.length);
  int r = ::getsockopt(IntArg(info, 0, "fd"), IntArg(info, 1, "level"),
                       IntArg(info, 2, "optname"), b.data, &len);
  return Napi::Number::New(info.Env(),
                           r < 0 ? -errno : static_cast<double>(len));
}

template <int (*Fn)(int, sockaddr*, socklen_t*)>
Napi::Value GetName(const Napi::CallbackInfo& info) {
  Sockaddr addr;
  addr.len = sizeof(addr.storage);
  int r = Fn(IntArg(info, 0, "fd"), addr.get(), &addr.len);
  if (r == 0)
    DefineElement(info[1].As<Napi::Object>(), 0,
                  FromSockaddr(info.Env(), addr.get(), addr.len));
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

// Only the int-argument commands: a pointer-taking command (F_GETLK…) given
// a number would hand the kernel a wild pointer.
Napi::Value Fcntl(const Napi::CallbackInfo& info) {
  int fd = IntArg(info, 0, "fd"), cmd = IntArg(info, 1, "cmd");
  if (cmd != F_GETFL && cmd != F_SETFL && cmd != F_GETFD && cmd != F_SETFD) {
    return Napi::Number::New(info.Env(), -EINVAL);
  }
  int arg =
      info.Length() > 2 && !info[2].IsUndefined() ? IntArg(info, 2, "arg") : 0;
  int r = static_cast<int>(RetryEintr([&] { return ::fcntl(fd, cmd, arg); }));
  return Napi::Number::New(info.Env(), r);
}

// (domain, type, protocol, out): out[0], out[1] = the two fds.
Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  // Checked first: a throw after socketpair(2) would leak both fds.
  if (!info[3].IsObject())
    throw Napi::TypeError::New(info.Env(), "out must be an array");
  int sv[2];
  int r = ::socketpair(IntArg(info, 0, "domain"),
                       IntArg(info, 1, "type") | kCloexecType,
                       IntArg(info, 2, "protocol"), sv);
  if (r < 0) return Napi::Number::New(info.Env(), -errno);
  // Defined, not set: a setter on Array.prototype must not swallow an fd.
  Napi::Object out = info[3].As<Napi::Object>();
  DefineElement(out, 0, Napi::Number::New(info.Env(), Cloexec(sv[0])));
  DefineElement(out, 1, Napi::Number::New(info.Env(), Cloexec(sv[1])));
  return Napi::Number::New(info.Env(), 0);
}

Napi::Value ErrnoNameExport(const Napi::CallbackInfo& info) {
  const char* name = ErrnoName(IntArg(info, 0, "errno"));
  if (name == nullptr) return info.Env().Undefined();
  return Napi::String::New(info.Env(), name);
}

Napi::Value Strerror(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), std::strerror(IntArg(info, 0, "errno")));
}

}  // namespace

void InitCalls(Napi::Env env, Napi::Object exports, AddonData* data) {
  auto add = [&](const char* name, Napi::Function::Callback fn) {
    ExportFunction(env, exports, name, fn, data);
  };
  add("socket", Socket);
  add("bind", Bind);
  add("listen", Listen);
  add("close", Close);
  add("shutdown", Shutdown);
  add("setsockopt", Setsockopt);
  add("getsockoptInt", GetsockoptInt);
  add("getsockoptBuf", GetsockoptBuf);
  add("getsockname", GetName<::getsockname>);
  add("getpeername", GetName<::getpeername>);
  add("fcntl", Fcntl);
  add("socketpair", Socketpair);
  add("errnoName", ErrnoNameExport);
  add("strerror", Strerror);

  add("acceptSync", SyncExport<AcceptOp, CaptureAccept, 2>);
  add("accept", AsyncExport<AcceptOp, CaptureAccept, 2, -1>);
  add("connectSync", SyncExport<ConnectOp, CaptureConnect, 2>);
  add("connect", AsyncExport<ConnectOp, CaptureConnect, 2, -1>);
  add("readSync", SyncExport<RecvOp, CaptureRecv<true, false>, 3>);
  add("read", AsyncExport<RecvOp, CaptureRecv<true, false>, 3, 1>);
  add("recvSync", SyncExport<RecvOp, CaptureRecv<false, false>, 4>);
  add("recv", AsyncExport<RecvOp, CaptureRecv<false, false>, 4, 1>);
  add("recvfromSync", SyncExport<RecvOp, CaptureRecv<false, true>, 4>);
  add("recvfrom", AsyncExport<RecvOp, CaptureRecv<false, true>, 4, 1>);
  add("writeSync", SyncExport<SendOp, CaptureSend<true, false>, 3>);
  add("write", AsyncExport<SendOp, CaptureSend<true, false>, 3, 1>);
  add("sendSync", SyncExport<SendOp, CaptureSend<false, false>, 4>);
  add("send", AsyncExport<SendOp, CaptureSend<false, false>, 4, 1>);
  add("sendtoSync", SyncExport<SendOp, CaptureSend<false, true>, 5>);
  add("sendto", AsyncExport<SendOp, CaptureSend<false, true>, 5, 1>);
  add("sendmsgSync", SyncExport<SendmsgOp, CaptureSendmsg, 5>);
  add("sendmsg", AsyncExport<SendmsgOp, CaptureSendmsg, 5, 1>);
  add("recvmsgSync", SyncExport<RecvmsgOp, CaptureRecvmsg, 4>);
  add("recvmsg", AsyncExport<RecvmsgOp, CaptureRecvmsg, 4, 1>);
  add("CMSG_SPACE", CmsgSpaceExport);
  add("CMSG_LEN", CmsgLenExport);
  add("pollSync", SyncExport<PollOp, CapturePoll, 3>);
  add("poll", AsyncExport<PollOp, CapturePoll, 3, 0>);
  add("getaddrinfoSync", SyncExport<GetaddrinfoOp, CaptureGetaddrinfo, 6>);
  add("getaddrinfo", AsyncExport<GetaddrinfoOp, CaptureGetaddrinfo, 6, -1>);
}

}  // namespace bsd
