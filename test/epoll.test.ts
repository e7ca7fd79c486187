// epoll(7) on Linux: epoll_create1 (close-on-exec), epoll_ctl ADD/MOD/DEL and
// its errors, level- and edge-triggered readiness, the 64-bit data tag,
// epoll_wait on one worker (abort, opts.timeout) and epoll_waitSync.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_UNIX, AbortError, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLLRDHUP,
  EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, FD_CLOEXEC, F_GETFD, F_GETFL, F_SETFL,
  O_NONBLOCK, POLLIN, SOCK_STREAM, type EpollEvent, SocketError,
  close, epoll_create1, epoll_ctl, epoll_wait, epoll_waitSync, fcntl, poll, readSync, socketpair,
  threadpool, writeSync,
} from '../lib/index';
import { openFds, sleep } from './helpers/fds';
import { FAMILIES, closeAll, tcpPair, track } from './helpers/pairs';
import { rejection, settleFlag, sysError } from './helpers/errors';

const E = os.constants.errno;
const isLinux = process.platform === 'linux';

/** A connected AF_UNIX stream pair [a, b], both tracked. */
function pair(): [number, number] {
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM);
  return [track(a), track(b)];
}

/** Reads everything there is on a non-blocking fd; returns the byte count. */
function drain(fd: number): number {
  const flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  const buf = Buffer.alloc(4096);
  let total = 0;
  try {
    for (;;) total += readSync(fd, buf);
  } catch (err) {
    expect(err).toMatchObject({ code: 'EAGAIN' });
  } finally {
    fcntl(fd, F_SETFL, flags);
  }
  return total;
}

async function warmPool(): Promise<void> {
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM);
  await Promise.all(Array.from({ length: threadpool().size }, () => poll([{ fd: a, events: POLLIN }], 30)));
  close(a);
  close(b);
}

let baseline: number[];

beforeAll(async () => {
  await warmPool();
  baseline = openFds();
});

afterEach(() => {
  closeAll();
  expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
});

afterAll(() => {
  expect(openFds()).toEqual(baseline);
});

describe.runIf(isLinux)('epoll_create1(2)', () => {
  it('returns an epoll fd that is close-on-exec, with flags 0 and with EPOLL_CLOEXEC', () => {
    for (const flags of [0, EPOLL_CLOEXEC]) {
      const ep = track(epoll_create1(flags));
      expect(ep).toBeGreaterThan(2);
      expect(fcntl(ep, F_GETFD)).toBe(FD_CLOEXEC);
      expect(fs.readlinkSync(`/proc/self/fd/${ep}`)).toBe('anon_inode:[eventpoll]');
    }
  });

  it('a child process does not inherit it', () => {
    const ep = track(epoll_create1(0));
    const r = spawnSync('ls', ['-l', '/proc/self/fd'], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('eventpoll');
    expect(r.stdout).not.toMatch(new RegExp(`\\s${ep} -> `));
  });

  it('fails with EINVAL for unknown flags', () => {
    expect(sysError(() => epoll_create1(1))).toMatchObject({
      code: 'EINVAL', errno: E.EINVAL, syscall: 'epoll_create1', message: 'epoll_create1 EINVAL',
    });
  });
});

describe.runIf(isLinux)('epoll_ctl(2)', () => {
  it('ADD reports readiness, MOD changes the events and data, DEL removes the fd', () => {
    const ep = track(epoll_create1(0));
    const [a, b] = pair();
    expect(epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: 7 })).toBe(0);
    expect(epoll_waitSync(ep, 8, 0)).toEqual([]);
    writeSync(a, Buffer.from('x'));
    expect(epoll_waitSync(ep, 8, 0)).toEqual([{ events: EPOLLIN, data: 7 }]);
    expect(epoll_ctl(ep, EPOLL_CTL_MOD, b, { events: EPOLLOUT, data: 8 })).toBe(0);
    expect(epoll_waitSync(ep, 8, 0)).toEqual([{ events: EPOLLOUT, data: 8 }]);
    expect(epoll_ctl(ep, EPOLL_CTL_MOD, b, { events: EPOLLIN | EPOLLOUT, data: 9 })).toBe(0);
    expect(epoll_waitSync(ep, 8, 0)).toEqual([{ events: EPOLLIN | EPOLLOUT, data: 9 }]);
    expect(epoll_ctl(ep, EPOLL_CTL_DEL, b)).toBe(0);
    expect(epoll_waitSync(ep, 8, 0)).toEqual([]);
    // Registered again after DEL: no EEXIST.
    expect(epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: 10 })).toBe(0);
    expect(epoll_waitSync(ep, 8, 0)).toEqual([{ events: EPOLLIN, data: 10 }]);
  });

  it('fails with EEXIST when an fd is added twice', () => {
    const ep = track(epoll_create1(0));
    const [, b] = pair();
    epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: 1 });
    expect(sysError(() => epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: 1 }))).toMatchObject({
      name: 'SocketError', code: 'EEXIST', errno: E.EEXIST, syscall: 'epoll_ctl', message: 'epoll_ctl EEXIST',
    });
  });

  it('fails with ENOENT on MOD or DEL of an fd that is not registered', () => {
    const ep = track(epoll_create1(0));
    const [, b] = pair();
    expect(sysError(() => epoll_ctl(ep, EPOLL_CTL_MOD, b, { events: EPOLLIN, data: 1 }))).toMatchObject({
      code: 'ENOENT', errno: E.ENOENT, syscall: 'epoll_ctl', message: 'epoll_ctl ENOENT',
    });
    expect(sysError(() => epoll_ctl(ep, EPOLL_CTL_DEL, b))).toMatchObject({ code: 'ENOENT', errno: E.ENOENT });
  });

  it('fails with EPERM for a regular file, EINVAL for the epoll fd itself, a bad op, or a non-epoll epfd', () => {
    const ep = track(epoll_create1(0));
    const [a, b] = pair();
    const file = fs.openSync(__filename, 'r');
    try {
      expect(sysError(() => epoll_ctl(ep, EPOLL_CTL_ADD, file, { events: EPOLLIN, data: 0 }))).toMatchObject({
        code: 'EPERM', errno: E.EPERM, syscall: 'epoll_ctl',
      });
    } finally {
      fs.closeSync(file);
    }
    expect(sysError(() => epoll_ctl(ep, EPOLL_CTL_ADD, ep, { events: EPOLLIN, data: 0 }))).toMatchObject({ code: 'EINVAL' });
    expect(sysError(() => epoll_ctl(ep, 99, b, { events: EPOLLIN, data: 0 }))).toMatchObject({ code: 'EINVAL' });
    expect(sysError(() => epoll_ctl(a, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: 0 }))).toMatchObject({ code: 'EINVAL' });
  });

  it('fails with EBADF for a closed fd', () => {
    const ep = track(epoll_create1(0));
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM);
    close(a);
    close(b);
    expect(sysError(() => epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: 0 }))).toMatchObject({
      code: 'EBADF', errno: E.EBADF, syscall: 'epoll_ctl',
    });
  });

  it('checks its arguments: event object, data range', () => {
    const ep = track(epoll_create1(0));
    const [, b] = pair();
    expect(() => epoll_ctl(ep, EPOLL_CTL_ADD, b, null as unknown as EpollEvent)).toThrow(
      new TypeError('The "event" argument must be an object { events, data }'),
    );
    expect(() => epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: -1 })).toThrow(RangeError);
    expect(() => epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: 1.5 })).toThrow(RangeError);
    expect(() => epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: 2 ** 53 })).toThrow(
      new RangeError('The value of "event.data" is out of range. It must be an integer >= 0 and <= 9007199254740991. Received 9007199254740992'),
    );
    // Nothing was registered by the failed calls.
    expect(epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: 0 })).toBe(0);
  });

  it('data defaults to 0 and round-trips 0, 2**32, 2**40 and 2**53-1 exactly', () => {
    const ep = track(epoll_create1(0));
    const tags = [0, 1, 2 ** 32, 2 ** 40, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER];
    const pairs = tags.map(() => pair());
    pairs.forEach(([a, b], i) => {
      epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: tags[i] });
      writeSync(a, Buffer.from('x'));
    });
    const got = epoll_waitSync(ep, 64, 0);
    expect(got.map((e) => e.data).sort((x, y) => x - y)).toEqual([...tags].sort((x, y) => x - y));
    expect(got.every((e) => e.events === EPOLLIN)).toBe(true);
    const ep2 = track(epoll_create1(0));
    epoll_ctl(ep2, EPOLL_CTL_ADD, pairs[0][1], { events: EPOLLIN } as EpollEvent);
    expect(epoll_waitSync(ep2, 1, 0)).toEqual([{ events: EPOLLIN, data: 0 }]);
  });

  it('accepts EPOLLET | EPOLLIN (bit 31 set, a negative int in JS)', () => {
    const ep = track(epoll_create1(0));
    const [, b] = pair();
    expect(epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN | EPOLLET, data: 1 })).toBe(0);
  });

  it('accepts the exported EPOLLET constant itself as events (C\'s uint32_t mask)', () => {
    // EPOLLET is exported as 2147483648 (1 << 31, unsigned): `events: EPOLLET` or
    // `EPOLLIN + EPOLLET` are what a C programmer writes.
    expect(EPOLLET).toBe(2 ** 31);
    const ep = track(epoll_create1(0));
    const [a, b] = pair();
    expect(epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN + EPOLLET, data: 1 })).toBe(0);
    expect(epoll_ctl(ep, EPOLL_CTL_ADD, a, { events: EPOLLET, data: 2 })).toBe(0);
  });
});

describe.runIf(isLinux)('level- and edge-triggered readiness', () => {
  it('level-triggered: reports again on every wait until the data is drained', () => {
    const ep = track(epoll_create1(0));
    const [a, b] = pair();
    epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: b });
    writeSync(a, Buffer.from('0123456789'));
    expect(epoll_waitSync(ep, 4, 0)).toEqual([{ events: EPOLLIN, data: b }]);
    expect(epoll_waitSync(ep, 4, 0)).toEqual([{ events: EPOLLIN, data: b }]);
    const buf = Buffer.alloc(4);
    expect(readSync(b, buf)).toBe(4);
    expect(epoll_waitSync(ep, 4, 0)).toEqual([{ events: EPOLLIN, data: b }]);
    expect(drain(b)).toBe(6);
    expect(epoll_waitSync(ep, 4, 0)).toEqual([]);
  });

  it('edge-triggered (EPOLLET): reports once per new arrival, not again while data stays unread', () => {
    const ep = track(epoll_create1(0));
    const [a, b] = pair();
    epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN | EPOLLET, data: b });
    expect(epoll_waitSync(ep, 4, 0)).toEqual([]);
    writeSync(a, Buffer.from('first'));
    // Returned events carry what happened, not the EPOLLET mode bit.
    expect(epoll_waitSync(ep, 4, 0)).toEqual([{ events: EPOLLIN, data: b }]);
    expect(epoll_waitSync(ep, 4, 0)).toEqual([]);
    expect(epoll_waitSync(ep, 4, 0)).toEqual([]);
    // A partial read does not re-arm it either.
    expect(readSync(b, Buffer.alloc(2))).toBe(2);
    expect(epoll_waitSync(ep, 4, 0)).toEqual([]);
    // New data is a new edge: exactly one more report.
    writeSync(a, Buffer.from('second'));
    expect(epoll_waitSync(ep, 4, 0)).toEqual([{ events: EPOLLIN, data: b }]);
    expect(epoll_waitSync(ep, 4, 0)).toEqual([]);
    expect(drain(b)).toBe(3 + 6);
    expect(epoll_waitSync(ep, 4, 0)).toEqual([]);
  });

  it('edge-triggered: each of three writes is one report when waited for in between', () => {
    const ep = track(epoll_create1(0));
    const [a, b] = pair();
    epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN | EPOLLET, data: 42 });
    let reports = 0;
    for (let i = 0; i < 3; i++) {
      writeSync(a, Buffer.from([i]));
      const got = epoll_waitSync(ep, 4, 0);
      reports += got.length;
      expect(epoll_waitSync(ep, 4, 0)).toEqual([]);
    }
    expect(reports).toBe(3);
  });

  it('EPOLLONESHOT: reports once, then nothing until EPOLL_CTL_MOD re-arms it', () => {
    const ep = track(epoll_create1(0));
    const [a, b] = pair();
    epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN | EPOLLONESHOT, data: 5 });
    writeSync(a, Buffer.from('x'));
    expect(epoll_waitSync(ep, 4, 0)).toEqual([{ events: EPOLLIN, data: 5 }]);
    writeSync(a, Buffer.from('y'));
    expect(epoll_waitSync(ep, 4, 0)).toEqual([]);
    epoll_ctl(ep, EPOLL_CTL_MOD, b, { events: EPOLLIN | EPOLLONESHOT, data: 6 });
    expect(epoll_waitSync(ep, 4, 0)).toEqual([{ events: EPOLLIN, data: 6 }]);
  });

  it('reports EPOLLIN|EPOLLHUP|EPOLLRDHUP once the AF_UNIX peer is gone', () => {
    const ep = track(epoll_create1(0));
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM);
    track(b);
    epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN | EPOLLRDHUP, data: 3 });
    close(a);
    expect(epoll_waitSync(ep, 4, 0)).toEqual([{ events: EPOLLIN | EPOLLHUP | EPOLLRDHUP, data: 3 }]);
  });

  it.each(FAMILIES)('%s stream: level-triggered EPOLLIN on the accepted socket, EPOLLOUT on the client', (family) => {
    const ep = track(epoll_create1(0));
    const { client, server } = tcpPair(family);
    epoll_ctl(ep, EPOLL_CTL_ADD, server, { events: EPOLLIN, data: 1 });
    epoll_ctl(ep, EPOLL_CTL_ADD, client, { events: EPOLLOUT, data: 2 });
    expect(epoll_waitSync(ep, 4, 0)).toEqual([{ events: EPOLLOUT, data: 2 }]);
    writeSync(client, Buffer.from('abc'));
    const got = epoll_waitSync(ep, 4, 1000).sort((x, y) => x.data - y.data);
    expect(got).toEqual([{ events: EPOLLIN, data: 1 }, { events: EPOLLOUT, data: 2 }]);
  });
});

describe.runIf(isLinux)('maxevents', () => {
  it('returns at most maxevents; level-triggered entries rotate so every fd gets its turn', () => {
    const ep = track(epoll_create1(0));
    const pairs = Array.from({ length: 5 }, () => pair());
    pairs.forEach(([a, b], i) => {
      epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: i });
      writeSync(a, Buffer.from('x'));
    });
    const seen = new Set<number>();
    for (let k = 0; k < 3; k++) {
      const got = epoll_waitSync(ep, 2, 0);
      expect(got).toHaveLength(2);
      for (const e of got) seen.add(e.data);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(epoll_waitSync(ep, 1, 0)).toHaveLength(1);
    expect(epoll_waitSync(ep, 5, 0)).toHaveLength(5);
    expect(epoll_waitSync(ep, 65536, 0)).toHaveLength(5);
  });

  it('RangeError for 0, negative, fractional or > 65536, sync and async, before any call', async () => {
    const ep = track(epoll_create1(0));
    const msg = (v: number) => `The value of "maxevents" is out of range. It must be an integer >= 1 and <= 65536. Received ${v}`;
    for (const v of [0, -1, 65537]) {
      expect(() => epoll_waitSync(ep, v, 0)).toThrow(new RangeError(msg(v)));
      await expect(epoll_wait(ep, v, 0)).rejects.toThrow(new RangeError(msg(v)));
    }
    expect(() => epoll_waitSync(ep, 1.5, 0)).toThrow(RangeError);
    expect(() => epoll_waitSync(ep, 1, -2)).toThrow(RangeError);
    expect(threadpool().busy).toBe(0);
  });
});

describe.runIf(isLinux)('epoll_waitSync(2)', () => {
  it('timeout 0 returns [] at once when nothing is ready', () => {
    const ep = track(epoll_create1(0));
    const [, b] = pair();
    epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: 1 });
    const t0 = performance.now();
    expect(epoll_waitSync(ep, 4, 0)).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it('waits up to its timeout and returns []', () => {
    const ep = track(epoll_create1(0));
    const t0 = performance.now();
    expect(epoll_waitSync(ep, 4, 50)).toEqual([]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
  });

  it('fails with EINVAL on an fd that is not an epoll fd, EBADF on a closed one', () => {
    const [a] = pair();
    expect(sysError(() => epoll_waitSync(a, 4, 0))).toMatchObject({
      code: 'EINVAL', errno: E.EINVAL, syscall: 'epoll_wait', message: 'epoll_wait EINVAL',
    });
    const ep = epoll_create1(0);
    close(ep);
    expect(sysError(() => epoll_waitSync(ep, 4, 0))).toMatchObject({ code: 'EBADF', errno: E.EBADF });
  });
});

describe.runIf(isLinux)('epoll_wait(2) async', () => {
  it('waits on one worker thread for many registered sockets, resolves with the ready ones', async () => {
    const ep = track(epoll_create1(0));
    const pairs = Array.from({ length: 8 }, () => pair());
    pairs.forEach(([, b], i) => epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: 2 ** 40 + i }));
    const p = settleFlag(epoll_wait(ep, 16, -1));
    await sleep(50);
    expect(p.settled()).toBe(false);
    expect(threadpool().busy).toBe(1);
    writeSync(pairs[5][0], Buffer.from('go'));
    expect(await p.promise).toEqual([{ events: EPOLLIN, data: 2 ** 40 + 5 }]);
    expect(threadpool().busy).toBe(0);
  });

  it('its own timeoutMs resolves []', async () => {
    const ep = track(epoll_create1(0));
    const [, b] = pair();
    epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: 1 });
    const t0 = performance.now();
    expect(await epoll_wait(ep, 4, 60)).toEqual([]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
  });

  it('edge-triggered through the async form too: one report, then a timeout', async () => {
    const ep = track(epoll_create1(0));
    const [a, b] = pair();
    epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN | EPOLLET, data: 9 });
    writeSync(a, Buffer.from('x'));
    expect(await epoll_wait(ep, 4, 1000)).toEqual([{ events: EPOLLIN, data: 9 }]);
    expect(await epoll_wait(ep, 4, 30)).toEqual([]);
  });

  it('opts.timeout rejects with SocketError ETIMEDOUT and frees the worker', async () => {
    const ep = track(epoll_create1(0));
    const t0 = performance.now();
    const err = await rejection(epoll_wait(ep, 4, -1, { timeout: 50 }));
    const ms = performance.now() - t0;
    expect(err).toBeInstanceOf(SocketError);
    expect(err).toMatchObject({
      code: 'ETIMEDOUT', errno: E.ETIMEDOUT, syscall: 'epoll_wait', message: 'epoll_wait ETIMEDOUT',
    });
    expect(ms).toBeGreaterThanOrEqual(45);
    expect(ms).toBeLessThan(2000);
    expect(threadpool().busy).toBe(0);
  });

  it('an AbortSignal rejects with AbortError and frees the worker; the events stay for the next wait', async () => {
    const ep = track(epoll_create1(0));
    const [a, b] = pair();
    epoll_ctl(ep, EPOLL_CTL_ADD, b, { events: EPOLLIN, data: 77 });
    const ac = new AbortController();
    const p = epoll_wait(ep, 4, -1, { signal: ac.signal });
    await sleep(30);
    expect(threadpool().busy).toBe(1);
    const reason = new Error('enough');
    const t0 = performance.now();
    ac.abort(reason);
    const err = await rejection(p);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    expect(threadpool().busy).toBe(0);
    writeSync(a, Buffer.from('x'));
    expect(await epoll_wait(ep, 4, 1000)).toEqual([{ events: EPOLLIN, data: 77 }]);
  });

  it('close(epfd) while epoll_wait waits settles with EBADF promptly', async () => {
    const ep = epoll_create1(0);
    const p = epoll_wait(ep, 4, -1);
    await sleep(30);
    close(ep);
    const err = await rejection(p);
    expect(err).toMatchObject({ code: 'EBADF', errno: E.EBADF, syscall: 'epoll_wait' });
  });

  it('fails with EINVAL on an fd that is not an epoll fd', async () => {
    const [a] = pair();
    const err = await rejection(epoll_wait(a, 4, 0));
    expect(err).toMatchObject({ code: 'EINVAL', errno: E.EINVAL, syscall: 'epoll_wait' });
  });
});

describe.skipIf(isLinux)('epoll elsewhere', () => {
  it('throws SocketError ENOSYS', () => {
    expect(sysError(() => epoll_create1(0))).toMatchObject({ code: 'ENOSYS', syscall: 'epoll_create1' });
  });
});
