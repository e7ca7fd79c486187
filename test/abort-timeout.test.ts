// opts.signal and opts.timeout on every blocking call: an abort rejects with
// an AbortError (name, code, cause), a timeout with SocketError ETIMEDOUT;
// both settle promptly, release the worker thread, and lose no bytes and no
// connections.
import { getEventListeners } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, AF_UNIX, AI_NUMERICHOST, AI_NUMERICSERV, EPOLLIN, EPOLL_CTL_ADD, MSG_DONTWAIT, POLLIN,
  POLLOUT, SHUT_WR, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM,
  AbortError, type CallOptions, type PollFd, type Sockaddr, SocketError, type TraceRecord,
  accept, bind, close, connect, connectSync, epoll_create1, epoll_ctl, epoll_wait, getaddrinfo, getpeername,
  getsockname, listen, onTrace, poll, pollSync, read, readSync, recv, recvSync, recvfrom, recvmsg, send, sendSync, sendmsg,
  sendto, sendtoSync, shutdown, socket, socketpair, threadpool, write,
} from '../lib/index';
import { Child, fixture, killChildren } from './fixtures/child';
import { sleep } from './helpers/fds';
import { type Family, closeAll, domainOf, fill, listener, tcpPair, track, udpPair, unixPath } from './helpers/pairs';

const E = os.constants.errno;
/** Generous bound for "promptly" (the contract aims at well under 100 ms). */
const PROMPT_MS = 500;

afterEach(async () => {
  await killChildren();
  closeAll();
  // Anything still on a worker after a test is a leak (or a failed test's call draining).
  for (let i = 0; i < 200 && threadpool().busy + threadpool().queued > 0; i++) await sleep(5);
  expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
});

/** Waits until `n` calls run on pool threads, then a little longer so they sit in poll(2). */
async function untilBusy(n: number): Promise<void> {
  for (let i = 0; i < 1000 && threadpool().busy < n; i++) await sleep(1);
  expect(threadpool().busy).toBe(n);
  await sleep(10);
}

interface Outcome {
  ok: boolean;
  value?: unknown;
  error?: unknown;
  /** performance.now() when the promise settled. */
  at: number;
}

function observe(p: Promise<unknown>): Promise<Outcome> {
  return p.then(
    (value) => ({ ok: true, value, at: performance.now() }),
    (error: unknown) => ({ ok: false, error, at: performance.now() }),
  );
}

/** Resolves with the outcome, or 'hung' after `ms`. */
function within(o: Promise<Outcome>, ms: number): Promise<Outcome | 'hung'> {
  return Promise.race([o, sleep(ms).then(() => 'hung' as const)]);
}

function expectAbortError(err: unknown, signal: AbortSignal): void {
  expect(err).toBeInstanceOf(AbortError);
  expect(err).toBeInstanceOf(Error);
  const e = err as AbortError;
  expect(e.name).toBe('AbortError');
  expect(e.code).toBe('ABORT_ERR');
  expect(e.cause).toBe(signal.reason);
}

/** Reads exactly `n` bytes (async), bounded in time; returns them. */
async function readExactly(fd: number, n: number): Promise<Buffer> {
  const out = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const r = await read(fd, out.subarray(got), n - got, { timeout: 5000 });
    if (r === 0) throw new Error(`EOF after ${got} of ${n} bytes`);
    got += r;
  }
  return out;
}

/** Nothing more arrives on fd within `ms`. */
function expectNothingMore(fd: number, ms = 50): void {
  const fds: PollFd[] = [{ fd, events: POLLIN }];
  expect(pollSync(fds, ms)).toBe(0);
}

/**
 * A TCP listener whose accept queue is full (backlog 0 holds one connection):
 * a further SYN is dropped, so a blocking connect() waits.
 */
function fullTcpBacklog(family: Family): Sockaddr {
  const fd = track(socket(domainOf(family), SOCK_STREAM, 0));
  bind(fd, family === 'ipv6' ? { family: AF_INET6, address: '::1', port: 0 } : { family: AF_INET, address: '127.0.0.1', port: 0 });
  listen(fd, 0);
  const addr = getsockname(fd);
  for (let i = 0; i < 8; i++) {
    const probe = socket(domainOf(family), SOCK_STREAM | SOCK_NONBLOCK, 0);
    try {
      connectSync(probe, addr);
    } catch (err) {
      expect((err as SocketError).code).toBe('EINPROGRESS');
    }
    const fds: PollFd[] = [{ fd: probe, events: POLLOUT }];
    if (pollSync(fds, 100) === 0) {
      close(probe); // Its SYN was dropped: the queue is full.
      return addr;
    }
    track(probe);
  }
  throw new Error('could not fill the accept queue');
}

/** A Unix stream listener with backlog 0 holding one connection: the next blocking connect waits. */
function fullUnixBacklog(): Sockaddr {
  const l = listener('unix', 0);
  for (let i = 0; i < 8; i++) {
    const probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    try {
      connectSync(probe, l.addr);
    } catch (err) {
      expect((err as SocketError).code).toBe('EAGAIN');
      close(probe);
      return l.addr;
    }
    track(probe);
  }
  throw new Error('could not fill the Unix backlog');
}

/**
 * A Unix datagram socketpair whose receiver never reads, bound to a path (so
 * sendto() and sendmsg() can name it), and whose sender was filled with
 * non-blocking sends until EAGAIN: the next blocking send waits for room.
 */
const DGRAM = 1024;
function fullDgramPair(): { sender: number; receiver: number; to: Sockaddr; queued: number } {
  const [sender, receiver] = socketpair(AF_UNIX, SOCK_DGRAM, 0);
  track(sender);
  track(receiver);
  const to: Sockaddr = { family: AF_UNIX, path: unixPath() };
  bind(receiver, to);
  const dgram = Buffer.alloc(DGRAM, 0x44);
  for (let queued = 0; queued < 100_000; queued++) {
    try {
      expect(sendSync(sender, dgram, undefined, MSG_DONTWAIT)).toBe(DGRAM);
    } catch (err) {
      if ((err as SocketError).code !== 'EAGAIN') throw err;
      expect(queued).toBeGreaterThan(0);
      return { sender, receiver, to, queued };
    }
  }
  throw new Error('the datagram queue never filled');
}

/**
 * An unconnected Unix datagram socket and a bound receiver that never reads,
 * whose queue (net.unix.max_dgram_qlen) the sender filled with non-blocking
 * sendto()s: the next blocking sendto() waits for the receiver. poll(2)
 * cannot show that wait: an unconnected socket has no peer to watch, so it
 * reports POLLOUT all along.
 */
function fullUnconnectedDgram(): { sender: number; receiver: number; to: Sockaddr; queued: number } {
  const sender = track(socket(AF_UNIX, SOCK_DGRAM, 0));
  const receiver = track(socket(AF_UNIX, SOCK_DGRAM, 0));
  const to: Sockaddr = { family: AF_UNIX, path: unixPath() };
  bind(receiver, to);
  const dgram = Buffer.alloc(DGRAM, 0x44);
  for (let queued = 0; queued < 100_000; queued++) {
    try {
      expect(sendtoSync(sender, dgram, undefined, MSG_DONTWAIT, to)).toBe(DGRAM);
    } catch (err) {
      if ((err as SocketError).code !== 'EAGAIN') throw err;
      expect(queued).toBeGreaterThan(0);
      expect(pollSync([{ fd: sender, events: POLLOUT }], 0)).toBe(1); // Writable, says poll.
      return { sender, receiver, to, queued };
    }
  }
  throw new Error('the receiver\'s queue never filled');
}

interface Blocked {
  syscall: string;
  /** The SocketError message for ETIMEDOUT. */
  message?: string;
  address?: string;
  port?: number;
  path?: string;
  start: (opts: CallOptions) => Promise<unknown>;
}

const SCENARIOS: [string, () => Blocked][] = [
  ['accept() on an IPv4 listener', () => {
    const l = listener('ipv4');
    return { syscall: 'accept', start: (o) => accept(l.fd, o) };
  }],
  ['accept() on a Unix listener', () => {
    const l = listener('unix');
    return { syscall: 'accept', start: (o) => accept(l.fd, o) };
  }],
  ['connect() to an IPv4 listener with a full backlog', () => {
    const addr = fullTcpBacklog('ipv4') as { address: string; port: number };
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    return {
      syscall: 'connect', message: `connect ETIMEDOUT 127.0.0.1:${addr.port}`, address: '127.0.0.1', port: addr.port,
      start: (o) => connect(fd, addr as Sockaddr, o),
    };
  }],
  ['connect() to an IPv6 listener with a full backlog', () => {
    const addr = fullTcpBacklog('ipv6') as { address: string; port: number };
    const fd = track(socket(AF_INET6, SOCK_STREAM, 0));
    return {
      syscall: 'connect', message: `connect ETIMEDOUT [::1]:${addr.port}`, address: '::1', port: addr.port,
      start: (o) => connect(fd, addr as Sockaddr, o),
    };
  }],
  ['read() on an idle TCP socket', () => {
    const { server } = tcpPair('ipv4');
    return { syscall: 'read', start: (o) => read(server, Buffer.alloc(16), undefined, o) };
  }],
  ['read() on an idle Unix stream socket', () => {
    const { server } = tcpPair('unix');
    return { syscall: 'read', start: (o) => read(server, Buffer.alloc(16), undefined, o) };
  }],
  ['recv() on an idle TCP socket', () => {
    const { server } = tcpPair('ipv4');
    return { syscall: 'recv', start: (o) => recv(server, Buffer.alloc(16), 16, 0, o) };
  }],
  ['recvfrom() on an idle UDP socket', () => {
    const { b } = udpPair('ipv4');
    return { syscall: 'recvfrom', start: (o) => recvfrom(b, Buffer.alloc(16), 16, 0, o) };
  }],
  ['recvfrom() on an idle UDP/IPv6 socket', () => {
    const { b } = udpPair('ipv6');
    return { syscall: 'recvfrom', start: (o) => recvfrom(b, Buffer.alloc(16), 16, 0, o) };
  }],
  ['write() on a Unix stream whose send buffer is full', () => {
    const { client } = tcpPair('unix');
    fill(client);
    return { syscall: 'write', start: (o) => write(client, Buffer.alloc(4096, 0x57), undefined, o) };
  }],
  ['write() on a TCP socket whose send buffer is full', () => {
    const { client } = tcpPair('ipv4');
    fill(client);
    return { syscall: 'write', start: (o) => write(client, Buffer.alloc(4096, 0x57), undefined, o) };
  }],
  ['send() on a TCP socket whose send buffer is full', () => {
    const { client } = tcpPair('ipv4');
    fill(client);
    return { syscall: 'send', start: (o) => send(client, Buffer.alloc(4096, 0x57), 4096, 0, o) };
  }],
  ['send() on a Unix datagram socketpair whose peer never reads', () => {
    const { sender } = fullDgramPair();
    return { syscall: 'send', start: (o) => send(sender, Buffer.alloc(DGRAM, 0x57), DGRAM, 0, o) };
  }],
  ['sendto() on a Unix datagram socketpair whose peer never reads, to the peer\'s path', () => {
    const { sender, to } = fullDgramPair();
    const { path } = to as { path: string };
    return {
      syscall: 'sendto', message: `sendto ETIMEDOUT ${path}`, path,
      start: (o) => sendto(sender, Buffer.alloc(DGRAM, 0x57), undefined, 0, to, o),
    };
  }],
  ['sendto() from an unconnected Unix datagram socket to a receiver whose queue is full', () => {
    const { sender, to } = fullUnconnectedDgram();
    const { path } = to as { path: string };
    return {
      syscall: 'sendto', message: `sendto ETIMEDOUT ${path}`, path,
      start: (o) => sendto(sender, Buffer.alloc(DGRAM, 0x57), undefined, 0, to, o),
    };
  }],
  ['sendmsg() from an unconnected Unix datagram socket to a receiver whose queue is full', () => {
    const { sender, to } = fullUnconnectedDgram();
    const { path } = to as { path: string };
    return {
      syscall: 'sendmsg', message: `sendmsg ETIMEDOUT ${path}`, path,
      start: (o) => sendmsg(sender, { iov: [Buffer.alloc(DGRAM, 0x57)], name: to }, 0, o),
    };
  }],
  ['sendmsg() on a Unix stream whose send buffer is full', () => {
    const { client } = tcpPair('unix');
    fill(client);
    return { syscall: 'sendmsg', start: (o) => sendmsg(client, { iov: [Buffer.alloc(2048, 0x57), Buffer.alloc(2048, 0x58)] }, 0, o) };
  }],
  ['sendmsg() with msg.name on a Unix datagram socketpair whose peer never reads', () => {
    const { sender, to } = fullDgramPair();
    const { path } = to as { path: string };
    return {
      syscall: 'sendmsg', message: `sendmsg ETIMEDOUT ${path}`, path,
      start: (o) => sendmsg(sender, { iov: [Buffer.alloc(DGRAM, 0x57)], name: to }, 0, o),
    };
  }],
  ['recvmsg() on an idle Unix stream socket', () => {
    const { server } = tcpPair('unix');
    return { syscall: 'recvmsg', start: (o) => recvmsg(server, { iov: [Buffer.alloc(8), Buffer.alloc(8)] }, 0, o) };
  }],
  ['recvmsg() on an idle UDP socket', () => {
    const { b } = udpPair('ipv4');
    return { syscall: 'recvmsg', start: (o) => recvmsg(b, { iov: [Buffer.alloc(16)] }, 0, o) };
  }],
  ['epoll_wait() with an infinite timeout on an idle socket', () => {
    const ep = track(epoll_create1(0));
    const { server } = tcpPair('ipv4');
    epoll_ctl(ep, EPOLL_CTL_ADD, server, { events: EPOLLIN, data: 1 });
    return { syscall: 'epoll_wait', start: (o) => epoll_wait(ep, 4, -1, o) };
  }],
  ['poll() with an infinite timeout on idle sockets', () => {
    const { client, server } = tcpPair('ipv4');
    const u = udpPair('ipv4');
    return {
      syscall: 'poll',
      start: (o) => poll([{ fd: server, events: POLLIN }, { fd: client, events: POLLIN }, { fd: u.b, events: POLLIN }], -1, o),
    };
  }],
];

describe.each(SCENARIOS)('%s', (_name, setup) => {
  it('rejects with an AbortError whose cause is signal.reason, promptly, and frees the worker', async () => {
    const blocked = setup();
    const ac = new AbortController();
    const outcome = observe(blocked.start({ signal: ac.signal }));
    await untilBusy(1);
    const reason = new Error('stop waiting');
    const t0 = performance.now();
    ac.abort(reason);
    const r = await within(outcome, 3000);
    expect(r).not.toBe('hung');
    const o = r as Outcome;
    expect(o.ok).toBe(false);
    expectAbortError(o.error, ac.signal);
    expect((o.error as AbortError).cause).toBe(reason);
    expect(o.at - t0).toBeLessThan(PROMPT_MS);
    expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('rejects with the default reason (a DOMException AbortError) as cause', async () => {
    const blocked = setup();
    const ac = new AbortController();
    const outcome = observe(blocked.start({ signal: ac.signal }));
    await untilBusy(1);
    ac.abort();
    const r = await within(outcome, 3000);
    expect(r).not.toBe('hung');
    const o = r as Outcome;
    expectAbortError(o.error, ac.signal);
    expect((o.error as AbortError).cause).toBeInstanceOf(DOMException);
    expect(((o.error as AbortError).cause as DOMException).name).toBe('AbortError');
  });

  it('rejects with SocketError ETIMEDOUT after opts.timeout, promptly, and frees the worker', async () => {
    const blocked = setup();
    const t0 = performance.now();
    const outcome = observe(blocked.start({ timeout: 80 }));
    const r = await within(outcome, 3000);
    expect(r).not.toBe('hung');
    const o = r as Outcome;
    expect(o.ok).toBe(false);
    const e = o.error as SocketError;
    expect(e).toBeInstanceOf(SocketError);
    expect(e.name).toBe('SocketError');
    expect(e.code).toBe('ETIMEDOUT');
    expect(e.errno).toBe(E.ETIMEDOUT);
    expect(e.syscall).toBe(blocked.syscall);
    expect(e.message).toBe(blocked.message ?? `${blocked.syscall} ETIMEDOUT`);
    expect(e.address).toBe(blocked.address);
    expect(e.port).toBe(blocked.port);
    expect(e.path).toBe(blocked.path);
    const elapsed = o.at - t0;
    expect(elapsed).toBeGreaterThanOrEqual(75); // Counted from the call.
    expect(elapsed).toBeLessThan(80 + PROMPT_MS);
    expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
  });

  it('rejects at once, without queueing, when the signal is already aborted', async () => {
    const blocked = setup();
    const ac = new AbortController();
    const reason = { why: 'already' };
    ac.abort(reason);
    const records: TraceRecord[] = [];
    const off = onTrace((rec) => records.push(rec));
    try {
      const p = observe(blocked.start({ signal: ac.signal }));
      expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
      const o = await p;
      expectAbortError(o.error, ac.signal);
      expect((o.error as AbortError).cause).toBe(reason);
      await sleep(20);
      // Nothing ran: no system call was made, so none was traced.
      expect(records.filter((rec) => rec.syscall === blocked.syscall)).toEqual([]);
      expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
    } finally {
      off();
    }
  });
});

describe('how promptly an abort releases a blocked call (the contract: well under 100 ms)', () => {
  // The per-call tests above allow PROMPT_MS for a loaded CI machine; this one
  // holds the median of several rounds to the contract's figure.
  it('abort → rejection of a blocked read(): median of 7 rounds under 100 ms, the worker already free at the rejection', async () => {
    const ROUNDS = 7;
    const { client, server } = tcpPair('unix');
    const latencies: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const idle = threadpool().busy;
      const ac = new AbortController();
      const buf = Buffer.alloc(16);
      // The pool as the rejection sees it, read in the rejection handler itself.
      let busyAtRejection = -1;
      const outcome = observe(read(server, buf, undefined, { signal: ac.signal }).catch((err: unknown) => {
        busyAtRejection = threadpool().busy;
        throw err;
      }));
      await untilBusy(idle + 1);
      const t0 = performance.now();
      ac.abort();
      const r = await within(outcome, 3000);
      expect(r, `round ${round}: still pending 3 s after the abort`).not.toBe('hung');
      const o = r as Outcome;
      expectAbortError(o.error, ac.signal);
      expect(busyAtRejection).toBe(idle);
      expect(buf.equals(Buffer.alloc(16))).toBe(true);
      latencies.push(o.at - t0);
    }
    const sorted = [...latencies].sort((x, y) => x - y);
    const median = sorted[ROUNDS >> 1];
    console.log(
      `abort → rejection of a blocked read(): median ${median.toFixed(3)} ms over ${ROUNDS} rounds ` +
        `(min ${sorted[0].toFixed(3)}, max ${sorted[ROUNDS - 1].toFixed(3)} ms)`,
    );
    expect(median).toBeLessThan(100);
    // Seven aborted reads consumed nothing.
    writeAll(client, 'still all here');
    const next = Buffer.alloc(32);
    expect(await read(server, next, undefined, { timeout: 2000 })).toBe(14);
    expect(next.toString('utf8', 0, 14)).toBe('still all here');
  });
});

describe('connect() to a Unix listener with a full backlog', () => {
  // Linux makes a blocking connect(2) to a full Unix listener sleep in the
  // kernel; the worker must still be woken by an abort or a timeout.
  for (const mode of ['abort', 'timeout'] as const) {
    it(`settles promptly on ${mode}`, async () => {
      const addr = fullUnixBacklog();
      const fd = track(socket(AF_UNIX, SOCK_STREAM, 0));
      const ac = new AbortController();
      const t0 = performance.now();
      const outcome = observe(connect(fd, addr, mode === 'abort' ? { signal: ac.signal } : { timeout: 80 }));
      if (mode === 'abort') {
        await untilBusy(1);
        ac.abort();
      }
      const r = await within(outcome, 1500);
      try {
        expect(r, `connect() still blocked ${Math.round(performance.now() - t0)} ms after the ${mode}`).not.toBe('hung');
        const o = r as Outcome;
        if (mode === 'abort') {
          expectAbortError(o.error, ac.signal);
        } else {
          expect((o.error as SocketError).code).toBe('ETIMEDOUT');
          expect((o.error as SocketError).message).toBe(`connect ETIMEDOUT ${(addr as { path: string }).path}`);
        }
        expect(o.at - t0).toBeLessThan(mode === 'abort' ? 1000 : 80 + PROMPT_MS);
      } finally {
        // Closing the listener wakes a connect(2) the library could not wake.
        closeAll();
        await within(outcome, 3000);
      }
    });
  }
});

describe('no bytes lost', () => {
  it.each(['ipv4', 'unix'] as const)('after an aborted read() on %s, the next read() gets every byte sent', async (family) => {
    const { client, server } = tcpPair(family);
    const ac = new AbortController();
    const buf = Buffer.alloc(64, 0);
    const outcome = observe(read(server, buf, undefined, { signal: ac.signal }));
    await untilBusy(1);
    ac.abort();
    expectAbortError((await outcome).error, ac.signal);
    expect(buf.equals(Buffer.alloc(64, 0))).toBe(true); // Untouched.
    writeAll(client, 'all of these bytes');
    const next = Buffer.alloc(64);
    expect(await read(server, next)).toBe(18);
    expect(next.toString('utf8', 0, 18)).toBe('all of these bytes');
  });

  it('after a timed-out recv(), the next recv() gets every byte sent', async () => {
    const { client, server } = tcpPair('ipv4');
    await expect(recv(server, Buffer.alloc(8), 8, 0, { timeout: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    writeAll(client, '0123456789');
    const next = Buffer.alloc(32);
    expect(await recv(server, next, 32, 0)).toBe(10);
    expect(next.toString('utf8', 0, 10)).toBe('0123456789');
  });

  it('after an aborted recvfrom(), the next recvfrom() gets the whole datagram and its source', async () => {
    const { a, b, addrA, addrB } = udpPair('ipv4');
    const ac = new AbortController();
    const outcome = observe(recvfrom(b, Buffer.alloc(32), 32, 0, { signal: ac.signal }));
    await untilBusy(1);
    ac.abort();
    expectAbortError((await outcome).error, ac.signal);
    sendtoSync(a, Buffer.from('one datagram'), undefined, 0, addrB);
    const buf = Buffer.alloc(32);
    expect(await recvfrom(b, buf, 32, 0)).toEqual({ nbytes: 12, addr: addrA });
    expect(buf.toString('utf8', 0, 12)).toBe('one datagram');
  });

  it('an abort racing with the data never drops bytes (50 rounds)', async () => {
    const { client, server } = tcpPair('unix');
    let aborted = 0;
    let completed = 0;
    for (let round = 0; round < 50; round++) {
      const msg = `round-${String(round).padStart(2, '0')}`;
      const ac = new AbortController();
      const buf = Buffer.alloc(64);
      const outcome = observe(read(server, buf, undefined, { signal: ac.signal }));
      if (round % 2 === 0) await untilBusy(1);
      writeAll(client, msg);
      ac.abort();
      const o = await outcome;
      if (o.ok) {
        // The read completed first: its result stands.
        completed++;
        expect(o.value).toBe(msg.length);
        expect(buf.toString('utf8', 0, msg.length)).toBe(msg);
      } else {
        aborted++;
        expectAbortError(o.error, ac.signal);
        const again = Buffer.alloc(64);
        expect(readSync(server, again)).toBe(msg.length);
        expect(again.toString('utf8', 0, msg.length)).toBe(msg);
      }
      expectNothingMore(server, 0);
    }
    expect(aborted + completed).toBe(50);
  });

  it.each(['ipv4', 'unix'] as const)('an aborted write() on a full %s buffer queues none of its bytes', async (family) => {
    const { client, server } = tcpPair(family);
    const filled = fill(client, 0x46);
    const ac = new AbortController();
    const outcome = observe(write(client, Buffer.alloc(8192, 0x57), undefined, { signal: ac.signal }));
    await untilBusy(1);
    ac.abort();
    expectAbortError((await outcome).error, ac.signal);
    const got = await readExactly(server, filled);
    expect(got.equals(Buffer.alloc(filled, 0x46))).toBe(true);
    expectNothingMore(server);
    // The stream is still usable.
    expect(await write(client, Buffer.from('after'))).toBe(5);
    const tail = await readExactly(server, 5);
    expect(tail.toString()).toBe('after');
  });

  it('a write() aborted after part was written resolves with exactly the bytes written', async () => {
    const [client, server] = socketpair(AF_UNIX, SOCK_STREAM, 0);
    track(client);
    track(server);
    const filled = fill(client, 0x46);
    const data = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
    const ac = new AbortController();
    const outcome = observe(write(client, data, undefined, { signal: ac.signal }));
    await untilBusy(1);
    // Make room for part of it, let the worker write that part, then abort.
    const first = await readExactly(server, Math.min(filled, 256 * 1024));
    expect(first.equals(Buffer.alloc(first.length, 0x46))).toBe(true);
    await sleep(50);
    ac.abort();
    const o = await outcome;
    expect(o.ok).toBe(true);
    const n = o.value as number;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(data.length);
    const rest = await readExactly(server, filled - first.length + n);
    expect(rest.subarray(0, filled - first.length).equals(Buffer.alloc(filled - first.length, 0x46))).toBe(true);
    expect(rest.subarray(filled - first.length).equals(data.subarray(0, n))).toBe(true);
    expectNothingMore(server);
  });

  it.each([['sendto', 'an abort'], ['sendmsg', 'a timeout']] as const)(
    '%s() cut by %s on a full datagram queue sends nothing: the peer gets the datagrams queued before, then the next one',
    async (call, how) => {
      const { sender, receiver, to, queued } = fullDgramPair();
      const ac = new AbortController();
      const opts: CallOptions = how === 'an abort' ? { signal: ac.signal } : { timeout: 50 };
      const cut = Buffer.alloc(DGRAM, 0x57);
      const outcome = observe(call === 'sendto'
        ? sendto(sender, cut, undefined, 0, to, opts)
        : sendmsg(sender, { iov: [cut], name: to }, 0, opts));
      if (how === 'an abort') {
        await untilBusy(1);
        ac.abort();
      }
      const o = await outcome;
      expect(o.ok).toBe(false);
      if (how === 'an abort') expectAbortError(o.error, ac.signal);
      else expect(o.error).toMatchObject({ code: 'ETIMEDOUT', syscall: call });
      const buf = Buffer.alloc(2 * DGRAM);
      for (let i = 0; i < queued; i++) {
        expect(recvSync(receiver, buf, undefined, MSG_DONTWAIT)).toBe(DGRAM);
        expect(buf.subarray(0, DGRAM).equals(Buffer.alloc(DGRAM, 0x44))).toBe(true);
      }
      expect(() => recvSync(receiver, buf, undefined, MSG_DONTWAIT)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
      // Room again: the next datagram goes at once, whole.
      expect(await sendto(sender, Buffer.from('after'), undefined, 0, to, { timeout: 2000 })).toBe(5);
      expect(recvSync(receiver, buf, undefined, 0)).toBe(5);
      expect(buf.toString('utf8', 0, 5)).toBe('after');
    },
  );

  it('a timed-out read() then shutdown: the read after sees the bytes, then EOF', async () => {
    const { client, server } = tcpPair('ipv6');
    await expect(read(server, Buffer.alloc(8), undefined, { timeout: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'read' });
    writeAll(client, 'last');
    shutdown(client, SHUT_WR);
    const buf = Buffer.alloc(8);
    expect(await read(server, buf)).toBe(4);
    expect(buf.toString('utf8', 0, 4)).toBe('last');
    expect(await read(server, buf)).toBe(0);
  });
});

function writeAll(fd: number, text: string): void {
  const b = Buffer.from(text);
  expect(sendSync(fd, b, undefined, 0)).toBe(b.length);
}

/** The scheduler state (R running or runnable, S sleeping…) of each thread of this process but the calling one (Linux). */
function threadStates(): Map<string, string> {
  const out = new Map<string, string>();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      out.set(tid, stat.charAt(stat.lastIndexOf(')') + 2));
    } catch {
      // The thread has ended.
    }
  }
  return out;
}

describe.runIf(fs.existsSync('/proc/self/task'))('a send waiting for room poll(2) cannot show (unconnected Unix datagram socket, full receiver)', () => {
  // poll(2) reports the sender writable while its sendto() meets EAGAIN:
  // the worker must wait without spinning, and still send once there is room.
  it.each(['sendto', 'sendmsg'] as const)('%s() waits without burning a CPU, then sends once the receiver reads', async (call) => {
    const { sender, receiver, to, queued } = fullUnconnectedDgram();
    const last = Buffer.alloc(DGRAM, 0x57);
    const outcome = observe(call === 'sendto'
      ? sendto(sender, last, undefined, 0, to, { timeout: 10_000 })
      : sendmsg(sender, { iov: [last], name: to }, 0, { timeout: 10_000 }));
    await untilBusy(1);
    // A worker that polls and retries in a loop is runnable all the time,
    // however loaded the machine (its share of a CPU is not); one that waits
    // sleeps. 60 looks, 10 ms apart, at every thread but this one.
    const SAMPLES = 60;
    const runnable = new Map<string, number>();
    for (let i = 0; i < SAMPLES; i++) {
      for (const [tid, state] of threadStates()) {
        if (state === 'R') runnable.set(tid, (runnable.get(tid) ?? 0) + 1);
      }
      await sleep(10);
    }
    const busiest = Math.max(0, ...runnable.values());
    expect(await within(outcome, 0), 'the send completed with the receiver still full').toBe('hung');
    expect(busiest, `a thread was runnable in ${busiest} of ${SAMPLES} looks while the send waited`).toBeLessThan(SAMPLES / 2);
    expect(threadpool().busy).toBe(1);
    // Room for one datagram: the waiting send goes, whole, after the ones queued before.
    const buf = Buffer.alloc(2 * DGRAM);
    expect(recvSync(receiver, buf, undefined, MSG_DONTWAIT)).toBe(DGRAM);
    const r = await within(outcome, 3000);
    expect(r, 'the send still waited 3 s after the receiver made room').not.toBe('hung');
    expect(r).toMatchObject({ ok: true, value: DGRAM });
    for (let i = 1; i < queued; i++) {
      expect(recvSync(receiver, buf, undefined, MSG_DONTWAIT)).toBe(DGRAM);
      expect(buf.subarray(0, DGRAM).equals(Buffer.alloc(DGRAM, 0x44))).toBe(true);
    }
    expect(recvSync(receiver, buf, undefined, MSG_DONTWAIT)).toBe(DGRAM);
    expect(buf.subarray(0, DGRAM).equals(last)).toBe(true);
    expect(() => recvSync(receiver, buf, undefined, MSG_DONTWAIT)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
  });
});

describe('no connections lost', () => {
  it('an aborted accept() leaves the pending connection for the next accept()', async () => {
    const l = listener('ipv4');
    const ac = new AbortController();
    const outcome = observe(accept(l.fd, { signal: ac.signal }));
    await untilBusy(1);
    ac.abort();
    expectAbortError((await outcome).error, ac.signal);
    const c = track(socket(AF_INET, SOCK_STREAM, 0));
    connectSync(c, l.addr);
    const got = await accept(l.fd, { timeout: 2000 });
    track(got.fd);
    expect(got.addr).toEqual(getsockname(c));
  });

  it('an accept() aborted as the connection arrives either takes it or leaves it queued (30 rounds)', async () => {
    const l = listener('unix');
    for (let round = 0; round < 30; round++) {
      const ac = new AbortController();
      const outcome = observe(accept(l.fd, { signal: ac.signal }));
      if (round % 2 === 0) await untilBusy(1);
      // Not tracked: closed below (closeAll must not close a number reused since).
      const c = socket(AF_UNIX, SOCK_STREAM, 0);
      connectSync(c, l.addr);
      ac.abort();
      const o = await outcome;
      let fd: number;
      if (o.ok) {
        fd = (o.value as { fd: number }).fd;
      } else {
        expectAbortError(o.error, ac.signal);
        const ready = [{ fd: l.fd, events: POLLIN }];
        expect(pollSync(ready, 0)).toBe(1); // Still queued.
        fd = (await accept(l.fd, { timeout: 2000 })).fd;
      }
      // The accepted fd is this round's client, and nothing else is queued.
      writeAll(c, `r${round}`);
      const buf = Buffer.alloc(8);
      expect(readSync(fd, buf)).toBe(String(round).length + 1);
      expect(buf.toString('utf8', 0, String(round).length + 1)).toBe(`r${round}`);
      expect(pollSync([{ fd: l.fd, events: POLLIN }], 0)).toBe(0);
      close(fd);
      close(c);
    }
  });

  it('of two accept()s on one listener, one aborted, the other still gets the connection', async () => {
    const l = listener('ipv4');
    const ac = new AbortController();
    const aborted = observe(accept(l.fd, { signal: ac.signal }));
    const other = observe(accept(l.fd, { timeout: 3000 }));
    await untilBusy(2);
    ac.abort();
    expectAbortError((await aborted).error, ac.signal);
    expect(threadpool().busy).toBe(1);
    const c = track(socket(AF_INET, SOCK_STREAM, 0));
    connectSync(c, l.addr);
    const o = await other;
    expect(o.ok).toBe(true);
    const got = o.value as { fd: number; addr: Sockaddr };
    track(got.fd);
    expect(got.addr).toEqual(getsockname(c));
    expect(getsockname(got.fd)).toEqual(l.addr);
    expect(getpeername(got.fd)).toEqual(getsockname(c));
  });

  it('two accept()s woken by one connection: one takes it, the other keeps waiting and can be aborted promptly', async () => {
    const l = listener('ipv4');
    const acs = [new AbortController(), new AbortController()];
    const outcomes = acs.map((ac) => observe(accept(l.fd, { signal: ac.signal })));
    await untilBusy(2);
    const c = track(socket(AF_INET, SOCK_STREAM, 0));
    connectSync(c, l.addr);
    const first = await Promise.race(outcomes.map((o, i) => o.then((r) => ({ r, i }))));
    expect(first.r.ok).toBe(true);
    track((first.r.value as { fd: number }).fd);
    await sleep(30);
    // The loser is back waiting on a worker, where an abort still reaches it.
    expect(threadpool().busy).toBe(1);
    const loser = 1 - first.i;
    const t0 = performance.now();
    acs[loser].abort();
    const r = await within(outcomes[loser], 2000);
    expect(r).not.toBe('hung');
    expectAbortError((r as Outcome).error, acs[loser].signal);
    expect((r as Outcome).at - t0).toBeLessThan(PROMPT_MS);
  });
});

describe('aborts and timeouts that come too late', () => {
  it('an abort after the call settled changes nothing', async () => {
    const { client, server } = tcpPair('ipv4');
    const ac = new AbortController();
    writeAll(client, 'done');
    const buf = Buffer.alloc(8);
    expect(await read(server, buf, undefined, { signal: ac.signal })).toBe(4);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    ac.abort();
    await sleep(10);
    expect(buf.toString('utf8', 0, 4)).toBe('done');
  });

  it('a timeout longer than the call never fires', async () => {
    const { client, server } = tcpPair('unix');
    const p = read(server, Buffer.alloc(8), undefined, { timeout: 60 });
    writeAll(client, 'quick');
    await expect(p).resolves.toBe(5);
    await sleep(100);
    // A second call on the fd is not disturbed by the first call's timer.
    const q = read(server, Buffer.alloc(8), undefined, { timeout: 1000 });
    writeAll(client, 'again');
    await expect(q).resolves.toBe(5);
  });

  it('poll(): its own timeout returns 0; opts.timeout is the outer bound', async () => {
    const { server } = tcpPair('ipv4');
    const fds: PollFd[] = [{ fd: server, events: POLLIN }];
    await expect(poll(fds, 30, { timeout: 2000 })).resolves.toBe(0);
    expect(fds[0].revents).toBe(0);
    await expect(poll(fds, 5000, { timeout: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'poll' });
  });

  it('getaddrinfo() aborted in the same tick: AbortError, or the list if the lookup had already ended (its result stands)', async () => {
    for (let round = 0; round < 20; round++) {
      const ac = new AbortController();
      const p = observe(getaddrinfo('127.0.0.1', '80', { flags: AI_NUMERICHOST | AI_NUMERICSERV }, { signal: ac.signal }));
      ac.abort();
      const o = await p;
      if (o.ok) expect(o.value).toContainEqual(expect.objectContaining({ addr: { family: AF_INET, address: '127.0.0.1', port: 80 } }));
      else expectAbortError(o.error, ac.signal);
    }
    expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
    const pre = new AbortController();
    pre.abort();
    expectAbortError((await observe(getaddrinfo('::1', null, {}, { signal: pre.signal }))).error, pre.signal);
  });
});

describe('getaddrinfo() while queued for a worker (UV_THREADPOOL_SIZE=1 in a child, its thread held by a read)', () => {
  // A lookup still in libuv's queue is taken out of it: it must never get
  // the thread (one that runs is stopped as test/getaddrinfo-running.test.ts
  // shows). Numeric hosts only: no name service is asked.
  interface Settled {
    ok: boolean;
    ms: number;
    pool: { size: number; busy: number; queued: number };
    error: { name: string; code: string; errno?: number; syscall?: string; message: string; causeIsReason: boolean };
  }

  it('a timeout and an abort settle promptly, and neither lookup takes the thread', async () => {
    // BSD_SOCKETS_TRACE=1: the trace of a lookup that never ran must print too.
    const child = new Child(fixture('gai-queued.cjs'), { env: { UV_THREADPOOL_SIZE: '1', BSD_SOCKETS_TRACE: '1' }, timeoutMs: 20_000 });
    const res = await child.event('result', 18_000) as Record<string, unknown> & { timeout: Settled; abort: Settled };
    const exit = await child.exited;
    expect(exit.code, exit.stderr).toBe(0);
    const pool = (busy: number, queued: number) => ({ size: 1, busy, queued });

    expect(res.size).toBe(1);
    expect(res.holding).toEqual(pool(1, 0));
    // Each lookup was waiting in the queue, behind the read.
    expect(res.timedQueued).toEqual(pool(1, 1));
    expect(res.abortQueued).toEqual(pool(1, 1));

    expect(res.timeout.ok).toBe(false);
    expect(res.timeout.error).toMatchObject({
      name: 'SocketError', code: 'ETIMEDOUT', errno: E.ETIMEDOUT, syscall: 'getaddrinfo', message: 'getaddrinfo ETIMEDOUT',
    });
    expect(res.timeout.ms).toBeGreaterThanOrEqual(45);
    expect(res.timeout.ms).toBeLessThan(50 + PROMPT_MS);

    expect(res.abort.ok).toBe(false);
    expect(res.abort.error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', causeIsReason: true });
    expect(res.abort.ms).toBeLessThan(PROMPT_MS);

    // Taken out of the queue, not left to run when the thread frees up: the
    // read still holds the only thread and nothing waits for it.
    expect(res.beforeRelease).toEqual(pool(1, 0));
    expect(res.readResult).toBe(2);
    expect(res.readText).toBe('go');
    expect(res.released).toEqual(pool(0, 0));
    // The thread serves the next lookup as usual.
    expect(res.after).toEqual([{ family: AF_INET, address: '127.0.0.1', port: 7 }]);
    expect(res.final).toEqual(pool(0, 0));

    // The trace: the two cut lookups never ran on the pool's thread (the
    // read's), and are recorded as failed with the errno of their cut.
    const records = res.records as { syscall: string; args: unknown[]; threadId: number; runNs: number; result: number; errno?: number }[];
    const readTid = records.find((r) => r.syscall === 'read')!.threadId;
    const lookups = records.filter((r) => r.syscall === 'getaddrinfo');
    expect(lookups.map((r) => r.args)).toEqual([['127.0.0.1', '80'], ['::1', '443'], ['127.0.0.1', '7']]);
    expect(lookups.slice(0, 2).map((r) => [r.result, r.errno])).toEqual([[-1, E.ETIMEDOUT], [-1, E.ECANCELED]]);
    for (const cut of lookups.slice(0, 2)) {
      expect(cut.threadId).toBe(0); // No thread ran it.
      expect(cut.runNs).toBe(0);
    }
    expect(lookups[2]).toMatchObject({ threadId: readTid, result: 0 });
    expect(exit.stderr).toMatch(/^\[never ran\] getaddrinfo\("127\.0\.0\.1", "80"\) = -1 ETIMEDOUT queued [\d.]+ms$/m);
    expect(exit.stderr).toMatch(/^\[never ran\] getaddrinfo\("::1", "443"\) = -1 ECANCELED queued [\d.]+ms$/m);
    expect(exit.stderr).toMatch(new RegExp(`\\[tid ${readTid} worker\\] getaddrinfo\\("127\\.0\\.0\\.1", "7"\\) = 0 queued `));
  });
});

describe('invalid options', () => {
  it('reject with TypeError/RangeError before any system call', async () => {
    const { server } = tcpPair('ipv4');
    await expect(read(server, Buffer.alloc(1), undefined, { signal: {} as AbortSignal })).rejects.toThrow(
      new TypeError('The "opts.signal" property must be an AbortSignal'),
    );
    await expect(read(server, Buffer.alloc(1), undefined, { timeout: -1 })).rejects.toBeInstanceOf(RangeError);
    await expect(read(server, Buffer.alloc(1), undefined, { timeout: 1.5 })).rejects.toBeInstanceOf(RangeError);
    expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
  });
});
