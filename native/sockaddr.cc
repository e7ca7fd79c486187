// JS address objects <-> struct sockaddr_*; see sockaddr.h.
#include "sockaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "addon.h"

namespace bsd {

namespace {

uint32_t PortOf(Napi::Env env, Napi::Object obj) {
  return static_cast<uint32_t>(IntegralValue(env, obj.Get("port"), 0, 65535,
                                             "addr.port",
                                             "an integer from 0 to 65535"));
}

uint32_t OptionalU32(Napi::Env env, Napi::Object obj, const char* key) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined()) return 0;
  return static_cast<uint32_t>(IntegralValue(env, v, 0, 4294967295.0,
                                             std::string("addr.") + key,
                                             "a 32-bit unsigned integer"));
}

std::string StringOf(Napi::Env env, Napi::Object obj, const char* key) {
  Napi::Value v = obj.Get(key);
  if (!v.IsString()) {
    throw Napi::TypeError::New(
        env, std::string("addr.") + key + " must be a string");
  }
  return v.As<Napi::String>().Utf8Value();
}

}  // namespace

size_t SunPathSize() { return sizeof(sockaddr_un::sun_path); }

void ToSockaddr(Napi::Env env, Napi::Value value, Sockaddr* out) {
  if (value.IsTypedArray() &&
      value.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    Napi::Uint8Array packed = value.As<Napi::Uint8Array>();
    size_t n = packed.ElementLength();
    if (n < sizeof(sa_family_t) || n > sizeof(out->storage)) {
      throw Napi::RangeError::New(env, "packed address has a bad length");
    }
    // SAFETY: sizeof(sa_family_t) <= n <= sizeof(storage), checked above.
    std::memcpy(&out->storage, packed.Data(), n);
    out->len = static_cast<socklen_t>(n);
    return;
  }
  if (!value.IsObject())
    throw Napi::TypeError::New(env, "addr must be an object");
  Napi::Object obj = value.As<Napi::Object>();
  Napi::Value family_value = obj.Get("family");
  if (!family_value.IsNumber()) {
    throw Napi::TypeError::New(env, "addr.family must be a number");
  }
  int family = family_value.As<Napi::Number>().Int32Value();
  std::memset(&out->storage, 0, sizeof(out->storage));

  if (family == AF_INET) {
    // SAFETY: sockaddr_storage is large and aligned enough for every
    // sockaddr_*.
    auto* sin = reinterpret_cast<sockaddr_in*>(&out->storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(PortOf(env, obj)));
    std::string address = StringOf(env, obj, "address");
    if (inet_pton(AF_INET, address.c_str(), &sin->sin_addr) != 1) {
      throw Napi::TypeError::New(
          env, "addr.address is not an IPv4 address: '" + address + "'");
    }
    out->len = sizeof(sockaddr_in);
  } else if (family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(PortOf(env, obj)));
    sin6->sin6_flowinfo = htonl(OptionalU32(env, obj, "flowinfo"));
    sin6->sin6_scope_id = OptionalU32(env, obj, "scopeId");
    std::string address = StringOf(env, obj, "address");
    if (inet_pton(AF_INET6, address.c_str(), &sin6->sin6_addr) != 1) {
      throw Napi::TypeError::New(
          env, "addr.address is not an IPv6 address: '" + address + "'");
    }
    out->len = sizeof(sockaddr_in6);
  } else if (family == AF_UNIX) {
    auto* sun = reinterpret_cast<sockaddr_un*>(&out->storage);
    sun->sun_family = AF_UNIX;
    std::string path = StringOf(env, obj, "path");
    bool abstract = !path.empty() && path[0] == '\0';
    // A pathname needs room for its NUL; an abstract name ('\0' first) is
    // not NUL-terminated: its length is carried by addrlen alone.
    size_t room = abstract ? sizeof(sun->sun_path) : sizeof(sun->sun_path) - 1;
    if (path.size() > room) {
      throw Napi::RangeError::New(env, "addr.path is too long for sun_path (" +
                                           std::to_string(path.size()) +
                                           " bytes, at most " +
                                           std::to_string(room) + ")");
    }
    if (!abstract && path.find('\0') != std::string::npos) {
      throw Napi::TypeError::New(
          env, "addr.path must not contain NUL bytes (except a leading one)");
    }
    // SAFETY: path.size() <= room <= sizeof(sun_path), checked above.
    std::memcpy(sun->sun_path, path.data(), path.size());
    out->len =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                               (abstract || path.empty() ? 0 : 1));
  } else if (family == AF_UNSPEC) {
    // connect(2) with AF_UNSPEC dissolves a datagram socket's association.
    out->storage.ss_family = AF_UNSPEC;
    out->len = sizeof(sa_family_t);
  } else {
    throw Napi::TypeError::New(
        env, "addr.family must be AF_INET, AF_INET6, AF_UNIX or AF_UNSPEC");
  }
}

Napi::Value PackSockaddr(const Napi::CallbackInfo& info) {
  Sockaddr addr;
  ToSockaddr(info.Env(), info[0], &addr);
  Napi::Uint8Array bytes = Napi::Uint8Array::New(info.Env(), addr.len);
  std::memcpy(bytes.Data(), &addr.storage, addr.len);
  return bytes;
}

Napi::Value AddressOut(Napi::Env env, const sockaddr* sa, socklen_t len,
                       uint32_t* scratch) {
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    // SAFETY: the kernel wrote at least sizeof(sockaddr_in) bytes of an AF_INET
    // address.
    auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
    scratch[0] = AF_INET;
    scratch[1] = ntohs(sin->sin_port);
    scratch[2] = ntohl(sin->sin_addr.s_addr);
    return env.Undefined();
  }
  scratch[0] = 0;
  return FromSockaddr(env, sa, len);
}

// Own data properties (defined, not assigned), so no setter a program put on
// Object.prototype runs while the result is built.
Napi::Value FromSockaddr(Napi::Env env, const sockaddr* sa, socklen_t len) {
  if (len < sizeof(sa_family_t)) return env.Null();
  using Prop = Napi::PropertyDescriptor;
  constexpr auto kAttrs = napi_default_jsproperty;
  Napi::Object obj = Napi::Object::New(env);
  Napi::Number family = Napi::Number::New(env, sa->sa_family);
  char text[INET6_ADDRSTRLEN];
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    // SAFETY: the kernel wrote at least sizeof(sockaddr_in) bytes of an AF_INET
    // address.
    auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
    obj.DefineProperties({
        Prop::Value("family", family, kAttrs),
        Prop::Value("address", Napi::String::New(env, text), kAttrs),
        Prop::Value("port", Napi::Number::New(env, ntohs(sin->sin_port)),
                    kAttrs),
    });
  } else if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
    obj.DefineProperties({
        Prop::Value("family", family, kAttrs),
        Prop::Value("address", Napi::String::New(env, text), kAttrs),
        Prop::Value("port", Napi::Number::New(env, ntohs(sin6->sin6_port)),
                    kAttrs),
        Prop::Value("flowinfo",
                    Napi::Number::New(env, ntohl(sin6->sin6_flowinfo)), kAttrs),
        Prop::Value("scopeId", Napi::Number::New(env, sin6->sin6_scope_id),
                    kAttrs),
    });
  } else if (sa->sa_family == AF_UNIX) {
    auto* sun = reinterpret_cast<const sockaddr_un*>(sa);
    size_t offset = offsetof(sockaddr_un, sun_path);
    size_t n = len > offset ? len - offset : 0;
    if (n > sizeof(sun->sun_path)) n = sizeof(sun->sun_path);
    // An abstract name keeps every byte (NULs included); a pathname stops at
    // its NUL. n == 0 is the unnamed address ('').
    if (n > 0 && sun->sun_path[0] != '\0') n = strnlen(sun->sun_path, n);
    obj.DefineProperties({
        Prop::Value("family", family, kAttrs),
        Prop::Value("path", Napi::String::New(env, sun->sun_path, n), kAttrs),
    });
  } else {
    obj.DefineProperties({Prop::Value("family", family, kAttrs)});
  }
  return obj;
}

}  // namespace bsd
