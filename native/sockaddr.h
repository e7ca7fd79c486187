// JS address objects <-> struct sockaddr_*. The only place that knows the
// layout of sockaddr_in, sockaddr_in6 and sockaddr_un (sun_path length,
// abstract names, scope ids).
#pragma once

#include <napi.h>
#include <sys/socket.h>

namespace bsd {

struct Sockaddr {
  sockaddr_storage storage{};
  socklen_t len = 0;

  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
  const sockaddr* get() const {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
};

// Size of sun_path, exported so lib/validate.ts can check paths before a call.
size_t SunPathSize();

// Fills `out` from { family, address, port, flowinfo?, scopeId? } or
// { family: AF_UNIX, path }, or from the bytes PackSockaddr made (lib/ caches
// them per address object, so a sendto() loop converts its address once).
// lib/validate.ts checks addresses first; a bad one that still arrives here
// throws TypeError/RangeError, never reaches the kernel.
void ToSockaddr(Napi::Env env, Napi::Value value, Sockaddr* out);

// The sockaddr bytes of a JS address object, as a Uint8Array.
Napi::Value PackSockaddr(const Napi::CallbackInfo& info);

// The JS object for an address the kernel gave back; null when `len` is 0
// (recvfrom on a connected stream, an unbound Unix datagram sender).
Napi::Value FromSockaddr(Napi::Env env, const sockaddr* sa, socklen_t len);

// FromSockaddr for the per-datagram and per-connection paths: an IPv4
// address is written to `scratch` as [AF_INET, port, address (host order)]
// and lib/ builds the object (undefined is returned); any other address is
// returned as FromSockaddr's object, with scratch[0] = 0.
Napi::Value AddressOut(Napi::Env env, const sockaddr* sa, socklen_t len,
                       uint32_t* scratch);

}  // namespace bsd
