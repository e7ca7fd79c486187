// The asynchronous twins: every blocking call run on a libuv worker thread
// succeeds and fails exactly like its *Sync twin; the event loop keeps
// running while one waits; buffers stay pinned while a worker uses them; a
// large write on a blocking stream socket writes everything.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, AF_UNIX, AI_NUMERICHOST, AI_NUMERICSERV, IPPROTO_TCP, IPPROTO_UDP,
  MSG_DONTWAIT, MSG_PEEK, O_NONBLOCK, F_GETFL, F_SETFL, POLLIN, POLLNVAL, POLLOUT, SHUT_WR,
  SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_RCVTIMEO,
  SocketError, type PollFd, type Sockaddr,
  accept, acceptSync, bind, close, connect, connectSync, fcntl, getaddrinfo, getaddrinfoSync,
  getpeername, getsockname, poll, pollSync, read, readSync, recv, recvSync, recvfrom,
  recvfromSync, send, sendSync, sendto, sendtoSync, setsockopt, shutdown, socket, socketpair, threadpool,
  write, writeSync,
} from '../lib/index';
import { Child, fixture, killChildren } from './fixtures/child';
import { sleep } from './helpers/fds';
import {
  FAMILIES, type Family, closeAll, domainOf, listener, refusedPort, tcpPair, track, udpPair, unixPath,
} from './helpers/pairs';
import { rejection } from './helpers/errors';

const E = os.constants.errno;

/** Socket fds of this process (the pool's wake-up eventfds are not sockets). */
function openSockets(): string[] {
  return fs.readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith('socket:') ? [`${fd}=${target}`] : [];
    } catch {
      return [];
    }
  }).sort();
}

let baseline: string[];
beforeEach(() => {
  baseline = openSockets();
});
afterEach(async () => {
  await killChildren();
  closeAll();
  expect(openSockets()).toEqual(baseline);
  expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
});

/** What `fn` throws (fails the test if it returns). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

/** Every field a caller can see on a SocketError. */
function fields(err: unknown): Record<string, unknown> {
  const e = err as SocketError;
  return {
    isSocketError: e instanceof SocketError,
    name: e.name, message: e.message, code: e.code, errno: e.errno, syscall: e.syscall,
    address: e.address, port: e.port, path: e.path,
  };
}

/**
 * Asserts the sync and async failures are identical and have the expected
 * fields. The sync twin runs first, so no async call on the fd is in flight.
 */
async function sameFailure(syncFn: () => unknown, asyncFn: () => Promise<unknown>, expected: Record<string, unknown>): Promise<void> {
  const s = fields(thrown(syncFn));
  const a = fields(await rejection(asyncFn()));
  expect(s).toMatchObject({ isSocketError: true, name: 'SocketError', ...expected });
  expect(a).toEqual(s);
}

function nonBlocking(fd: number): number {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

function connectedClient(family: Family, addr: Sockaddr): number {
  const fd = track(socket(domainOf(family), SOCK_STREAM, 0));
  connectSync(fd, addr);
  return fd;
}

describe.each(FAMILIES)('accept(2) on %s', (family) => {
  it('returns { fd, addr } of the connecting peer, as acceptSync does', async () => {
    const l = listener(family);
    const c1 = connectedClient(family, l.addr);
    const c2 = connectedClient(family, l.addr);
    const s = acceptSync(l.fd);
    const a = await accept(l.fd);
    track(s.fd);
    track(a.fd);
    expect(s.addr).toEqual(getsockname(c1));
    expect(a.addr).toEqual(getsockname(c2));
    expect(Object.keys(a).sort()).toEqual(['addr', 'fd']);
    expect(getpeername(a.fd)).toEqual(getsockname(c2));
    // The accepted fds are connected to their clients.
    writeSync(c2, Buffer.from('via-async'));
    const buf = Buffer.alloc(32);
    expect(readSync(a.fd, buf)).toBe(9);
    expect(buf.toString('utf8', 0, 9)).toBe('via-async');
  });

  it('fails with EINVAL on a bound socket that is not listening', async () => {
    const fd = track(socket(domainOf(family), SOCK_STREAM, 0));
    bind(fd, family === 'unix' ? { family: AF_UNIX, path: unixPath() } : family === 'ipv4'
      ? { family: AF_INET, address: '127.0.0.1', port: 0 } : { family: AF_INET6, address: '::1', port: 0 });
    await sameFailure(() => acceptSync(fd), () => accept(fd, { timeout: 2000 }), {
      code: 'EINVAL', errno: E.EINVAL, syscall: 'accept', message: 'accept EINVAL',
    });
  });

  it('fails with EAGAIN at once on a non-blocking listener with no connection', async () => {
    const l = listener(family);
    nonBlocking(l.fd);
    const t0 = performance.now();
    await sameFailure(() => acceptSync(l.fd), () => accept(l.fd), {
      code: 'EAGAIN', errno: E.EAGAIN, syscall: 'accept', message: 'accept EAGAIN',
    });
    expect(performance.now() - t0).toBeLessThan(500);
  });
});

describe('accept(2) on sockets that cannot accept', () => {
  // C's accept(2) fails at once on these; the async twin must not wait for readability.
  it('fails with EOPNOTSUPP at once on a datagram socket', async () => {
    const { a } = udpPair('ipv4');
    const t0 = performance.now();
    await sameFailure(() => acceptSync(a), () => accept(a, { timeout: 2000 }), {
      code: 'EOPNOTSUPP', errno: E.EOPNOTSUPP, syscall: 'accept', message: 'accept EOPNOTSUPP',
    });
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('fails with EINVAL at once on a connected stream socket', async () => {
    const [x, y] = socketpair(AF_UNIX, SOCK_STREAM, 0);
    track(x);
    track(y);
    const t0 = performance.now();
    await sameFailure(() => acceptSync(x), () => accept(x, { timeout: 2000 }), {
      code: 'EINVAL', errno: E.EINVAL, syscall: 'accept', message: 'accept EINVAL',
    });
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  // In a child process: a main thread blocked for good cannot be bounded from inside.
  it.each([
    ['a datagram socket', 'udp', 'EOPNOTSUPP'],
    ['a connected stream socket', 'connected', 'EINVAL'],
  ])('acceptSync() on %s fails at once even while an accept() is pending on it', async (_name, mode, code) => {
    const child = new Child(fixture('accept-sync-while-pending.cjs'), { args: [mode], timeoutMs: 5000 });
    await child.event('calling');
    const calledAt = performance.now();
    const sync = await child.event('sync', 2500).catch(() => undefined);
    expect(sync, `acceptSync() blocked the main thread for ${Math.round(performance.now() - calledAt)} ms`).toEqual({
      event: 'sync', sync: { ok: false, code },
    });
    expect(performance.now() - calledAt).toBeLessThan(1000);
    const exit = await child.exited;
    expect(exit.code).toBe(0);
  }, 15_000);

  it('acceptSync() keeps SO_RCVTIMEO even while an accept() is pending on the same socket', async () => {
    const l = listener('ipv4');
    const ac = new AbortController();
    const pending = accept(l.fd, { signal: ac.signal });
    for (let i = 0; i < 500 && threadpool().busy < 1; i++) await sleep(1);
    setsockopt(l.fd, SOL_SOCKET, SO_RCVTIMEO, 300);
    const t0 = performance.now();
    expect(() => acceptSync(l.fd)).toThrow(expect.objectContaining({ code: 'EAGAIN', syscall: 'accept' }));
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(2000);
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('fails with EBADF on a closed fd', async () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    await sameFailure(() => acceptSync(fd), () => accept(fd), {
      code: 'EBADF', errno: E.EBADF, syscall: 'accept', message: 'accept EBADF',
    });
  });
});

describe.each(FAMILIES)('connect(2) on %s', (family) => {
  it('resolves 0 and connects, as connectSync returns 0', async () => {
    const l = listener(family);
    const s = track(socket(domainOf(family), SOCK_STREAM, 0));
    const a = track(socket(domainOf(family), SOCK_STREAM, 0));
    expect(connectSync(s, l.addr)).toBe(0);
    await expect(connect(a, l.addr)).resolves.toBe(0);
    expect(getpeername(s)).toEqual(l.addr);
    expect(getpeername(a)).toEqual(l.addr);
    const first = track(acceptSync(l.fd).fd);
    const second = track(acceptSync(l.fd).fd);
    expect(getpeername(first)).toEqual(getsockname(s));
    expect(getpeername(second)).toEqual(getsockname(a));
  });

  it('fails with EINPROGRESS at once on a non-blocking socket', async () => {
    if (family === 'unix') return; // A Unix stream connect completes at once (no handshake).
    const l = listener(family);
    const s = track(socket(domainOf(family), SOCK_STREAM | SOCK_NONBLOCK, 0));
    const a = track(socket(domainOf(family), SOCK_STREAM | SOCK_NONBLOCK, 0));
    const where = family === 'ipv4' ? `127.0.0.1:${(l.addr as { port: number }).port}` : `[::1]:${(l.addr as { port: number }).port}`;
    await sameFailure(() => connectSync(s, l.addr), () => connect(a, l.addr), {
      code: 'EINPROGRESS', errno: E.EINPROGRESS, syscall: 'connect', message: `connect EINPROGRESS ${where}`,
    });
  });
});

describe('connect(2) failures', () => {
  it('fails with ECONNREFUSED and the address on a port with no listener (IPv4)', async () => {
    const port = refusedPort();
    const addr = { family: AF_INET, address: '127.0.0.1', port };
    const s = track(socket(AF_INET, SOCK_STREAM, 0));
    const a = track(socket(AF_INET, SOCK_STREAM, 0));
    await sameFailure(() => connectSync(s, addr), () => connect(a, addr), {
      code: 'ECONNREFUSED', errno: E.ECONNREFUSED, syscall: 'connect',
      message: `connect ECONNREFUSED 127.0.0.1:${port}`, address: '127.0.0.1', port,
    });
  });

  it('fails with ECONNREFUSED on ::1 too', async () => {
    const port = refusedPort('ipv6');
    const addr = { family: AF_INET6, address: '::1', port };
    const s = track(socket(AF_INET6, SOCK_STREAM, 0));
    const a = track(socket(AF_INET6, SOCK_STREAM, 0));
    await sameFailure(() => connectSync(s, addr), () => connect(a, addr), {
      code: 'ECONNREFUSED', errno: E.ECONNREFUSED, syscall: 'connect',
      message: `connect ECONNREFUSED [::1]:${port}`, address: '::1', port,
    });
  });

  it('fails with ENOENT and the path for a Unix path nobody bound', async () => {
    const p = unixPath();
    const addr = { family: AF_UNIX, path: p };
    const s = track(socket(AF_UNIX, SOCK_STREAM, 0));
    const a = track(socket(AF_UNIX, SOCK_STREAM, 0));
    await sameFailure(() => connectSync(s, addr), () => connect(a, addr), {
      code: 'ENOENT', errno: E.ENOENT, syscall: 'connect', message: `connect ENOENT ${p}`, path: p,
    });
  });
});

describe.each(FAMILIES)('read(2) and write(2) on %s', (family) => {
  it('moves the same bytes as readSync/writeSync, and returns 0 at EOF', async () => {
    const { client, server } = tcpPair(family);
    expect(writeSync(client, Buffer.from('sync-bytes'))).toBe(10);
    expect(await write(client, Buffer.from('async-bytes'))).toBe(11);
    const b1 = Buffer.alloc(10);
    expect(readSync(server, b1)).toBe(10);
    expect(b1.toString()).toBe('sync-bytes');
    const b2 = Buffer.alloc(64);
    expect(await read(server, b2, 11)).toBe(11);
    expect(b2.toString('utf8', 0, 11)).toBe('async-bytes');
    // nbytes limits the read; the rest stays queued.
    await write(client, Buffer.from('abcdef'));
    expect(await read(server, b2, 2)).toBe(2);
    expect(readSync(server, b2, 4)).toBe(4);
    expect(b2.toString('utf8', 0, 4)).toBe('cdef');
    shutdown(client, SHUT_WR);
    expect(readSync(server, b2)).toBe(0);
    expect(await read(server, b2)).toBe(0);
  });

  it('writes with EPIPE (no SIGPIPE) after shutdown(SHUT_WR)', async () => {
    const { client } = tcpPair(family);
    shutdown(client, SHUT_WR);
    await sameFailure(() => writeSync(client, Buffer.from('x')), () => write(client, Buffer.from('x')), {
      code: 'EPIPE', errno: E.EPIPE, syscall: 'write', message: 'write EPIPE',
    });
  });

  it('reads with EAGAIN at once on an empty non-blocking socket', async () => {
    const { server } = tcpPair(family);
    nonBlocking(server);
    await sameFailure(() => readSync(server, Buffer.alloc(4)), () => read(server, Buffer.alloc(4)), {
      code: 'EAGAIN', errno: E.EAGAIN, syscall: 'read', message: 'read EAGAIN',
    });
  });
});

describe('read(2) and write(2) failures', () => {
  it('read fails with ENOTCONN on an unconnected TCP socket', async () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    await sameFailure(() => readSync(fd, Buffer.alloc(4)), () => read(fd, Buffer.alloc(4)), {
      code: 'ENOTCONN', errno: E.ENOTCONN, syscall: 'read', message: 'read ENOTCONN',
    });
  });

  it('read and write fail with EBADF on a closed fd', async () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    await sameFailure(() => readSync(fd, Buffer.alloc(4)), () => read(fd, Buffer.alloc(4)), {
      code: 'EBADF', errno: E.EBADF, syscall: 'read', message: 'read EBADF',
    });
    await sameFailure(() => writeSync(fd, Buffer.alloc(4)), () => write(fd, Buffer.alloc(4)), {
      code: 'EBADF', errno: E.EBADF, syscall: 'write', message: 'write EBADF',
    });
  });

  it('write fails with EPIPE once the Unix peer is closed', async () => {
    const [x, y] = socketpair(AF_UNIX, SOCK_STREAM, 0);
    track(x);
    close(y);
    await sameFailure(() => writeSync(x, Buffer.from('x')), () => write(x, Buffer.from('x')), {
      code: 'EPIPE', errno: E.EPIPE, syscall: 'write', message: 'write EPIPE',
    });
  });

  it('read and write a non-socket fd (a FIFO) as read(2)/write(2) do', async () => {
    const fifo = unixPath().replace(/\.sock$/, '.fifo');
    execFileSync('mkfifo', [fifo]);
    // O_RDWR: Linux opens a FIFO for both ends without waiting for a peer.
    const fd = fs.openSync(fifo, fs.constants.O_RDWR);
    try {
      expect(writeSync(fd, Buffer.from('sync'))).toBe(4);
      const buf = Buffer.alloc(16);
      expect(await read(fd, buf)).toBe(4);
      expect(buf.toString('utf8', 0, 4)).toBe('sync');
      const pending = read(fd, buf);
      await sleep(20);
      expect(threadpool().busy).toBe(1);
      expect(await write(fd, Buffer.from('async'))).toBe(5);
      expect(await pending).toBe(5);
      expect(buf.toString('utf8', 0, 5)).toBe('async');
      fs.closeSync(fd);
      await sameFailure(() => readSync(fd, buf), () => read(fd, buf), {
        code: 'EBADF', errno: E.EBADF, syscall: 'read', message: 'read EBADF',
      });
    } finally {
      try {
        fs.closeSync(fd);
      } catch {
        // Closed above.
      }
      fs.unlinkSync(fifo);
    }
  });
});

describe.each(FAMILIES)('recv(2) and send(2) on %s', (family) => {
  it('moves the same bytes as recvSync/sendSync, MSG_PEEK included', async () => {
    const { client, server } = tcpPair(family);
    expect(sendSync(client, Buffer.from('one'), undefined, 0)).toBe(3);
    expect(await send(client, Buffer.from('two'), 3, 0)).toBe(3);
    const buf = Buffer.alloc(16);
    expect(await recv(server, buf, 3, MSG_PEEK)).toBe(3);
    expect(buf.toString('utf8', 0, 3)).toBe('one');
    expect(recvSync(server, buf, 3, MSG_PEEK)).toBe(3);
    expect(buf.toString('utf8', 0, 3)).toBe('one');
    expect(recvSync(server, buf, 3, 0)).toBe(3);
    expect(buf.toString('utf8', 0, 3)).toBe('one');
    expect(await recv(server, buf, 16, 0)).toBe(3);
    expect(buf.toString('utf8', 0, 3)).toBe('two');
  });

  it('recv fails with EAGAIN at once with MSG_DONTWAIT on an empty socket', async () => {
    const { server } = tcpPair(family);
    await sameFailure(() => recvSync(server, Buffer.alloc(4), 4, MSG_DONTWAIT), () => recv(server, Buffer.alloc(4), 4, MSG_DONTWAIT, { timeout: 2000 }), {
      code: 'EAGAIN', errno: E.EAGAIN, syscall: 'recv', message: 'recv EAGAIN',
    });
  });

  it('send fails with EAGAIN at once with MSG_DONTWAIT on a full send buffer', async () => {
    const { client } = tcpPair(family);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    // Fill the socket buffers without blocking.
    for (let i = 0; i < 100_000; i++) {
      try {
        sendSync(client, chunk, undefined, MSG_DONTWAIT);
      } catch (err) {
        expect((err as SocketError).code).toBe('EAGAIN');
        break;
      }
    }
    await sameFailure(() => sendSync(client, chunk, undefined, MSG_DONTWAIT), () => send(client, chunk, undefined, MSG_DONTWAIT, { timeout: 2000 }), {
      code: 'EAGAIN', errno: E.EAGAIN, syscall: 'send', message: 'send EAGAIN',
    });
  });

  it('send fails with EPIPE after shutdown(SHUT_WR)', async () => {
    const { client } = tcpPair(family);
    shutdown(client, SHUT_WR);
    await sameFailure(() => sendSync(client, Buffer.from('x'), 1, 0), () => send(client, Buffer.from('x'), 1, 0), {
      code: 'EPIPE', errno: E.EPIPE, syscall: 'send', message: 'send EPIPE',
    });
  });
});

describe('recvfrom(2) and sendto(2)', () => {
  it.each(['ipv4', 'ipv6'] as const)('give the same bytes and source address as the Sync twins (%s UDP)', async (family) => {
    const { a, b, addrA, addrB } = udpPair(family);
    expect(sendtoSync(a, Buffer.from('first'), undefined, 0, addrB)).toBe(5);
    expect(await sendto(a, Buffer.from('second'), undefined, 0, addrB)).toBe(6);
    const buf = Buffer.alloc(64);
    const s = recvfromSync(b, buf, 64, 0);
    expect(s).toEqual({ nbytes: 5, addr: addrA });
    expect(buf.toString('utf8', 0, 5)).toBe('first');
    const r = await recvfrom(b, buf, 64, 0);
    expect(r).toEqual({ nbytes: 6, addr: addrA });
    expect(buf.toString('utf8', 0, 6)).toBe('second');
  });

  it('give a null address on a connected stream, as C gives addrlen 0', async () => {
    const { client, server } = tcpPair('ipv4');
    writeSync(client, Buffer.from('abcd'));
    const buf = Buffer.alloc(8);
    expect(recvfromSync(server, buf, 2, 0)).toEqual({ nbytes: 2, addr: null });
    expect(await recvfrom(server, buf, 8, 0)).toEqual({ nbytes: 2, addr: null });
    expect(buf.toString('utf8', 0, 2)).toBe('cd');
  });

  it('recvfrom fails with EAGAIN at once with MSG_DONTWAIT', async () => {
    const { b } = udpPair('ipv4');
    await sameFailure(() => recvfromSync(b, Buffer.alloc(4), 4, MSG_DONTWAIT), () => recvfrom(b, Buffer.alloc(4), 4, MSG_DONTWAIT, { timeout: 2000 }), {
      code: 'EAGAIN', errno: E.EAGAIN, syscall: 'recvfrom', message: 'recvfrom EAGAIN',
    });
  });

  it('sendto fails with EMSGSIZE and the destination for a datagram over 64 KiB', async () => {
    const { a, addrB } = udpPair('ipv4');
    const big = Buffer.alloc(70000);
    const port = (addrB as { port: number }).port;
    await sameFailure(() => sendtoSync(a, big, undefined, 0, addrB), () => sendto(a, big, undefined, 0, addrB), {
      code: 'EMSGSIZE', errno: E.EMSGSIZE, syscall: 'sendto',
      message: `sendto EMSGSIZE 127.0.0.1:${port}`, address: '127.0.0.1', port,
    });
  });
});

describe('poll(2)', () => {
  it('reports the same count and revents as pollSync', async () => {
    const { client, server } = tcpPair('ipv4');
    const idle: PollFd[] = [{ fd: server, events: POLLIN }];
    expect(pollSync(idle, 0)).toBe(0);
    expect(idle[0].revents).toBe(0);
    const idleAsync: PollFd[] = [{ fd: server, events: POLLIN }];
    expect(await poll(idleAsync, 0)).toBe(0);
    expect(idleAsync[0].revents).toBe(0);

    writeSync(client, Buffer.from('x'));
    const s: PollFd[] = [{ fd: server, events: POLLIN }, { fd: client, events: POLLOUT }];
    const a: PollFd[] = [{ fd: server, events: POLLIN }, { fd: client, events: POLLOUT }];
    expect(pollSync(s, 1000)).toBe(2);
    expect(await poll(a, 1000)).toBe(2);
    expect(s).toEqual([{ fd: server, events: POLLIN, revents: POLLIN }, { fd: client, events: POLLOUT, revents: POLLOUT }]);
    expect(a).toEqual(s);
  });

  it('waits on a worker until an fd becomes ready', async () => {
    const { client, server } = tcpPair('unix');
    const fds: PollFd[] = [{ fd: server, events: POLLIN }];
    const p = poll(fds, -1);
    await sleep(30);
    writeSync(client, Buffer.from('x'));
    expect(await p).toBe(1);
    expect(fds[0].revents).toBe(POLLIN);
  });

  it('returns 0 after its own timeout, as C does', async () => {
    const { server } = tcpPair('ipv4');
    const t0 = performance.now();
    expect(await poll([{ fd: server, events: POLLIN }], 50)).toBe(0);
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(45);
    expect(ms).toBeLessThan(1000);
  });

  it('sets POLLNVAL for a closed fd and ignores a negative fd, as pollSync', async () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    const s: PollFd[] = [{ fd, events: POLLIN }, { fd: -1, events: POLLIN }];
    const a: PollFd[] = [{ fd, events: POLLIN }, { fd: -1, events: POLLIN }];
    expect(pollSync(s, 0)).toBe(1);
    expect(await poll(a, 0)).toBe(1);
    expect(s[0].revents).toBe(POLLNVAL);
    expect(s[1].revents).toBe(0);
    expect(a).toEqual(s);
  });

  it('fails with EINVAL when nfds exceeds RLIMIT_NOFILE', async () => {
    const limits = fs.readFileSync('/proc/self/limits', 'utf8');
    const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)![1]);
    const many = Array.from({ length: soft + 1 }, () => ({ fd: -1, events: POLLIN }));
    await sameFailure(() => pollSync(many, 0), () => poll(many, 0), {
      code: 'EINVAL', errno: E.EINVAL, syscall: 'poll', message: 'poll EINVAL',
    });
  });
});

describe('getaddrinfo(3) with numeric hosts', () => {
  it('gives the same list as getaddrinfoSync for 127.0.0.1', async () => {
    const hints = { flags: AI_NUMERICHOST | AI_NUMERICSERV, family: AF_INET, socktype: SOCK_STREAM };
    const s = getaddrinfoSync('127.0.0.1', '8080', hints);
    const a = await getaddrinfo('127.0.0.1', '8080', hints);
    expect(s).toEqual([{
      family: AF_INET, socktype: SOCK_STREAM, protocol: IPPROTO_TCP,
      addr: { family: AF_INET, address: '127.0.0.1', port: 8080 },
    }]);
    expect(a).toEqual(s);
  });

  it('gives the same list as getaddrinfoSync for ::1, datagram', async () => {
    const hints = { flags: AI_NUMERICHOST | AI_NUMERICSERV, family: AF_INET6, socktype: SOCK_DGRAM };
    const s = getaddrinfoSync('::1', '53', hints);
    const a = await getaddrinfo('::1', '53', hints);
    expect(s).toEqual([{
      family: AF_INET6, socktype: SOCK_DGRAM, protocol: IPPROTO_UDP,
      addr: { family: AF_INET6, address: '::1', port: 53, flowinfo: 0, scopeId: 0 },
    }]);
    expect(a).toEqual(s);
  });

  it('fails with EAI_NONAME for a non-numeric host under AI_NUMERICHOST', async () => {
    const hints = { flags: AI_NUMERICHOST, family: AF_INET };
    const s = thrown(() => getaddrinfoSync('not-an-address', null, hints)) as SocketError;
    const a = await rejection(getaddrinfo('not-an-address', null, hints)) as SocketError;
    expect(s).toBeInstanceOf(SocketError);
    expect(s.code).toBe('EAI_NONAME');
    expect(s.syscall).toBe('getaddrinfo');
    expect(s.message).toMatch(/^getaddrinfo EAI_NONAME not-an-address: /);
    expect(fields(a)).toEqual(fields(s));
  });
});

describe('the event loop while a call waits', () => {
  it('keeps ticking (setInterval) while accept() waits on a worker', async () => {
    const l = listener('ipv4');
    let ticks = 0;
    const interval = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    const pending = accept(l.fd);
    setTimeout(() => {
      // The connection comes from a timer: the loop has to be running for it to happen at all.
      connectedClient('ipv4', l.addr);
    }, 200);
    const { fd, addr } = await pending;
    track(fd);
    clearInterval(interval);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    expect(addr).toMatchObject({ family: AF_INET, address: '127.0.0.1' });
    // About 40 ticks in 200 ms; a blocked loop would give none.
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  it('keeps ticking while read() waits, and the worker does the waiting', async () => {
    const { client, server } = tcpPair('unix');
    let ticks = 0;
    const interval = setInterval(() => ticks++, 5);
    const buf = Buffer.alloc(4);
    const pending = read(server, buf);
    await sleep(100);
    expect(threadpool().busy).toBe(1);
    writeSync(client, Buffer.from('done'));
    expect(await pending).toBe(4);
    clearInterval(interval);
    expect(ticks).toBeGreaterThanOrEqual(5);
    expect(buf.toString()).toBe('done');
  });
});

describe('buffers used by a worker', () => {
  it('stay pinned under forced GC after losing their last JS reference, and the data lands', async () => {
    const child = new Child(fixture('gc-pinned.cjs'), { execArgv: ['--expose-gc'], timeoutMs: 15_000 });
    const exit = await child.exited;
    expect(exit.stderr).toBe('');
    expect(exit.code).toBe(0);
    expect(child.messages).toEqual([{
      event: 'result',
      collectedWhilePending: [],
      nRead: 11, readText: 'hello world',
      nRecv: 16, viewText: '0123456789abcdef', viewOffsetBytes: '0123456789abcdef', outsideZero: true,
      nbytes: 9, dgramText: 'datagram!',
      // Once settled, the pins are dropped: nothing leaks.
      collectedAfter: ['dgram', 'read', 'view'],
      threadpool: { size: 4, busy: 0, queued: 0 },
    }]);
  });

  it.each(['ipv4', 'unix'] as const)('write() of 8 MiB on a blocking %s stream writes everything while the peer reads', async (family) => {
    const { client, server } = tcpPair(family);
    const data = randomBytes(8 * 1024 * 1024);
    const received: Buffer[] = [];
    let total = 0;
    const reader = (async () => {
      const buf = Buffer.alloc(256 * 1024);
      for (;;) {
        const n = await read(server, buf);
        if (n === 0) return;
        received.push(Buffer.from(buf.subarray(0, n)));
        total += n;
      }
    })();
    const t0 = performance.now();
    expect(await write(client, data)).toBe(data.length);
    shutdown(client, SHUT_WR);
    await reader;
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(total).toBe(data.length);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(sha(Buffer.concat(received))).toBe(sha(data));
  });

  it('send() of 8 MiB on a blocking stream sends everything too', async () => {
    const { client, server } = tcpPair('ipv4');
    const data = randomBytes(8 * 1024 * 1024);
    const hash = createHash('sha256');
    let total = 0;
    const reader = (async () => {
      const buf = Buffer.alloc(128 * 1024);
      for (;;) {
        const n = await recv(server, buf, buf.length, 0);
        if (n === 0) return;
        hash.update(buf.subarray(0, n));
        total += n;
      }
    })();
    expect(await send(client, data, undefined, 0)).toBe(data.length);
    shutdown(client, SHUT_WR);
    await reader;
    expect(total).toBe(data.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });
});
