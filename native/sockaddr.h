// JS address objects <-> struct sockaddr_*. The only place that knows the
// layout of sockaddr_in, sockaddr_in6 and sockaddr_un (sun_path length,
// abstract names, scope ids).
#pragma once

#include <napi.h>
#include <sys/socket.h>

namespace bsd {

struct Sockaddr {
  sockaddr_storage storage;
  socklen_t len = 0;

  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
  const sockaddr* get() const {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
};

// Size of sun_path, exported so lib/validate.ts can check paths before a call.
size_t SunPathSize();

// Fills `out` from { family, address, port, flowinfo?, scopeId? } or
// { family: AF_UNIX, path }. lib/validate.ts checks addresses first; a bad one
// that still arrives here throws TypeError/RangeError, never reaches the kernel.
void ToSockaddr(Napi::Env env, Napi::Value value, Sockaddr* out);

// The JS object for an address the kernel gave back; null when `len` is 0
// (recvfrom on a connected stream, an unbound Unix datagram sender).
Napi::Value FromSockaddr(Napi::Env env, const sockaddr* sa, socklen_t len);

}  // namespace bsd
