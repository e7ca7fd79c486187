// Socket options whose value is a C struct, typed: SO_RCVTIMEO/SO_SNDTIMEO
// (struct timeval) as milliseconds, SO_LINGER (struct linger) as
// { onoff, linger }, and read-only SO_PEERCRED (struct ucred, Linux) and
// TCP_INFO (struct tcp_info, Linux) as objects. The list of such options and
// the struct conversions are native (native/sockopt.cc); this file checks the
// values before they get there. Raw bytes (a Uint8Array value, getsockopt
// with buflen) bypass all of it, as before.
import { native } from './binding';
import { INT32_MAX, show, validateInt } from './validate';


/** struct linger: `onoff` non-zero lingers on close() for up to `linger` seconds; { 1, 0 } resets the connection. */
export interface Linger {
  onoff: number;
  linger: number;
}

/** struct ucred: SO_PEERCRED (the peer's, as of connect()/socketpair()) and SCM_CREDENTIALS. */
export interface Ucred {
  pid: number;
  uid: number;
  gid: number;
}

/**
 * Linux's struct tcp_info, each `tcpi_x` field as camelCase `x` (as
 * `sin6_scope_id` is `scopeId`). Units as the kernel gives them: `rto`,
 * `ato`, `rtt`, `rttvar`, `rcvRtt` in microseconds; `lastDataSent`,
 * `lastDataRecv`, `lastAckRecv` in milliseconds ago; `sndMss`, `rcvMss`,
 * `pmtu`, `advmss` in bytes; `sndCwnd`, `sndSsthresh` in segments.
 * `state` is one of the TCP_ESTABLISHED… constants.
 */
export interface TcpInfo {
  state: number;
  caState: number;
  retransmits: number;
  probes: number;
  backoff: number;
  options: number;
  sndWscale: number;
  rcvWscale: number;
  rto: number;
  ato: number;
  sndMss: number;
  rcvMss: number;
  unacked: number;
  sacked: number;
  lost: number;
  retrans: number;
  fackets: number;
  lastDataSent: number;
  lastDataRecv: number;
  lastAckRecv: number;
  pmtu: number;
  rcvSsthresh: number;
  rtt: number;
  rttvar: number;
  sndSsthresh: number;
  sndCwnd: number;
  advmss: number;
  reordering: number;
  rcvRtt: number;
  rcvSpace: number;
  totalRetrans: number;
}

declare const optionValue: unique symbol;
/**
 * An option constant (a plain number at run time) that tells TypeScript the
 * type getsockopt() returns for it: `getsockopt(fd, SOL_SOCKET, SO_LINGER)`
 * is a `Linger`.
 */
export type SockoptName<T> = number & { readonly [optionValue]: T };

type Kind = 'timeout' | 'linger' | 'tcp_info' | 'ucred';
interface StructOption {
  name: string;
  level: number;
  optname: number;
  kind: Kind;
  readOnly: boolean;
}

const byLevel = new Map<number, Map<number, StructOption>>();
for (const opt of native.structOptions as StructOption[]) {
  if (!byLevel.has(opt.level)) byLevel.set(opt.level, new Map());
  byLevel.get(opt.level)!.set(opt.optname, opt);
}

/** The struct-valued option at (level, optname), if this platform has one there. */
export function structOption(level: number, optname: number): StructOption | undefined {
  return byLevel.get(level)?.get(optname);
}

/**
 * A timeout in ms as whole microseconds (struct timeval's precision): ms may
 * be fractional; it is rounded to the nearest microsecond, a positive value
 * to at least 1 µs (0 alone means "no timeout").
 */
function timeoutMicros(opt: StructOption, value: unknown): number {
  if (typeof value !== 'number') {
    throw new TypeError(
      `The "value" argument for ${opt.name} must be of type number (milliseconds) or a Uint8Array. Received ${show(value)}`,
    );
  }
  if (!(value >= 0 && value <= INT32_MAX)) {
    throw new RangeError(
      `The value of "value" for ${opt.name} is out of range. It must be >= 0 and <= ${INT32_MAX} (milliseconds). Received ${show(value)}`,
    );
  }
  const us = Math.round(value * 1000);
  return us === 0 && value > 0 ? 1 : us;
}

function lingerFields(opt: StructOption, value: unknown): [number, number] {
  if (value === null || typeof value !== 'object') {
    throw new TypeError(
      `The "value" argument for ${opt.name} must be an object { onoff, linger } or a Uint8Array. Received ${show(value)}`,
    );
  }
  const v = value as { onoff?: unknown; linger?: unknown };
  const onoff = typeof v.onoff === 'boolean' ? Number(v.onoff) : validateInt(v.onoff, 'value.onoff');
  return [onoff, validateInt(v.linger, 'value.linger', 0, INT32_MAX)];
}

/**
 * setsockopt() of a struct-valued option: checks `value`, then sets it.
 * Returns 0 or -errno, and the value as checked (for the trace).
 */
export function setStructOption(fd: number, opt: StructOption, value: unknown): [number, number | Linger] {
  if (opt.readOnly) {
    throw new TypeError(`The "optname" argument ${opt.name} is read-only: getsockopt() reads it, setsockopt() cannot set it`);
  }
  if (opt.kind === 'timeout') {
    const us = timeoutMicros(opt, value);
    return [native.setsockoptStruct(fd, opt.level, opt.optname, us, 0), us / 1000];
  }
  const [onoff, linger] = lingerFields(opt, value);
  return [native.setsockoptStruct(fd, opt.level, opt.optname, onoff, linger), { onoff, linger }];
}

/** getsockopt() of a struct-valued option: out[0] = its number or object. Returns 0 or -errno. */
export function getStructOption(fd: number, opt: StructOption, out: unknown[]): number {
  return native.getsockoptStruct(fd, opt.level, opt.optname, out);
}
