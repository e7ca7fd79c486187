// Close-safety for fds used by asynchronous calls; see fd_registry.h.
#include "fd_registry.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace bsd {

namespace {

struct FdEntry {
  std::vector<InFlight*>
      calls;  // One entry per use; a call may use an fd twice (poll).
  bool closing = false;
  std::shared_ptr<std::mutex> accept_lock;
};

// Leaked on purpose: worker threads may release fds while the process exits.
std::mutex& RegistryMutex() {
  static auto* mu = new std::mutex();
  return *mu;
}
std::unordered_map<int, FdEntry>& Registry() {
  static auto* map = new std::unordered_map<int, FdEntry>();
  return *map;
}

}  // namespace

void WakeFd(int fd) {
  // An eventfd takes 8 bytes; a pipe takes any. EAGAIN means a wake-up is
  // already pending, which is as good.
  uint64_t one = 1;
  ssize_t r;
  do {
    r = ::write(fd, &one, sizeof(one));
  } while (r < 0 && errno == EINTR);
}

void InFlight::Cancel(int err) {
  int expected = 0;
  cancel_errno_.compare_exchange_strong(expected, err,
                                        std::memory_order_seq_cst);
  Nudge();
}

void InFlight::Nudge() {
  // Pairs with Arm(): either the worker sees cancel_errno_ after arming, or we
  // see its wake fd here. A wake-up that arrives after the call ended is
  // harmless: the next call on that thread just looks again.
  int fd = wake_fd_.load(std::memory_order_seq_cst);
  if (fd >= 0) WakeFd(fd);
}

int AcquireFd(int fd, InFlight* call) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  FdEntry& entry = Registry()[fd];
  if (entry.closing) return -EBADF;
  entry.calls.push_back(call);
  return 0;
}

void ReleaseFd(int fd, InFlight* call) {
  bool close_now = false;
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    auto it = Registry().find(fd);
    if (it == Registry().end()) return;
    std::vector<InFlight*>& calls = it->second.calls;
    auto pos = std::find(calls.begin(), calls.end(), call);
    if (pos != calls.end()) {
      *pos = calls.back();
      calls.pop_back();
    }
    if (calls.empty()) {
      close_now = it->second.closing;
      Registry().erase(it);
    }
  }
  // The entry is gone before the fd number is free again, so a socket() that
  // reuses the number starts with a clean slate. Never retried (see errors.h).
  if (close_now) ::close(fd);
}

int CloseFd(int fd, bool* deferred) {
  *deferred = false;
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    auto it = Registry().find(fd);
    if (it != Registry().end()) {
      if (it->second.closing) return -EBADF;  // Already closed by the caller.
      it->second.closing = true;
      for (InFlight* call : it->second.calls) call->Cancel(EBADF);
      *deferred = true;
      return 0;
    }
  }
  // EINTR is not retried: Linux has already released the fd.
  return ::close(fd) == 0 ? 0 : (errno == EINTR ? 0 : -errno);
}

std::shared_ptr<std::mutex> AcceptLockIfInUse(int fd) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Registry().find(fd);
  if (it == Registry().end()) return nullptr;
  if (!it->second.accept_lock)
    it->second.accept_lock = std::make_shared<std::mutex>();
  return it->second.accept_lock;
}

void CancelAllInFlight(int err) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  for (auto& entry : Registry()) {
    for (InFlight* call : entry.second.calls) call->Cancel(err);
  }
}

void NudgeFd(int fd) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Registry().find(fd);
  if (it == Registry().end()) return;
  for (InFlight* call : it->second.calls) call->Nudge();
}

}  // namespace bsd
