// poll(2) as a Promise: one libuv worker waits on many sockets at once and
// sets `revents` on each entry as C does; its own timeout resolves 0,
// opts.timeout rejects ETIMEDOUT, an AbortSignal rejects AbortError; a bad fd
// is POLLNVAL; a closed peer is POLLHUP.
import * as os from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_UNIX, AbortError, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLRDHUP, SHUT_WR,
  SOCK_STREAM, type PollFd, SocketError,
  close, poll, pollSync, readSync, shutdown, socket, socketpair, threadpool, writeSync,
} from '../lib/index';
import { openFds, sleep } from './helpers/fds';
import { FAMILIES, closeAll, tcpPair, track } from './helpers/pairs';
import { rejection, settleFlag } from './helpers/errors';

const E = os.constants.errno;

/** Occupies every pool thread at once, so each has created its wake-up fd (before fd baselines and POLLNVAL checks). */
async function warmPool(): Promise<void> {
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM);
  await Promise.all(Array.from({ length: threadpool().size }, () => poll([{ fd: a, events: POLLIN }], 30)));
  close(a);
  close(b);
}

/** An fd number that is certainly not open: far above every open fd. */
function unusedFd(): number {
  return Math.max(...openFds()) + 1000;
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

describe('poll(2) async: many sockets, one worker', () => {
  it.each(FAMILIES)('%s: waits on several sockets from one worker thread and sets revents on the ready entry only', async (family) => {
    const pairs = [tcpPair(family), tcpPair(family), tcpPair(family), tcpPair(family)];
    const fds: PollFd[] = pairs.map((p) => ({ fd: p.server, events: POLLIN }));
    const entries = [...fds];
    const p = settleFlag(poll(fds, -1));
    await sleep(50);
    expect(p.settled()).toBe(false);
    // One worker for the four sockets.
    expect(threadpool().busy).toBe(1);
    expect(writeSync(pairs[2].client, Buffer.from('x'))).toBe(1);
    expect(await p.promise).toBe(1);
    // The same objects, their revents set as C sets struct pollfd's.
    expect(fds).toEqual(entries);
    expect(fds.map((f) => f.revents)).toEqual([0, 0, POLLIN, 0]);
    expect(fds.map((f) => f.events)).toEqual([POLLIN, POLLIN, POLLIN, POLLIN]);
  });

  it('counts every ready entry and reports each one\'s own events', async () => {
    const a = tcpPair('ipv4');
    const b = tcpPair('ipv6');
    const c = tcpPair('unix');
    writeSync(a.client, Buffer.from('1'));
    writeSync(c.client, Buffer.from('3'));
    const fds: PollFd[] = [
      { fd: a.server, events: POLLIN },
      { fd: b.server, events: POLLIN },
      { fd: c.server, events: POLLIN | POLLOUT },
      { fd: b.client, events: POLLOUT },
    ];
    expect(await poll(fds, 1000)).toBe(3);
    expect(fds.map((f) => f.revents)).toEqual([POLLIN, 0, POLLIN | POLLOUT, POLLOUT]);
    // pollSync gives the same answer.
    const again: PollFd[] = fds.map(({ fd, events }) => ({ fd, events }));
    expect(pollSync(again, 0)).toBe(3);
    expect(again.map((f) => f.revents)).toEqual([POLLIN, 0, POLLIN | POLLOUT, POLLOUT]);
  });

  it('an entry with a negative fd is ignored (revents 0), as in C', async () => {
    const { client, server } = tcpPair('ipv4');
    writeSync(client, Buffer.from('x'));
    const fds: PollFd[] = [{ fd: -1, events: POLLIN }, { fd: server, events: POLLIN }];
    expect(await poll(fds, 1000)).toBe(1);
    expect(fds.map((f) => f.revents)).toEqual([0, POLLIN]);
  });

  it('runs many polls concurrently, each resolved by its own socket', async () => {
    const pairs = [tcpPair('ipv4'), tcpPair('ipv4'), tcpPair('ipv4')];
    const sets = pairs.map((p) => [{ fd: p.server, events: POLLIN }] as PollFd[]);
    const pending = sets.map((fds) => settleFlag(poll(fds, 5000)));
    await sleep(30);
    writeSync(pairs[1].client, Buffer.from('b'));
    expect(await pending[1].promise).toBe(1);
    expect(pending[0].settled()).toBe(false);
    expect(pending[2].settled()).toBe(false);
    writeSync(pairs[0].client, Buffer.from('a'));
    writeSync(pairs[2].client, Buffer.from('c'));
    expect(await pending[0].promise).toBe(1);
    expect(await pending[2].promise).toBe(1);
    expect(sets.map((s) => s[0].revents)).toEqual([POLLIN, POLLIN, POLLIN]);
  });
});

describe('poll(2) async: timeouts', () => {
  it('its own timeoutMs resolves 0 with every revents 0', async () => {
    const pairs = [tcpPair('ipv4'), tcpPair('unix')];
    const fds: PollFd[] = pairs.map((p) => ({ fd: p.server, events: POLLIN }));
    const t0 = performance.now();
    expect(await poll(fds, 80)).toBe(0);
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(75);
    expect(ms).toBeLessThan(2000);
    expect(fds.map((f) => f.revents)).toEqual([0, 0]);
  });

  it('timeoutMs 0 returns at once', async () => {
    const { server } = tcpPair('ipv4');
    const fds: PollFd[] = [{ fd: server, events: POLLIN }];
    const t0 = performance.now();
    expect(await poll(fds, 0)).toBe(0);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(fds[0].revents).toBe(0);
  });

  it('opts.timeout rejects with SocketError ETIMEDOUT and frees the worker', async () => {
    const { server } = tcpPair('ipv4');
    const t0 = performance.now();
    const err = await rejection(poll([{ fd: server, events: POLLIN }], -1, { timeout: 60 }));
    const ms = performance.now() - t0;
    expect(err).toBeInstanceOf(SocketError);
    expect(err).toMatchObject({ code: 'ETIMEDOUT', errno: E.ETIMEDOUT, syscall: 'poll', message: 'poll ETIMEDOUT' });
    expect(ms).toBeGreaterThanOrEqual(55);
    expect(ms).toBeLessThan(2000);
    expect(threadpool().busy).toBe(0);
  });

  it('the shorter of timeoutMs and opts.timeout decides', async () => {
    const { server } = tcpPair('ipv4');
    const fds: PollFd[] = [{ fd: server, events: POLLIN }];
    expect(await poll(fds, 30, { timeout: 5000 })).toBe(0);
    const err = await rejection(poll(fds, 5000, { timeout: 30 }));
    expect(err).toMatchObject({ code: 'ETIMEDOUT', syscall: 'poll' });
  });

  it('an entry that becomes ready before opts.timeout resolves normally', async () => {
    const { client, server } = tcpPair('ipv4');
    const fds: PollFd[] = [{ fd: server, events: POLLIN }];
    setTimeout(() => writeSync(client, Buffer.from('x')), 20);
    expect(await poll(fds, -1, { timeout: 5000 })).toBe(1);
    expect(fds[0].revents).toBe(POLLIN);
  });
});

describe('poll(2) async: abort', () => {
  it('an AbortSignal rejects with AbortError (code ABORT_ERR, cause = reason) and frees the worker', async () => {
    const { server } = tcpPair('ipv4');
    const ac = new AbortController();
    const p = poll([{ fd: server, events: POLLIN }], -1, { signal: ac.signal });
    await sleep(30);
    expect(threadpool().busy).toBe(1);
    const reason = new Error('stop waiting');
    const t0 = performance.now();
    ac.abort(reason);
    const err = await rejection(p);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    expect(threadpool().busy).toBe(0);
  });

  it('an already-aborted signal rejects without starting the call', async () => {
    const { server } = tcpPair('ipv4');
    const ac = new AbortController();
    ac.abort('early');
    const err = await rejection(poll([{ fd: server, events: POLLIN }], -1, { signal: ac.signal }));
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: 'early' });
  });

  it('the socket is untouched after an aborted poll: its data is still there', async () => {
    const { client, server } = tcpPair('ipv4');
    const ac = new AbortController();
    const p = poll([{ fd: server, events: POLLIN }], -1, { signal: ac.signal });
    await sleep(20);
    ac.abort();
    await rejection(p);
    writeSync(client, Buffer.from('kept'));
    const buf = Buffer.alloc(8);
    expect(readSync(server, buf)).toBe(4);
    expect(buf.toString('latin1', 0, 4)).toBe('kept');
  });
});

describe('poll(2): POLLNVAL and POLLHUP', () => {
  it('pollSync reports POLLNVAL (and counts the entry) for a closed fd', () => {
    const { server } = tcpPair('ipv4');
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    const fds: PollFd[] = [{ fd, events: POLLIN }, { fd: server, events: POLLIN }];
    expect(pollSync(fds, 0)).toBe(1);
    expect(fds.map((f) => f.revents)).toEqual([POLLNVAL, 0]);
  });

  it('async poll reports POLLNVAL for a closed fd, even with events 0', async () => {
    await warmPool(); // No pool thread opens its wake-up fd under the closed number.
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    const fds: PollFd[] = [{ fd, events: POLLIN }, { fd: unusedFd(), events: 0 }];
    expect(await poll(fds, 1000)).toBe(2);
    expect(fds.map((f) => f.revents)).toEqual([POLLNVAL, POLLNVAL]);
  });

  it('AF_UNIX: POLLIN|POLLHUP after the peer closes, and POLLHUP even when not asked for', async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM).map(track);
    const fds: PollFd[] = [{ fd: b, events: POLLIN }];
    const p = settleFlag(poll(fds, 5000));
    await sleep(30);
    expect(p.settled()).toBe(false);
    close(a);
    expect(await p.promise).toBe(1);
    expect(fds[0].revents).toBe(POLLIN | POLLHUP);
    const none: PollFd[] = [{ fd: b, events: 0 }];
    expect(await poll(none, 1000)).toBe(1);
    expect(none[0].revents).toBe(POLLHUP);
    // And read() sees end of stream.
    expect(readSync(b, Buffer.alloc(4))).toBe(0);
  });

  it('TCP: the peer\'s close is POLLIN|POLLRDHUP; POLLHUP once both directions are shut', async () => {
    const { client, server } = tcpPair('ipv4');
    close(client);
    const fds: PollFd[] = [{ fd: server, events: POLLIN | POLLRDHUP }];
    expect(await poll(fds, 1000)).toBe(1);
    expect(fds[0].revents).toBe(POLLIN | POLLRDHUP);
    shutdown(server, SHUT_WR);
    const both: PollFd[] = [{ fd: server, events: POLLIN }];
    expect(await poll(both, 1000)).toBe(1);
    expect(both[0].revents).toBe(POLLIN | POLLHUP);
  });

  it('TCP: a reset connection is POLLIN|POLLERR|POLLHUP', async () => {
    const { client, server } = tcpPair('ipv4');
    writeSync(server, Buffer.from('unread'));
    close(client); // Unread data: the kernel answers with RST.
    const fds: PollFd[] = [{ fd: server, events: POLLIN }];
    expect(await poll(fds, 1000)).toBe(1);
    expect(fds[0].revents).toBe(POLLIN | POLLERR | POLLHUP);
    expect(() => readSync(server, Buffer.alloc(4))).toThrow(expect.objectContaining({ code: 'ECONNRESET' }));
  });

  it('close(fd) while poll() waits on it settles with EBADF promptly', async () => {
    const { server } = tcpPair('ipv4');
    const p = poll([{ fd: server, events: POLLIN }], -1);
    await sleep(30);
    const t0 = performance.now();
    close(server);
    const err = await rejection(p);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err).toBeInstanceOf(SocketError);
    expect(err).toMatchObject({ code: 'EBADF', errno: E.EBADF, syscall: 'poll' });
  });
});

describe('poll(2): argument checks', () => {
  it('rejects a non-array, a non-object entry, and events out of range, before any call', async () => {
    await expect(poll('x' as unknown as PollFd[], 0)).rejects.toThrow(
      new TypeError('The "fds" argument must be an array of { fd, events }'),
    );
    await expect(poll([null as unknown as PollFd], 0)).rejects.toThrow(
      new TypeError('The "fds[0]" element must be an object { fd, events }'),
    );
    await expect(poll([{ fd: 0, events: 0x8000 }], 0)).rejects.toThrow(RangeError);
    await expect(poll([], -2)).rejects.toThrow(RangeError);
    expect(threadpool().busy).toBe(0);
  });

  it('an empty set is a sleep: resolves 0 after timeoutMs', async () => {
    const t0 = performance.now();
    expect(await poll([], 40)).toBe(0);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(35);
  });
});
