// sendmsg/recvmsg: the object shapes of struct msghdr and struct cmsghdr
// (with the payloads bsd-sockets knows by type), and their checks before any
// system call. The byte layouts (CMSG_*, ucred, in_pktinfo, in6_pktinfo)
// live in native/cmsg.cc.
import * as net from 'node:net';
import { native } from './binding';
import type { Sockaddr } from './sockaddr';
import type { Ucred } from './sockopt';
import { show, validateBuffer, validateFd, validateInt } from './validate';

const { SOL_SOCKET, SCM_RIGHTS, SCM_CREDENTIALS, IPPROTO_IP, IPPROTO_IPV6, IP_PKTINFO, IPV6_PKTINFO } = native.constants;
const IOV_MAX = native.constants.IOV_MAX ?? 1024;

/**
 * IP_PKTINFO: struct in_pktinfo. Received: `address` is the datagram's
 * destination address (ipi_addr), `specDst` the local address a reply would
 * come from (ipi_spec_dst), `ifindex` the interface it arrived on. Sent:
 * `specDst` picks the source address, `ifindex` the outgoing interface.
 */
export interface InPktinfo {
  ifindex: number;
  address: string;
  specDst: string;
}

/** IPV6_PKTINFO: struct in6_pktinfo. Received: the destination address and arrival interface; sent: the source address and outgoing interface. */
export interface In6Pktinfo {
  ifindex: number;
  address: string;
}

/**
 * One control message as recvmsg() gives it: struct cmsghdr's level and type,
 * and its payload — for SCM_RIGHTS the fds (number[], now yours, close-on-exec;
 * likewise SCM_PIDFD's one pidfd, Linux 6.5+ with SO_PASSPIDFD),
 * SCM_CREDENTIALS a Ucred, IP_PKTINFO an InPktinfo, IPV6_PKTINFO an
 * In6Pktinfo; any other type (or a truncated one) the raw bytes.
 */
export interface Cmsg {
  level: number;
  type: number;
  data: number[] | Ucred | InPktinfo | In6Pktinfo | Buffer;
}

/** One control message for sendmsg(): a known type's object, or raw payload bytes for any level and type. */
export interface CmsgInput {
  level: number;
  type: number;
  data: number[] | Ucred | { ifindex: number; specDst?: string; address?: string } | In6Pktinfo | ArrayBufferView;
}

/** struct msghdr for sendmsg(): msg_iov, msg_name (an unconnected socket's destination), msg_control. */
export interface Msghdr {
  iov: ArrayBufferView[];
  name?: Sockaddr;
  control?: CmsgInput[];
}

/** struct msghdr for recvmsg(): msg_iov and msg_controllen (bytes; default DEFAULT_CONTROLLEN). */
export interface RecvMsghdr {
  iov: ArrayBufferView[];
  controllen?: number;
}

export interface RecvmsgResult {
  nbytes: number;
  /** msg_name: the source address; null where the kernel gives none (a connected TCP socket). */
  addr: Sockaddr | null;
  /** The control messages, parsed. */
  control: Cmsg[];
  /** msg_flags: MSG_TRUNC (datagram larger than the iov), MSG_CTRUNC (control data cut short), MSG_EOR, MSG_OOB. */
  flags: number;
}

/**
 * recvmsg()'s control buffer when `controllen` is not given: room for 32
 * fds together with credentials and a pktinfo. Size it for more with
 * CMSG_SPACE(), as in C: `CMSG_SPACE(4 * nfds)`.
 */
export const DEFAULT_CONTROLLEN = 256;
/** Upper bounds, so no call allocates without limit: msg_controllen, control messages per call, bytes or fds per message. */
const MAX_CONTROLLEN = 65536;
const MAX_CMSGS = 64;
const MAX_PAYLOAD = 65536;

function objectArg(value: unknown, name: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object') {
    throw new TypeError(`The "${name}" argument must be an object. Received ${show(value)}`);
  }
  return value as Record<string, unknown>;
}

/** msg.iov: a fresh array of checked views (a worker uses this copy, not the caller's array). */
function checkIov(iov: unknown): { views: ArrayBufferView[]; nbytes: number } {
  if (!Array.isArray(iov)) {
    throw new TypeError(`The "msg.iov" property must be an array of Buffer, TypedArray or DataView. Received ${show(iov)}`);
  }
  const n = iov.length;
  if (n > IOV_MAX) throw new RangeError(`The "msg.iov" property has ${n} entries, more than IOV_MAX (${IOV_MAX})`);
  const views: ArrayBufferView[] = [];
  let nbytes = 0;
  for (let i = 0; i < n; i++) {
    const view: unknown = iov[i];
    nbytes += validateBuffer(view, undefined, `msg.iov[${i}]`);
    views.push(view as ArrayBufferView);
  }
  return { views, nbytes };
}

function checkAddress(value: unknown, name: string, v6: boolean): string | undefined {
  if (value === undefined) return undefined;
  // A zone ('%eth0') is not part of in6_pktinfo: ifindex is (as validateSockaddr refuses it too).
  if (typeof value !== 'string' || !(v6 ? net.isIPv6(value) && !value.includes('%') : net.isIPv4(value))) {
    throw new TypeError(`The "${name}" property must be an ${v6 ? 'IPv6' : 'IPv4'} address. Received ${show(value)}`);
  }
  return value;
}

/** One control message's data, copied into a plain value the native side reads once. */
function checkCmsgData(level: number, type: number, data: unknown, name: string): unknown {
  if (ArrayBuffer.isView(data)) {
    const n = validateBuffer(data, undefined, name);
    if (n > MAX_PAYLOAD) throw new RangeError(`The "${name}" property is ${n} bytes, more than ${MAX_PAYLOAD}`);
    return data;
  }
  if (level === SOL_SOCKET && type === SCM_RIGHTS) {
    if (!Array.isArray(data)) throw new TypeError(`The "${name}" property must be an array of fds (SCM_RIGHTS). Received ${show(data)}`);
    const n = data.length; // Read once: a Proxy could answer differently each time.
    if (n > MAX_PAYLOAD / 4) throw new RangeError(`The "${name}" property has ${n} fds, more than ${MAX_PAYLOAD / 4}`);
    const fds: number[] = [];
    for (let i = 0; i < n; i++) fds.push(validateFd(data[i], `${name}[${i}]`));
    return fds;
  }
  const known = (level === SOL_SOCKET && type === SCM_CREDENTIALS && SCM_CREDENTIALS !== undefined) ||
    (level === IPPROTO_IP && type === IP_PKTINFO && IP_PKTINFO !== undefined) ||
    (level === IPPROTO_IPV6 && type === IPV6_PKTINFO && IPV6_PKTINFO !== undefined);
  if (!known) {
    throw new TypeError(`The "${name}" property must be a Buffer, TypedArray or DataView for level ${level} type ${type}. Received ${show(data)}`);
  }
  const d = objectArg(data, name);
  if (type === SCM_CREDENTIALS && level === SOL_SOCKET) {
    return {
      pid: validateInt(d.pid, `${name}.pid`),
      uid: validateInt(d.uid, `${name}.uid`, 0, 2 ** 32 - 1),
      gid: validateInt(d.gid, `${name}.gid`, 0, 2 ** 32 - 1),
    };
  }
  const v6 = level === IPPROTO_IPV6;
  const out: Record<string, unknown> = { ifindex: validateInt(d.ifindex, `${name}.ifindex`, 0) };
  out.address = checkAddress(d.address, `${name}.address`, v6);
  if (!v6) out.specDst = checkAddress(d.specDst, `${name}.specDst`, false);
  return out;
}

function checkControl(control: unknown): unknown[] | undefined {
  if (control === undefined) return undefined;
  if (!Array.isArray(control)) throw new TypeError(`The "msg.control" property must be an array of { level, type, data }. Received ${show(control)}`);
  const n = control.length; // Read once: a Proxy could answer differently each time.
  if (n > MAX_CMSGS) throw new RangeError(`The "msg.control" property has ${n} messages, more than ${MAX_CMSGS}`);
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const name = `msg.control[${i}]`;
    const cm = objectArg(control[i], name);
    const level = validateInt(cm.level, `${name}.level`);
    const type = validateInt(cm.type, `${name}.type`);
    out.push({ level, type, data: checkCmsgData(level, type, cm.data, `${name}.data`) });
  }
  return out;
}

/** sendmsg()'s msg, checked and copied. */
export function validateMsghdr(msg: unknown): { iov: ArrayBufferView[]; nbytes: number; name: unknown; control: unknown[] | undefined } {
  const m = objectArg(msg, 'msg');
  const { views, nbytes } = checkIov(m.iov);
  return { iov: views, nbytes, name: m.name, control: checkControl(m.control) };
}

/** recvmsg()'s msg, checked and copied. */
export function validateRecvMsghdr(msg: unknown): { iov: ArrayBufferView[]; nbytes: number; controllen: number } {
  const m = objectArg(msg, 'msg');
  const { views, nbytes } = checkIov(m.iov);
  const controllen = m.controllen === undefined ? DEFAULT_CONTROLLEN : validateInt(m.controllen, 'msg.controllen', 0, MAX_CONTROLLEN);
  return { iov: views, nbytes, controllen };
}

/**
 * CMSG_SPACE(length): the bytes one control message with `length` bytes of payload takes, padding included.
 *
 * C: `size_t CMSG_SPACE(size_t length);` — see cmsg(3).
 */
export function CMSG_SPACE(length: number): number {
  return native.CMSG_SPACE(validateInt(length, 'length', 0, MAX_PAYLOAD));
}

/**
 * CMSG_LEN(length): cmsg_len of a control message with `length` bytes of payload.
 *
 * C: `size_t CMSG_LEN(size_t length);` — see cmsg(3).
 */
export function CMSG_LEN(length: number): number {
  return native.CMSG_LEN(validateInt(length, 'length', 0, MAX_PAYLOAD));
}
