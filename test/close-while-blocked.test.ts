// close(2) and shutdown(2) from the event loop while a worker thread is
// blocked on the fd. Linux alone would neither wake the worker nor keep the fd
// number from being handed to the next socket(); the library must do both.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_UNIX, POLLIN, POLLOUT, SHUT_RD, SHUT_RDWR, SOCK_DGRAM, SOCK_NONBLOCK,
  SOCK_STREAM, SocketError,
  accept, bind, close, connect, connectSync, getsockname, listen, poll, pollSync, read, readSync,
  recv, recvfrom, send, sendmsg, sendto, shutdown, socket, socketpair, threadpool, type Sockaddr, write,
  writeSync,
} from '../lib/index';
import { sleep } from './helpers/fds';
import { FAMILIES, closeAll, fill, fillDgram, listener, tcpPair, track, udpPair, unixPath } from './helpers/pairs';

const E = os.constants.errno;
const PROMPT_MS = 500;

/** What /proc/self/fd/N points at ('socket:[inode]'), or null when N is not open. */
function fdTarget(fd: number): string | null {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

function openSockets(): string[] {
  return fs.readdirSync('/proc/self/fd')
    .map((fd) => `${fd}=${fdTarget(Number(fd))}`)
    .filter((entry) => entry.includes('=socket:'))
    .sort();
}

let baseline: string[];
beforeEach(() => {
  baseline = openSockets();
});
afterEach(async () => {
  closeAll();
  for (let i = 0; i < 200 && threadpool().busy + threadpool().queued > 0; i++) await sleep(5);
  expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
  expect(openSockets()).toEqual(baseline);
});

async function untilBusy(n: number): Promise<void> {
  for (let i = 0; i < 1000 && threadpool().busy < n; i++) await sleep(1);
  expect(threadpool().busy).toBe(n);
  await sleep(10);
}

interface Outcome {
  ok: boolean;
  value?: unknown;
  error?: unknown;
  at: number;
}

function observe(p: Promise<unknown>): Promise<Outcome> {
  return p.then(
    (value) => ({ ok: true, value, at: performance.now() }),
    (error: unknown) => ({ ok: false, error, at: performance.now() }),
  );
}

function within(o: Promise<Outcome>, ms: number): Promise<Outcome | 'hung'> {
  return Promise.race([o, sleep(ms).then(() => 'hung' as const)]);
}

function expectEbadf(o: Outcome | 'hung', syscall: string, message = `${syscall} EBADF`): void {
  expect(o).not.toBe('hung');
  const { ok, error } = o as Outcome;
  expect(ok).toBe(false);
  expect(error).toBeInstanceOf(SocketError);
  const e = error as SocketError;
  expect({ name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, message: e.message }).toEqual({
    name: 'SocketError', code: 'EBADF', errno: E.EBADF, syscall, message,
  });
}

/**
 * A Unix datagram socketpair whose receiver never reads, bound to a path so
 * sendto() and sendmsg() can name it, and filled: the next blocking send waits.
 */
function fullDgramPair(keep: (fd: number) => number): { sender: number; receiver: number; to: Sockaddr } {
  const [sender, receiver] = socketpair(AF_UNIX, SOCK_DGRAM, 0).map(keep);
  const to: Sockaddr = { family: AF_UNIX, path: unixPath() };
  bind(receiver, to);
  expect(fillDgram(sender)).toBeGreaterThan(0);
  return { sender, receiver, to };
}

/** Bytes every blocked send below sends: a peer that ever receives them got them from a closed fd. */
const TAG = 0x57;

interface Blocked {
  fd: number;
  syscall: string;
  /** The EBADF message, when it names an address. */
  message?: string;
  start: () => Promise<unknown>;
}

/**
 * Sends blocked on a full socket. `keep` takes each fd the setup opens
 * (track, or a test's own list when it closes them itself).
 */
const SENDS: [string, (keep?: (fd: number) => number) => Blocked][] = [
  ['send() on a full Unix datagram socketpair', (keep = track) => {
    const { sender } = fullDgramPair(keep);
    return { fd: sender, syscall: 'send', start: () => send(sender, Buffer.alloc(1024, TAG), 1024, 0) };
  }],
  ['sendto() on a full Unix datagram socketpair, to the peer\'s path', (keep = track) => {
    const { sender, to } = fullDgramPair(keep);
    return {
      fd: sender, syscall: 'sendto', message: `sendto EBADF ${(to as { path: string }).path}`,
      start: () => sendto(sender, Buffer.alloc(1024, TAG), undefined, 0, to),
    };
  }],
  ['sendto() from an unconnected Unix datagram socket to a full receiver (a wait poll(2) cannot show)', (keep = track) => {
    const sender = keep(socket(AF_UNIX, SOCK_DGRAM, 0));
    const receiver = keep(socket(AF_UNIX, SOCK_DGRAM, 0));
    const to: Sockaddr = { family: AF_UNIX, path: unixPath() };
    bind(receiver, to);
    expect(fillDgram(sender, to)).toBeGreaterThan(0);
    return {
      fd: sender, syscall: 'sendto', message: `sendto EBADF ${(to as { path: string }).path}`,
      start: () => sendto(sender, Buffer.alloc(1024, TAG), undefined, 0, to),
    };
  }],
  ['sendmsg() on a full Unix stream socketpair', (keep = track) => {
    const [a] = socketpair(AF_UNIX, SOCK_STREAM, 0).map(keep);
    fill(a);
    return { fd: a, syscall: 'sendmsg', start: () => sendmsg(a, { iov: [Buffer.alloc(2048, TAG), Buffer.alloc(2048, TAG)] }, 0) };
  }],
  ['sendmsg() with msg.name on a full Unix datagram socketpair', (keep = track) => {
    const { sender, to } = fullDgramPair(keep);
    return {
      fd: sender, syscall: 'sendmsg', message: `sendmsg EBADF ${(to as { path: string }).path}`,
      start: () => sendmsg(sender, { iov: [Buffer.alloc(1024, TAG)], name: to }, 0),
    };
  }],
];

const SCENARIOS: [string, () => Blocked][] = [
  ['read() on a TCP socket', () => {
    const { server } = tcpPair('ipv4');
    return { fd: server, syscall: 'read', start: () => read(server, Buffer.alloc(16)) };
  }],
  ['read() on a Unix stream socket', () => {
    const { server } = tcpPair('unix');
    return { fd: server, syscall: 'read', start: () => read(server, Buffer.alloc(16)) };
  }],
  ['read() on an IPv6 TCP socket', () => {
    const { server } = tcpPair('ipv6');
    return { fd: server, syscall: 'read', start: () => read(server, Buffer.alloc(16)) };
  }],
  ['accept() on an IPv4 listener', () => {
    const l = listener('ipv4');
    return { fd: l.fd, syscall: 'accept', start: () => accept(l.fd) };
  }],
  ['accept() on a Unix listener', () => {
    const l = listener('unix');
    return { fd: l.fd, syscall: 'accept', start: () => accept(l.fd) };
  }],
  ['recvfrom() on a UDP socket', () => {
    const { b } = udpPair('ipv4');
    return { fd: b, syscall: 'recvfrom', start: () => recvfrom(b, Buffer.alloc(16), 16, 0) };
  }],
  ['recvfrom() on a Unix datagram socket', () => {
    const [x, y] = socketpair(AF_UNIX, SOCK_DGRAM, 0);
    track(y);
    track(x);
    return { fd: x, syscall: 'recvfrom', start: () => recvfrom(x, Buffer.alloc(16), 16, 0) };
  }],
  ['recv() on a TCP socket', () => {
    const { server } = tcpPair('ipv4');
    return { fd: server, syscall: 'recv', start: () => recv(server, Buffer.alloc(16), 16, 0) };
  }],
  ['write() on a full Unix stream', () => {
    const { client } = tcpPair('unix');
    fill(client);
    return { fd: client, syscall: 'write', start: () => write(client, Buffer.alloc(4096)) };
  }],
  ['poll() on an idle socket', () => {
    const { server } = tcpPair('ipv4');
    return { fd: server, syscall: 'poll', start: () => poll([{ fd: server, events: POLLIN }], -1) };
  }],
  ['send() on a full TCP socket', () => {
    const { client } = tcpPair('ipv4');
    fill(client);
    return { fd: client, syscall: 'send', start: () => send(client, Buffer.alloc(4096, TAG), 4096, 0) };
  }],
  ...SENDS.map(([name, setup]): [string, () => Blocked] => [name, () => setup()]),
];

describe.each(SCENARIOS)('close(fd) while %s is blocked on fd', (_name, setup) => {
  it('settles it promptly with SocketError EBADF, frees the worker, then really closes fd', async () => {
    const blocked = setup();
    const before = fdTarget(blocked.fd);
    expect(before).toMatch(/^socket:\[\d+\]$/);
    const outcome = observe(blocked.start());
    await untilBusy(1);
    const t0 = performance.now();
    expect(close(blocked.fd)).toBe(0);
    const r = await within(outcome, 3000);
    expectEbadf(r, blocked.syscall, blocked.message);
    expect((r as Outcome).at - t0).toBeLessThan(PROMPT_MS);
    expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
    // Once the call has left, the close(2) has happened: the socket is gone.
    expect(fdTarget(blocked.fd)).not.toBe(before);
  });
});

describe('close(fd) with several calls blocked on fd', () => {
  it('settles every one of them with EBADF', async () => {
    const { server } = tcpPair('ipv4');
    const outcomes = [
      observe(read(server, Buffer.alloc(8))),
      observe(recv(server, Buffer.alloc(8), 8, 0)),
      observe(poll([{ fd: server, events: POLLIN }], -1)),
    ];
    await untilBusy(3);
    close(server);
    const [a, b, c] = await Promise.all(outcomes.map((o) => within(o, 3000)));
    expectEbadf(a, 'read');
    expectEbadf(b, 'recv');
    expectEbadf(c, 'poll');
  });

  it('a second close(fd) throws EBADF, as C does', async () => {
    const { server } = tcpPair('unix');
    const outcome = observe(read(server, Buffer.alloc(8)));
    await untilBusy(1);
    close(server);
    let err: unknown;
    try {
      close(server);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SocketError);
    expect((err as SocketError).code).toBe('EBADF');
    expect((err as SocketError).syscall).toBe('close');
    expectEbadf(await within(outcome, 3000), 'read');
  });

  it('close(fd) while connect() waits on a full TCP backlog settles it with EBADF', async () => {
    const lfd = track(socket(AF_INET, SOCK_STREAM, 0));
    bind(lfd, { family: AF_INET, address: '127.0.0.1', port: 0 });
    listen(lfd, 0);
    const addr = getsockname(lfd);
    // Fill the accept queue (backlog 0 holds one) until a SYN goes unanswered.
    for (let i = 0; i < 8; i++) {
      const probe = track(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
      try {
        connectSync(probe, addr);
      } catch {
        // EINPROGRESS.
      }
      if (pollSync([{ fd: probe, events: POLLOUT }], 100) === 0) break;
    }
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    const outcome = observe(connect(fd, addr));
    await untilBusy(1);
    close(fd);
    const { port } = addr as { port: number };
    expectEbadf(await within(outcome, 3000), 'connect', `connect EBADF 127.0.0.1:${port}`);
  });
});

describe('the fd number is not reused under a blocked call', () => {
  /** Holds every pool thread with a blocked read, so the next call stays queued. */
  async function holdPool(): Promise<{ release: () => Promise<void> }> {
    const { size } = threadpool();
    const holders: { x: number; y: number; p: Promise<Outcome> }[] = [];
    for (let i = 0; i < size; i++) {
      const [x, y] = socketpair(AF_UNIX, SOCK_STREAM, 0);
      track(x);
      track(y);
      holders.push({ x, y, p: observe(read(x, Buffer.alloc(4))) });
    }
    await untilBusy(size);
    return {
      release: async () => {
        for (const h of holders) writeSync(h.y, Buffer.from('go'));
        for (const h of holders) expect(await h.p).toMatchObject({ ok: true, value: 2 });
      },
    };
  }

  it('a call still queued for a worker keeps fd open after close(fd): socket() gets another number', async () => {
    const pool = await holdPool();
    const { size } = threadpool();
    const { server } = tcpPair('ipv4');
    const before = fdTarget(server);
    const queued = observe(read(server, Buffer.alloc(16)));
    expect(threadpool()).toMatchObject({ busy: size, queued: 1 });

    expect(close(server)).toBe(0);
    // Same tick: the queued call has not left, so `server` must still be the same socket.
    expect(fdTarget(server)).toBe(before);
    const fresh = track(socket(AF_INET, SOCK_STREAM, 0));
    expect(fresh).not.toBe(server);
    // New calls on the closing fd are refused without queueing.
    const late = observe(read(server, Buffer.alloc(1)));
    expect(threadpool().queued).toBe(1);
    expectEbadf(await within(late, 1000), 'read');

    await pool.release();
    expectEbadf(await within(queued, 3000), 'read');
    // It has left: the number is free now. The lowest free number goes to the next socket().
    expect(fdTarget(server)).toBeNull();
    const reuse: number[] = [];
    for (let i = 0; i < 64; i++) {
      const fd = track(socket(AF_INET, SOCK_STREAM, 0));
      reuse.push(fd);
      if (fd >= server) break;
    }
    expect(reuse[reuse.length - 1]).toBe(server);
  });

  it('close(fd) settles a call still queued for a worker promptly with EBADF', async () => {
    const pool = await holdPool();
    const { server } = tcpPair('unix');
    const queued = observe(read(server, Buffer.alloc(16)));
    expect(threadpool().queued).toBe(1);
    const t0 = performance.now();
    close(server);
    const r = await within(queued, 1000);
    try {
      expect(r, 'the queued read was still pending 1 s after close(fd), every pool thread being busy').not.toBe('hung');
      expectEbadf(r, 'read');
      expect((r as Outcome).at - t0).toBeLessThan(PROMPT_MS);
      expect(threadpool().queued).toBe(0);
    } finally {
      await pool.release();
      await within(queued, 3000);
    }
  });

  it('a running call never reads data sent to a new socket that got the number (20 rounds)', async () => {
    let reusedBeforeSettle = 0;
    for (let round = 0; round < 20; round++) {
      // Not tracked: this test closes them itself (closeAll must not close a reused number).
      const [n, peerN] = socketpair(AF_UNIX, SOCK_STREAM, 0);
      const oldBuf = Buffer.alloc(32);
      const old = observe(read(n, oldBuf));
      await untilBusy(1);
      close(n);
      // Immediately: a new pair; it may get n only if the old call has already left n.
      const [p, q] = socketpair(AF_UNIX, SOCK_STREAM, 0);
      if (p === n || q === n) reusedBeforeSettle++;
      writeSync(q, Buffer.from(`fresh-${round}`));
      writeSync(p, Buffer.from(`fresh-${round}`));
      expectEbadf(await within(old, 3000), 'read');
      expect(oldBuf.equals(Buffer.alloc(32))).toBe(true);
      // The new sockets got every byte.
      const buf = Buffer.alloc(32);
      const want = `fresh-${round}`;
      expect(readSync(p, buf)).toBe(want.length);
      expect(buf.toString('utf8', 0, want.length)).toBe(want);
      expect(readSync(q, buf)).toBe(want.length);
      expect(buf.toString('utf8', 0, want.length)).toBe(want);
      close(p);
      close(q);
      close(peerN);
    }
    // Informational: how often the wake-up won the race against socketpair().
    expect(reusedBeforeSettle).toBeGreaterThanOrEqual(0);
  });

  it('after the blocked call settled, the fd number is reused by the next socket()', async () => {
    const { server } = tcpPair('unix');
    const outcome = observe(read(server, Buffer.alloc(8)));
    await untilBusy(1);
    close(server);
    expectEbadf(await within(outcome, 3000), 'read');
    expect(fdTarget(server)).toBeNull();
    const got: number[] = [];
    for (let i = 0; i < 64; i++) {
      const fd = track(socket(AF_UNIX, SOCK_STREAM, 0));
      got.push(fd);
      if (fd >= server) break;
    }
    expect(got[got.length - 1]).toBe(server);
  });
  describe.each(SENDS)('%s', (_name, setup) => {
    it('still queued for a worker: close(fd) keeps the number until the call has left, which it does at once with EBADF', async () => {
      const pool = await holdPool();
      try {
        const blocked = setup();
        const before = fdTarget(blocked.fd);
        const queued = observe(blocked.start());
        expect(threadpool().queued).toBe(1);
        const t0 = performance.now();
        expect(close(blocked.fd)).toBe(0);
        // Same tick: the call has not left, so the number still names the same socket.
        expect(fdTarget(blocked.fd)).toBe(before);
        expect(track(socket(AF_INET, SOCK_STREAM, 0))).not.toBe(blocked.fd);
        const r = await within(queued, 1000);
        expectEbadf(r, blocked.syscall, blocked.message);
        expect((r as Outcome).at - t0).toBeLessThan(PROMPT_MS);
        expect(fdTarget(blocked.fd)).toBeNull();
      } finally {
        await pool.release();
      }
    });

    it('running: sockets made right after close(fd), one maybe getting its number, never receive the call\'s bytes (10 rounds)', async () => {
      for (let round = 0; round < 10; round++) {
        // Not tracked: closed below (closeAll must not close a number reused since).
        const mine: number[] = [];
        const blocked = setup((fd) => {
          mine.push(fd);
          return fd;
        });
        const outcome = observe(blocked.start());
        await untilBusy(1);
        expect(close(blocked.fd)).toBe(0);
        const fresh = [...socketpair(AF_UNIX, SOCK_STREAM, 0), ...socketpair(AF_UNIX, SOCK_DGRAM, 0)];
        expectEbadf(await within(outcome, 3000), blocked.syscall, blocked.message);
        for (const fd of fresh) expect(pollSync([{ fd, events: POLLIN }], 0), `round ${round}: fd ${fd} received bytes`).toBe(0);
        for (const fd of [...fresh, ...mine.filter((m) => m !== blocked.fd)]) close(fd);
      }
    });
  });
});

describe.each(FAMILIES)('shutdown(fd, SHUT_RDWR) while read() is blocked on a %s socket', (family) => {
  it('makes the read resolve 0 (EOF) promptly; the fd stays open until close()', async () => {
    const { server } = tcpPair(family);
    const outcome = observe(read(server, Buffer.alloc(8)));
    await untilBusy(1);
    const t0 = performance.now();
    expect(shutdown(server, SHUT_RDWR)).toBe(0);
    const r = await within(outcome, 3000);
    expect(r).not.toBe('hung');
    expect(r).toMatchObject({ ok: true, value: 0 });
    expect((r as Outcome).at - t0).toBeLessThan(PROMPT_MS);
    expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
    expect(fdTarget(server)).toMatch(/^socket:/);
    expect(await read(server, Buffer.alloc(8))).toBe(0);
    expect(close(server)).toBe(0);
  });

  it('makes a blocked recv() resolve 0 too', async () => {
    const { server } = tcpPair(family);
    const outcome = observe(recv(server, Buffer.alloc(8), 8, 0));
    await untilBusy(1);
    shutdown(server, SHUT_RDWR);
    const r = await within(outcome, 3000);
    expect(r).toMatchObject({ ok: true, value: 0 });
  });
});

describe('shutdown(fd, SHUT_RD) while read() is blocked', () => {
  it('makes it resolve 0 on TCP', async () => {
    const { server } = tcpPair('ipv4');
    const outcome = observe(read(server, Buffer.alloc(8)));
    await untilBusy(1);
    shutdown(server, SHUT_RD);
    expect(await within(outcome, 3000)).toMatchObject({ ok: true, value: 0 });
  });
});
