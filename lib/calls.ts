// One wrapper per socket call, in C's name, argument order and success
// value. Calls that can block come twice: `name()` runs on a libuv worker and
// returns a Promise; `nameSync()` blocks this thread as C does. Each checks
// its arguments (validate.ts), calls the addon, and turns -errno into a
// SocketError (errors.ts).
import { native } from './binding';
import { SocketError, check, errnoName, socketError } from './errors';
import { type CallOptions, runAsync, validateOptions } from './async';
import { type Msghdr, type RecvMsghdr, type RecvmsgResult, validateMsghdr, validateRecvMsghdr } from './msg';
import { nodeOwnerOf } from './interop';
import { type Sockaddr, type SockaddrUnspec, addressText, domains } from './sockaddr';
import { type Linger, type SockoptName, getStructOption, setStructOption, structOption } from './sockopt';
import { type GaiFailure, traceStart, traceSync, tracing } from './trace';
import { closeWatcherOf } from './watch';
import {
  keepForWorker, validateBuffer, validateFamily, validateFd, validateFlags, validateInt, validateSockaddr,
} from './validate';

const { AF_INET, F_GETFL, F_SETFL, F_GETFD, F_SETFD } = native.constants;


function checkAddr(fd: number, addr: unknown, name = 'addr', allowUnspec = false): Sockaddr {
  const a = validateSockaddr(addr, name, allowUnspec);
  validateFamily(a, domains.get(fd), name);
  return a;
}

// The per-datagram address paths (sendto in a loop, recvfrom, accept) cost
// next to nothing: a destination is checked and converted to sockaddr bytes
// once, then reused while the same fields come again — from the same object
// (a loop sending to one address) or from an equal one (an echo server
// replying to the address recvfrom just gave); an IPv4 source comes back as
// three numbers in addrScratch instead of a native object.
type AddrFields = { family: number; address?: string; port?: number; path?: string; flowinfo?: number; scopeId?: number };
type Packed = AddrFields & { bytes: Uint8Array };
const packedByObject = new WeakMap<object, Packed>();
let lastPacked: Packed | undefined;

function samePacked(p: Packed | undefined, a: AddrFields): p is Packed {
  return p !== undefined && p.family === a.family && p.address === a.address && p.port === a.port &&
    p.path === a.path && p.flowinfo === a.flowinfo && p.scopeId === a.scopeId;
}

function packAddr(fd: number, addr: unknown, name: string): Uint8Array {
  const a = addr as AddrFields;
  let p: Packed | undefined;
  if (typeof addr === 'object' && addr !== null) {
    if (samePacked(lastPacked, a)) {
      p = lastPacked;
    } else {
      const byObject = packedByObject.get(addr);
      if (samePacked(byObject, a)) p = byObject;
    }
  }
  if (p !== undefined) {
    validateFamily(p as Sockaddr, domains.get(fd), name);
  } else {
    const checked = checkAddr(fd, addr, name) as AddrFields;
    p = {
      family: checked.family, address: checked.address, port: checked.port, path: checked.path,
      flowinfo: checked.flowinfo, scopeId: checked.scopeId, bytes: native.packSockaddr(checked),
    };
    packedByObject.set(checked, p);
  }
  lastPacked = p;
  return p.bytes;
}

/** The out array of the hot *Sync calls, reused (the native call never re-enters JS). */
const syncOut: unknown[] = [undefined];
function takeOut(): unknown {
  const extra = syncOut[0];
  syncOut[0] = undefined;
  return extra;
}

const scratch = native.addrScratch;
let lastIp = -1;
let lastIpText = '';

/** The address a native call gave back: from addrScratch for IPv4, else its object (or null). */
function takeAddr(extra: unknown): Sockaddr | null {
  if (scratch[0] !== AF_INET) return (extra ?? null) as Sockaddr | null;
  const ip = scratch[2];
  if (ip !== lastIp) {
    lastIp = ip;
    lastIpText = `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
  }
  return { family: AF_INET, address: lastIpText, port: scratch[1] };
}

// ---- Calls that never block -------------------------------------------------

/**
 * Create an endpoint for communication; the fd is close-on-exec.
 * C: `int socket(int domain, int type, int protocol);` — see socket(2).
 * @returns the new fd.
 * @throws SocketError EAFNOSUPPORT, EPROTONOSUPPORT, EINVAL, EMFILE.
 */
export function socket(domain: number, type: number, protocol = 0): number {
  validateInt(domain, 'domain');
  validateInt(type, 'type');
  validateInt(protocol, 'protocol');
  const t0 = traceStart();
  const fd = native.socket(domain, type, protocol);
  if (t0) traceSync('socket', [domain, type, protocol], fd, t0);
  check(fd, 'socket');
  domains.set(fd, domain);
  return fd;
}

/**
 * Bind a name to a socket.
 * C: `int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen);` — see bind(2).
 * @returns 0.
 * @throws SocketError EADDRINUSE, EACCES, EINVAL (already bound), EBADF.
 */
export function bind(fd: number, addr: Sockaddr): 0 {
  validateFd(fd);
  const a = checkAddr(fd, addr);
  const t0 = traceStart();
  const r = native.bind(fd, a);
  if (t0) traceSync('bind', [fd, addressText(a)], r, t0);
  check(r, 'bind', a);
  return 0;
}

/**
 * Mark a socket as passive, accepting connections.
 * C: `int listen(int sockfd, int backlog);` — see listen(2).
 * @returns 0.
 */
export function listen(fd: number, backlog: number): 0 {
  validateFd(fd);
  validateInt(backlog, 'backlog');
  const t0 = traceStart();
  const r = native.listen(fd, backlog);
  if (t0) traceSync('listen', [fd, backlog], r, t0);
  check(r, 'listen');
  return 0;
}

/**
 * Close a file descriptor. Async calls blocked on `fd` settle at once with
 * EBADF; the fd number is released only after they have left it, so it is
 * never reused under them. A watch() on `fd` is stopped first and its
 * listener gets EBADF. Never retried on EINTR. An fd fdOf() gave out is
 * Node's while its socket holds it: closing it here is a TypeError.
 * C: `int close(int fd);` — see close(2).
 * @returns 0.
 */
export function close(fd: number): 0 {
  validateFd(fd);
  const owner = nodeOwnerOf(fd);
  if (owner !== undefined) {
    throw new TypeError(`The "fd" argument ${fd} belongs to a ${owner} (from fdOf()): Node closes it; call its destroy() or close()`);
  }
  closeWatcherOf(fd);
  const t0 = traceStart();
  const r = native.close(fd);
  if (t0) traceSync('close', [fd], r, t0);
  domains.delete(fd);
  check(r, 'close');
  return 0;
}

/**
 * Shut down part of a full-duplex connection; wakes calls blocked on `fd`.
 * C: `int shutdown(int sockfd, int how);` — see shutdown(2).
 * @returns 0.
 * @throws SocketError ENOTCONN on an unconnected socket.
 */
export function shutdown(fd: number, how: number): 0 {
  validateFd(fd);
  validateInt(how, 'how');
  const t0 = traceStart();
  const r = native.shutdown(fd, how);
  if (t0) traceSync('shutdown', [fd, how], r, t0);
  check(r, 'shutdown');
  return 0;
}

/**
 * An option constant the platform lacks is undefined (TCP_INFO and
 * SO_PEERCRED outside Linux): say so rather than only "must be a number".
 */
function validateOptname(optname: unknown): number {
  if (optname === undefined) {
    throw new TypeError(
      'The "optname" argument must be of type number. Received undefined ' +
        '(an option constant this platform does not define, such as TCP_INFO outside Linux, is undefined)',
    );
  }
  return validateInt(optname, 'optname');
}

/** A value setsockopt() takes: an int (number or boolean), raw bytes, or a struct option's typed value. */
export type SockoptValue = number | boolean | ArrayBufferView | Linger;

/**
 * Set a socket option: an int (a number or boolean) or raw bytes; for the
 * struct-valued options, their typed value: SO_RCVTIMEO/SO_SNDTIMEO take
 * milliseconds (0: no timeout; fractional to the microsecond), SO_LINGER
 * `{ onoff, linger }` (seconds). SO_PEERCRED and TCP_INFO are read-only
 * (TypeError). Raw bytes always go to the kernel as they are.
 * C: `int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen);` — see setsockopt(2).
 * @returns 0.
 * @throws SocketError ENOPROTOOPT for an unknown option, EINVAL for a bad value.
 */
export function setsockopt<T>(fd: number, level: number, optname: SockoptName<T>, value: T | ArrayBufferView): 0;
export function setsockopt(fd: number, level: number, optname: number, value: SockoptValue): 0;
export function setsockopt(fd: number, level: number, optname: number, value: SockoptValue): 0 {
  validateFd(fd);
  validateInt(level, 'level');
  validateOptname(optname);
  let r: number;
  let shown: unknown = value;
  const t0 = traceStart();
  const typed = ArrayBuffer.isView(value) ? undefined : structOption(level, optname);
  if (typed !== undefined) {
    let checked: number | Linger;
    [r, checked] = setStructOption(fd, typed, value);
    shown = JSON.stringify(checked);
  } else if (typeof value === 'boolean' || typeof value === 'number') {
    const v = typeof value === 'boolean' ? Number(value) : validateInt(value, 'value');
    r = native.setsockopt(fd, level, optname, v);
  } else {
    const n = validateBuffer(value, undefined, 'value');
    r = native.setsockopt(fd, level, optname, value as ArrayBufferView, n);
  }
  if (t0) traceSync('setsockopt', [fd, level, optname, shown], r, t0);
  check(r, 'setsockopt');
  return 0;
}

/**
 * Get a socket option: an int; for the struct-valued options their typed
 * value (SO_RCVTIMEO/SO_SNDTIMEO: ms, SO_LINGER: `{ onoff, linger }`,
 * SO_PEERCRED: `{ pid, uid, gid }`, TCP_INFO: a TcpInfo); with `buflen`,
 * the raw bytes (at most `buflen`) of any option.
 * C: `int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen);` — see getsockopt(2).
 * @returns the option's value, or a Buffer of optlen bytes.
 */
export function getsockopt<T>(fd: number, level: number, optname: SockoptName<T>): T;
export function getsockopt(fd: number, level: number, optname: number): number;
export function getsockopt(fd: number, level: number, optname: number, buflen: number): Buffer;
export function getsockopt(fd: number, level: number, optname: number, buflen?: number): unknown {
  validateFd(fd);
  validateInt(level, 'level');
  validateOptname(optname);
  const t0 = traceStart();
  if (buflen === undefined) {
    const out: unknown[] = [];
    const typed = structOption(level, optname);
    if (typed !== undefined) {
      const r = getStructOption(fd, typed, out);
      if (t0) traceSync('getsockopt', [fd, level, optname], r, t0, r < 0 ? undefined : JSON.stringify(out[0]));
      check(r, 'getsockopt');
      return out[0];
    }
    const r = native.getsockoptInt(fd, level, optname, out);
    if (t0) traceSync('getsockopt', [fd, level, optname], r < 0 ? r : (out[0] as number), t0);
    check(r, 'getsockopt');
    return out[0] as number;
  }
  validateInt(buflen, 'buflen', 0, 65536);
  const buf = Buffer.alloc(buflen);
  const r = native.getsockoptBuf(fd, level, optname, buf, buflen);
  if (t0) traceSync('getsockopt', [fd, level, optname, buflen], r, t0);
  return buf.subarray(0, check(r, 'getsockopt'));
}

/**
 * The address a socket is bound to.
 * C: `int getsockname(int sockfd, struct sockaddr *addr, socklen_t *addrlen);` — see getsockname(2).
 */
export function getsockname(fd: number): Sockaddr {
  validateFd(fd);
  const out: unknown[] = [];
  const t0 = traceStart();
  const r = native.getsockname(fd, out);
  if (t0) traceSync('getsockname', [fd], r, t0, addressText(out[0]));
  check(r, 'getsockname');
  return out[0] as Sockaddr;
}

/**
 * The address of the connected peer.
 * C: `int getpeername(int sockfd, struct sockaddr *addr, socklen_t *addrlen);` — see getpeername(2).
 * @throws SocketError ENOTCONN on an unconnected socket.
 */
export function getpeername(fd: number): Sockaddr {
  validateFd(fd);
  const out: unknown[] = [];
  const t0 = traceStart();
  const r = native.getpeername(fd, out);
  if (t0) traceSync('getpeername', [fd], r, t0, addressText(out[0]));
  check(r, 'getpeername');
  return out[0] as Sockaddr;
}

/**
 * File descriptor control, for the int-argument commands: F_GETFL/F_SETFL
 * (status flags: O_NONBLOCK) and F_GETFD/F_SETFD (descriptor flags: FD_CLOEXEC).
 * C: `int fcntl(int fd, int cmd, int arg);` — see fcntl(2).
 * @returns the flags for F_GET*, 0 for F_SET*.
 */
export function fcntl(fd: number, cmd: number, arg?: number): number {
  validateFd(fd);
  validateInt(cmd, 'cmd');
  if (cmd !== F_GETFL && cmd !== F_SETFL && cmd !== F_GETFD && cmd !== F_SETFD) {
    throw new RangeError(`The "cmd" argument must be F_GETFL, F_SETFL, F_GETFD or F_SETFD. Received ${cmd}`);
  }
  if (arg !== undefined) validateInt(arg, 'arg');
  const t0 = traceStart();
  const r = native.fcntl(fd, cmd, arg ?? 0);
  if (t0) traceSync('fcntl', arg === undefined ? [fd, cmd] : [fd, cmd, arg], r, t0);
  return check(r, 'fcntl');
}

/**
 * Create a pair of connected sockets; both fds are close-on-exec.
 * C: `int socketpair(int domain, int type, int protocol, int sv[2]);` — see socketpair(2).
 * @returns `[fd, fd]`.
 */
export function socketpair(domain: number, type: number, protocol = 0): [number, number] {
  validateInt(domain, 'domain');
  validateInt(type, 'type');
  validateInt(protocol, 'protocol');
  const out: number[] = [];
  const t0 = traceStart();
  const r = native.socketpair(domain, type, protocol, out);
  if (t0) traceSync('socketpair', [domain, type, protocol], r, t0, r < 0 ? undefined : `${out[0]}, ${out[1]}`);
  check(r, 'socketpair');
  domains.set(out[0], domain);
  domains.set(out[1], domain);
  return [out[0], out[1]];
}

// ---- Calls that can block: Promise on a worker, and the *Sync twin ------------

export interface AcceptResult {
  fd: number;
  /** The peer's address; an unbound Unix peer is `{ family: AF_UNIX, path: '' }`. */
  addr: Sockaddr | null;
}

function accepted(listener: number, fd: number, addr: Sockaddr | null): AcceptResult {
  const domain = domains.get(listener);
  if (domain !== undefined) domains.set(fd, domain);
  return { fd, addr };
}

/**
 * Accept a connection on a listening socket, on a libuv worker thread; the
 * new fd is close-on-exec. `flags` as accept4(2): SOCK_NONBLOCK.
 * An aborted accept leaves the pending connection for the next one.
 * C: `int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);` — see accept(2).
 * @returns `{ fd, addr }`.
 * @throws SocketError EAGAIN on a non-blocking listener with no connection; EINVAL if not listening.
 */
export async function accept(fd: number, opts?: CallOptions & { flags?: number }): Promise<AcceptResult> {
  validateFd(fd);
  const o = validateOptions(opts);
  const flags = validateFlags(opts?.flags, 'opts.flags');
  return runAsync({
    syscall: 'accept', args: [fd],
    start: (cb) => native.accept(fd, flags, cb),
    finish: (newFd, extra) => accepted(fd, newFd, takeAddr(extra)),
    detail: (r, extra) => (r < 0 ? undefined : addressText(takeAddr(extra))),
  }, o);
}

/**
 * accept() on this thread, blocking as C does. `flags` as accept4(2).
 *
 * C: `int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);` — see accept(2).
 */
export function acceptSync(fd: number, flags = 0): AcceptResult {
  validateFd(fd);
  validateFlags(flags);
  const t0 = traceStart();
  const r = native.acceptSync(fd, flags, syncOut);
  const extra = takeOut();
  const addr = r < 0 ? null : takeAddr(extra);
  if (t0) traceSync('accept', [fd], r, t0, addressText(addr));
  check(r, 'accept');
  return accepted(fd, r, addr);
}

/**
 * Connect a socket, on a libuv worker thread. After an abort or timeout the
 * connection may still complete in the kernel: close the socket.
 * C: `int connect(int sockfd, const struct sockaddr *addr, socklen_t addrlen);` — see connect(2).
 * @returns 0.
 * @throws SocketError ECONNREFUSED, ETIMEDOUT; EINPROGRESS on a non-blocking socket.
 */
export async function connect(fd: number, addr: Sockaddr | SockaddrUnspec, opts?: CallOptions): Promise<0> {
  validateFd(fd);
  const a = checkAddr(fd, addr, 'addr', true);
  const o = validateOptions(opts);
  return runAsync({
    syscall: 'connect', args: [fd, addressText(a)], addr: a,
    start: (cb) => native.connect(fd, a, cb),
    finish: () => 0 as const,
  }, o);
}

/**
 * connect() on this thread, blocking as C does.
 *
 * C: `int connect(int sockfd, const struct sockaddr *addr, socklen_t addrlen);` — see connect(2).
 */
export function connectSync(fd: number, addr: Sockaddr | SockaddrUnspec): 0 {
  validateFd(fd);
  const a = checkAddr(fd, addr, 'addr', true);
  const t0 = traceStart();
  const r = native.connectSync(fd, a);
  if (t0) traceSync('connect', [fd, addressText(a)], r, t0);
  check(r, 'connect', a);
  return 0;
}

/**
 * Read up to `nbytes` (default: the whole buffer) from a socket, on a libuv
 * worker thread. An aborted read consumes no bytes.
 * C: `ssize_t read(int fd, void *buf, size_t count);` — see read(2).
 * @returns bytes read; 0 at end of stream.
 * @throws SocketError EAGAIN on an empty non-blocking socket; ECONNRESET.
 */
export async function read(fd: number, buf: ArrayBufferView, nbytes?: number, opts?: CallOptions): Promise<number> {
  validateFd(fd);
  const n = validateBuffer(buf, nbytes);
  const o = validateOptions(opts);
  keepForWorker(buf); // Last: a call that throws leaves the buffer as it was.
  return runAsync({
    syscall: 'read', args: [fd, n],
    start: (cb) => native.read(fd, buf, n, cb),
    finish: (r) => r,
  }, o);
}

/**
 * read() on this thread, blocking as C does.
 *
 * C: `ssize_t read(int fd, void *buf, size_t count);` — see read(2).
 */
export function readSync(fd: number, buf: ArrayBufferView, nbytes?: number): number {
  validateFd(fd);
  const n = validateBuffer(buf, nbytes);
  const t0 = traceStart();
  const r = native.readSync(fd, buf, n);
  if (t0) traceSync('read', [fd, n], r, t0);
  return check(r, 'read');
}

/**
 * Write `nbytes` (default: the whole buffer) to a socket, on a libuv worker
 * thread. On a blocking stream socket everything is written, as C does; a
 * gone peer is EPIPE, never SIGPIPE. An abort after part was written
 * resolves with the bytes written.
 * C: `ssize_t write(int fd, const void *buf, size_t count);` — see write(2).
 * @returns bytes written.
 */
export async function write(fd: number, buf: ArrayBufferView, nbytes?: number, opts?: CallOptions): Promise<number> {
  validateFd(fd);
  const n = validateBuffer(buf, nbytes);
  const o = validateOptions(opts);
  keepForWorker(buf); // Last: a call that throws leaves the buffer as it was.
  return runAsync({
    syscall: 'write', args: [fd, n],
    start: (cb) => native.write(fd, buf, n, cb),
    finish: (r) => r,
  }, o);
}

/**
 * write() on this thread, blocking as C does (EPIPE, never SIGPIPE).
 *
 * C: `ssize_t write(int fd, const void *buf, size_t count);` — see write(2).
 */
export function writeSync(fd: number, buf: ArrayBufferView, nbytes?: number): number {
  validateFd(fd);
  const n = validateBuffer(buf, nbytes);
  const t0 = traceStart();
  const r = native.writeSync(fd, buf, n);
  if (t0) traceSync('write', [fd, n], r, t0);
  return check(r, 'write');
}

/**
 * Receive up to `len` bytes from a connected socket on a libuv worker thread.
 * C: `ssize_t recv(int sockfd, void *buf, size_t len, int flags);` — see recv(2).
 * @returns bytes received; 0 after the peer's orderly shutdown.
 * @throws SocketError EAGAIN on an empty non-blocking socket; ETIMEDOUT after opts.timeout.
 */
export async function recv(fd: number, buf: ArrayBufferView, len: number | undefined, flags: number, opts?: CallOptions): Promise<number> {
  validateFd(fd);
  const n = validateBuffer(buf, len, 'buf', 'len');
  const f = validateFlags(flags);
  const o = validateOptions(opts);
  keepForWorker(buf); // Last: a call that throws leaves the buffer as it was.
  return runAsync({
    syscall: 'recv', args: [fd, n, f],
    start: (cb) => native.recv(fd, buf, n, f, cb),
    finish: (r) => r,
  }, o);
}

/**
 * recv() on this thread, blocking as C does.
 *
 * C: `ssize_t recv(int sockfd, void *buf, size_t len, int flags);` — see recv(2).
 */
export function recvSync(fd: number, buf: ArrayBufferView, len: number | undefined, flags: number): number {
  validateFd(fd);
  const n = validateBuffer(buf, len, 'buf', 'len');
  const f = validateFlags(flags);
  const t0 = traceStart();
  const r = native.recvSync(fd, buf, n, f);
  if (t0) traceSync('recv', [fd, n, f], r, t0);
  return check(r, 'recv');
}

/**
 * Send `len` bytes on a connected socket on a libuv worker thread
 * (MSG_NOSIGNAL is always added: a gone peer is EPIPE).
 * C: `ssize_t send(int sockfd, const void *buf, size_t len, int flags);` — see send(2).
 * @returns bytes sent.
 */
export async function send(fd: number, buf: ArrayBufferView, len: number | undefined, flags: number, opts?: CallOptions): Promise<number> {
  validateFd(fd);
  const n = validateBuffer(buf, len, 'buf', 'len');
  const f = validateFlags(flags);
  const o = validateOptions(opts);
  keepForWorker(buf); // Last: a call that throws leaves the buffer as it was.
  return runAsync({
    syscall: 'send', args: [fd, n, f],
    start: (cb) => native.send(fd, buf, n, f, cb),
    finish: (r) => r,
  }, o);
}

/**
 * send() on this thread, blocking as C does.
 *
 * C: `ssize_t send(int sockfd, const void *buf, size_t len, int flags);` — see send(2).
 */
export function sendSync(fd: number, buf: ArrayBufferView, len: number | undefined, flags: number): number {
  validateFd(fd);
  const n = validateBuffer(buf, len, 'buf', 'len');
  const f = validateFlags(flags);
  const t0 = traceStart();
  const r = native.sendSync(fd, buf, n, f);
  if (t0) traceSync('send', [fd, n, f], r, t0);
  return check(r, 'send');
}

export interface RecvfromResult {
  nbytes: number;
  /** The source address; null where the kernel gives none (a connected stream, an unbound Unix sender). */
  addr: Sockaddr | null;
}

/**
 * Receive a message and its source address on a libuv worker thread. With
 * MSG_TRUNC, `nbytes` is the datagram's real length even when larger than `len`.
 * C: `ssize_t recvfrom(int sockfd, void *buf, size_t len, int flags, struct sockaddr *src_addr, socklen_t *addrlen);` — see recvfrom(2).
 * @returns `{ nbytes, addr }`.
 */
export async function recvfrom(fd: number, buf: ArrayBufferView, len: number | undefined, flags: number, opts?: CallOptions): Promise<RecvfromResult> {
  validateFd(fd);
  const n = validateBuffer(buf, len, 'buf', 'len');
  const f = validateFlags(flags);
  const o = validateOptions(opts);
  keepForWorker(buf); // Last: a call that throws leaves the buffer as it was.
  return runAsync({
    syscall: 'recvfrom', args: [fd, n, f],
    start: (cb) => native.recvfrom(fd, buf, n, f, cb),
    finish: (r, extra) => ({ nbytes: r, addr: takeAddr(extra) }),
    detail: (r, extra) => (r < 0 ? undefined : addressText(takeAddr(extra))),
  }, o);
}

/**
 * recvfrom() on this thread, blocking as C does.
 *
 * C: `ssize_t recvfrom(int sockfd, void *buf, size_t len, int flags, struct sockaddr *src_addr, socklen_t *addrlen);` — see recvfrom(2).
 */
export function recvfromSync(fd: number, buf: ArrayBufferView, len: number | undefined, flags: number): RecvfromResult {
  validateFd(fd);
  const n = validateBuffer(buf, len, 'buf', 'len');
  const f = validateFlags(flags);
  const t0 = traceStart();
  const r = native.recvfromSync(fd, buf, n, f, syncOut);
  const extra = takeOut();
  const addr = r < 0 ? null : takeAddr(extra);
  if (t0) traceSync('recvfrom', [fd, n, f], r, t0, addressText(addr));
  check(r, 'recvfrom');
  return { nbytes: r, addr };
}

/**
 * Send a message to `destAddr` on a libuv worker thread.
 * C: `ssize_t sendto(int sockfd, const void *buf, size_t len, int flags, const struct sockaddr *dest_addr, socklen_t addrlen);` — see sendto(2).
 * @returns bytes sent.
 * @throws SocketError EMSGSIZE for a datagram too large.
 */
export async function sendto(fd: number, buf: ArrayBufferView, len: number | undefined, flags: number, destAddr: Sockaddr, opts?: CallOptions): Promise<number> {
  validateFd(fd);
  const n = validateBuffer(buf, len, 'buf', 'len');
  const f = validateFlags(flags);
  const bytes = packAddr(fd, destAddr, 'destAddr');
  const o = validateOptions(opts);
  keepForWorker(buf); // Last: a call that throws leaves the buffer as it was.
  return runAsync({
    syscall: 'sendto', args: tracing.on ? [fd, n, f, addressText(destAddr)] : [], addr: destAddr,
    start: (cb) => native.sendto(fd, buf, n, f, bytes, cb),
    finish: (r) => r,
  }, o);
}

/**
 * sendto() on this thread, blocking as C does.
 *
 * C: `ssize_t sendto(int sockfd, const void *buf, size_t len, int flags, const struct sockaddr *dest_addr, socklen_t addrlen);` — see sendto(2).
 */
export function sendtoSync(fd: number, buf: ArrayBufferView, len: number | undefined, flags: number, destAddr: Sockaddr): number {
  validateFd(fd);
  const n = validateBuffer(buf, len, 'buf', 'len');
  const f = validateFlags(flags);
  const bytes = packAddr(fd, destAddr, 'destAddr');
  const t0 = traceStart();
  const r = native.sendtoSync(fd, buf, n, f, bytes);
  if (t0) traceSync('sendto', [fd, n, f, addressText(destAddr)], r, t0);
  return check(r, 'sendto', destAddr);
}

/**
 * recvmsg()'s native extra: [source address (or undefined: see addrScratch), msg_flags, control].
 * Read by index: destructuring would go through Array.prototype[Symbol.iterator], which a script can replace.
 */
function received(nbytes: number, extra: unknown): RecvmsgResult {
  const e = extra as [unknown, number, RecvmsgResult['control']];
  return { nbytes, addr: takeAddr(e[0]), control: e[2], flags: e[1] };
}

/**
 * Send a message gathered from `msg.iov`, with ancillary data
 * (`msg.control`: SCM_RIGHTS fds, SCM_CREDENTIALS, IP_PKTINFO…), to
 * `msg.name` or the connected peer, on a libuv worker thread. MSG_NOSIGNAL
 * is always added. On a blocking stream socket everything is sent, as C
 * does; the control data goes with the first byte. The fds in SCM_RIGHTS
 * are resolved when the call is made, as C's kernel does at sendmsg entry:
 * closing one (or its number being reused) later does not change what the
 * peer receives.
 * C: `ssize_t sendmsg(int sockfd, const struct msghdr *msg, int flags);` — see sendmsg(2), cmsg(3).
 * @returns bytes sent.
 * @throws SocketError EBADF for a closed fd in SCM_RIGHTS; EINVAL for more than SCM_MAX_FD (253) fds (Linux).
 */
export async function sendmsg(fd: number, msg: Msghdr, flags: number, opts?: CallOptions): Promise<number> {
  validateFd(fd);
  const m = validateMsghdr(msg);
  const f = validateFlags(flags);
  const name = m.name === undefined ? undefined : packAddr(fd, m.name, 'msg.name');
  const o = validateOptions(opts);
  for (const view of m.iov) keepForWorker(view);
  const dest = m.name as Sockaddr | undefined;
  return runAsync({
    syscall: 'sendmsg', args: dest && tracing.on ? [fd, m.nbytes, f, addressText(dest)] : [fd, m.nbytes, f], addr: dest,
    start: (cb) => native.sendmsg(fd, m.iov, name, m.control, f, cb),
    finish: (r) => r,
  }, o);
}

/**
 * sendmsg() on this thread, blocking as C does.
 *
 * C: `ssize_t sendmsg(int sockfd, const struct msghdr *msg, int flags);` — see sendmsg(2), cmsg(3).
 */
export function sendmsgSync(fd: number, msg: Msghdr, flags: number): number {
  validateFd(fd);
  const m = validateMsghdr(msg);
  const f = validateFlags(flags);
  const name = m.name === undefined ? undefined : packAddr(fd, m.name, 'msg.name');
  const dest = m.name as Sockaddr | undefined;
  const t0 = traceStart();
  const r = native.sendmsgSync(fd, m.iov, name, m.control, f);
  if (t0) traceSync('sendmsg', dest ? [fd, m.nbytes, f, addressText(dest)] : [fd, m.nbytes, f], r, t0);
  return check(r, 'sendmsg', dest);
}

/**
 * Receive a message scattered into `msg.iov`, with its source address and
 * ancillary data, on a libuv worker thread. `msg.controllen` is the control
 * buffer's size in bytes (default DEFAULT_CONTROLLEN, 256: 32 fds plus
 * credentials and a pktinfo; `CMSG_SPACE(4 * n)` for n fds). Received fds
 * are close-on-exec (MSG_CMSG_CLOEXEC is always added on Linux) and yours
 * to close. When the control buffer is too small the kernel sets MSG_CTRUNC
 * in `flags` and delivers only the fds that fit (it closes the rest): those
 * are still returned in `control`. An aborted recvmsg consumes nothing.
 * C: `ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags);` — see recvmsg(2), cmsg(3).
 * @returns `{ nbytes, addr, control, flags }`.
 * @throws SocketError EAGAIN on an empty non-blocking socket; ETIMEDOUT after opts.timeout.
 */
export async function recvmsg(fd: number, msg: RecvMsghdr, flags: number, opts?: CallOptions): Promise<RecvmsgResult> {
  validateFd(fd);
  const m = validateRecvMsghdr(msg);
  const f = validateFlags(flags);
  const o = validateOptions(opts);
  for (const view of m.iov) keepForWorker(view);
  return runAsync({
    syscall: 'recvmsg', args: [fd, m.nbytes, f],
    start: (cb) => native.recvmsg(fd, m.iov, m.controllen, f, cb),
    finish: received,
    detail: (r, extra) => (r < 0 ? undefined : addressText(takeAddr((extra as unknown[])[0]))),
  }, o);
}

/**
 * recvmsg() on this thread, blocking as C does.
 *
 * C: `ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags);` — see recvmsg(2), cmsg(3).
 */
export function recvmsgSync(fd: number, msg: RecvMsghdr, flags: number): RecvmsgResult {
  validateFd(fd);
  const m = validateRecvMsghdr(msg);
  const f = validateFlags(flags);
  const t0 = traceStart();
  const r = native.recvmsgSync(fd, m.iov, m.controllen, f, syncOut);
  const extra = takeOut();
  const result = r < 0 ? undefined : received(r, extra);
  if (t0) traceSync('recvmsg', [fd, m.nbytes, f], r, t0, result && addressText(result.addr));
  check(r, 'recvmsg');
  return result!;
}

/** struct pollfd: `revents` is set by poll()/pollSync(), as C does. */
export interface PollFd {
  fd: number;
  events: number;
  revents?: number;
}

function packPollFds(fds: unknown): Int32Array {
  if (!Array.isArray(fds)) throw new TypeError('The "fds" argument must be an array of { fd, events }');
  const packed = new Int32Array(fds.length * 3);
  fds.forEach((entry: unknown, i) => {
    if (entry === null || typeof entry !== 'object') {
      throw new TypeError(`The "fds[${i}]" element must be an object { fd, events }`);
    }
    const e = entry as PollFd;
    // A negative fd is ignored by poll(2), as in C.
    packed[i * 3] = validateInt(e.fd, `fds[${i}].fd`);
    packed[i * 3 + 1] = validateInt(e.events, `fds[${i}].events`, 0, 0x7fff);
  });
  return packed;
}

function unpackRevents(fds: PollFd[], packed: Int32Array): void {
  fds.forEach((entry, i) => {
    entry.revents = packed[i * 3 + 2];
  });
}

/**
 * Wait for events on many fds from one libuv worker thread. `timeoutMs` -1
 * waits forever, 0 returns at once; `opts.timeout` is an outer bound (ETIMEDOUT).
 * C: `int poll(struct pollfd *fds, nfds_t nfds, int timeout);` — see poll(2).
 * @returns how many entries have a non-zero `revents`; 0 on timeout.
 */
export async function poll(fds: PollFd[], timeoutMs: number, opts?: CallOptions): Promise<number> {
  const packed = packPollFds(fds);
  validateInt(timeoutMs, 'timeoutMs', -1);
  const o = validateOptions(opts);
  return runAsync({
    syscall: 'poll', args: [fds.length, timeoutMs],
    start: (cb) => native.poll(packed, fds.length, timeoutMs, cb),
    finish: (r) => {
      unpackRevents(fds, packed);
      return r;
    },
  }, o);
}

/**
 * poll() on this thread, blocking as C does.
 *
 * C: `int poll(struct pollfd *fds, nfds_t nfds, int timeout);` — see poll(2).
 */
export function pollSync(fds: PollFd[], timeoutMs: number): number {
  const packed = packPollFds(fds);
  validateInt(timeoutMs, 'timeoutMs', -1);
  const t0 = traceStart();
  const r = native.pollSync(packed, fds.length, timeoutMs);
  if (t0) traceSync('poll', [fds.length, timeoutMs], r, t0);
  check(r, 'poll');
  unpackRevents(fds, packed);
  return r;
}

export interface AddrinfoHints {
  flags?: number;
  family?: number;
  socktype?: number;
  protocol?: number;
}

/** One result of getaddrinfo(): an address and the socket() arguments to use it. */
export interface Addrinfo {
  family: number;
  socktype: number;
  protocol: number;
  addr: Sockaddr;
  canonname?: string;
}

function checkGaiArgs(node: unknown, service: unknown, hints: unknown): Required<AddrinfoHints> {
  if (node !== null && node !== undefined && typeof node !== 'string') {
    throw new TypeError('The "node" argument must be a string or null');
  }
  if (service !== null && service !== undefined && typeof service !== 'string') {
    throw new TypeError('The "service" argument must be a string or null');
  }
  if (typeof node === 'string' && node.includes('\0')) throw new TypeError('The "node" argument must not contain NUL bytes');
  if (typeof service === 'string' && service.includes('\0')) throw new TypeError('The "service" argument must not contain NUL bytes');
  if (hints !== undefined && (hints === null || typeof hints !== 'object')) {
    throw new TypeError('The "hints" argument must be an object');
  }
  const h = (hints ?? {}) as AddrinfoHints;
  return {
    flags: validateFlags(h.flags, 'hints.flags'),
    family: validateFlags(h.family, 'hints.family'),
    socktype: validateFlags(h.socktype, 'hints.socktype'),
    protocol: validateFlags(h.protocol, 'hints.protocol'),
  };
}

interface GaiExtra extends GaiFailure {
  message: string;
}

/**
 * The native failure object of a lookup that ended in an EAI_* code. One
 * stopped before it ended (abort, timeout) has no extra and an errno result
 * (ETIMEDOUT, ECANCELED): undefined then.
 */
function gaiFailure(result: number, extra: unknown): GaiFailure | undefined {
  return result < 0 && extra !== null && typeof extra === 'object' && !Array.isArray(extra) ? (extra as GaiExtra) : undefined;
}

/** The error of a failed lookup (an EAI_* code in `extra`), or of a call stopped before it ended (-errno). */
function gaiError(result: number, extra: unknown, node: string | null | undefined): SocketError {
  const e = extra as GaiExtra | undefined;
  if (e === undefined) return socketError(-result, 'getaddrinfo');
  if (e.errno !== undefined) return socketError(e.errno, 'getaddrinfo');
  const host = node === null || node === undefined ? '' : ` ${node}`;
  return new SocketError(`getaddrinfo ${e.code}${host}: ${e.message}`, {
    code: e.code, errno: Math.abs(e.gai), syscall: 'getaddrinfo',
  });
}

/**
 * Translate a host and service to socket addresses, on a libuv worker
 * thread. (A running lookup cannot be interrupted, so it runs on a thread of
 * its own that the worker waits for: an abort or timeout releases the worker
 * at once, and the lookup finishes in the background.)
 *
 * C: `int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);` — see getaddrinfo(3).
 * @returns the list of `{ family, socktype, protocol, addr, canonname? }`.
 * @throws SocketError whose code is the EAI_* name (EAI_NONAME), message from gai_strerror(3).
 */
export async function getaddrinfo(node: string | null, service: string | null, hints?: AddrinfoHints, opts?: CallOptions): Promise<Addrinfo[]> {
  const h = checkGaiArgs(node, service, hints);
  const o = validateOptions(opts);
  return runAsync({
    syscall: 'getaddrinfo', args: [node, service],
    start: (cb) => native.getaddrinfo(node ?? null, service ?? null, h.flags, h.family, h.socktype, h.protocol, cb),
    finish: (_r, list) => list as Addrinfo[],
    fail: (r, extra) => gaiError(r, extra, node),
    gaiFailure,
  }, o);
}

/**
 * getaddrinfo() on this thread, blocking as C does.
 *
 * C: `int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);` — see getaddrinfo(3).
 */
export function getaddrinfoSync(node: string | null, service: string | null, hints?: AddrinfoHints): Addrinfo[] {
  const h = checkGaiArgs(node, service, hints);
  const out: unknown[] = [];
  const t0 = traceStart();
  const r = native.getaddrinfoSync(node ?? null, service ?? null, h.flags, h.family, h.socktype, h.protocol, out);
  if (t0) traceSync('getaddrinfo', [node, service], r, t0, undefined, gaiFailure(r, out[0]));
  if (r < 0) throw gaiError(r, out[0], node);
  return out[0] as Addrinfo[];
}

export { errnoName };
