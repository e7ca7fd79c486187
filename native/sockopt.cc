// Struct-valued socket options. One table maps (level, optname) to the kind
// of struct the option takes; getsockoptStruct/setsockoptStruct convert that
// struct to and from JS values, and lib/sockopt.ts dispatches on the same
// table (exported as `structOptions`), so there is one list, here.
// Man pages: socket(7) (SO_RCVTIMEO, SO_SNDTIMEO, SO_LINGER), unix(7)
// (SO_PEERCRED), tcp(7) (TCP_INFO).
#include "sockopt.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "addon.h"

namespace bsd {

namespace {

enum class Kind { kTimeout, kLinger, kTcpInfo, kPeerCred };

struct StructOption {
  const char* name;
  int level;
  int optname;
  Kind kind;
  bool read_only;
  int sys_optname;  // What the system call is given (differs on macOS only).
};

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kTimeout:
      return "timeout";
    case Kind::kLinger:
      return "linger";
    case Kind::kTcpInfo:
      return "tcp_info";
    case Kind::kPeerCred:
      return "ucred";
  }
  return "";
}

// macOS counts SO_LINGER in clock ticks; SO_LINGER_SEC is the same in seconds.
#ifdef SO_LINGER_SEC
constexpr int kLingerSeconds = SO_LINGER_SEC;
#else
constexpr int kLingerSeconds = SO_LINGER;
#endif

const StructOption kStructOptions[] = {
    {"SO_RCVTIMEO", SOL_SOCKET, SO_RCVTIMEO, Kind::kTimeout, false,
     SO_RCVTIMEO},
    {"SO_SNDTIMEO", SOL_SOCKET, SO_SNDTIMEO, Kind::kTimeout, false,
     SO_SNDTIMEO},
    {"SO_LINGER", SOL_SOCKET, SO_LINGER, Kind::kLinger, false, kLingerSeconds},
#ifdef SO_PEERCRED
    {"SO_PEERCRED", SOL_SOCKET, SO_PEERCRED, Kind::kPeerCred, true,
     SO_PEERCRED},
#endif
// Linux's struct tcp_info; other systems' TCP_INFO (FreeBSD) differ in layout.
#if defined(__linux__) && defined(TCP_INFO)
    {"TCP_INFO", IPPROTO_TCP, TCP_INFO, Kind::kTcpInfo, true, TCP_INFO},
#endif
};

const StructOption& FindOption(const Napi::CallbackInfo& info, int level,
                               int optname) {
  for (const StructOption& opt : kStructOptions) {
    if (opt.level == level && opt.optname == optname) return opt;
  }
  throw Napi::TypeError::New(info.Env(),
                             "not a struct-valued option");  // lib/ checked.
}

// getsockopt(2) of the whole struct; 0 or -errno. A shorter optlen (an
// older kernel's tcp_info) leaves the rest of the zeroed struct at 0.
template <typename T>
int GetStruct(int fd, const StructOption& opt, T* value) {
  socklen_t len = sizeof(*value);
  return getsockopt(fd, opt.level, opt.sys_optname, value, &len) == 0 ? 0
                                                                      : -errno;
}

// Saturates: Linux keeps tv_sec up to about LONG_MAX / HZ, far beyond what
// fits in int64 microseconds (a raw-bytes setsockopt can store one).
int64_t TimevalUs(const timeval& tv) {
  constexpr int64_t kMaxSec = (INT64_MAX - 999999) / 1000000;
  if (tv.tv_sec < 0) return 0;
  if (tv.tv_sec >= kMaxSec) return INT64_MAX;
  return int64_t{tv.tv_sec} * 1000000 + tv.tv_usec;
}

// o[name] = value as a data property: a setter a script put on
// Object.prototype cannot take the field.
void Field(Napi::Object o, const char* name, double value) {
  o.DefineProperty(Napi::PropertyDescriptor::Value(
      name, Napi::Number::New(o.Env(), value), napi_default_jsproperty));
}

Napi::Object TcpInfoObject(Napi::Env env, const tcp_info& ti) {
  Napi::Object o = Napi::Object::New(env);
  Field(o, "state", ti.tcpi_state);
  Field(o, "caState", ti.tcpi_ca_state);
  Field(o, "retransmits", ti.tcpi_retransmits);
  Field(o, "probes", ti.tcpi_probes);
  Field(o, "backoff", ti.tcpi_backoff);
  Field(o, "options", ti.tcpi_options);
  Field(o, "sndWscale", static_cast<uint32_t>(ti.tcpi_snd_wscale));
  Field(o, "rcvWscale", static_cast<uint32_t>(ti.tcpi_rcv_wscale));
  Field(o, "rto", ti.tcpi_rto);
  Field(o, "ato", ti.tcpi_ato);
  Field(o, "sndMss", ti.tcpi_snd_mss);
  Field(o, "rcvMss", ti.tcpi_rcv_mss);
  Field(o, "unacked", ti.tcpi_unacked);
  Field(o, "sacked", ti.tcpi_sacked);
  Field(o, "lost", ti.tcpi_lost);
  Field(o, "retrans", ti.tcpi_retrans);
  Field(o, "fackets", ti.tcpi_fackets);
  Field(o, "lastDataSent", ti.tcpi_last_data_sent);
  Field(o, "lastDataRecv", ti.tcpi_last_data_recv);
  Field(o, "lastAckRecv", ti.tcpi_last_ack_recv);
  Field(o, "pmtu", ti.tcpi_pmtu);
  Field(o, "rcvSsthresh", ti.tcpi_rcv_ssthresh);
  Field(o, "rtt", ti.tcpi_rtt);
  Field(o, "rttvar", ti.tcpi_rttvar);
  Field(o, "sndSsthresh", ti.tcpi_snd_ssthresh);
  Field(o, "sndCwnd", ti.tcpi_snd_cwnd);
  Field(o, "advmss", ti.tcpi_advmss);
  Field(o, "reordering", ti.tcpi_reordering);
  Field(o, "rcvRtt", ti.tcpi_rcv_rtt);
  Field(o, "rcvSpace", ti.tcpi_rcv_space);
  Field(o, "totalRetrans", ti.tcpi_total_retrans);
  return o;
}

// (fd, level, optname, out): out[0] = the option as a number (a timeout, in
// ms, fractional to the microsecond) or an object; returns 0 or -errno.
Napi::Value GetsockoptStruct(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0, "fd"), level = IntArg(info, 1, "level");
  const StructOption& opt = FindOption(info, level, IntArg(info, 2, "optname"));
  Napi::Value value;
  switch (opt.kind) {
    case Kind::kTimeout: {
      int64_t us = SocketTimeoutUs(fd, opt.sys_optname);
      if (us < 0) return Napi::Number::New(env, static_cast<double>(us));
      value = Napi::Number::New(env, static_cast<double>(us) / 1000);
      break;
    }
    case Kind::kLinger: {
      linger l{};
      if (int err = GetStruct(fd, opt, &l)) return Napi::Number::New(env, err);
      Napi::Object o = Napi::Object::New(env);
      Field(o, "onoff", l.l_onoff);
      Field(o, "linger", l.l_linger);
      value = o;
      break;
    }
    case Kind::kTcpInfo: {
#if defined(__linux__) && defined(TCP_INFO)
      tcp_info ti{};
      if (int err = GetStruct(fd, opt, &ti)) return Napi::Number::New(env, err);
      value = TcpInfoObject(env, ti);
#endif
      break;
    }
    case Kind::kPeerCred: {
#ifdef SO_PEERCRED
      ucred cred{};
      if (int err = GetStruct(fd, opt, &cred))
        return Napi::Number::New(env, err);
      Napi::Object o = Napi::Object::New(env);
      Field(o, "pid", static_cast<double>(cred.pid));
      Field(o, "uid", static_cast<double>(cred.uid));
      Field(o, "gid", static_cast<double>(cred.gid));
      value = o;
#endif
      break;
    }
  }
  if (value.IsEmpty())
    throw Napi::TypeError::New(env, "not a struct-valued option");
  DefineElement(info[3].As<Napi::Object>(), 0, value);
  return Napi::Number::New(env, 0);
}

// (fd, level, optname, a, b), the struct's fields as lib/sockopt.ts checked
// them: a timeout's microseconds (a); a linger's l_onoff (a), l_linger (b).
Napi::Value SetsockoptStruct(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0, "fd"), level = IntArg(info, 1, "level");
  const StructOption& opt = FindOption(info, level, IntArg(info, 2, "optname"));
  int r = -1;
  switch (opt.kind) {
    case Kind::kTimeout: {
      int64_t whole = static_cast<int64_t>(
          IntegralValue(env, info[3], 0, 9007199254740991.0, "microseconds",
                        "an integer >= 0"));
      timeval tv{};
      tv.tv_sec = static_cast<time_t>(whole / 1000000);
      tv.tv_usec = static_cast<suseconds_t>(whole % 1000000);
      r = setsockopt(fd, level, opt.sys_optname, &tv, sizeof(tv));
      break;
    }
    case Kind::kLinger: {
      linger l{};
      l.l_onoff = IntArg(info, 3, "onoff");
      l.l_linger = IntArg(info, 4, "linger");
      r = setsockopt(fd, level, opt.sys_optname, &l, sizeof(l));
      break;
    }
    case Kind::kTcpInfo:
    case Kind::kPeerCred:
      throw Napi::TypeError::New(
          env, std::string(opt.name) + " is read-only");  // lib/ checked.
  }
  return Napi::Number::New(env, r < 0 ? -errno : 0);
}

}  // namespace

int64_t SocketTimeoutUs(int fd, int optname) {
  timeval tv{};
  socklen_t len = sizeof(tv);
  if (getsockopt(fd, SOL_SOCKET, optname, &tv, &len) != 0) return -errno;
  return TimevalUs(tv);
}

void InitSockopt(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Array table = Napi::Array::New(env);
  uint32_t i = 0;
  for (const StructOption& opt : kStructOptions) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", opt.name);
    entry.Set("level", opt.level);
    entry.Set("optname", opt.optname);
    entry.Set("kind", KindName(opt.kind));
    entry.Set("readOnly", opt.read_only);
    table.Set(i++, entry);
  }
  exports.Set("structOptions", table);
  ExportFunction(env, exports, "getsockoptStruct", GetsockoptStruct, data);
  ExportFunction(env, exports, "setsockoptStruct", SetsockoptStruct, data);
}

}  // namespace bsd
