// Bad arguments to every exported function: a TypeError (wrong type) or a
// RangeError (out of range) whose message names the argument, thrown before
// any system call (nothing is traced). Promise-returning functions reject,
// they never throw.
import * as net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as lib from '../lib/index';
import {
  AF_INET, AF_UNIX, CMSG_LEN, CMSG_SPACE, EPOLLIN, IOV_MAX, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, IPV6_PKTINFO, IP_PKTINFO,
  SCM_CREDENTIALS, SCM_RIGHTS, SO_LINGER, SO_PEERCRED, SO_RCVTIMEO, SO_SNDTIMEO, TCP_INFO, fdOf,
  EPOLL_CTL_ADD, F_GETFD, F_GETFL, F_SETFD, F_SETFL, POLLIN, SHUT_RDWR, SOCK_DGRAM, SOCK_NONBLOCK,
  SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, type Sockaddr, type TraceRecord, accept, acceptSync, bind, close,
  connect, connectSync, epoll_create1, epoll_ctl, epoll_wait, epoll_waitSync, errnoName, fcntl, formatTrace, getaddrinfo, getaddrinfoSync, getpeername,
  getsockname, getsockopt, listen, onTrace, poll, pollSync, read, readSync, recv, recvSync, recvfrom,
  recvfromSync, recvmsg, recvmsgSync, send, sendSync, sendmsg, sendmsgSync, sendto, sendtoSync, setsockopt, shutdown, socket, socketpair, threadpool,
  watch, write, writeSync,
} from '../lib/index';
import { openFdsExceptWakeups } from './helpers/fds';
import { closeAll, track } from './helpers/pairs';

type ErrorType = typeof TypeError | typeof RangeError;

const A4: Sockaddr = { family: AF_INET, address: '127.0.0.1', port: 9 };
/** An address of the same family as `good`, so that only the argument under test is wrong. */
const AU: Sockaddr = { family: AF_UNIX, path: '/nonexistent/bsd-sockets-validation' };

/** A Uint8Array whose ArrayBuffer has been transferred away (detached). */
function detached(): Uint8Array {
  const u = new Uint8Array(new ArrayBuffer(8));
  structuredClone(u, { transfer: [u.buffer as ArrayBuffer] });
  expect(u.byteLength).toBe(0);
  return u;
}

/** A view over a resizable ArrayBuffer (ES2024). */
function resizable(): Uint8Array {
  const RAB = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer;
  return new Uint8Array(new RAB(8, { maxByteLength: 16 }));
}

/** A view over a growable SharedArrayBuffer (ES2024). */
function growable(): Uint8Array {
  const GSAB = SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => SharedArrayBuffer;
  return new Uint8Array(new GSAB(8, { maxByteLength: 16 }));
}

/** A view whose own `buffer`/`byteLength` properties lie: the checks must see the real memory. */
function disguised(view: Uint8Array): Uint8Array {
  Object.defineProperty(view, 'buffer', { value: new ArrayBuffer(64) });
  Object.defineProperty(view, 'byteLength', { value: 64 });
  return view;
}

/** Records every traced system call while fn runs (sync or async). */
async function traced(fn: () => unknown): Promise<TraceRecord[]> {
  const records: TraceRecord[] = [];
  const off = onTrace((r) => records.push(r));
  try {
    await fn();
  } finally {
    off();
  }
  return records;
}

/** call() must throw `type` synchronously, matching `message`, and make no system call. */
async function expectThrow(call: () => unknown, type: ErrorType, message: RegExp): Promise<void> {
  let thrown: unknown;
  const records = await traced(() => {
    try {
      call();
    } catch (err) {
      thrown = err;
    }
  });
  expect(thrown).toBeInstanceOf(type);
  expect((thrown as Error).message).toMatch(message);
  expect(records).toEqual([]);
}

/** call() must return a Promise (not throw) that rejects with `type` matching `message`; no system call. */
async function expectReject(call: () => unknown, type: ErrorType, message: RegExp): Promise<void> {
  let p: unknown;
  let syncThrow: unknown;
  const records = await traced(async () => {
    try {
      p = call();
    } catch (err) {
      syncThrow = err;
    }
    await Promise.resolve(p).catch(() => undefined);
  });
  expect(syncThrow).toBeUndefined();
  expect(p).toBeInstanceOf(Promise);
  const err = await (p as Promise<unknown>).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(type);
  expect((err as Error).message).toMatch(message);
  expect(records).toEqual([]);
}

/** The message of a wrong type for argument `name`. */
function typeMsg(name: string): RegExp {
  return new RegExp(`"${name.replace(/[.[\]]/g, '\\$&')}"`);
}

/** The message of an out-of-range value for argument `name`. */
function rangeMsg(name: string): RegExp {
  return new RegExp(`"${name.replace(/[.[\]]/g, '\\$&')}".*out of range`);
}

// Values that are not numbers, and numbers no C int argument can take.
const NOT_NUMBERS: [string, unknown][] = [
  ["'3'", '3'], ['null', null], ['3n', 3n], ['{}', {}], ['true', true], ['[]', []],
];
const NOT_INTS: [string, unknown][] = [
  ['1.5', 1.5], ['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ['2**31', 2 ** 31], ['-(2**31)-1', -(2 ** 31) - 1],
];
const BAD_FDS_RANGE: [string, unknown][] = [['-1', -1], ...NOT_INTS];
const NOT_VIEWS: [string, unknown][] = [
  ["'abc'", 'abc'], ['[1, 2]', [1, 2]], ['an ArrayBuffer', new ArrayBuffer(8)], ['null', null], ['{}', {}], ['42', 42],
];

let good: number; // A real, non-blocking socket: an unchecked argument could not block on it.
let epfd: number; // A real epoll fd with nothing registered.
let baseline: number[];

beforeAll(() => {
  close(socket(AF_INET, SOCK_STREAM, 0));
  baseline = openFdsExceptWakeups();
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  good = a;
  track(b);
  epfd = epoll_create1(0);
});

afterEach(() => {
  expect(threadpool().busy).toBe(0);
});

afterAll(() => {
  close(epfd);
  close(good);
  closeAll();
  expect(openFdsExceptWakeups()).toEqual(baseline);
});

// ---- fd: every call that takes one -------------------------------------------

const buf = Buffer.alloc(8);
const SYNC_FD_CALLS: [string, (fd: unknown) => unknown][] = [
  ['bind', (fd) => bind(fd as number, A4)],
  ['listen', (fd) => listen(fd as number, 1)],
  ['close', (fd) => close(fd as number)],
  ['shutdown', (fd) => shutdown(fd as number, SHUT_RDWR)],
  ['setsockopt', (fd) => setsockopt(fd as number, SOL_SOCKET, SO_REUSEADDR, 1)],
  ['getsockopt', (fd) => getsockopt(fd as number, SOL_SOCKET, SO_REUSEADDR)],
  ['getsockopt with buflen', (fd) => getsockopt(fd as number, SOL_SOCKET, SO_REUSEADDR, 4)],
  ['getsockname', (fd) => getsockname(fd as number)],
  ['getpeername', (fd) => getpeername(fd as number)],
  ['fcntl', (fd) => fcntl(fd as number, F_GETFD)],
  ['acceptSync', (fd) => acceptSync(fd as number)],
  ['connectSync', (fd) => connectSync(fd as number, A4)],
  ['readSync', (fd) => readSync(fd as number, buf)],
  ['writeSync', (fd) => writeSync(fd as number, buf)],
  ['recvSync', (fd) => recvSync(fd as number, buf, undefined, 0)],
  ['sendSync', (fd) => sendSync(fd as number, buf, undefined, 0)],
  ['recvfromSync', (fd) => recvfromSync(fd as number, buf, undefined, 0)],
  ['sendtoSync', (fd) => sendtoSync(fd as number, buf, undefined, 0, A4)],
  ['sendmsgSync', (fd) => sendmsgSync(fd as number, { iov: [buf] }, 0)],
  ['recvmsgSync', (fd) => recvmsgSync(fd as number, { iov: [buf] }, 0)],
  ['epoll_ctl', (fd) => epoll_ctl(epfd, EPOLL_CTL_ADD, fd as number, { events: EPOLLIN, data: 0 })],
  ['watch', (fd) => watch(fd as number, POLLIN, () => undefined)],
];
const ASYNC_FD_CALLS: [string, (fd: unknown) => unknown][] = [
  ['accept', (fd) => accept(fd as number)],
  ['connect', (fd) => connect(fd as number, A4)],
  ['read', (fd) => read(fd as number, buf)],
  ['write', (fd) => write(fd as number, buf)],
  ['recv', (fd) => recv(fd as number, buf, undefined, 0)],
  ['send', (fd) => send(fd as number, buf, undefined, 0)],
  ['recvfrom', (fd) => recvfrom(fd as number, buf, undefined, 0)],
  ['sendto', (fd) => sendto(fd as number, buf, undefined, 0, A4)],
  ['sendmsg', (fd) => sendmsg(fd as number, { iov: [buf] }, 0)],
  ['recvmsg', (fd) => recvmsg(fd as number, { iov: [buf] }, 0)],
];

describe('fd must be a non-negative int32', () => {
  describe.each(SYNC_FD_CALLS)('%s', (_name, call) => {
    it.each([...NOT_NUMBERS, ['undefined', undefined]])('fd %s is a TypeError naming "fd"', async (_s, bad) => {
      await expectThrow(() => call(bad), TypeError, /^The "fd" argument must be of type number\. Received /);
    });
    it.each(BAD_FDS_RANGE)('fd %s is a RangeError naming "fd"', async (_s, bad) => {
      await expectThrow(() => call(bad), RangeError, /^The value of "fd" is out of range\. It must be an integer >= 0 and <= 2147483647\. Received /);
    });
  });

  describe.each(ASYNC_FD_CALLS)('%s (Promise)', (_name, call) => {
    it.each([...NOT_NUMBERS, ['undefined', undefined]])('fd %s rejects with a TypeError naming "fd"', async (_s, bad) => {
      await expectReject(() => call(bad), TypeError, /^The "fd" argument must be of type number/);
    });
    it.each(BAD_FDS_RANGE)('fd %s rejects with a RangeError naming "fd"', async (_s, bad) => {
      await expectReject(() => call(bad), RangeError, rangeMsg('fd'));
    });
  });

  it('quotes the value received', async () => {
    await expectThrow(() => close('7' as unknown as number), TypeError, /Received '7'$/);
    await expectThrow(() => close(-3), RangeError, /Received -3$/);
    await expectThrow(() => close(2.5), RangeError, /Received 2\.5$/);
    await expectThrow(() => close(null as unknown as number), TypeError, /Received null$/);
  });
});

// ---- Other int arguments -----------------------------------------------------------

const INT_ARGS: [string, string, (v: unknown) => unknown, boolean][] = [
  ['socket', 'domain', (v) => socket(v as number, SOCK_STREAM, 0), false],
  ['socket', 'type', (v) => socket(AF_INET, v as number, 0), false],
  ['socket', 'protocol', (v) => socket(AF_INET, SOCK_STREAM, v as number), true],
  ['socketpair', 'domain', (v) => socketpair(v as number, SOCK_STREAM, 0), false],
  ['socketpair', 'type', (v) => socketpair(AF_UNIX, v as number, 0), false],
  ['socketpair', 'protocol', (v) => socketpair(AF_UNIX, SOCK_STREAM, v as number), true],
  ['listen', 'backlog', (v) => listen(good, v as number), false],
  ['shutdown', 'how', (v) => shutdown(good, v as number), false],
  ['setsockopt', 'level', (v) => setsockopt(good, v as number, SO_REUSEADDR, 1), false],
  ['setsockopt', 'optname', (v) => setsockopt(good, SOL_SOCKET, v as number, 1), false],
  ['getsockopt', 'level', (v) => getsockopt(good, v as number, SO_REUSEADDR), false],
  ['getsockopt', 'optname', (v) => getsockopt(good, SOL_SOCKET, v as number), false],
  ['fcntl', 'cmd', (v) => fcntl(good, v as number), false],
  ['fcntl', 'arg', (v) => fcntl(good, F_SETFL, v as number), true],
  ['acceptSync', 'flags', (v) => acceptSync(good, v as number), true],
  ['recvSync', 'flags', (v) => recvSync(good, buf, undefined, v as number), true],
  ['sendSync', 'flags', (v) => sendSync(good, buf, undefined, v as number), true],
  ['recvfromSync', 'flags', (v) => recvfromSync(good, buf, undefined, v as number), true],
  ['sendtoSync', 'flags', (v) => sendtoSync(good, buf, undefined, v as number, AU), true],
  ['sendmsgSync', 'flags', (v) => sendmsgSync(good, { iov: [buf] }, v as number), true],
  ['recvmsgSync', 'flags', (v) => recvmsgSync(good, { iov: [buf] }, v as number), true],
  ['recvmsgSync', 'msg.controllen', (v) => recvmsgSync(good, { iov: [buf], controllen: v as number }, 0), true],
  ['CMSG_SPACE', 'length', (v) => CMSG_SPACE(v as number), false],
  ['CMSG_LEN', 'length', (v) => CMSG_LEN(v as number), false],
  ['pollSync', 'timeoutMs', (v) => pollSync([], v as number), false],
  ['epoll_create1', 'flags', (v) => epoll_create1(v as number), true],
  ['epoll_ctl', 'epfd', (v) => epoll_ctl(v as number, EPOLL_CTL_ADD, good, { events: EPOLLIN, data: 0 }), false],
  ['epoll_ctl', 'op', (v) => epoll_ctl(epfd, v as number, good, { events: EPOLLIN, data: 0 }), false],
  ['epoll_waitSync', 'epfd', (v) => epoll_waitSync(v as number, 1, 0), false],
  ['epoll_waitSync', 'maxevents', (v) => epoll_waitSync(epfd, v as number, 0), false],
  ['epoll_waitSync', 'timeoutMs', (v) => epoll_waitSync(epfd, 1, v as number), false],
  ['watch', 'events', (v) => watch(good, v as number, () => undefined), false],
];
const ASYNC_INT_ARGS: [string, string, (v: unknown) => unknown][] = [
  ['accept', 'opts.flags', (v) => accept(good, { flags: v as number })],
  ['recv', 'flags', (v) => recv(good, buf, undefined, v as number)],
  ['send', 'flags', (v) => send(good, buf, undefined, v as number)],
  ['recvfrom', 'flags', (v) => recvfrom(good, buf, undefined, v as number)],
  ['sendto', 'flags', (v) => sendto(good, buf, undefined, v as number, AU)],
  ['sendmsg', 'flags', (v) => sendmsg(good, { iov: [buf] }, v as number)],
  ['recvmsg', 'flags', (v) => recvmsg(good, { iov: [buf] }, v as number)],
  ['recvmsg', 'msg.controllen', (v) => recvmsg(good, { iov: [buf], controllen: v as number }, 0)],
  ['poll', 'timeoutMs', (v) => poll([], v as number)],
  ['epoll_wait', 'epfd', (v) => epoll_wait(v as number, 1, 0)],
  ['epoll_wait', 'maxevents', (v) => epoll_wait(epfd, v as number, 0)],
  ['epoll_wait', 'timeoutMs', (v) => epoll_wait(epfd, 1, v as number)],
];

describe('int arguments', () => {
  describe.each(INT_ARGS)('%s: %s', (_fn, name, call, optional) => {
    const notNumbers = optional ? NOT_NUMBERS : [...NOT_NUMBERS, ['undefined', undefined] as [string, unknown]];
    it.each(notNumbers)('%s is a TypeError naming it', async (_s, bad) => {
      await expectThrow(() => call(bad), TypeError, typeMsg(name));
    });
    it.each(NOT_INTS)('%s is a RangeError naming it', async (_s, bad) => {
      await expectThrow(() => call(bad), RangeError, rangeMsg(name));
    });
  });

  describe.each(ASYNC_INT_ARGS)('%s (Promise): %s', (_fn, name, call) => {
    it.each(NOT_NUMBERS)('%s rejects with a TypeError naming it', async (_s, bad) => {
      await expectReject(() => call(bad), TypeError, typeMsg(name));
    });
    it.each(NOT_INTS)('%s rejects with a RangeError naming it', async (_s, bad) => {
      await expectReject(() => call(bad), RangeError, rangeMsg(name));
    });
  });

  it('fcntl with a command it does not support is a RangeError naming "cmd"', async () => {
    for (const cmd of [5 /* F_GETLK */, 6 /* F_SETLK */, 1030 /* F_DUPFD_CLOEXEC */, 0 /* F_DUPFD */, 9999, -1]) {
      await expectThrow(() => fcntl(good, cmd), RangeError,
        /^The "cmd" argument must be F_GETFL, F_SETFL, F_GETFD or F_SETFD\. Received/);
    }
    // The supported ones pass validation.
    expect(fcntl(good, F_GETFL) & 0).toBe(0);
    expect(fcntl(good, F_SETFD, fcntl(good, F_GETFD))).toBe(0);
  });

  it('getsockopt buflen must be an int from 0 to 65536', async () => {
    for (const bad of [-1, 65537, 1.5, NaN]) {
      await expectThrow(() => getsockopt(good, SOL_SOCKET, SO_REUSEADDR, bad), RangeError, rangeMsg('buflen'));
    }
    await expectThrow(() => getsockopt(good, SOL_SOCKET, SO_REUSEADDR, '4' as unknown as number), TypeError,
      typeMsg('buflen'));
  });

  it('setsockopt value: a number must be an int32; other non-views are TypeErrors', async () => {
    for (const bad of [1.5, NaN, 2 ** 31, Infinity]) {
      await expectThrow(() => setsockopt(good, SOL_SOCKET, SO_REUSEADDR, bad), RangeError, rangeMsg('value'));
    }
    for (const bad of ['1', null, undefined, {}, 1n, new ArrayBuffer(4)]) {
      await expectThrow(() => setsockopt(good, SOL_SOCKET, SO_REUSEADDR, bad as number), TypeError, typeMsg('value'));
    }
  });
});

// ---- Buffers ---------------------------------------------------------------------------

const SYNC_BUF_CALLS: [string, string, (b: unknown, n?: unknown) => unknown][] = [
  ['readSync', 'nbytes', (b, n) => readSync(good, b as Buffer, n as number)],
  ['writeSync', 'nbytes', (b, n) => writeSync(good, b as Buffer, n as number)],
  ['recvSync', 'len', (b, n) => recvSync(good, b as Buffer, n as number, 0)],
  ['sendSync', 'len', (b, n) => sendSync(good, b as Buffer, n as number, 0)],
  ['recvfromSync', 'len', (b, n) => recvfromSync(good, b as Buffer, n as number, 0)],
  ['sendtoSync', 'len', (b, n) => sendtoSync(good, b as Buffer, n as number, 0, AU)],
];
const ASYNC_BUF_CALLS: [string, string, (b: unknown, n?: unknown) => unknown][] = [
  ['read', 'nbytes', (b, n) => read(good, b as Buffer, n as number)],
  ['write', 'nbytes', (b, n) => write(good, b as Buffer, n as number)],
  ['recv', 'len', (b, n) => recv(good, b as Buffer, n as number, 0)],
  ['send', 'len', (b, n) => send(good, b as Buffer, n as number, 0)],
  ['recvfrom', 'len', (b, n) => recvfrom(good, b as Buffer, n as number, 0)],
  ['sendto', 'len', (b, n) => sendto(good, b as Buffer, n as number, 0, AU)],
];

describe('buf and nbytes/len', () => {
  describe.each(SYNC_BUF_CALLS)('%s', (_fn, nName, call) => {
    it.each(NOT_VIEWS)('buf %s is a TypeError naming "buf"', async (_s, bad) => {
      await expectThrow(() => call(bad), TypeError,
        /^The "buf" argument must be an instance of Buffer, TypedArray or DataView\. Received /);
    });
    it(`${nName} larger than byteLength is a RangeError naming "${nName}"`, async () => {
      await expectThrow(() => call(Buffer.alloc(4), 5), RangeError,
        new RegExp(`^The value of "${nName}" is out of range\\. It must be an integer >= 0 and <= 4\\. Received 5$`));
      // byteLength of the view, not of its backing store.
      await expectThrow(() => call(Buffer.alloc(16).subarray(10), 7), RangeError, rangeMsg(nName));
      await expectThrow(() => call(new Uint16Array(new ArrayBuffer(16), 4, 2), 5), RangeError, /<= 4\. Received 5$/);
    });
    it(`${nName} negative, fractional or NaN is a RangeError; a string is a TypeError`, async () => {
      for (const bad of [-1, 1.5, NaN]) await expectThrow(() => call(Buffer.alloc(4), bad), RangeError, rangeMsg(nName));
      await expectThrow(() => call(Buffer.alloc(4), '2'), TypeError, typeMsg(nName));
      await expectThrow(() => call(Buffer.alloc(4), null), TypeError, typeMsg(nName));
    });
    it('a detached buffer is a TypeError', async () => {
      await expectThrow(() => call(detached()), TypeError, /"buf".*detached/);
    });
    it('a view of a resizable ArrayBuffer or growable SharedArrayBuffer is a TypeError', async () => {
      await expectThrow(() => call(resizable()), TypeError, /"buf".*resizable or growable/);
      await expectThrow(() => call(growable()), TypeError, /"buf".*resizable or growable/);
    });
  });

  describe.each(ASYNC_BUF_CALLS)('%s (Promise)', (_fn, nName, call) => {
    it.each(NOT_VIEWS)('buf %s rejects with a TypeError naming "buf"', async (_s, bad) => {
      await expectReject(() => call(bad), TypeError, typeMsg('buf'));
    });
    it(`${nName} larger than byteLength rejects with a RangeError`, async () => {
      await expectReject(() => call(Buffer.alloc(4), 5), RangeError, rangeMsg(nName));
      await expectReject(() => call(Buffer.alloc(4), '1'), TypeError, typeMsg(nName));
    });
    it('a detached buffer rejects with a TypeError', async () => {
      await expectReject(() => call(detached()), TypeError, /"buf".*detached/);
    });
    it('a resizable buffer rejects with a TypeError', async () => {
      await expectReject(() => call(resizable()), TypeError, /"buf".*resizable/);
    });
    it('a view whose own buffer/byteLength properties lie is judged by its real memory', async () => {
      await expectReject(() => call(disguised(resizable())), TypeError, /"buf".*resizable/);
      await expectReject(() => call(disguised(detached())), TypeError, /"buf".*detached/);
      await expectReject(() => call(disguised(new Uint8Array(4)), 5), RangeError, /<= 4\. Received 5$/);
    });
  });

  it('the memory an async call uses stays put: a transfer of it, even disguised or from another realm, copies it', async () => {
    const { MessageChannel } = await import('node:worker_threads');
    const { runInNewContext } = await import('node:vm');
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, 0);
    try {
      const real = new ArrayBuffer(8);
      const views = [disguised(new Uint8Array(real)), runInNewContext('new Uint8Array(8)') as Uint8Array];
      for (const view of views) {
        const backing = (Object.getPrototypeOf(Uint8Array.prototype).__lookupGetter__('buffer') as () => ArrayBuffer).call(view);
        const p = read(a, view);
        const port = new MessageChannel().port1;
        try {
          port.postMessage(backing, [backing]);
        } catch {
          // Newer Node refuses an untransferable buffer outright: as good.
        }
        port.close();
        expect(backing.byteLength).toBe(8);
        writeSync(b, Buffer.from('12345678'));
        expect(await p).toBe(8);
        expect(Buffer.from(backing).toString()).toBe('12345678');
      }
    } finally {
      close(a);
      close(b);
    }
  });

  it('setsockopt value: a detached or resizable view is a TypeError naming "value"', async () => {
    await expectThrow(() => setsockopt(good, SOL_SOCKET, SO_REUSEADDR, detached()), TypeError, /"value".*detached/);
    await expectThrow(() => setsockopt(good, SOL_SOCKET, SO_REUSEADDR, resizable()), TypeError, /"value".*resizable/);
  });
});

// ---- Addresses -----------------------------------------------------------------------

const SYNC_ADDR_CALLS: [string, string, (a: unknown) => unknown][] = [
  ['bind', 'addr', (a) => bind(good, a as Sockaddr)],
  ['connectSync', 'addr', (a) => connectSync(good, a as Sockaddr)],
  ['sendtoSync', 'destAddr', (a) => sendtoSync(good, buf, undefined, 0, a as Sockaddr)],
];
const ASYNC_ADDR_CALLS: [string, string, (a: unknown) => unknown][] = [
  ['connect', 'addr', (a) => connect(good, a as Sockaddr)],
  ['sendto', 'destAddr', (a) => sendto(good, buf, undefined, 0, a as Sockaddr)],
];
const BAD_ADDRS: [string, unknown, ErrorType, (n: string) => RegExp][] = [
  ['null', null, TypeError, (n) => new RegExp(`"${n}" argument must be a socket address object`)],
  ['undefined', undefined, TypeError, (n) => new RegExp(`"${n}" argument must be a socket address object`)],
  ["'127.0.0.1:80'", '127.0.0.1:80', TypeError, (n) => typeMsg(n)],
  ['{}', {}, TypeError, (n) => typeMsg(`${n}.family`)],
  ["family '2'", { family: '2', address: '127.0.0.1', port: 1 }, TypeError, (n) => typeMsg(`${n}.family`)],
  ['family 1.5', { family: 1.5, path: '/x' }, RangeError, (n) => rangeMsg(`${n}.family`)],
  ['an unknown family', { family: 9999 }, RangeError, (n) => typeMsg(`${n}.family`)],
  ['a numeric address', { family: AF_INET, address: 0x7f000001, port: 1 }, TypeError, (n) => typeMsg(`${n}.address`)],
  ['a bad IPv4 address', { family: AF_INET, address: '127.0.0.256', port: 1 }, TypeError, (n) => typeMsg(`${n}.address`)],
  ['port -1', { family: AF_INET, address: '127.0.0.1', port: -1 }, RangeError, (n) => rangeMsg(`${n}.port`)],
  ['port 65536', { family: AF_INET, address: '127.0.0.1', port: 65536 }, RangeError, (n) => rangeMsg(`${n}.port`)],
  ["port '80'", { family: AF_INET, address: '127.0.0.1', port: '80' }, TypeError, (n) => typeMsg(`${n}.port`)],
  ['no port', { family: AF_INET, address: '127.0.0.1' }, TypeError, (n) => typeMsg(`${n}.port`)],
];

describe('socket addresses', () => {
  describe.each(SYNC_ADDR_CALLS)('%s', (_fn, name, call) => {
    it.each(BAD_ADDRS)('%s is rejected naming the argument', async (_s, bad, type, msg) => {
      await expectThrow(() => call(bad), type, msg(name));
    });
  });

  describe.each(ASYNC_ADDR_CALLS)('%s (Promise)', (_fn, name, call) => {
    it.each(BAD_ADDRS)('%s rejects naming the argument', async (_s, bad, type, msg) => {
      await expectReject(() => call(bad), type, msg(name));
    });
  });

  it('a family that does not match the socket is a TypeError (sync) / rejection (async)', async () => {
    const udp = track(socket(AF_INET, SOCK_DGRAM, 0));
    const unix = { family: AF_UNIX, path: '/tmp/nowhere' };
    await expectThrow(() => bind(udp, unix), TypeError, /"addr\.family".*does not match/);
    await expectThrow(() => connectSync(udp, unix), TypeError, /"addr\.family".*does not match/);
    await expectThrow(() => sendtoSync(udp, buf, undefined, 0, unix), TypeError, /"destAddr\.family".*does not match/);
    await expectReject(() => connect(udp, unix), TypeError, /"addr\.family".*does not match/);
    await expectReject(() => sendto(udp, buf, undefined, 0, unix), TypeError, /"destAddr\.family".*does not match/);
  });
});

// ---- sendmsg / recvmsg: struct msghdr and the control messages -------------------

const RIGHTS = { level: SOL_SOCKET, type: SCM_RIGHTS };
const BAD_MSGS: [string, unknown, ErrorType, RegExp][] = [
  ['msg null', null, TypeError, /"msg" argument must be an object/],
  ["msg 'x'", 'x', TypeError, /"msg" argument must be an object/],
  ['no iov', {}, TypeError, /"msg\.iov" property must be an array/],
  ['iov a Buffer, not an array of them', { iov: Buffer.alloc(4) }, TypeError, /"msg\.iov" property must be an array/],
  ['a string in iov', { iov: [Buffer.alloc(1), 'abc'] }, TypeError, /"msg\.iov\[1\]" argument must be an instance of Buffer/],
  ['an ArrayBuffer in iov', { iov: [new ArrayBuffer(4)] }, TypeError, /"msg\.iov\[0\]"/],
  ['a hole in iov', { iov: [, Buffer.alloc(1)] }, TypeError, /"msg\.iov\[0\]"/],
  ['a detached view in iov', { iov: [] as unknown[] }, TypeError, /"msg\.iov\[0\]".*detached/],
  ['more than IOV_MAX views', { iov: [] as unknown[] }, RangeError, /"msg\.iov" property has \d+ entries, more than IOV_MAX/],
];

const BAD_CONTROL: [string, unknown, ErrorType, RegExp][] = [
  ['control not an array', { level: 1 }, TypeError, /"msg\.control" property must be an array/],
  ['an entry null', [null], TypeError, /"msg\.control\[0\]" argument must be an object/],
  ["level '1'", [{ level: '1', type: 1, data: Buffer.alloc(1) }], TypeError, typeMsg('msg.control[0].level')],
  ['type 1.5', [{ level: 1, type: 1.5, data: Buffer.alloc(1) }], RangeError, rangeMsg('msg.control[0].type')],
  ['no data for an unknown type', [{ level: 9999, type: 1, data: undefined }], TypeError, /"msg\.control\[0\]\.data" property must be a Buffer, TypedArray or DataView for level 9999/],
  ['an object for an unknown type', [{ level: 9999, type: 1, data: { fds: [3] } }], TypeError, /"msg\.control\[0\]\.data"/],
  ['a detached view as data', [{ level: 9999, type: 1, data: null }], TypeError, /"msg\.control\[0\]\.data".*detached/],
  ['65537 bytes of data', [{ level: 9999, type: 1, data: Buffer.alloc(65537) }], RangeError, /"msg\.control\[0\]\.data" property is 65537 bytes, more than 65536/],
  ['65 messages', Array(65).fill({ level: 9999, type: 1, data: Buffer.alloc(1) }), RangeError, /"msg\.control" property has 65 messages, more than 64/],
];

describe('sendmsg / recvmsg: msg', () => {
  const sendCalls: [string, (m: unknown) => unknown, boolean][] = [
    ['sendmsgSync', (m) => sendmsgSync(good, m as never, 0), false],
    ['recvmsgSync', (m) => recvmsgSync(good, m as never, 0), false],
    ['sendmsg', (m) => sendmsg(good, m as never, 0), true],
    ['recvmsg', (m) => recvmsg(good, m as never, 0), true],
  ];
  const fill = (msg: unknown, name: string): unknown => {
    if (name === 'a detached view in iov') return { iov: [detached()] };
    if (name === 'more than IOV_MAX views') return { iov: Array(IOV_MAX + 1).fill(buf) };
    return msg;
  };
  describe.each(sendCalls)('%s', (_fn, call, async) => {
    it.each(BAD_MSGS)('%s', async (name, msg, type, re) => {
      const m = fill(msg, name);
      if (async) await expectReject(() => call(m), type, re);
      else await expectThrow(() => call(m), type, re);
    });
    it('a view over a resizable buffer in iov is a TypeError', async () => {
      if (async) await expectReject(() => call({ iov: [resizable()] }), TypeError, /"msg\.iov\[0\]".*resizable/);
      else await expectThrow(() => call({ iov: [resizable()] }), TypeError, /"msg\.iov\[0\]".*resizable/);
    });
  });

  describe.each([
    ['sendmsgSync', (c: unknown) => sendmsgSync(good, { iov: [buf], control: c as never }, 0), false],
    ['sendmsg', (c: unknown) => sendmsg(good, { iov: [buf], control: c as never }, 0), true],
  ] as const)('%s: msg.control', (_fn, call, async) => {
    it.each(BAD_CONTROL)('%s', async (name, control, type, re) => {
      const c = name === 'a detached view as data' ? [{ level: 9999, type: 1, data: detached() }] : control;
      if (async) await expectReject(() => call(c), type, re);
      else await expectThrow(() => call(c), type, re);
    });
  });

  it('SCM_RIGHTS data: an array of non-negative int fds, at most 16384', async () => {
    const cm = (data: unknown) => ({ iov: [buf], control: [{ level: RIGHTS.level, type: RIGHTS.type, data }] }) as never;
    await expectThrow(() => sendmsgSync(good, cm({ fd: 3 }), 0), TypeError, /"msg\.control\[0\]\.data" property must be an array of fds/);
    await expectThrow(() => sendmsgSync(good, cm([good, -1]), 0), RangeError, rangeMsg('msg.control[0].data[1]'));
    await expectThrow(() => sendmsgSync(good, cm([1.5]), 0), RangeError, rangeMsg('msg.control[0].data[0]'));
    await expectThrow(() => sendmsgSync(good, cm(['3']), 0), TypeError, typeMsg('msg.control[0].data[0]'));
    await expectThrow(() => sendmsgSync(good, cm(Array(16385).fill(good)), 0), RangeError, /has 16385 fds, more than 16384/);
    await expectReject(() => sendmsg(good, cm([-1]), 0), RangeError, rangeMsg('msg.control[0].data[0]'));
  });

  it.skipIf(SCM_CREDENTIALS === undefined)('SCM_CREDENTIALS data: { pid, uid, gid } integers', async () => {
    const cm = (data: unknown) => ({ iov: [buf], control: [{ level: RIGHTS.level, type: SCM_CREDENTIALS, data }] }) as never;
    await expectThrow(() => sendmsgSync(good, cm(null), 0), TypeError, /"msg\.control\[0\]\.data" argument must be an object/);
    await expectThrow(() => sendmsgSync(good, cm({ uid: 0, gid: 0 }), 0), TypeError, typeMsg('msg.control[0].data.pid'));
    await expectThrow(() => sendmsgSync(good, cm({ pid: 1, uid: -1, gid: 0 }), 0), RangeError, rangeMsg('msg.control[0].data.uid'));
    await expectThrow(() => sendmsgSync(good, cm({ pid: 1, uid: 0, gid: 2 ** 32 }), 0), RangeError, rangeMsg('msg.control[0].data.gid'));
  });

  it.skipIf(IP_PKTINFO === undefined)('IP_PKTINFO / IPV6_PKTINFO data: ifindex an int >= 0, addresses of the right family', async () => {
    const cm = (level: number, type: number, data: unknown) => ({ iov: [buf], control: [{ level, type, data }] }) as never;
    await expectThrow(() => sendmsgSync(good, cm(IPPROTO_IP, IP_PKTINFO, { ifindex: -1 }), 0), RangeError, rangeMsg('msg.control[0].data.ifindex'));
    await expectThrow(() => sendmsgSync(good, cm(IPPROTO_IP, IP_PKTINFO, { ifindex: 0, specDst: '::1' }), 0), TypeError, /"msg\.control\[0\]\.data\.specDst" property must be an IPv4 address/);
    await expectThrow(() => sendmsgSync(good, cm(IPPROTO_IP, IP_PKTINFO, { ifindex: 0, address: 42 }), 0), TypeError, /"msg\.control\[0\]\.data\.address"/);
    await expectThrow(() => sendmsgSync(good, cm(IPPROTO_IPV6, IPV6_PKTINFO, { ifindex: 0, address: '127.0.0.1' }), 0), TypeError, /"msg\.control\[0\]\.data\.address" property must be an IPv6 address/);
    await expectThrow(() => sendmsgSync(good, cm(IPPROTO_IPV6, IPV6_PKTINFO, 'x'), 0), TypeError, /"msg\.control\[0\]\.data" argument must be an object/);
    // The zone is not part of in6_pktinfo (ifindex is), as msg.name refuses one too.
    await expectThrow(() => sendmsgSync(good, cm(IPPROTO_IPV6, IPV6_PKTINFO, { ifindex: 0, address: 'fe80::1%lo' }), 0), TypeError, /"msg\.control\[0\]\.data\.address" property must be an IPv6 address/);
  });

  it('a length that changes between reads (a Proxy) is read once: no more messages or fds than first counted', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, 0);
    track(a);
    track(b);
    /** An array whose length is `n` the first time it is asked, then 100000. */
    const lying = <T>(items: T[]): T[] => {
      let asked = 0;
      return new Proxy(items, { get: (t, k, r) => (k === 'length' ? (asked++ === 0 ? items.length : 100_000) : Reflect.get(t, k, r)) });
    };
    const fds = lying([a]);
    const control = lying([{ level: SOL_SOCKET, type: SCM_RIGHTS, data: fds }]);
    expect(sendmsgSync(a, { iov: [buf.subarray(0, 1)], control }, 0)).toBe(1);
    const r = recvmsgSync(b, { iov: [Buffer.alloc(1)] }, 0);
    expect(r.control).toHaveLength(1);
    expect(r.control[0].data).toHaveLength(1);
    close((r.control[0].data as number[])[0]);
  });

  it.each([['sendmsg', sendmsg], ['recvmsg', recvmsg]] as const)('%s that rejects on a bad opts leaves its iov buffer transferable (keepForWorker comes after every check)', async (_fn, call) => {
    const view = new Uint8Array(new ArrayBuffer(8));
    await expectReject(() => call(good, { iov: [view] }, 0, { timeout: -1 }), RangeError, rangeMsg('opts.timeout'));
    expect(() => structuredClone(view.buffer, { transfer: [view.buffer] })).not.toThrow();
    expect(view.buffer.byteLength).toBe(0); // Transferred: it was not marked.
  });

  it.each([
    ['read', (v: Uint8Array) => read(good, v, undefined, { timeout: -1 })],
    ['write', (v: Uint8Array) => write(good, v, undefined, { timeout: -1 })],
    ['recv', (v: Uint8Array) => recv(good, v, v.length, 0, { timeout: -1 })],
    ['send', (v: Uint8Array) => send(good, v, v.length, 0, { timeout: -1 })],
    ['recvfrom', (v: Uint8Array) => recvfrom(good, v, v.length, 0, { timeout: -1 })],
    ['sendto', (v: Uint8Array) => sendto(good, v, v.length, 0, AU, { timeout: -1 })],
  ] as const)('%s that rejects on a bad opts leaves its buffer transferable', async (_fn, call) => {
    const view = new Uint8Array(new ArrayBuffer(8));
    await expectReject(() => call(view), RangeError, rangeMsg('opts.timeout'));
    structuredClone(view.buffer, { transfer: [view.buffer] });
    expect(view.buffer.byteLength).toBe(0); // Transferred: it was not marked.
  });

  it('msg.controllen: an int from 0 to 65536', async () => {
    for (const bad of [-1, 65537, 2 ** 31]) {
      await expectThrow(() => recvmsgSync(good, { iov: [buf], controllen: bad }, 0), RangeError, rangeMsg('msg.controllen'));
      await expectReject(() => recvmsg(good, { iov: [buf], controllen: bad }, 0), RangeError, rangeMsg('msg.controllen'));
    }
  });

  it('CMSG_SPACE / CMSG_LEN: length from 0 to 65536', async () => {
    for (const bad of [-1, 65537]) {
      await expectThrow(() => CMSG_SPACE(bad), RangeError, rangeMsg('length'));
      await expectThrow(() => CMSG_LEN(bad), RangeError, rangeMsg('length'));
    }
  });

  it('msg.name: a bad address is rejected naming "msg.name"', async () => {
    for (const [, bad, type, msg] of BAD_ADDRS.filter(([n]) => n !== 'undefined')) {
      await expectThrow(() => sendmsgSync(good, { iov: [buf], name: bad as Sockaddr }, 0), type, msg('msg.name'));
      await expectReject(() => sendmsg(good, { iov: [buf], name: bad as Sockaddr }, 0), type, msg('msg.name'));
    }
  });
});

// ---- poll ---------------------------------------------------------------------------

const BAD_POLL: [string, unknown, unknown, ErrorType, RegExp][] = [
  ['fds not an array', { fd: 3, events: POLLIN }, 0, TypeError, /"fds" argument must be an array/],
  ['fds null', null, 0, TypeError, /"fds"/],
  ['an entry null', [null], 0, TypeError, /"fds\[0\]" element must be an object/],
  ['an entry a number', [{ fd: 0, events: POLLIN }, 3], 0, TypeError, /"fds\[1\]"/],
  ["fd '3'", [{ fd: '3', events: POLLIN }], 0, TypeError, typeMsg('fds[0].fd')],
  ['fd 1.5', [{ fd: 1.5, events: POLLIN }], 0, RangeError, rangeMsg('fds[0].fd')],
  ['no events', [{ fd: 0 }], 0, TypeError, typeMsg('fds[0].events')],
  ['events -1', [{ fd: 0, events: -1 }], 0, RangeError, rangeMsg('fds[0].events')],
  ['events 0x8000', [{ fd: 0, events: 0x8000 }], 0, RangeError, rangeMsg('fds[0].events')],
  ['timeoutMs -2', [], -2, RangeError, rangeMsg('timeoutMs')],
  ["timeoutMs '0'", [], '0', TypeError, typeMsg('timeoutMs')],
  ['timeoutMs undefined', [], undefined, TypeError, typeMsg('timeoutMs')],
];

describe('poll', () => {
  it.each(BAD_POLL)('pollSync: %s', async (_s, fds, timeout, type, msg) => {
    await expectThrow(() => pollSync(fds as never, timeout as number), type, msg);
  });
  it.each(BAD_POLL)('poll (Promise): %s rejects', async (_s, fds, timeout, type, msg) => {
    await expectReject(() => poll(fds as never, timeout as number), type, msg);
  });
});

// ---- getaddrinfo ------------------------------------------------------------------------

const BAD_GAI: [string, unknown[], ErrorType, RegExp][] = [
  ['node 42', [42, '80'], TypeError, /"node" argument must be a string or null/],
  ['node {}', [{}, '80'], TypeError, /"node"/],
  ['service 80', ['127.0.0.1', 80], TypeError, /"service" argument must be a string or null/],
  ['node with a NUL', ['127.0.0.1\0evil', '80'], TypeError, /"node".*NUL/],
  ['service with a NUL', ['127.0.0.1', '80\0'], TypeError, /"service".*NUL/],
  ['hints null', ['127.0.0.1', '80', null], TypeError, /"hints" argument must be an object/],
  ["hints 'x'", ['127.0.0.1', '80', 'x'], TypeError, /"hints"/],
  ["hints.flags '1'", ['127.0.0.1', '80', { flags: '1' }], TypeError, typeMsg('hints.flags')],
  ['hints.family 1.5', ['127.0.0.1', '80', { family: 1.5 }], RangeError, rangeMsg('hints.family')],
  ['hints.socktype null', ['127.0.0.1', '80', { socktype: null }], TypeError, typeMsg('hints.socktype')],
  ['hints.protocol NaN', ['127.0.0.1', '80', { protocol: NaN }], RangeError, rangeMsg('hints.protocol')],
];

describe('getaddrinfo', () => {
  it.each(BAD_GAI)('getaddrinfoSync: %s', async (_s, args, type, msg) => {
    await expectThrow(() => (getaddrinfoSync as (...a: unknown[]) => unknown)(...args), type, msg);
  });
  it.each(BAD_GAI)('getaddrinfo (Promise): %s rejects', async (_s, args, type, msg) => {
    await expectReject(() => (getaddrinfo as (...a: unknown[]) => unknown)(...args), type, msg);
  });
});

// ---- opts of every async call ----------------------------------------------------------------

const ASYNC_OPTS_CALLS: [string, (opts: unknown) => unknown][] = [
  ['accept', (o) => accept(good, o as never)],
  ['connect', (o) => connect(good, AU, o as never)],
  ['read', (o) => read(good, buf, undefined, o as never)],
  ['write', (o) => write(good, buf, undefined, o as never)],
  ['recv', (o) => recv(good, buf, undefined, 0, o as never)],
  ['send', (o) => send(good, buf, undefined, 0, o as never)],
  ['recvfrom', (o) => recvfrom(good, buf, undefined, 0, o as never)],
  ['sendto', (o) => sendto(good, buf, undefined, 0, AU, o as never)],
  ['sendmsg', (o) => sendmsg(good, { iov: [buf] }, 0, o as never)],
  ['recvmsg', (o) => recvmsg(good, { iov: [buf] }, 0, o as never)],
  ['poll', (o) => poll([], 0, o as never)],
  ['epoll_wait', (o) => epoll_wait(epfd, 1, 0, o as never)],
  ['getaddrinfo', (o) => getaddrinfo('127.0.0.1', '80', {}, o as never)],
];
const BAD_OPTS: [string, unknown, ErrorType, RegExp][] = [
  ["'x'", 'x', TypeError, /"opts" argument must be an object/],
  ['null', null, TypeError, /"opts" argument must be an object/],
  ['signal {}', { signal: {} }, TypeError, /"opts\.signal" property must be an AbortSignal/],
  ['timeout -1', { timeout: -1 }, RangeError, rangeMsg('opts.timeout')],
  ['timeout 1.5', { timeout: 1.5 }, RangeError, rangeMsg('opts.timeout')],
  ["timeout '10'", { timeout: '10' }, TypeError, typeMsg('opts.timeout')],
];

describe('opts', () => {
  describe.each(ASYNC_OPTS_CALLS)('%s', (_fn, call) => {
    it.each(BAD_OPTS)('opts %s rejects naming it', async (_s, bad, type, msg) => {
      await expectReject(() => call(bad), type, msg);
    });
  });
});

// ---- epoll and watch: ranges beyond "an int32" ----------------------------------------------

describe('epoll and watch', () => {
  it('epoll_ctl: event must be an object; event.data an integer from 0 to 2^53-1', async () => {
    for (const bad of [null, 'x', 5]) {
      await expectThrow(() => epoll_ctl(epfd, EPOLL_CTL_ADD, good, bad as never), TypeError, /"event" argument must be an object/);
    }
    for (const bad of [-1, 1.5, 2 ** 53, NaN]) {
      await expectThrow(() => epoll_ctl(epfd, EPOLL_CTL_ADD, good, { events: EPOLLIN, data: bad }), RangeError,
        rangeMsg('event.data'));
    }
    await expectThrow(() => epoll_ctl(epfd, EPOLL_CTL_ADD, good, { events: EPOLLIN, data: '1' as unknown as number }),
      TypeError, typeMsg('event.data'));
    // event.events is a 32-bit mask (EPOLLET is bit 31): signed or unsigned, but an integer that fits.
    for (const bad of [1.5, NaN, 2 ** 32, -(2 ** 31) - 1]) {
      await expectThrow(() => epoll_ctl(epfd, EPOLL_CTL_ADD, good, { events: bad, data: 0 }), RangeError,
        rangeMsg('event.events'));
    }
    for (const bad of ['1', null, undefined]) {
      await expectThrow(() => epoll_ctl(epfd, EPOLL_CTL_ADD, good, { events: bad as unknown as number, data: 0 }),
        TypeError, typeMsg('event.events'));
    }
  });

  it('epoll_wait(Sync): maxevents from 1 to 65536, timeoutMs >= -1', async () => {
    for (const bad of [0, -1, 65537]) {
      await expectThrow(() => epoll_waitSync(epfd, bad, 0), RangeError, rangeMsg('maxevents'));
      await expectReject(() => epoll_wait(epfd, bad, 0), RangeError, rangeMsg('maxevents'));
    }
    await expectThrow(() => epoll_waitSync(epfd, 1, -2), RangeError, rangeMsg('timeoutMs'));
    await expectReject(() => epoll_wait(epfd, 1, -2), RangeError, rangeMsg('timeoutMs'));
  });

  it('watch: events from 0 to 0x7fff; listener a function; update() checks its events too', async () => {
    for (const bad of [-1, 0x8000]) {
      await expectThrow(() => watch(good, bad, () => undefined), RangeError, rangeMsg('events'));
    }
    for (const bad of [undefined, null, 'f', {}]) {
      await expectThrow(() => watch(good, POLLIN, bad as never), TypeError, /"listener" argument must be of type function/);
    }
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    const w = watch(fd, 0, () => undefined);
    try {
      await expectThrow(() => w.update('x' as unknown as number), TypeError, typeMsg('events'));
      await expectThrow(() => w.update(-1), RangeError, rangeMsg('events'));
    } finally {
      w.close();
    }
  });
});

// ---- Struct-valued options and fdOf ------------------------------------------------------

describe('struct-valued options', () => {
  it('SO_RCVTIMEO/SO_SNDTIMEO: ms from 0 to 2^31-1; other types are TypeErrors naming the option', async () => {
    for (const opt of [SO_RCVTIMEO, SO_SNDTIMEO]) {
      for (const bad of [-1, NaN, Infinity, -Infinity, 2 ** 31]) {
        await expectThrow(() => setsockopt(good, SOL_SOCKET, opt, bad), RangeError, /"value" for SO_(RCV|SND)TIMEO is out of range/);
      }
      for (const bad of [true, '1', null, undefined, {}, 1n]) {
        await expectThrow(() => setsockopt(good, SOL_SOCKET, opt, bad as never), TypeError,
          /"value" argument for SO_(RCV|SND)TIMEO must be of type number \(milliseconds\)/);
      }
    }
  });

  it('SO_LINGER: an object { onoff, linger } with integer fields, linger >= 0', async () => {
    for (const bad of [1, true, null, undefined, 'x']) {
      await expectThrow(() => setsockopt(good, SOL_SOCKET, SO_LINGER, bad as never), TypeError, /"value" argument for SO_LINGER must be an object/);
    }
    await expectThrow(() => setsockopt(good, SOL_SOCKET, SO_LINGER, {} as never), TypeError, typeMsg('value.onoff'));
    await expectThrow(() => setsockopt(good, SOL_SOCKET, SO_LINGER, { onoff: 1.5, linger: 0 }), RangeError, rangeMsg('value.onoff'));
    await expectThrow(() => setsockopt(good, SOL_SOCKET, SO_LINGER, { onoff: 1 } as never), TypeError, typeMsg('value.linger'));
    for (const bad of [-1, 1.5, NaN, 2 ** 31]) {
      await expectThrow(() => setsockopt(good, SOL_SOCKET, SO_LINGER, { onoff: 1, linger: bad }), RangeError, rangeMsg('value.linger'));
    }
  });

  it.skipIf(process.platform !== 'linux')('SO_PEERCRED and TCP_INFO are read-only: a TypeError naming the option', async () => {
    await expectThrow(() => setsockopt(good, SOL_SOCKET, SO_PEERCRED, 0 as never), TypeError, /"optname" argument SO_PEERCRED is read-only/);
    await expectThrow(() => setsockopt(good, IPPROTO_TCP, TCP_INFO, {} as never), TypeError, /"optname" argument TCP_INFO is read-only/);
  });

  it('an undefined optname (a constant this platform lacks) says so', async () => {
    await expectThrow(() => getsockopt(good, SOL_SOCKET, undefined as never), TypeError, /"optname".*this platform does not define/);
    await expectThrow(() => setsockopt(good, SOL_SOCKET, undefined as never, 1), TypeError, /"optname".*this platform does not define/);
  });
});

describe('fdOf', () => {
  it.each([['5', 5], ['null', null], ['undefined', undefined], ['{}', {}], ["{ _handle: { fd: 3 } }", { _handle: { fd: 3 } }], ['a Buffer', Buffer.alloc(1)]])(
    '%s is a TypeError naming "socket"', async (_s, bad) => {
      await expectThrow(() => fdOf(bad as never), TypeError, /^The "socket" argument must be a net\.Socket, net\.Server or dgram\.Socket\. Received /);
    });

  it('a Node socket with no fd yet is a TypeError naming the problem', async () => {
    await expectThrow(() => fdOf(new net.Socket()), TypeError, /^The "socket" argument \(a net\.Socket\) has no fd/);
    await expectThrow(() => fdOf(net.createServer()), TypeError, /^The "socket" argument \(a net\.Server\) has no fd: not listening/);
  });
});

// ---- The rest of the exports ---------------------------------------------------------------

describe('other exports', () => {
  it('onTrace: a listener that is not a function is a TypeError naming "listener"', async () => {
    for (const bad of [undefined, null, 'f', {}]) {
      await expectThrow(() => onTrace(bad as never), TypeError, /"listener" argument must be of type function/);
    }
  });

  it('errnoName: a non-number or non-integer errno is a TypeError/RangeError naming "errno"', async () => {
    await expectThrow(() => errnoName('x' as unknown as number), TypeError, /errno/);
    await expectThrow(() => errnoName(1.5), RangeError, /errno/);
  });

  it('formatTrace: a record that is not a trace record is a TypeError naming "record"', async () => {
    const good = { syscall: 'read', args: [3, 8], result: 8, threadId: 1, mainThreadId: 1, queuedNs: 0, runNs: 5 };
    expect(formatTrace(good)).toBe('[tid 1 main] read(3, 8) = 8 ran 0.000ms');
    const wrongFields = [{ result: '8' }, { threadId: null }, { runNs: undefined }, { errno: 'EBADF' }, { detail: Symbol('x') }];
    for (const bad of [null, undefined, {}, 'x', ...wrongFields.map((f) => ({ ...good, ...f }))]) {
      await expectThrow(() => formatTrace(bad as never), TypeError, /"record"/);
    }
  });

  it('every exported function is covered by this file', () => {
    const covered = new Set([
      ...SYNC_FD_CALLS.map(([n]) => n.split(' ')[0]), ...ASYNC_FD_CALLS.map(([n]) => n),
      ...INT_ARGS.map(([n]) => n), ...ASYNC_INT_ARGS.map(([n]) => n), 'pollSync', 'poll',
      'getaddrinfoSync', 'getaddrinfo',
      'onTrace', 'errnoName', 'formatTrace', 'fdOf',
      'threadpool', // Takes no arguments.
      'SocketError', 'AbortError', // Classes (see errors.test.ts).
    ]);
    const exported = Object.entries(lib).filter(([, v]) => typeof v === 'function').map(([k]) => k);
    expect(exported.filter((name) => !covered.has(name))).toEqual([]);
  });
});
