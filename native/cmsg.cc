// Ancillary data; see cmsg.h. Man pages: cmsg(3) unix(7) ip(7) ipv6(7).
#include "cmsg.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "addon.h"
#include "fd_registry.h"

namespace bsd {

namespace {

using Prop = Napi::PropertyDescriptor;
constexpr auto kAttrs = napi_default_jsproperty;

// A 32-bit field, signed (pid) or not (uid, gid): either range is taken.
int32_t IntField(Napi::Env env, Napi::Object obj, const char* key) {
  double d = IntegralValue(env, obj.Get(key), -2147483648.0, 4294967295.0,
                           std::string("cmsg data.") + key, "a 32-bit integer");
  return static_cast<int32_t>(static_cast<int64_t>(d));
}

// inet_pton of data[key] into `dst`; an absent key leaves `dst` zero.
void AddressField(Napi::Env env, Napi::Object obj, const char* key, int family,
                  void* dst) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined()) return;
  if (!v.IsString() ||
      inet_pton(family, v.As<Napi::String>().Utf8Value().c_str(), dst) != 1) {
    throw Napi::TypeError::New(
        env, std::string("cmsg data.") + key + " must be an IP address");
  }
}

template <typename T>
void Append(std::vector<char>* payload, const T& value) {
  const char* p = reinterpret_cast<const char*>(&value);
  payload->insert(payload->end(), p, p + sizeof(T));
}

// The payload bytes of one message: raw bytes as given, or a known type's
// struct.
std::vector<char> Payload(Napi::Env env, int level, int type,
                          Napi::Value data) {
  std::vector<char> payload;
  if (data.IsTypedArray() || data.IsDataView()) {
    BufferRef bytes = ViewBytes(env, data, "cmsg data");
    char* p = static_cast<char*>(bytes.data);
    // SAFETY: [p, p + length) is the view's own window of its buffer.
    if (bytes.length > 0) payload.assign(p, p + bytes.length);
    return payload;
  }
  if (level == SOL_SOCKET && type == SCM_RIGHTS && data.IsArray()) {
    Napi::Array fds = data.As<Napi::Array>();
    for (uint32_t i = 0; i < fds.Length(); i++) {
      double fd = IntegralValue(env, fds.Get(i), 0, 2147483647.0,
                                "an SCM_RIGHTS fd", "a non-negative int");
      Append(&payload, static_cast<int>(fd));
    }
    return payload;
  }
  if (!data.IsObject())
    throw Napi::TypeError::New(
        env, "cmsg data must be an object or an ArrayBufferView");
  Napi::Object obj = data.As<Napi::Object>();
#ifdef SCM_CREDENTIALS
  if (level == SOL_SOCKET && type == SCM_CREDENTIALS) {
    ucred cred{};
    cred.pid = IntField(env, obj, "pid");
    cred.uid = static_cast<uid_t>(IntField(env, obj, "uid"));
    cred.gid = static_cast<gid_t>(IntField(env, obj, "gid"));
    Append(&payload, cred);
    return payload;
  }
#endif
#ifdef IP_PKTINFO
  if (level == IPPROTO_IP && type == IP_PKTINFO) {
    in_pktinfo info{};
    info.ipi_ifindex = IntField(env, obj, "ifindex");
    AddressField(env, obj, "specDst", AF_INET, &info.ipi_spec_dst);
    AddressField(env, obj, "address", AF_INET, &info.ipi_addr);
    Append(&payload, info);
    return payload;
  }
#endif
#ifdef IPV6_PKTINFO
  if (level == IPPROTO_IPV6 && type == IPV6_PKTINFO) {
    in6_pktinfo info{};
    info.ipi6_ifindex = static_cast<unsigned>(IntField(env, obj, "ifindex"));
    AddressField(env, obj, "address", AF_INET6, &info.ipi6_addr);
    Append(&payload, info);
    return payload;
  }
#endif
  throw Napi::TypeError::New(
      env, "cmsg data of level " + std::to_string(level) + " type " +
               std::to_string(type) + " must be an ArrayBufferView");
}

// Walks the messages of `len` bytes of control data, each checked to lie
// wholly inside it: f(cmsg, payload, payload_len).
template <typename F>
void ForEachCmsg(const char* control, size_t len, F&& f) {
  msghdr msg{};
  msg.msg_control = const_cast<char*>(control);
  msg.msg_controllen = len;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
       c = CMSG_NXTHDR(&msg, c)) {
    size_t offset = reinterpret_cast<char*>(c) - control;
    // A truncated last message (MSG_CTRUNC) may claim more than is there.
    if (c->cmsg_len < CMSG_LEN(0) || c->cmsg_len > len - offset) break;
    f(c, reinterpret_cast<const char*>(CMSG_DATA(c)),
      c->cmsg_len - CMSG_LEN(0));
  }
}

// The fds of one SCM_RIGHTS payload of n bytes.
template <typename F>
void ForEachFdIn(const char* data, size_t n, F&& f) {
  for (size_t i = 0; i + sizeof(int) <= n; i += sizeof(int)) {
    int fd;
    std::memcpy(&fd, data + i, sizeof(fd));  // SAFETY: i + sizeof(int) <= n.
    f(fd);
  }
}

// Messages whose payload is fds the receiver then owns.
bool CarriesFds(const cmsghdr* c) {
  if (c->cmsg_level != SOL_SOCKET) return false;
#ifdef SCM_PIDFD
  if (c->cmsg_type == SCM_PIDFD) return true;
#endif
  return c->cmsg_type == SCM_RIGHTS;
}

template <typename F>
void ForEachReceivedFd(const char* control, size_t len, F&& f) {
  ForEachCmsg(control, len, [&](const cmsghdr* c, const char* data, size_t n) {
    if (CarriesFds(c)) ForEachFdIn(data, n, f);
  });
}

std::string AddressText(int family, const void* addr) {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(family, addr, text, sizeof(text));
  return text;
}

Napi::Value DecodeData(Napi::Env env, const cmsghdr* c, const char* data,
                       size_t n) {
  if (CarriesFds(c)) {
    Napi::Array fds = Napi::Array::New(env);
    uint32_t i = 0;
    ForEachFdIn(data, n, [&](int fd) {
      DefineElement(fds, i++, Napi::Number::New(env, fd));
    });
    return fds;
  }
  Napi::Object obj = Napi::Object::New(env);
#ifdef SCM_CREDENTIALS
  if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
      n >= sizeof(ucred)) {
    ucred cred;
    std::memcpy(&cred, data,
                sizeof(cred));  // SAFETY: n >= sizeof(ucred); CMSG_DATA may be
                                // unaligned for it.
    obj.DefineProperties({
        Prop::Value("pid", Napi::Number::New(env, cred.pid), kAttrs),
        Prop::Value("uid", Napi::Number::New(env, cred.uid), kAttrs),
        Prop::Value("gid", Napi::Number::New(env, cred.gid), kAttrs),
    });
    return obj;
  }
#endif
#ifdef IP_PKTINFO
  if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
      n >= sizeof(in_pktinfo)) {
    in_pktinfo info;
    std::memcpy(&info, data, sizeof(info));  // SAFETY: n >= sizeof(in_pktinfo).
    obj.DefineProperties({
        Prop::Value("ifindex", Napi::Number::New(env, info.ipi_ifindex),
                    kAttrs),
        Prop::Value(
            "address",
            Napi::String::New(env, AddressText(AF_INET, &info.ipi_addr)),
            kAttrs),
        Prop::Value(
            "specDst",
            Napi::String::New(env, AddressText(AF_INET, &info.ipi_spec_dst)),
            kAttrs),
    });
    return obj;
  }
#endif
#ifdef IPV6_PKTINFO
  if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
      n >= sizeof(in6_pktinfo)) {
    in6_pktinfo info;
    std::memcpy(&info, data,
                sizeof(info));  // SAFETY: n >= sizeof(in6_pktinfo).
    obj.DefineProperties({
        Prop::Value("ifindex", Napi::Number::New(env, info.ipi6_ifindex),
                    kAttrs),
        Prop::Value(
            "address",
            Napi::String::New(env, AddressText(AF_INET6, &info.ipi6_addr)),
            kAttrs),
    });
    return obj;
  }
#endif
  return Napi::Buffer<char>::Copy(env, data, n);
}

}  // namespace

void EncodeCmsgs(Napi::Env env, Napi::Value control, std::vector<char>* out) {
  out->clear();
  if (control.IsUndefined()) return;
  if (!control.IsArray())
    throw Napi::TypeError::New(env, "control must be an array");
  Napi::Array list = control.As<Napi::Array>();
  struct Piece {
    int level, type;
    std::vector<char> payload;
  };
  std::vector<Piece> pieces;
  size_t total = 0;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value entry = list.Get(i);
    if (!entry.IsObject())
      throw Napi::TypeError::New(env, "control[i] must be an object");
    Napi::Object cm = entry.As<Napi::Object>();
    Napi::Value level = cm.Get("level"), type = cm.Get("type");
    if (!level.IsNumber() || !type.IsNumber()) {
      throw Napi::TypeError::New(env,
                                 "control[i].level and .type must be numbers");
    }
    Piece piece{level.As<Napi::Number>().Int32Value(),
                type.As<Napi::Number>().Int32Value(),
                {}};
    piece.payload = Payload(env, piece.level, piece.type, cm.Get("data"));
    // lib/msg.ts bounds each payload (64 KiB) and the count, so this cannot
    // overflow.
    total += CMSG_SPACE(piece.payload.size());
    pieces.push_back(std::move(piece));
  }
  out->assign(total, 0);  // Zeroed: the padding CMSG_SPACE adds is sent too.
  msghdr msg{};
  msg.msg_control = out->data();
  msg.msg_controllen = total;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  for (const Piece& piece : pieces) {
    // SAFETY: `out` holds the sum of every piece's CMSG_SPACE, so each header
    // and payload written here lies inside it.
    c->cmsg_level = piece.level;
    c->cmsg_type = piece.type;
    c->cmsg_len = CMSG_LEN(piece.payload.size());
    if (!piece.payload.empty())
      std::memcpy(CMSG_DATA(c), piece.payload.data(), piece.payload.size());
    c = reinterpret_cast<cmsghdr*>(reinterpret_cast<char*>(c) +
                                   CMSG_SPACE(piece.payload.size()));
  }
}

Napi::Array DecodeCmsgs(Napi::Env env, const char* control, size_t len) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  ForEachCmsg(control, len, [&](const cmsghdr* c, const char* data, size_t n) {
    Napi::Object cm = Napi::Object::New(env);
    cm.DefineProperties({
        Prop::Value("level", Napi::Number::New(env, c->cmsg_level), kAttrs),
        Prop::Value("type", Napi::Number::New(env, c->cmsg_type), kAttrs),
        Prop::Value("data", DecodeData(env, c, data, n), kAttrs),
    });
    DefineElement(out, i++, cm);
  });
  return out;
}

void OwnedFds::Close() {
  for (int fd : fds_) ::close(fd);
  fds_.clear();
}

// Open, and no close() of ours under way on it (whose close(2) is only
// deferred while calls of ours still use it): to the caller it is closed.
namespace {
bool IsOpenForCaller(int fd) {
  InFlight probe;
  if (AcquireFd(fd, &probe) != 0) return false;
  bool open = fcntl(fd, F_GETFD) >= 0;
  ReleaseFd(fd, &probe);
  return open;
}
}  // namespace

int DupPassedFds(char* control, size_t len, OwnedFds* dups) {
  std::vector<char*> slots;  // Where each fd sits in `control`.
  ForEachCmsg(control, len, [&](const cmsghdr* c, const char* data, size_t n) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) return;
    // SAFETY: `data` points into `control`, which is ours to write.
    char* at = control + (data - control);
    for (size_t i = 0; i + sizeof(int) <= n; i += sizeof(int))
      slots.push_back(at + i);
  });
  // Every fd checked before any is duplicated: a duplicate takes the lowest
  // free number, which may be one the caller passes as closed.
  for (char* slot : slots) {
    int fd;
    std::memcpy(&fd, slot, sizeof(fd));
    if (!IsOpenForCaller(fd)) return EBADF;
  }
  dups->Reserve(slots.size());
  for (char* slot : slots) {
    int fd;
    std::memcpy(&fd, slot, sizeof(fd));
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return errno;
    dups->Add(dup);
    std::memcpy(slot, &dup, sizeof(dup));
  }
  return 0;
}

void CloseReceivedFds(const char* control, size_t len) {
  ForEachReceivedFd(control, len, [](int fd) { ::close(fd); });
}

void CloexecReceivedFds(const char* control, size_t len) {
  ForEachReceivedFd(control, len,
                    [](int fd) { fcntl(fd, F_SETFD, FD_CLOEXEC); });
}

namespace {

uint32_t LengthArg(const Napi::CallbackInfo& info) {
  return static_cast<uint32_t>(IntegralValue(
      info.Env(), info[0], 0, 65536, "length", "an integer from 0 to 65536"));
}

}  // namespace

Napi::Value CmsgSpaceExport(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(),
                           static_cast<double>(CMSG_SPACE(LengthArg(info))));
}

Napi::Value CmsgLenExport(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(),
                           static_cast<double>(CMSG_LEN(LengthArg(info))));
}

}  // namespace bsd
