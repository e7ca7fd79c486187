// Ancillary data (cmsg(3)): JS Cmsg objects <-> a msg_control buffer. The
// only place that knows CMSG_* alignment and the payload layouts of
// SCM_RIGHTS, SCM_CREDENTIALS, IP_PKTINFO and IPV6_PKTINFO.
#pragma once

#include <napi.h>
#include <sys/socket.h>

#include <cstddef>
#include <utility>
#include <vector>

namespace bsd {

// Encodes a JS array of { level, type, data } into `out` (sized exactly,
// each message CMSG_SPACE-aligned). data: an ArrayBufferView (raw payload,
// any level/type), or for a known type its object: SCM_RIGHTS number[],
// SCM_CREDENTIALS { pid, uid, gid }, IP_PKTINFO { ifindex, specDst?,
// address? }, IPV6_PKTINFO { ifindex, address }. lib/msg.ts has checked the
// shape; anything that still does not fit throws TypeError/RangeError.
// operator new aligns the vector's bytes for any type, cmsghdr included.
void EncodeCmsgs(Napi::Env env, Napi::Value control, std::vector<char>* out);

// Decodes the `len` bytes of control data recvmsg(2) gave back into an array
// of { level, type, data }; a known type's data as the object above, any
// other (or a truncated one) as a Buffer copy of its payload.
Napi::Array DecodeCmsgs(Napi::Env env, const char* control, size_t len);

#if defined(__linux__) && !defined(SCM_PIDFD)
#define SCM_PIDFD \
  0x04  // Linux 6.5 (SO_PASSPIDFD); older C libraries lack the name.
#endif

// Fds the library opened for one call, closed when the call is gone: moved
// with the op, closed exactly once.
class OwnedFds {
 public:
  OwnedFds() = default;
  OwnedFds(OwnedFds&& other) noexcept : fds_(std::move(other.fds_)) {
    other.fds_.clear();
  }
  OwnedFds& operator=(OwnedFds&&) = delete;
  ~OwnedFds() { Close(); }
  void Close();
  void Reserve(size_t n) { fds_.reserve(n); }
  void Add(int fd) { fds_.push_back(fd); }  // After Reserve: cannot throw.

 private:
  std::vector<int> fds_;
};

// Replaces every fd of the SCM_RIGHTS messages in encoded control data with
// a close-on-exec duplicate owned by `dups`, as the kernel takes its own
// references at sendmsg(2) entry: what is sent is the file the fd named at
// the call, whatever happens to that number later. 0, or the errno of the
// first fd that could not be (EBADF: not open, or being closed by close()).
int DupPassedFds(char* control, size_t len, OwnedFds* dups);

// Closes every fd the messages in the control data carry (SCM_RIGHTS,
// SCM_PIDFD): a result nobody will receive.
void CloseReceivedFds(const char* control, size_t len);

// Makes every received fd close-on-exec, where recvmsg(2) has no
// MSG_CMSG_CLOEXEC to do it atomically (macOS).
void CloexecReceivedFds(const char* control, size_t len);

// CMSG_SPACE(len) and CMSG_LEN(len), for lib's exports of the same names.
Napi::Value CmsgSpaceExport(const Napi::CallbackInfo& info);
Napi::Value CmsgLenExport(const Napi::CallbackInfo& info);

}  // namespace bsd
