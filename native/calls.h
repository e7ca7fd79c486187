// One small op struct per system call: plain data captured on the main
// thread, no N-API types, so the same op runs synchronously (Sync(), blocking
// as C does) or on a libuv worker (wait.h RunAsync + async_call.h).
#pragma once

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cmsg.h"
#include "fd_registry.h"
#include "sockaddr.h"

namespace bsd {

// What a receive with `flags` waits for: out-of-band data is POLLPRI; the
// error queue only ever shows as POLLERR, which poll reports whatever the mask.
inline short RecvEvents(int flags) {
#ifdef MSG_ERRQUEUE
  if (flags & MSG_ERRQUEUE) return 0;
#endif
  return (flags & MSG_OOB) ? POLLPRI : POLLIN;
}

// Defaults every op inherits; an op overrides what differs.
struct OpBase {
  static constexpr bool kOwnDriver = false;  // true: the op defines RunAsync.
  static constexpr bool kHasExtra = false;   // true: the op defines Extra().
  static constexpr bool kReturnsFd = false;  // true: a result >= 0 is a new fd.
  bool NonBlockingCall() const {
    return false;
  }                                       // MSG_DONTWAIT: EAGAIN at once.
  ssize_t Progress() const { return 0; }  // Bytes done before a stop.
  void CallDone() {}        // Frees what only the system call needed.
  void Discard(ssize_t) {}  // Release what a result nobody receives owns.
  // A failure that still has an Extra() to give (getaddrinfo's EAI_* code).
  bool ExtraOnFailure() const { return false; }
  template <typename F>
  void ForEachFd(F&& f) const {
    f(fd);
  }
  int fd = -1;
};

// accept4(2) with SOCK_CLOEXEC always added. Extra(): the peer address.
struct AcceptOp : OpBase {
  static constexpr bool kHasExtra = true;
  static constexpr bool kReturnsFd = true;
  int flags = 0;
  Sockaddr peer;
  uint32_t* addr_scratch = nullptr;
  ssize_t Sync();
  ssize_t TryNow();
  short Events() const { return POLLIN; }
  Napi::Value Extra(Napi::Env env) const {
    return AddressOut(env, peer.get(), peer.len, addr_scratch);
  }
};

// connect(2). Async: a non-blocking connect, then wait for writability and
// read SO_ERROR (never a second connect, which would give EALREADY).
struct ConnectOp : OpBase {
  static constexpr bool kOwnDriver = true;
  Sockaddr addr;
  ssize_t Sync();
  ssize_t RunAsync(InFlight& call);
};

// recv(2), recvfrom(2) and read(2) (recv with flags 0; plain read(2) for a
// non-socket fd). Extra(): the source address, for recvfrom.
struct RecvOp : OpBase {
  static constexpr bool kHasExtra = true;
  void* buf = nullptr;
  size_t len = 0;
  int flags = 0;
  bool want_from = false;
  bool is_read = false;  // read(2): plain read() on a non-socket fd.
  bool not_socket = false;
  Sockaddr from;
  uint32_t* addr_scratch = nullptr;
  size_t done = 0;  // MSG_WAITALL on a stream gathers across waits.
  ssize_t Sync();
  ssize_t TryNow();
  short Events() const { return RecvEvents(flags); }
  bool NonBlockingCall() const { return (flags & MSG_DONTWAIT) != 0; }
  ssize_t Progress() const { return static_cast<ssize_t>(done); }
  Napi::Value Extra(Napi::Env env) const;
  ssize_t GatherQueuedThenStop();
};

// send(2), sendto(2) and write(2), always with MSG_NOSIGNAL: a gone peer is
// EPIPE, never SIGPIPE. A blocking stream send writes everything, as C does.
struct SendOp : OpBase {
  const void* buf = nullptr;
  size_t len = 0;
  int flags = 0;
  bool has_to = false;
  bool is_write = false;  // write(2): plain write() on a non-socket fd.
  bool not_socket = false;
  Sockaddr to;
  size_t done = 0;
  size_t max_chunk = 0;  // A pipe (write(2) on a FIFO): PIPE_BUF, see TryNow.
  ssize_t Sync();
  ssize_t TryNow();
  short Events() const { return POLLOUT; }
  bool NonBlockingCall() const { return (flags & MSG_DONTWAIT) != 0; }
  ssize_t Progress() const { return static_cast<ssize_t>(done); }
};

// sendmsg(2), always with MSG_NOSIGNAL. `iov` points into the caller's
// views (pinned by the async call); `control` is the encoded cmsg buffer,
// sent once, with the first byte. A blocking stream send writes everything.
// The SCM_RIGHTS fds in `control` are duplicates made at capture (`dups`,
// closed with the op), as C's kernel resolves them at sendmsg entry: a
// close() or reuse of the caller's numbers later cannot change what the
// peer receives. A fd that could not be duplicated fails the call with
// `capture_error` (EBADF), as C's sendmsg does.
struct SendmsgOp : OpBase {
  std::vector<iovec> iov;
  size_t first = 0;  // iov[first..] is what is left to send.
  std::vector<char> control;
  OwnedFds dups;
  int capture_error = 0;
  int flags = 0;
  bool has_to = false;
  Sockaddr to;
  size_t done = 0, total = 0;
  ssize_t Sync();
  ssize_t TryNow();
  short Events() const { return POLLOUT; }
  bool NonBlockingCall() const { return (flags & MSG_DONTWAIT) != 0; }
  ssize_t Progress() const { return static_cast<ssize_t>(done); }
  // Closed before the result is delivered: the caller sees no extra fds.
  void CallDone() { dups.Close(); }
};

// recvmsg(2), with MSG_CMSG_CLOEXEC always added (Linux): received fds are
// close-on-exec. Extra(): [source address, msg_flags, control messages];
// the received fds are the caller's once that reached JS (the callback ran,
// the sync call returned). A result that did not (Discard) closes them.
struct RecvmsgOp : OpBase {
  static constexpr bool kHasExtra = true;
  std::vector<iovec> iov;
  size_t first = 0;
  std::vector<char> control;  // msg_controllen bytes of room.
  size_t control_used = 0;    // What the kernel filled.
  int flags = 0;
  int msg_flags = 0;
  int added_flags = 0;      // Ours (MSG_CMSG_CLOEXEC), not reported back.
  bool fds_closed = false;  // Discarded: Discard closes them once.
  Sockaddr from;
  uint32_t* addr_scratch = nullptr;
  size_t done = 0, total = 0;  // MSG_WAITALL on a stream gathers across waits.
  ssize_t Sync();
  ssize_t TryNow();
  short Events() const { return RecvEvents(flags); }
  bool NonBlockingCall() const { return (flags & MSG_DONTWAIT) != 0; }
  ssize_t Progress() const { return static_cast<ssize_t>(done); }
  Napi::Value Extra(Napi::Env env) const;
  void Discard(ssize_t result);
  ssize_t GatherQueuedThenStop();
};

// poll(2). `fds` keeps one spare slot at the end for the wake-up fd.
// Extra() copies each revents back into the caller's [fd, events, revents]
// Int32Array (`triples`, kept alive by the caller's reference).
struct PollOp : OpBase {
  static constexpr bool kOwnDriver = true;
  static constexpr bool kHasExtra = true;
  std::vector<pollfd> fds;
  int timeout_ms = -1;
  int32_t* triples = nullptr;
  Napi::Value Extra(Napi::Env env) const {
    for (size_t i = 0; i + 1 < fds.size(); i++)
      triples[i * 3 + 2] = fds[i].revents;
    return env.Undefined();
  }
  ssize_t Sync();
  ssize_t RunAsync(InFlight& call);
  template <typename F>
  void ForEachFd(F&& f) const {
    for (size_t i = 0; i + 1 < fds.size(); i++) {
      if (fds[i].fd >= 0) f(fds[i].fd);
    }
  }
};

// getaddrinfo(3): 0, or -1 with the EAI_* code in Extra() (kept apart from
// -errno). A running getaddrinfo cannot be interrupted, so the async form
// runs one that may ask a name service on a thread of its own and waits for
// it in WaitFor: a wake-up (abort, timeout, teardown) releases the pool
// thread at once, and the lookup finishes and frees itself in the
// background.
struct GetaddrinfoOp : OpBase {
  static constexpr bool kOwnDriver = true;
  static constexpr bool kHasExtra = true;
  // What the lookup thread and the call share; the last owner frees it.
  struct Lookup {
    bool has_node = false, has_service = false;
    std::string node, service;
    addrinfo hints{};
    addrinfo* list = nullptr;
    int gai_error = 0;
    int sys_errno = 0;
    std::mutex mu;          // Guards the two below, once a thread runs it.
    bool finished = false;  // The results above are complete.
    int waiter_fd = -1;     // Rung when finished: the waiting call's thread.
    ~Lookup();
    int Run();  // The blocking library call.
    // Numeric host and service: glibc answers without asking any name
    // service, so there is nothing to wait for and no thread to start.
    bool Immediate() const;
  };
  std::shared_ptr<Lookup> lookup = std::make_shared<Lookup>();
  bool done = false;  // lookup's results are complete and ours to read.
  ssize_t Sync();
  ssize_t RunAsync(InFlight& call);
  template <typename F>
  void ForEachFd(F&&) const {}
  bool ExtraOnFailure() const { return done; }
  Napi::Value Extra(Napi::Env env) const;
};

}  // namespace bsd
