// Fuzzed boundary: every exported function called with arbitrary arguments
// (fast-check). Wrong types, NaN, ±Infinity, -0, huge and negative numbers,
// zero-length, detached, resizable and shared buffers, DataViews and typed
// arrays with offsets, malformed address objects, Symbols, BigInts, Proxies
// and getters that throw. Each call must either succeed or throw (sync) /
// reject (async) a TypeError, RangeError or SocketError (an AbortError for an
// aborted signal; the fuzzer's own TrapError where one of its traps threw);
// a Promise-returning function never throws; no call hangs; the process
// stays alive; no fd is leaked (every fd a call returns is closed, and the
// open fds are compared before and after every case); the bytes around a
// view's window are never touched.
//
// Safety of the fuzzer itself: an fd argument is only ever one of the
// sockets this file created (by slot, resolved when the case runs) or a
// number at or above RLIMIT_NOFILE (never open), never a random small
// number that could be vitest's stdout or IPC channel. Every socket of ours
// is non-blocking and every timeout bounded, so no call can block. Addresses
// are 127.0.0.1, ::1, our own ports and Unix paths in our temp dir (a junk
// string as a path too: never relative to the cwd); getaddrinfo on a name is
// numeric-only (dnsFree), so no lookup reaches a resolver.
//
// FUZZ_RUNS (cases per function, default 120) and FUZZ_SEED reproduce a run;
// FUZZ_DEBUG=<function name> prints each of that function's failing calls.
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as lib from '../lib/index';
import { native } from '../lib/binding';
import { sleep } from './helpers/fds';

const {
  AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC, SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_NONBLOCK,
  F_GETFL, F_SETFL, F_GETFD, F_SETFD, O_NONBLOCK, FD_CLOEXEC, SOL_SOCKET, SO_LINGER, SocketError, AbortError,
} = lib;

const RUNS = Number(process.env.FUZZ_RUNS ?? 120);
// One seed for the whole run, printed with the summary, so any run can be replayed.
const SEED = process.env.FUZZ_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED);
/** A call that has not settled after this is a hang. */
const HANG_MS = 3000;

/** Thrown by the fuzzer's own traps (Proxies, getters): the library must let it through, nothing else. */
class TrapError extends Error {
  constructor() {
    super('trap');
    this.name = 'TrapError';
  }
}
const trap = (): never => {
  throw new TrapError();
};

// ---- Open fds: /proc/self/fd, with what each points to ----------------------

/** fd -> readlink target; libuv pool threads' wake-up eventfds (one per thread, created lazily) apart. */
function fdTable(): { fds: Map<number, string>; eventfds: number } {
  const fds = new Map<number, string>();
  let eventfds = 0;
  for (const name of fs.readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // The directory fd readdir itself used.
    }
    if (target === 'anon_inode:[eventfd]') eventfds++;
    else fds.set(Number(name), target);
  }
  return { fds, eventfds };
}

function targetOf(fd: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

/** The soft RLIMIT_NOFILE: no fd number at or above it can be open. */
function nofileLimit(): number {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const soft = Number(line?.split(/\s+/)[3]);
  return Number.isInteger(soft) && soft > 0 ? soft : 1 << 20;
}

// ---- The sockets the fuzzer may pass as fds ---------------------------------

let tmpDir = '';
let pathCounter = 0;
const ports: number[] = []; // Ports of our own sockets (live ones and closed ones).
const unixPaths: string[] = []; // Paths our Unix datagram slots are bound to.

function nonBlocking(fd: number): number {
  lib.fcntl(fd, F_SETFL, lib.fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

function tcpListener(): number {
  const fd = lib.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  lib.bind(fd, { family: AF_INET, address: '127.0.0.1', port: 0 });
  lib.listen(fd, 64);
  ports.push((lib.getsockname(fd) as { port: number }).port);
  return fd;
}

/** Slot kinds: each makes one fresh non-blocking fd of its kind (a pair keeps one end). */
const SLOT_KINDS: [string, () => number][] = [
  ['tcp listener', tcpListener],
  ['tcp connected', () => {
    const l = tcpListener();
    const c = lib.socket(AF_INET, SOCK_STREAM, 0);
    lib.connectSync(c, lib.getsockname(l));
    const s = lib.acceptSync(l).fd;
    lib.close(l);
    lib.close(s);
    return nonBlocking(c);
  }],
  ['udp4', () => {
    const fd = lib.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    lib.bind(fd, { family: AF_INET, address: '127.0.0.1', port: 0 });
    ports.push((lib.getsockname(fd) as { port: number }).port);
    return fd;
  }],
  ['udp6', () => {
    const fd = lib.socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    lib.bind(fd, { family: AF_INET6, address: '::1', port: 0 });
    ports.push((lib.getsockname(fd) as { port: number }).port);
    return fd;
  }],
  ['tcp6 unbound', () => lib.socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0)],
  ['unix stream', () => {
    const [a, b] = lib.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    lib.close(b);
    return a;
  }],
  ['unix dgram bound', () => {
    const fd = lib.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    const p = path.join(tmpDir, `slot${pathCounter++}`);
    lib.bind(fd, { family: AF_UNIX, path: p });
    unixPaths.push(p);
    return fd;
  }],
  ['unix seqpacket', () => lib.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0)],
  ['epoll', () => nonBlocking(lib.epoll_create1(0))],
];

interface Slot {
  kind: number;
  fd: number;
  target: string;
}
const slots: Slot[] = [];

function makeSlot(kind: number): Slot {
  const fd = SLOT_KINDS[kind][1]();
  return { kind, fd, target: targetOf(fd)! };
}

/** Pairs connected to each other, so data written on one slot can be read on another. */
function makePairs(): void {
  const l = tcpListener();
  const c = lib.socket(AF_INET, SOCK_STREAM, 0);
  lib.connectSync(c, lib.getsockname(l));
  const s = lib.acceptSync(l).fd;
  slots.push({ kind: 0, fd: l, target: targetOf(l)! });
  for (const fd of [c, s]) slots.push({ kind: 1, fd: nonBlocking(fd), target: targetOf(fd)! });
  const [a, b] = lib.socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const [x, y] = lib.socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  for (const fd of [a, b, x, y]) slots.push({ kind: 5, fd, target: targetOf(fd)! });
}

/**
 * After a case: a slot whose fd the case closed (or whose number now names
 * something else) is replaced; every slot is non-blocking again (a case may
 * have cleared O_NONBLOCK with fcntl) and lingers no more.
 */
function repairSlots(): { dropped: number[] } {
  const dropped: number[] = [];
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i];
    if (targetOf(s.fd) !== s.target) {
      dropped.push(s.fd);
      slots[i] = makeSlot(s.kind);
      continue;
    }
    const flags = native.fcntl(s.fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) === 0) native.fcntl(s.fd, F_SETFL, flags | O_NONBLOCK);
    if (native.fcntl(s.fd, F_GETFD) !== FD_CLOEXEC) native.fcntl(s.fd, F_SETFD, FD_CLOEXEC);
  }
  return { dropped };
}

// ---- Values: generated as descriptions, built fresh when the case runs ------

interface Ctx {
  /** Views whose surroundings must stay untouched: [view's bytes, window start, window end]. */
  canaries: [Uint8Array, number, number][];
  signals: AbortController[];
  aborted: boolean;
  /** byteLength of the last buffer built (a length argument follows its buffer). */
  lastLen: number;
}
interface Gen {
  d: string;
  v: (c: Ctx) => unknown;
}
function gen(d: string, v: (c: Ctx) => unknown): Gen {
  return { d, v, [fc.toStringMethod]: () => d } as Gen;
}
const val = (d: string, x: unknown): Gen => gen(d, () => x);

const throwingProxy = (): object => new Proxy({}, {
  get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, getPrototypeOf: trap,
});
/** An object each of whose usual fields is a getter that throws. */
function throwingGetters(): object {
  const o = {};
  for (const k of ['family', 'address', 'port', 'path', 'flowinfo', 'scopeId', 'fd', 'events', 'data', 'signal',
    'timeout', 'flags', 'socktype', 'protocol', 'length', 'syscall', 'args', 'result', 'threadId']) {
    Object.defineProperty(o, k, { get: trap, enumerable: true });
  }
  return o;
}

/**
 * The junk that is a string. As a Unix path it would be relative to the cwd
 * (the repo: bind would make ./3 there), so pathArg puts it under tmpDir; as a
 * host name it would reach the resolver, so getaddrinfo gets it numeric-only
 * (dnsFree).
 */
const JUNK_STRINGS = ['', '3', 'abc'];
/** Every other kind of junk: none of it is a string primitive. */
const JUNK_OTHER: Gen[] = [
  val('undefined', undefined), val('null', null), val('true', true), val('false', false),
  val('3n', 3n), val('-1n', -1n), gen('Symbol()', () => Symbol('fuzz')),
  gen('{}', () => ({})), gen('[]', () => []), gen('[1, 2]', () => [1, 2]), gen('() => 0', () => () => 0),
  gen('new Date(0)', () => new Date(0)), gen('/re/', () => /re/), gen('new Map()', () => new Map()),
  gen('Object.create(null)', () => Object.create(null)), gen('throwing Proxy', throwingProxy),
  gen('throwing getters', throwingGetters), gen('new ArrayBuffer(8)', () => new ArrayBuffer(8)),
  gen('new SharedArrayBuffer(8)', () => new SharedArrayBuffer(8)), gen('new Number(3)', () => new Number(3)),
  gen('new String("3")', () => new String('3')),
  gen('{ valueOf throws }', () => ({ valueOf: trap, toString: trap, [Symbol.toPrimitive]: trap })),
];
const JUNK: Gen[] = [...JUNK_STRINGS.map((s) => val(`'${s}'`, s)), ...JUNK_OTHER];
const junk = fc.constantFrom(...JUNK);

const SPECIAL_NUMBERS = [
  NaN, Infinity, -Infinity, -0, 0, 1.5, -1, -2, 0.1, 2 ** 31, 2 ** 31 - 1, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32,
  2 ** 32 - 1, 2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON,
  65535, 65536, 0x7fff, 0x8000,
];
const numText = (n: number): string => (Object.is(n, -0) ? '-0' : String(n));
const CONSTANT_VALUES = [...new Set(Object.values(lib.constants))];

/** Any number, for arguments that are not fds and cannot make a call wait. */
const anyNumber: fc.Arbitrary<Gen> = fc.oneof(
  fc.constantFrom(...SPECIAL_NUMBERS).map((n) => val(numText(n), n)),
  fc.constantFrom(...CONSTANT_VALUES).map((n) => val(String(n), n)),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((n) => val(String(n), n)),
  fc.double().map((n) => val(numText(n), n)),
);

/** An int argument: mostly numbers, sometimes anything else. */
const intArg = fc.oneof({ weight: 6, arbitrary: anyNumber }, { weight: 1, arbitrary: junk });
const constArg = (values: number[]) => fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...values).map((n) => val(String(n), n)) },
  { weight: 2, arbitrary: intArg },
);
/** A bounded wait in ms: never one that could block (no -1, nothing long). */
const shortTimeout = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 5 }).map((n) => val(String(n), n)) },
  { weight: 2, arbitrary: fc.constantFrom(-2, -(2 ** 31), -(2 ** 31) - 1, 1.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 53).map((n) => val(numText(n), n)) },
  { weight: 1, arbitrary: junk },
);

let NOFILE = 1 << 20;
/** An fd: one of our sockets, a number never open, or no valid fd at all. Never -0 (that is fd 0). */
const fdArg: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 16, arbitrary: fc.nat(63).map((i) => gen(`slot${i}`, () => slots[i % slots.length].fd)) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 31 - 1 - (1 << 20) }).map((k) => gen(`closed(RLIMIT+${k})`, () => NOFILE + k)) },
  { weight: 1, arbitrary: fc.constantFrom(-1, -2, -(2 ** 31), -(2 ** 31) - 1, 1.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 53, Number.MAX_VALUE).map((n) => val(numText(n), n)) },
  { weight: 1, arbitrary: junk },
);

// Buffers: fresh each case (a buffer passed to an async call is marked untransferable).
type ViewCtor = new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => ArrayBufferView;
const TYPED: [string, ViewCtor, number][] = [
  ['Uint8Array', Uint8Array, 1], ['Int8Array', Int8Array, 1], ['Uint8ClampedArray', Uint8ClampedArray, 1],
  ['Uint16Array', Uint16Array, 2], ['Int32Array', Int32Array, 4], ['Float32Array', Float32Array, 4],
  ['Float64Array', Float64Array, 8], ['BigInt64Array', BigInt64Array as unknown as ViewCtor, 8],
  ['DataView', DataView as unknown as ViewCtor, 1],
];
const CANARY = 0xa5;

/** A view at byte offset `off` of `len` elements inside a larger buffer whose other bytes are canaries. */
const windowedView = fc.record({
  t: fc.nat(TYPED.length - 1), len: fc.constantFrom(0, 1, 3, 16, 200, 2048), off: fc.nat(4), tail: fc.nat(16),
  shared: fc.boolean(),
}).map(({ t, len, off, tail, shared }) => {
  const [name, Ctor, size] = TYPED[t];
  const offset = off * size;
  return gen(`${name}(${shared ? 'SAB' : 'AB'}, off ${offset}, len ${len}, tail ${tail})`, (c) => {
    const total = offset + len * size + tail;
    const ab = shared ? new SharedArrayBuffer(total) : new ArrayBuffer(total);
    const bytes = new Uint8Array(ab).fill(CANARY);
    const view = new Ctor(ab, offset, len);
    new Uint8Array(ab, offset, len * size).fill(0);
    c.canaries.push([bytes, offset, offset + len * size]);
    c.lastLen = len * size;
    return view;
  });
});

const OTHER_BUFFERS: Gen[] = [
  gen('Buffer.alloc(0)', () => Buffer.alloc(0)), gen('Buffer.alloc(1)', () => Buffer.alloc(1)),
  gen('Buffer.alloc(1500)', () => Buffer.alloc(1500)), gen('Buffer.alloc(65536)', () => Buffer.alloc(65536)),
  gen("Buffer.from('hello')", () => Buffer.from('hello')), gen('new DataView(new ArrayBuffer(0))', () => new DataView(new ArrayBuffer(0))),
  gen('detached Uint8Array', () => {
    const u = new Uint8Array(new ArrayBuffer(8));
    structuredClone(u, { transfer: [u.buffer as ArrayBuffer] });
    return u;
  }),
  gen('detached DataView', () => {
    const ab = new ArrayBuffer(8);
    const d = new DataView(ab, 2, 4);
    structuredClone(ab, { transfer: [ab] });
    return d;
  }),
  gen('resizable-backed Uint8Array', () => {
    const RAB = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer;
    return new Uint8Array(new RAB(8, { maxByteLength: 16 }));
  }),
  gen('growable-SAB-backed Uint8Array', () => {
    const GSAB = SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => SharedArrayBuffer;
    return new Uint8Array(new GSAB(8, { maxByteLength: 16 }));
  }),
  gen('Proxy of a Buffer', () => new Proxy(Buffer.alloc(8), {})),
  gen('{ buffer, byteLength } look-alike', () => ({ buffer: new ArrayBuffer(8), byteLength: 8, byteOffset: 0 })),
];
const bufArg = fc.oneof(
  { weight: 8, arbitrary: windowedView },
  { weight: 3, arbitrary: fc.constantFrom(...OTHER_BUFFERS) },
  { weight: 1, arbitrary: junk },
  { weight: 1, arbitrary: anyNumber },
);
const lenArg = fc.oneof(
  { weight: 4, arbitrary: fc.constant(val('undefined', undefined)) },
  { weight: 4, arbitrary: fc.constantFrom(
    gen('byteLength', (c) => c.lastLen), gen('byteLength - 1', (c) => c.lastLen - 1),
    gen('byteLength + 1', (c) => c.lastLen + 1), gen('byteLength / 2', (c) => Math.floor(c.lastLen / 2)),
  ) },
  { weight: 4, arbitrary: fc.constantFrom(0, 1, 2, 3, 8, 16, 100, 1500, 2048, 65536, 70000).map((n) => val(String(n), n)) },
  { weight: 3, arbitrary: intArg },
);

// Addresses: only loopback, our own ports, our temp dir, our abstract names.
const IPV4_OK = ['127.0.0.1'];
const IPV6_OK = ['::1', '::ffff:127.0.0.1'];
const IP_BAD = [
  '', ' 127.0.0.1', '127.0.0.1 ', '127.0.0.1\0', '127.0.1', '127.0.0.256', '127.0.0.01', 'localhost', '::1%lo',
  '::1%1', ':::', '::1::', '[::1]', '127.0.0.1:80', 'x'.repeat(5000), '\u{1F600}', '0x7f.1',
];
const safeString = fc.string({ maxLength: 40 }).filter((s) => net.isIP(s) === 0 || IPV4_OK.includes(s) || IPV6_OK.includes(s));
const addressArg = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...IPV4_OK, ...IPV6_OK).map((s) => val(JSON.stringify(s), s)) },
  { weight: 3, arbitrary: fc.constantFrom(...IP_BAD).map((s) => val(JSON.stringify(s.slice(0, 20)), s)) },
  { weight: 1, arbitrary: safeString.map((s) => val(JSON.stringify(s), s)) },
  { weight: 1, arbitrary: junk },
);
const portArg = fc.oneof(
  { weight: 4, arbitrary: fc.nat(15).map((i) => gen(`ourPort${i}`, () => ports[i % ports.length])) },
  { weight: 1, arbitrary: fc.constant(val('0', 0)) },
  { weight: 2, arbitrary: fc.constantFrom(-1, 65536, 1.5, NaN, Infinity, 2 ** 31, -0).map((n) => val(numText(n), n)) },
  { weight: 1, arbitrary: junk },
);
const pathArg = fc.oneof(
  { weight: 3, arbitrary: fc.nat(20).map((i) => gen(`tmp/p${i}`, () => path.join(tmpDir, `p${i}`))) },
  { weight: 1, arbitrary: fc.nat(5).map((i) => gen(`ourPath${i}`, () => unixPaths[i % unixPaths.length])) },
  { weight: 2, arbitrary: fc.nat(5).map((i) => gen(`abstract${i}`, () => `\0bsd-sockets-fuzz-${process.pid}-${i}`)) },
  { weight: 1, arbitrary: fc.constant(val("''", '')) },
  { weight: 1, arbitrary: fc.constantFrom(107, 108, 109, 200, 10000).map((n) => gen(`tmp/${'x'.repeat(3)}… (${n} bytes)`, () => path.join(tmpDir, 'x'.repeat(n)))) },
  { weight: 1, arbitrary: fc.constantFrom(107, 108, 109).map((n) => gen(`abstract of ${n} bytes`, () => `\0${'a'.repeat(n - 1)}`)) },
  { weight: 1, arbitrary: fc.constant(gen('tmp path with a NUL', () => path.join(tmpDir, 'a\0b'))) },
  { weight: 1, arbitrary: fc.constant(gen('multibyte path of 110 bytes', () => path.join(tmpDir, 'é'.repeat(50)))) },
  // Junk, but a junk string is a name in tmpDir: never a path relative to the cwd.
  { weight: 1, arbitrary: fc.constantFrom(...JUNK_OTHER) },
  { weight: 1, arbitrary: fc.constantFrom(...JUNK_STRINGS.filter((s) => s !== '')).map((s) => gen(`tmp/${s}`, () => path.join(tmpDir, s))) },
);
const familyArg = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(AF_INET, AF_INET6, AF_UNIX).map((n) => val(String(n), n)) },
  { weight: 1, arbitrary: fc.constant(val(`AF_UNSPEC`, AF_UNSPEC)) },
  { weight: 2, arbitrary: intArg },
);
const optionalField = (a: fc.Arbitrary<Gen>) => fc.option(a, { nil: undefined, freq: 3 });

/** Addresses that pass every check: loopback with our ports, our temp dir, our abstract names. */
const goodAddr = fc.oneof(
  fc.tuple(fc.constantFrom(...IPV4_OK), fc.nat(15)).map(([address, i]) =>
    gen(`{ AF_INET, ${address}, ourPort${i} }`, () => ({ family: AF_INET, address, port: ports[i % ports.length] }))),
  fc.tuple(fc.constantFrom(...IPV6_OK), fc.nat(15)).map(([address, i]) =>
    gen(`{ AF_INET6, ${address}, ourPort${i} }`, () => ({ family: AF_INET6, address, port: ports[i % ports.length] }))),
  fc.nat(8).map((i) => gen(`{ AF_UNIX, ourPath${i} }`, () => ({ family: AF_UNIX, path: unixPaths[i % unixPaths.length] }))),
  fc.nat(8).map((i) => gen(`{ AF_UNIX, tmp/p${i} }`, () => ({ family: AF_UNIX, path: path.join(tmpDir, `p${i}`) }))),
  fc.nat(3).map((i) => gen(`{ AF_UNIX, abstract${i} }`, () => ({ family: AF_UNIX, path: `\0bsd-sockets-fuzz-${process.pid}-${i}` }))),
  fc.constant(gen('{ AF_UNIX, unnamed }', () => ({ family: AF_UNIX, path: '' }))),
  fc.constant(gen('{ AF_UNSPEC }', () => ({ family: AF_UNSPEC }))),
);

/** Fields of an address object, each valid or not; then shaped as a plain object, an inheritor, a Proxy… */
const addrArg: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 6, arbitrary: goodAddr },
  { weight: 8, arbitrary: fc.record({
    family: familyArg, address: optionalField(addressArg), port: optionalField(portArg), path: optionalField(pathArg),
    flowinfo: optionalField(anyNumber), scopeId: optionalField(fc.oneof(fc.constant(val('0', 0)), anyNumber)),
    shape: fc.constantFrom('plain', 'inherited', 'frozen', 'getters', 'changing', 'family-getter-throws', 'array'),
  }).map((r) => {
    const fields = Object.entries(r).filter(([k, g]) => k !== 'shape' && g !== undefined) as [string, Gen][];
    const d = `${r.shape} { ${fields.map(([k, g]) => `${k}: ${g.d}`).join(', ')} }`;
    return gen(d, (c) => {
      const o: Record<string, unknown> = {};
      for (const [k, g] of fields) o[k] = g.v(c);
      switch (r.shape) {
        case 'inherited': return Object.create(o);
        case 'frozen': return Object.freeze(o);
        case 'getters': {
          const x = {};
          for (const [k, v] of Object.entries(o)) Object.defineProperty(x, k, { get: () => v, enumerable: true });
          return x;
        }
        case 'changing': {
          // Valid when the library checks it, something else when it is read again.
          const x = {};
          const later: Record<string, unknown> = {
            family: o.family === AF_INET ? AF_UNIX : AF_INET, address: 'not an address', port: 70000,
            path: 'y'.repeat(5000), flowinfo: -1, scopeId: 2 ** 40,
          };
          for (const [k, v] of Object.entries(o)) {
            let reads = 0;
            Object.defineProperty(x, k, { get: () => (reads++ === 0 ? v : later[k]), enumerable: true });
          }
          return x;
        }
        case 'family-getter-throws': return Object.defineProperty({ ...o }, 'family', { get: trap });
        case 'array': return Object.assign([], o);
        default: return o;
      }
    });
  }) },
  { weight: 1, arbitrary: junk },
);

const signalArg = fc.constantFrom(
  gen('aborted signal', (c) => {
    c.aborted = true;
    return AbortSignal.abort(new Error('fuzz reason'));
  }),
  gen('live signal', (c) => {
    const ac = new AbortController();
    c.signals.push(ac);
    return ac.signal;
  }),
  gen('signal aborted in a microtask', (c) => {
    const ac = new AbortController();
    c.aborted = true;
    queueMicrotask(() => ac.abort());
    return ac.signal;
  }),
  gen('AbortSignal.timeout(1)', (c) => {
    c.aborted = true;
    return AbortSignal.timeout(1);
  }),
  val("'signal'", 'signal'), gen('{ aborted: true } look-alike', () => ({ aborted: true, addEventListener() {} })),
);
const optsArg: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(val('undefined', undefined)) },
  { weight: 5, arbitrary: fc.record({
    signal: optionalField(signalArg),
    timeout: optionalField(fc.oneof(fc.integer({ min: 0, max: 50 }).map((n) => val(String(n), n)), anyNumber, junk)),
    flags: optionalField(constArg([0, SOCK_NONBLOCK, lib.SOCK_CLOEXEC])),
  }).map((r) => {
    const fields = Object.entries(r).filter(([, g]) => g !== undefined) as [string, Gen][];
    return gen(`{ ${fields.map(([k, g]) => `${k}: ${g.d}`).join(', ')} }`, (c) => {
      const o: Record<string, unknown> = {};
      for (const [k, g] of fields) o[k] = g.v(c);
      return o;
    });
  }) },
  { weight: 1, arbitrary: junk },
);

const EVENTS = [lib.POLLIN, lib.POLLOUT, lib.POLLIN | lib.POLLOUT, lib.POLLPRI, lib.POLLRDHUP, 0, 0x7fff];
const pollFdsArg: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.oneof(
    { weight: 6, arbitrary: fc.record({ fd: fdArg, events: constArg(EVENTS), revents: optionalField(anyNumber) }).map((e) =>
      gen(`{ fd: ${e.fd.d}, events: ${e.events.d} }`, (c) => ({ fd: e.fd.v(c), events: e.events.v(c), revents: e.revents?.v(c) }))) },
    { weight: 1, arbitrary: junk },
  ), { maxLength: 6 }).map((entries) => gen(`[${entries.map((e) => e.d).join(', ')}]`, (c) => entries.map((e) => e.v(c)))) },
  { weight: 1, arbitrary: fc.constant(gen('sparse array', (c) => {
    const a: unknown[] = [];
    a[3] = { fd: slots[0].fd, events: lib.POLLIN };
    void c;
    return a;
  })) },
  { weight: 1, arbitrary: fc.constant(gen('array with a throwing element getter', () => {
    const a: unknown[] = [{ fd: slots[0].fd, events: lib.POLLIN }];
    Object.defineProperty(a, 1, { get: trap, enumerable: true });
    return a;
  })) },
  { weight: 1, arbitrary: fc.constant(gen('array-like object', () => ({ length: 1, 0: { fd: slots[0].fd, events: lib.POLLIN } }))) },
  { weight: 1, arbitrary: junk },
);

const hintsArg: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(val('undefined', undefined)) },
  { weight: 4, arbitrary: fc.record({
    flags: optionalField(constArg([0, lib.AI_PASSIVE, lib.AI_CANONNAME, lib.AI_NUMERICHOST, lib.AI_NUMERICSERV, lib.AI_ADDRCONFIG, lib.AI_V4MAPPED])),
    family: optionalField(constArg([AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX])),
    socktype: optionalField(constArg([0, SOCK_STREAM, SOCK_DGRAM, lib.SOCK_RAW])),
    protocol: optionalField(constArg([0, lib.IPPROTO_TCP, lib.IPPROTO_UDP])),
  }).map((r) => {
    const fields = Object.entries(r).filter(([, g]) => g !== undefined) as [string, Gen][];
    return gen(`{ ${fields.map(([k, g]) => `${k}: ${g.d}`).join(', ')} }`, (c) => Object.fromEntries(fields.map(([k, g]) => [k, g.v(c)])));
  }) },
  { weight: 1, arbitrary: junk },
);
// Hosts: numeric loopback, names and junk. No lookup ever reaches a resolver:
// dnsFree makes every call whose node is anything but a numeric loopback
// literal numeric-only (even 'localhost' is sent to DNS by glibc when
// /etc/hosts lacks the family asked for, e.g. no '::1 localhost' line).
const nodeArg = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(null, '127.0.0.1', '::1', 'localhost', '', '127.0.0.1\0evil', '::ffff:127.0.0.1', 'example.invalid').map((s) => val(JSON.stringify(s), s)) },
  { weight: 1, arbitrary: junk },
);
/** Hosts getaddrinfo can take as they are: the C library parses them, no resolver is asked. */
const NUMERIC_LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
/**
 * getaddrinfo's arguments as the case made them, but for a node that is a
 * name (any string other than a numeric loopback literal) the hints force
 * AI_NUMERICHOST: undefined hints become { flags: AI_NUMERICHOST }, and an
 * object's flags are read through a Proxy that ORs it into any value the
 * library accepts (an int32, or undefined). Values the library rejects pass
 * through unchanged, so bad types, huge flags and throwing getters are still
 * fuzzed; a node with a NUL is rejected before any lookup.
 */
function dnsFree(args: unknown[]): unknown[] {
  const [node, service, hints, ...rest] = args;
  if (typeof node !== 'string' || NUMERIC_LOOPBACK.has(node) || node.includes('\0')) return args;
  if (args.length < 3) return [node, service, { flags: lib.AI_NUMERICHOST }];
  if (hints === undefined) return [node, service, { flags: lib.AI_NUMERICHOST }, ...rest];
  if (hints === null || typeof hints !== 'object') return args; // A TypeError before any lookup.
  const numericOnly = new Proxy(hints, {
    get(target, key, receiver) {
      const v: unknown = Reflect.get(target, key, receiver);
      if (key !== 'flags') return v;
      if (v === undefined) return lib.AI_NUMERICHOST;
      return typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31 ? v | lib.AI_NUMERICHOST : v;
    },
  });
  return [node, service, numericOnly, ...rest];
}
const serviceArg = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(null, '80', 'http', '0', '65535', '65536', '99999', '-1', 'no-such-service-xyz', '', 'x\0y').map((s) => val(JSON.stringify(s), s)) },
  { weight: 1, arbitrary: junk },
);
const epollEventArg: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 4, arbitrary: fc.record({
    events: constArg([lib.EPOLLIN, lib.EPOLLOUT, lib.EPOLLIN | lib.EPOLLET, lib.EPOLLONESHOT | lib.EPOLLIN, -1, 2 ** 32 - 1, 2 ** 32]),
    data: optionalField(fc.oneof(fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER, 2 ** 53, -1, 1.5).map((n) => val(String(n), n)), junk)),
  }).map((r) => gen(`{ events: ${r.events.d}, data: ${r.data?.d} }`, (c) => ({ events: r.events.v(c), data: r.data?.v(c) }))) },
  { weight: 1, arbitrary: fc.constant(val('undefined', undefined)) },
  { weight: 1, arbitrary: junk },
);
// Node sockets for fdOf(): made before the fd baseline, closed after the last check.
let nodeServer: net.Server | undefined;
const nodeSocketArg = fc.oneof(
  { weight: 2, arbitrary: fc.constant(gen('listening net.Server', () => nodeServer)) },
  { weight: 1, arbitrary: fc.constant(gen('new net.Socket()', () => new net.Socket())) },
  { weight: 1, arbitrary: fc.constant(gen('net.createServer()', () => net.createServer())) },
  { weight: 3, arbitrary: junk },
);
const listenerArg = fc.oneof(
  { weight: 4, arbitrary: fc.constant(val('() => {}', () => undefined)) },
  { weight: 1, arbitrary: junk },
);
const traceRecordArg = fc.oneof(
  { weight: 2, arbitrary: fc.record({
    syscall: fc.oneof(fc.constantFrom('read', 'accept', '').map((s) => val(JSON.stringify(s), s)), junk),
    args: fc.oneof(fc.constant(val('[3, 8]', [3, 8])), junk),
    result: intArg, errno: optionalField(intArg), threadId: intArg, mainThreadId: intArg,
    queuedNs: intArg, runNs: intArg, detail: optionalField(fc.oneof(fc.constant(val("'x'", 'x')), junk)),
  }).map((r) => {
    const fields = Object.entries(r).filter(([, g]) => g !== undefined) as [string, Gen][];
    return gen(`{ ${fields.map(([k, g]) => `${k}: ${g.d}`).join(', ')} }`, (c) => Object.fromEntries(fields.map(([k, g]) => [k, g.v(c)])));
  }) },
  { weight: 1, arbitrary: junk },
);
/** struct linger values: linger at most 1 s, so a close() that lingers cannot stall the run. */
const lingerArg = fc.record({
  onoff: fc.oneof(fc.constantFrom(0, 1, true, -1, 1.5).map((n) => val(String(n), n)), junk),
  linger: fc.oneof(fc.constantFrom(0, 1, -1, 1.5, 2 ** 31, NaN).map((n) => val(numText(n), n)), junk),
}).map((r) => gen(`{ onoff: ${r.onoff.d}, linger: ${r.linger.d} }`, (c) => ({ onoff: r.onoff.v(c), linger: r.linger.v(c) })));
const setsockoptValueArg = fc.oneof(
  { weight: 3, arbitrary: anyNumber },
  { weight: 2, arbitrary: lingerArg },
  { weight: 1, arbitrary: fc.boolean().map((b) => val(String(b), b)) },
  { weight: 3, arbitrary: bufArg },
  { weight: 1, arbitrary: junk },
);

const LEVELS = [SOL_SOCKET, lib.IPPROTO_IP, lib.IPPROTO_IPV6, lib.IPPROTO_TCP, lib.IPPROTO_UDP, 0, 1, 6, 17, 41];
const OPTNAMES = [lib.SO_REUSEADDR, lib.SO_REUSEPORT, lib.SO_KEEPALIVE, lib.SO_BROADCAST, lib.SO_RCVBUF, lib.SO_SNDBUF,
  lib.SO_ERROR, lib.SO_TYPE, lib.SO_RCVTIMEO, lib.SO_SNDTIMEO, lib.TCP_NODELAY, lib.IPV6_V6ONLY, lib.SO_DOMAIN, lib.SO_PROTOCOL,
  lib.SO_ACCEPTCONN, lib.SO_LINGER, lib.SO_PEERCRED, lib.TCP_INFO].filter((n) => n !== undefined);
const DOMAINS = [AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC, 16 /* AF_NETLINK */, 40 /* AF_VSOCK */];
const TYPES = [SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, lib.SOCK_RAW, SOCK_STREAM | SOCK_NONBLOCK, SOCK_DGRAM | lib.SOCK_CLOEXEC];
const FLAGS = [0, lib.MSG_PEEK, lib.MSG_DONTWAIT, lib.MSG_WAITALL, lib.MSG_TRUNC, lib.MSG_OOB, lib.MSG_NOSIGNAL, lib.MSG_PEEK | lib.MSG_TRUNC];
const MSG_FLAGS = [...FLAGS, lib.MSG_CMSG_CLOEXEC, lib.MSG_EOR, lib.MSG_CTRUNC];

// sendmsg/recvmsg: struct msghdr with every field valid or not. SCM_RIGHTS
// carries fds from fdArg (our slots, or numbers never open); a pktinfo's
// ifindex is only ever 0, lo's, or no interface at all, so that nothing can
// be routed out of another interface.
const objectOf = (fields: Record<string, Gen | undefined>): Gen => {
  const present = Object.entries(fields).filter(([, g]) => g !== undefined) as [string, Gen][];
  return gen(`{ ${present.map(([k, g]) => `${k}: ${g.d}`).join(', ')} }`, (c) => Object.fromEntries(present.map(([k, g]) => [k, g.v(c)])));
};
const arrayOf = (items: Gen[]): Gen => gen(`[${items.map((g) => g.d).join(', ')}]`, (c) => items.map((g) => g.v(c)));
const LO_IFINDEX = Number(fs.readFileSync('/sys/class/net/lo/ifindex', 'utf8'));
const iovArg = fc.oneof(
  { weight: 8, arbitrary: fc.array(bufArg, { maxLength: 4 }).map(arrayOf) },
  { weight: 1, arbitrary: fc.constant(gen('IOV_MAX + 1 views', () => Array(lib.IOV_MAX + 1).fill(Buffer.alloc(1)))) },
  { weight: 1, arbitrary: junk },
);
const ifindexArg = fc.oneof(
  fc.constantFrom(0, LO_IFINDEX, 2 ** 31 - 1, -1, 1.5, NaN, 2 ** 32).map((n) => val(numText(n), n)),
  junk,
);
const cmsgDataArg = fc.oneof(
  { weight: 4, arbitrary: fc.array(fdArg, { maxLength: 4 }).map(arrayOf) },
  { weight: 1, arbitrary: fc.constant(gen('300 × slot0', () => Array(300).fill(slots[0].fd))) },
  { weight: 2, arbitrary: fc.record({ pid: fc.oneof(fc.constant(val('process.pid', process.pid)), intArg), uid: optionalField(fc.oneof(fc.constant(val('getuid()', process.getuid!())), intArg)), gid: optionalField(fc.oneof(fc.constant(val('getgid()', process.getgid!())), intArg)) }).map(objectOf) },
  { weight: 2, arbitrary: fc.record({ ifindex: ifindexArg, specDst: optionalField(addressArg), address: optionalField(addressArg) }).map(objectOf) },
  { weight: 3, arbitrary: bufArg },
  { weight: 1, arbitrary: junk },
);
const cmsgArg = fc.oneof(
  { weight: 6, arbitrary: fc.record({
    level: fc.oneof(fc.constantFrom(SOL_SOCKET, lib.IPPROTO_IP, lib.IPPROTO_IPV6, 0, 9999).map((n) => val(String(n), n)), intArg),
    type: fc.oneof(fc.constantFrom(lib.SCM_RIGHTS, lib.SCM_CREDENTIALS, lib.IP_PKTINFO, lib.IPV6_PKTINFO, 0, 9999).map((n) => val(String(n), n)), intArg),
    data: optionalField(cmsgDataArg),
  }).map(objectOf) },
  { weight: 1, arbitrary: junk },
);
const controlArg = fc.oneof(
  { weight: 6, arbitrary: fc.array(cmsgArg, { maxLength: 3 }).map(arrayOf) },
  { weight: 1, arbitrary: junk },
);
/** Messages that pass every check: bytes and fds of our slots (which our connected slot pairs then receive). */
const goodMsghdr = fc.tuple(fc.nat(3), fc.array(fc.nat(63), { maxLength: 3 }), fc.boolean()).map(([n, fdSlots, creds]) => gen(
  `{ iov: [${n} bytes], control: SCM_RIGHTS [${fdSlots.map((i) => `slot${i}`).join(', ')}]${creds ? ' + SCM_CREDENTIALS' : ''} }`,
  () => ({
    iov: [Buffer.alloc(n, 0x61)],
    control: [
      { level: SOL_SOCKET, type: lib.SCM_RIGHTS, data: fdSlots.map((i) => slots[i % slots.length].fd) },
      ...(creds ? [{ level: SOL_SOCKET, type: lib.SCM_CREDENTIALS, data: { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() } }] : []),
    ],
  }),
));
const msghdrArg = fc.oneof(
  { weight: 6, arbitrary: goodMsghdr },
  { weight: 8, arbitrary: fc.record({ iov: iovArg, name: optionalField(addrArg), control: optionalField(controlArg) }).map(objectOf) },
  { weight: 1, arbitrary: junk },
);
const recvMsghdrArg = fc.oneof(
  { weight: 8, arbitrary: fc.record({
    iov: iovArg,
    controllen: optionalField(fc.oneof(fc.constantFrom(0, 1, 16, 24, 256, 4096, 65536, 65537, -1, 2 ** 31).map((n) => val(String(n), n)), intArg)),
  }).map(objectOf) },
  { weight: 1, arbitrary: junk },
);
/** The fds a recvmsg() result holds: every SCM_RIGHTS message's. */
const recvmsgFds = (r: unknown) => (r as lib.RecvmsgResult).control
  .filter((c) => c.level === SOL_SOCKET && c.type === lib.SCM_RIGHTS).flatMap((c) => c.data as number[]);

// ---- The functions --------------------------------------------------------

interface Spec {
  name: string;
  /** Returns a Promise, so it must never throw. */
  async: boolean;
  args: fc.Arbitrary<Gen>[];
  /** The fds a successful result holds, which the case must close. */
  fds?: (result: unknown) => number[];
  /**
   * Known library bugs: a TypeError V8 wrote itself, matching this, is
   * accepted but counted apart, so that the rest of the run still tests.
   */
  known?: RegExp;
  /** Rewrites the arguments built for a case before the call (see dnsFree). */
  prepare?: (args: unknown[]) => unknown[];
}
const ioArgs = (withFlags: boolean, withAddr: boolean, withOpts: boolean) => [
  fdArg, bufArg, lenArg, ...(withFlags ? [constArg(FLAGS)] : []), ...(withAddr ? [addrArg] : []), ...(withOpts ? [optsArg] : []),
];
const fdResult = (r: unknown) => [r as number];
const acceptResult = (r: unknown) => [(r as { fd: number }).fd];

const SPECS: Spec[] = [
  { name: 'socket', async: false, args: [constArg(DOMAINS), constArg(TYPES), constArg([0, lib.IPPROTO_TCP, lib.IPPROTO_UDP, 255])], fds: fdResult },
  { name: 'socketpair', async: false, args: [constArg(DOMAINS), constArg(TYPES), constArg([0, 1, 6])], fds: (r) => r as number[] },
  { name: 'bind', async: false, args: [fdArg, addrArg] },
  { name: 'listen', async: false, args: [fdArg, intArg] },
  { name: 'close', async: false, args: [fdArg] },
  { name: 'shutdown', async: false, args: [fdArg, constArg([lib.SHUT_RD, lib.SHUT_WR, lib.SHUT_RDWR, 3, -1])] },
  { name: 'setsockopt', async: false, args: [fdArg, constArg(LEVELS), constArg(OPTNAMES), setsockoptValueArg] },
  { name: 'getsockopt', async: false, args: [fdArg, constArg(LEVELS), constArg(OPTNAMES), fc.oneof(fc.constant(val('undefined', undefined)), constArg([0, 1, 4, 16, 65536, 65537]))] },
  { name: 'getsockname', async: false, args: [fdArg] },
  { name: 'getpeername', async: false, args: [fdArg] },
  { name: 'fcntl', async: false, args: [fdArg, constArg([F_GETFL, F_SETFL, F_GETFD, F_SETFD, 0, 5, 1030]), fc.oneof(fc.constant(val('undefined', undefined)), constArg([0, O_NONBLOCK, FD_CLOEXEC]))] },
  { name: 'accept', async: true, args: [fdArg, optsArg], fds: acceptResult },
  { name: 'acceptSync', async: false, args: [fdArg, fc.oneof(fc.constant(val('undefined', undefined)), constArg([0, SOCK_NONBLOCK, lib.SOCK_CLOEXEC]))], fds: acceptResult },
  { name: 'connect', async: true, args: [fdArg, addrArg, optsArg] },
  { name: 'connectSync', async: false, args: [fdArg, addrArg] },
  { name: 'read', async: true, args: [fdArg, bufArg, lenArg, optsArg] },
  { name: 'readSync', async: false, args: [fdArg, bufArg, lenArg] },
  { name: 'write', async: true, args: [fdArg, bufArg, lenArg, optsArg] },
  { name: 'writeSync', async: false, args: [fdArg, bufArg, lenArg] },
  { name: 'recv', async: true, args: ioArgs(true, false, true) },
  { name: 'recvSync', async: false, args: ioArgs(true, false, false) },
  { name: 'send', async: true, args: ioArgs(true, false, true) },
  { name: 'sendSync', async: false, args: ioArgs(true, false, false) },
  { name: 'recvfrom', async: true, args: ioArgs(true, false, true) },
  { name: 'recvfromSync', async: false, args: ioArgs(true, false, false) },
  { name: 'sendto', async: true, args: ioArgs(true, true, true) },
  { name: 'sendtoSync', async: false, args: ioArgs(true, true, false) },
  { name: 'sendmsg', async: true, args: [fdArg, msghdrArg, constArg(MSG_FLAGS), optsArg] },
  { name: 'sendmsgSync', async: false, args: [fdArg, msghdrArg, constArg(MSG_FLAGS)] },
  { name: 'recvmsg', async: true, args: [fdArg, recvMsghdrArg, constArg(MSG_FLAGS), optsArg], fds: recvmsgFds },
  { name: 'recvmsgSync', async: false, args: [fdArg, recvMsghdrArg, constArg(MSG_FLAGS)], fds: recvmsgFds },
  { name: 'CMSG_SPACE', async: false, args: [intArg] },
  { name: 'CMSG_LEN', async: false, args: [intArg] },
  { name: 'poll', async: true, args: [pollFdsArg, shortTimeout, optsArg] },
  { name: 'pollSync', async: false, args: [pollFdsArg, shortTimeout] },
  { name: 'getaddrinfo', async: true, args: [nodeArg, serviceArg, hintsArg, optsArg], prepare: dnsFree },
  { name: 'getaddrinfoSync', async: false, args: [nodeArg, serviceArg, hintsArg], prepare: dnsFree },
  { name: 'errnoName', async: false, args: [intArg] },
  { name: 'epoll_create1', async: false, args: [fc.oneof(fc.constant(val('undefined', undefined)), constArg([0, lib.EPOLL_CLOEXEC, 1]))], fds: fdResult },
  { name: 'epoll_ctl', async: false, args: [fdArg, constArg([lib.EPOLL_CTL_ADD, lib.EPOLL_CTL_MOD, lib.EPOLL_CTL_DEL]), fdArg, epollEventArg] },
  { name: 'epoll_wait', async: true, args: [fdArg, constArg([1, 2, 64, 65536, 65537, 0]), shortTimeout, optsArg] },
  { name: 'epoll_waitSync', async: false, args: [fdArg, constArg([1, 2, 64, 65536, 65537, 0]), shortTimeout] },
  { name: 'watch', async: false, args: [fdArg, constArg(EVENTS), listenerArg] },
  { name: 'onTrace', async: false, args: [listenerArg] },
  { name: 'formatTrace', async: false, args: [traceRecordArg] },
  { name: 'threadpool', async: false, args: [] },
  { name: 'fdOf', async: false, args: [nodeSocketArg] },
];

/** The argument list: as specified, cut short (missing arguments), or with junk appended. */
function argList(spec: Spec): fc.Arbitrary<Gen[]> {
  return fc.tuple(fc.tuple(...spec.args), fc.oneof(
    { weight: 6, arbitrary: fc.constant('as is' as const) },
    { weight: 1, arbitrary: fc.nat(Math.max(0, spec.args.length - 1)).map((n) => ({ cut: n })) },
    { weight: 1, arbitrary: fc.array(junk, { minLength: 1, maxLength: 3 }).map((extra) => ({ extra })) },
  )).map(([args, how]) => {
    if (how === 'as is') return args;
    if ('cut' in how) return args.slice(0, how.cut);
    return [...args, ...how.extra];
  });
}

// ---- Running one case ----------------------------------------------------------

type Outcome = 'ok' | 'TypeError' | 'RangeError' | 'SocketError' | 'AbortError' | 'TrapError';
const tally = new Map<string, Map<Outcome, number>>();
let cases = 0;
let baseline: ReturnType<typeof fdTable>;

function classify(err: unknown, ctx: Ctx): Outcome | string {
  if (err instanceof TrapError) return 'TrapError';
  if (err instanceof SocketError) {
    return typeof err.code === 'string' && err.errno > 0 && typeof err.syscall === 'string' ? 'SocketError' : `malformed SocketError ${err.message}`;
  }
  if (err instanceof AbortError) return ctx.aborted ? 'AbortError' : 'AbortError without an aborted signal';
  if (err instanceof TypeError || err instanceof RangeError) {
    // A message V8 wrote itself means a path the library did not check.
    if (/Cannot (read|convert|destructure)|is not (a function|iterable)|Invalid array length|Maximum call stack/.test(err.message)) {
      return `unchecked ${err.name}: ${err.message}`;
    }
    return err.name as Outcome;
  }
  return `unexpected ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
}

function closeQuietly(fd: unknown): void {
  if (typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 && fd < NOFILE) native.close(fd);
}

async function runCase(spec: Spec, gens: Gen[]): Promise<void> {
  const before = fdTable();
  const ctx: Ctx = { canaries: [], signals: [], aborted: false, lastLen: 0 };
  const built = gens.map((g) => g.v(ctx));
  const args = spec.prepare ? spec.prepare(built) : built;
  const fn = (lib as unknown as Record<string, (...a: unknown[]) => unknown>)[spec.name];
  let outcome: Outcome | string;
  let result: unknown;
  try {
    result = fn(...args);
    if (spec.async) {
      expect(result, `${spec.name} must return a Promise`).toBeInstanceOf(Promise);
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<'hang'>((resolve) => {
        timer = setTimeout(() => resolve('hang'), HANG_MS);
      });
      const settled = await Promise.race([
        (result as Promise<unknown>).then((value) => ({ value }), (error: unknown) => ({ error })),
        hang,
      ]);
      clearTimeout(timer);
      if (settled === 'hang') throw new Error(`${spec.name} did not settle within ${HANG_MS} ms`);
      if ('error' in settled) throw settled.error;
      result = settled.value;
    }
    outcome = 'ok';
  } catch (err) {
    if (spec.async && !(result instanceof Promise)) {
      throw new Error(`${spec.name} threw synchronously instead of rejecting: ${String(err)}`);
    }
    outcome = classify(err, ctx);
    if (process.env.FUZZ_DEBUG === spec.name) console.log(`${spec.name}(${gens.map((g) => g.d).join(', ')}) -> ${(err as Error).name}: ${(err as Error).message}`);
    result = undefined;
  }
  for (const ac of ctx.signals) ac.abort();

  // What the call gave out is closed again.
  if (outcome === 'ok') {
    if (spec.fds) for (const fd of spec.fds(result)) closeQuietly(fd);
    if (spec.name === 'watch') (result as lib.Watcher).close();
    if (spec.name === 'onTrace') (result as () => void)();
  }
  let key = outcome;
  if (spec.known && outcome.startsWith('unchecked TypeError') && spec.known.test(outcome)) {
    key = 'TypeError (known bug)';
    outcome = 'TypeError';
  }
  const counts = tally.get(spec.name) ?? new Map<Outcome, number>();
  tally.set(spec.name, counts);
  counts.set(key as Outcome, (counts.get(key as Outcome) ?? 0) + 1);
  cases++;
  expect(['ok', 'TypeError', 'RangeError', 'SocketError', 'AbortError', 'TrapError'], `${spec.name}: ${outcome}`).toContain(outcome);

  // No byte outside a view's window changed.
  for (const [bytes, start, end] of ctx.canaries) {
    for (let i = 0; i < bytes.length; i++) {
      if ((i < start || i >= end) && bytes[i] !== CANARY) throw new Error(`${spec.name} wrote byte ${i} outside its window [${start}, ${end})`);
    }
  }

  // Every pool thread is free again (async calls on non-blocking fds settle at once).
  for (let i = 0; i < 200 && (lib.threadpool().busy > 0 || lib.threadpool().queued > 0); i++) await sleep(5);
  expect(lib.threadpool()).toMatchObject({ busy: 0, queued: 0 });

  // No fd leaked: the same fds as before, but for slots the case closed (replaced now).
  const { dropped } = repairSlots();
  const expected = new Map(before.fds);
  for (const fd of dropped) expected.delete(fd);
  for (const s of slots) expected.set(s.fd, targetOf(s.fd)!);
  const sorted = (m: Map<number, string>) => [...m].sort((a, b) => a[0] - b[0]);
  let after = fdTable();
  // A lookup stopped while it ran ends on its own thread in the background,
  // holding what glibc opened (/etc/services) a moment longer: wait for it.
  if (spec.name === 'getaddrinfo') {
    for (let i = 0; i < 200 && JSON.stringify(sorted(after.fds)) !== JSON.stringify(sorted(expected)); i++) {
      await sleep(5);
      after = fdTable();
    }
  }
  expect(sorted(after.fds), `${spec.name}: open fds`).toEqual(sorted(expected));
  // libuv's pool threads each open one wake-up eventfd, once.
  expect(after.eventfds).toBeLessThanOrEqual(baseline.eventfds + native.poolSize);
}

// ---- The tests ---------------------------------------------------------------

/** Holds the refused port in `ports` (made before the fd baseline, closed after the last check). */
let refusedHolder = -1;
/** The cwd's entries before the first case: a relative Unix path bound by a case would add a socket. */
let cwdBefore: string[] = [];

beforeAll(async () => {
  cwdBefore = fs.readdirSync(process.cwd());
  nodeServer = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => nodeServer!.once('listening', resolve));
  NOFILE = nofileLimit();
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bsd-sockets-fuzz-'));
  // A port held by a socket bound there that never listens: connecting is
  // refused, and no other test process can take the port while this file runs.
  refusedHolder = lib.socket(AF_INET, SOCK_STREAM, 0);
  lib.bind(refusedHolder, { family: AF_INET, address: '127.0.0.1', port: 0 });
  ports.push((lib.getsockname(refusedHolder) as { port: number }).port);
  baseline = fdTable();
  makePairs();
  for (let k = 0; k < SLOT_KINDS.length; k++) slots.push(makeSlot(k));
});

afterAll(async () => {
  for (const s of slots) {
    // A case may have set SO_LINGER: close without lingering.
    native.setsockopt(s.fd, SOL_SOCKET, SO_LINGER, new Uint8Array(8), 8);
    native.close(s.fd);
  }
  slots.length = 0;
  fs.rmSync(tmpDir, { recursive: true, force: true });
  // No case bound a socket in the cwd (the repo when run by vitest). Only new
  // sockets count: other test files, running in parallel, may add and remove
  // regular files there (test/readme.test.ts's snippets, a first examples build).
  const cwd = process.cwd();
  const newSockets = fs.readdirSync(cwd).filter((name) => !cwdBefore.includes(name) &&
    fs.lstatSync(path.join(cwd, name), { throwIfNoEntry: false })?.isSocket());
  expect(newSockets, `sockets bound in ${cwd}`).toEqual([]);
  // Every fd is back to what it was before the first socket of this file.
  const end = fdTable();
  expect([...end.fds.keys()].sort((a, b) => a - b)).toEqual([...baseline.fds.keys()].sort((a, b) => a - b));
  const lines = [...tally].map(([name, counts]) => `  ${name.padEnd(16)} ${[...counts].map(([o, n]) => `${o} ${n}`).join(', ')}`);
  console.log(`fuzz: ${cases} cases over ${tally.size} functions (FUZZ_RUNS=${RUNS}, FUZZ_SEED=${SEED})\n${lines.join('\n')}`);
  // Under the sanitizer build (npm run test:asan), nothing the addon allocated is unreachable.
  const leaks = native.leakCheck();
  if (leaks >= 0) expect(leaks, 'LeakSanitizer found leaks (see stderr)').toBe(0);
  await new Promise((resolve) => nodeServer!.close(resolve));
  lib.close(refusedHolder);
});

describe('fuzzed boundary: every export with arbitrary arguments', () => {
  it('covers every exported function', () => {
    const exported = Object.entries(lib)
      .filter(([, v]) => typeof v === 'function' && v !== SocketError && v !== AbortError)
      .map(([k]) => k)
      .sort();
    expect(SPECS.map((s) => s.name).sort()).toEqual(exported);
  });

  it.each(SPECS.map((s) => [s.name, s] as const))('%s: succeeds, or fails with TypeError/RangeError/SocketError; no fd leaked', async (_name, spec) => {
    await fc.assert(fc.asyncProperty(argList(spec), (gens) => runCase(spec, gens)), {
      numRuns: spec.args.length === 0 ? 5 : RUNS,
      seed: SEED,
      endOnFailure: true,
    });
  }, 60_000);
});
