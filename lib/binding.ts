// Loads the native addon and types its surface once, so every wrapper in
// lib/ is checked against it. Native calls return C-like numbers: >= 0 on
// success, -errno on failure; extra results go to an `out` array.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** cb(result, extra): result >= 0 or -errno; extra as the call's xSync puts in out[0]. */
export type NativeCallback = (result: number, extra: unknown) => void;
type Out = unknown[];

export interface Native {
  constants: Record<string, number>;
  poolCounters: BigInt64Array; // [busy | queued << 32], process-wide
  poolSize: number;
  traceSlots: Float64Array; // [threadId, queuedNs, runNs] of the call being settled
  mainThreadId: number;
  sunPathSize: number;
  /** [family, port, IPv4 address] of the last IPv4 address a call gave back (family 0: see extra). */
  addrScratch: Uint32Array;
  packSockaddr(addr: object): Uint8Array;
  cancel(id: number, errno: number): boolean;
  cancelAll(): void;
  threadId(): number;
  /** LeakSanitizer's check now (sanitizer.cc): 0 none leaked, 1 leaks (printed on stderr), -1 not an ASan build. */
  leakCheck(): number;
  errnoName(errno: number): string | undefined;
  strerror(errno: number): string;

  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: object): number;
  listen(fd: number, backlog: number): number;
  close(fd: number): number;
  shutdown(fd: number, how: number): number;
  setsockopt(fd: number, level: number, optname: number, value: number | ArrayBufferView, nbytes?: number): number;
  getsockoptInt(fd: number, level: number, optname: number, out: Out): number;
  getsockoptBuf(fd: number, level: number, optname: number, buf: ArrayBufferView, buflen: number): number;
  /** The struct-valued options of this platform (native/sockopt.cc). */
  structOptions: { name: string; level: number; optname: number; kind: string; readOnly: boolean }[];
  /** out[0] = the option as a number (a timeout in ms) or an object. */
  getsockoptStruct(fd: number, level: number, optname: number, out: Out): number;
  /** A timeout: (µs, 0); SO_LINGER: (l_onoff, l_linger). */
  setsockoptStruct(fd: number, level: number, optname: number, a: number, b: number): number;
  getsockname(fd: number, out: Out): number;
  getpeername(fd: number, out: Out): number;
  fcntl(fd: number, cmd: number, arg?: number): number;
  socketpair(domain: number, type: number, protocol: number, out: Out): number;

  acceptSync(fd: number, flags: number, out: Out): number;
  accept(fd: number, flags: number, cb: NativeCallback): number;
  connectSync(fd: number, addr: object): number;
  connect(fd: number, addr: object, cb: NativeCallback): number;
  readSync(fd: number, buf: ArrayBufferView, nbytes: number): number;
  read(fd: number, buf: ArrayBufferView, nbytes: number, cb: NativeCallback): number;
  writeSync(fd: number, buf: ArrayBufferView, nbytes: number): number;
  write(fd: number, buf: ArrayBufferView, nbytes: number, cb: NativeCallback): number;
  recvSync(fd: number, buf: ArrayBufferView, nbytes: number, flags: number): number;
  recv(fd: number, buf: ArrayBufferView, nbytes: number, flags: number, cb: NativeCallback): number;
  sendSync(fd: number, buf: ArrayBufferView, nbytes: number, flags: number): number;
  send(fd: number, buf: ArrayBufferView, nbytes: number, flags: number, cb: NativeCallback): number;
  recvfromSync(fd: number, buf: ArrayBufferView, nbytes: number, flags: number, out: Out): number;
  recvfrom(fd: number, buf: ArrayBufferView, nbytes: number, flags: number, cb: NativeCallback): number;
  sendtoSync(fd: number, buf: ArrayBufferView, nbytes: number, flags: number, addr: object | Uint8Array): number;
  sendto(fd: number, buf: ArrayBufferView, nbytes: number, flags: number, addr: object | Uint8Array, cb: NativeCallback): number;
  sendmsgSync(fd: number, iov: ArrayBufferView[], name: Uint8Array | undefined, control: unknown[] | undefined, flags: number): number;
  sendmsg(fd: number, iov: ArrayBufferView[], name: Uint8Array | undefined, control: unknown[] | undefined, flags: number, cb: NativeCallback): number;
  /** out[0] = [source address (undefined: see addrScratch), msg_flags, control messages]. */
  recvmsgSync(fd: number, iov: ArrayBufferView[], controllen: number, flags: number, out: Out): number;
  recvmsg(fd: number, iov: ArrayBufferView[], controllen: number, flags: number, cb: NativeCallback): number;
  CMSG_SPACE(length: number): number;
  CMSG_LEN(length: number): number;
  pollSync(fds: Int32Array, nfds: number, timeoutMs: number): number;
  poll(fds: Int32Array, nfds: number, timeoutMs: number, cb: NativeCallback): number;
  getaddrinfoSync(node: string | null, service: string | null, flags: number, family: number,
    socktype: number, protocol: number, out: Out): number;
  getaddrinfo(node: string | null, service: string | null, flags: number, family: number,
    socktype: number, protocol: number, cb: NativeCallback): number;

  // Linux; elsewhere each returns -ENOSYS.
  epoll_create1(flags: number): number;
  epoll_ctl(epfd: number, op: number, fd: number, events: number, data: number): number;
  epoll_waitSync(epfd: number, maxevents: number, timeoutMs: number, out: Float64Array): number;
  epoll_wait(epfd: number, maxevents: number, timeoutMs: number, out: Float64Array, cb: NativeCallback): number;

  /**
   * uv_poll_t on the event loop. watchInit registers this copy's dispatcher
   * (it returns the owner index watchStart takes); watchStart returns an id
   * or -errno; readiness reaches the dispatcher as a queue of (id, status,
   * revents, owner) entries, one batch per loop iteration.
   */
  watchInit(dispatch: (queue: Int32Array) => void): number;
  watchStart(fd: number, events: number, owner: number): number;
  watchUpdate(id: number, events: number): number;
  watchClose(id: number): boolean;
  watchRef(id: number, ref: boolean): void;
}

/** BSD_SOCKETS_ADDON overrides the path (e.g. a sanitizer build); else node-gyp's, then cmake-js's. */
function load(): Native {
  const root = path.join(__dirname, '..');
  const candidates = process.env.BSD_SOCKETS_ADDON
    ? [path.resolve(process.env.BSD_SOCKETS_ADDON)]
    : [
        path.join(root, 'build', 'Release', 'bsd_sockets.node'),
        path.join(root, 'build-cmake', 'Release', 'bsd_sockets.node'),
      ];
  const found = candidates.find((file) => fs.existsSync(file));
  if (found === undefined) {
    throw new Error(
      `bsd-sockets: the native addon is not built (looked for ${candidates.join(', ')}). ` +
        'Run `npm run build` (node-gyp) or `npm run build:cmake` (cmake-js).',
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const addon = require(found) as Native;
  // An addon built from older sources than lib/ would fail later, deep in a
  // completion callback: name the problem now.
  const missing = EXPECTED.filter((name) => !(name in addon));
  if (missing.length > 0) {
    throw new Error(
      `bsd-sockets: the native addon ${found} is older than lib/ (it lacks ${missing.join(', ')}). ` +
        'Rebuild it: `npm run build` (node-gyp) or `npm run build:cmake` (cmake-js).',
    );
  }
  return addon;
}

/** Every export `Native` declares, checked at load. */
const EXPECTED: (keyof Native)[] = [
  'constants', 'poolCounters', 'poolSize', 'traceSlots', 'mainThreadId', 'sunPathSize', 'addrScratch',
  'packSockaddr', 'cancel', 'cancelAll', 'threadId', 'leakCheck', 'errnoName', 'strerror', 'socket', 'bind', 'listen',
  'close', 'shutdown', 'setsockopt', 'getsockoptInt', 'getsockoptBuf', 'structOptions', 'getsockoptStruct',
  'setsockoptStruct', 'getsockname', 'getpeername',
  'fcntl', 'socketpair', 'acceptSync', 'accept', 'connectSync', 'connect', 'readSync', 'read',
  'writeSync', 'write', 'recvSync', 'recv', 'sendSync', 'send', 'recvfromSync', 'recvfrom',
  'sendtoSync', 'sendto', 'sendmsgSync', 'sendmsg', 'recvmsgSync', 'recvmsg', 'CMSG_SPACE', 'CMSG_LEN', 'pollSync', 'poll', 'getaddrinfoSync', 'getaddrinfo', 'epoll_create1',
  'epoll_ctl', 'epoll_waitSync', 'epoll_wait', 'watchInit', 'watchStart', 'watchUpdate', 'watchClose', 'watchRef',
];

export const native: Native = load();
