// poll(2) through pollSync: revents set on each { fd, events } entry as C
// does, the count of ready entries, timeouts, POLLNVAL, negative fds.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_UNIX, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDHUP, type PollFd,
  SHUT_WR, SOCK_DGRAM, SOCK_STREAM, close, connectSync, pollSync, readSync, sendtoSync, shutdown,
  socket, socketpair, writeSync,
} from '../lib/index';
import { openFds } from './helpers/fds';
import { closeAll, listener, tcpPair, track, udpPair } from './helpers/pairs';

function pair(): [number, number] {
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, 0);
  return [track(a), track(b)];
}

let baseline: number[];

beforeAll(() => {
  close(socket(AF_INET, SOCK_STREAM, 0));
  baseline = openFds();
});

afterEach(closeAll);

afterAll(() => {
  expect(openFds()).toEqual(baseline);
});

describe('poll(2) via pollSync', () => {
  it('sets revents on every entry and returns how many are ready', () => {
    const [a1, b1] = pair();
    const [, b2] = pair();
    const { client, server } = tcpPair('ipv4');
    writeSync(a1, Buffer.from('x'));
    writeSync(client, Buffer.from('y'));
    const fds: PollFd[] = [
      { fd: b1, events: POLLIN }, // Data queued.
      { fd: b2, events: POLLIN }, // Nothing.
      { fd: a1, events: POLLOUT }, // Room to write.
      { fd: server, events: POLLIN | POLLOUT },
    ];
    expect(pollSync(fds, 1000)).toBe(3);
    expect(fds.map((e) => e.revents)).toEqual([POLLIN, 0, POLLOUT, POLLIN | POLLOUT]);
    // The entries are the caller's own objects, updated in place.
    expect(fds[0]).toEqual({ fd: b1, events: POLLIN, revents: POLLIN });
  });

  it('timeout 0 returns 0 at once with every revents 0', () => {
    const [, b] = pair();
    const [, d] = pair();
    const fds: PollFd[] = [{ fd: b, events: POLLIN }, { fd: d, events: POLLIN | POLLPRI }];
    const t0 = performance.now();
    expect(pollSync(fds, 0)).toBe(0);
    expect(performance.now() - t0).toBeLessThan(500);
    expect(fds.map((e) => e.revents)).toEqual([0, 0]);
  });

  it('a positive timeout with nothing ready waits about that long, then returns 0', () => {
    const [, b] = pair();
    const fds: PollFd[] = [{ fd: b, events: POLLIN }];
    const t0 = performance.now();
    expect(pollSync(fds, 50)).toBe(0);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(45);
    expect(elapsed).toBeLessThan(3000);
    expect(fds[0].revents).toBe(0);
  });

  it('overwrites a stale revents', () => {
    const [, b] = pair();
    const fds: PollFd[] = [{ fd: b, events: POLLIN, revents: POLLIN | POLLERR }];
    expect(pollSync(fds, 0)).toBe(0);
    expect(fds[0].revents).toBe(0);
  });

  it('reports POLLNVAL for a closed fd, and counts it', () => {
    const [, b] = pair();
    const closed = socket(AF_INET, SOCK_STREAM, 0);
    close(closed);
    const fds: PollFd[] = [{ fd: closed, events: POLLIN }, { fd: b, events: POLLIN }];
    expect(pollSync(fds, 0)).toBe(1);
    expect(fds[0].revents).toBe(POLLNVAL);
    expect(fds[1].revents).toBe(0);
  });

  it('ignores an entry with a negative fd (revents 0, not counted)', () => {
    const [a, b] = pair();
    writeSync(a, Buffer.from('z'));
    const fds: PollFd[] = [{ fd: -1, events: POLLIN | POLLOUT }, { fd: b, events: POLLIN }, { fd: -42, events: POLLIN }];
    expect(pollSync(fds, 1000)).toBe(1);
    expect(fds.map((e) => e.revents)).toEqual([0, POLLIN, 0]);
  });

  it('an empty array with timeout 0 returns 0; with a timeout it sleeps', () => {
    expect(pollSync([], 0)).toBe(0);
    const t0 = performance.now();
    expect(pollSync([], 30)).toBe(0);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
  });

  it('reports POLLHUP (and POLLIN) after the peer closes, even when not asked for', () => {
    const [a, b] = pair();
    close(a);
    const fds: PollFd[] = [{ fd: b, events: 0 }];
    expect(pollSync(fds, 1000)).toBe(1);
    expect(fds[0].revents).toBe(POLLHUP);
    const asked: PollFd[] = [{ fd: b, events: POLLIN | POLLRDHUP }];
    expect(pollSync(asked, 1000)).toBe(1);
    expect(asked[0].revents).toBe(POLLIN | POLLRDHUP | POLLHUP);
  });

  it('reports POLLRDHUP (with POLLIN) after the peer shuts down writing', () => {
    const { client, server } = tcpPair('ipv4');
    shutdown(client, SHUT_WR);
    const fds: PollFd[] = [{ fd: server, events: POLLIN | POLLRDHUP }];
    expect(pollSync(fds, 1000)).toBe(1);
    expect(fds[0].revents).toBe(POLLIN | POLLRDHUP);
    expect(readSync(server, Buffer.alloc(1))).toBe(0);
  });

  it('a listening socket is readable (POLLIN) once a connection is queued', () => {
    const l = listener('ipv6');
    const fds: PollFd[] = [{ fd: l.fd, events: POLLIN }];
    expect(pollSync(fds, 0)).toBe(0);
    connectSync(track(socket(l.addr.family, SOCK_STREAM, 0)), l.addr);
    expect(pollSync(fds, 1000)).toBe(1);
    expect(fds[0].revents).toBe(POLLIN);
  });

  it('a datagram socket becomes readable when a datagram arrives', () => {
    const { a, b, addrB } = udpPair('ipv4');
    const fds: PollFd[] = [{ fd: b, events: POLLIN }, { fd: a, events: POLLIN }];
    expect(pollSync(fds, 0)).toBe(0);
    sendtoSync(a, Buffer.from('d'), undefined, 0, addrB);
    expect(pollSync(fds, 1000)).toBe(1);
    expect(fds.map((e) => e.revents)).toEqual([POLLIN, 0]);
  });

  it('the same fd may appear twice with different events', () => {
    const [a, b] = pair();
    writeSync(a, Buffer.from('w'));
    const fds: PollFd[] = [{ fd: b, events: POLLIN }, { fd: b, events: POLLOUT }];
    expect(pollSync(fds, 1000)).toBe(2);
    expect(fds.map((e) => e.revents)).toEqual([POLLIN, POLLOUT]);
  });

  it('works on a datagram socketpair and many entries at once', () => {
    const pairs = Array.from({ length: 20 }, () => socketpair(AF_UNIX, SOCK_DGRAM, 0).map(track));
    pairs.forEach(([a], i) => {
      if (i % 3 === 0) writeSync(a, Buffer.from([i]));
    });
    const fds: PollFd[] = pairs.map(([, b]) => ({ fd: b, events: POLLIN }));
    expect(pollSync(fds, 1000)).toBe(7);
    expect(fds.map((e) => e.revents)).toEqual(pairs.map((_p, i) => (i % 3 === 0 ? POLLIN : 0)));
  });

  it('a signal does not cut pollSync short: EINTR is retried with the timeout recomputed', async () => {
    const [, b] = pair();
    let signals = 0;
    const onSignal = () => {
      signals++;
    };
    process.on('SIGUSR2', onSignal);
    try {
      // The blocked main thread is the one the kernel picks for a process-directed signal.
      const child = spawn('sh', ['-c', `sleep 0.2; kill -USR2 ${process.pid}`], { stdio: 'ignore' });
      const exited = once(child, 'exit');
      const fds = [{ fd: b, events: POLLIN }];
      const t0 = performance.now();
      expect(pollSync(fds, 1000)).toBe(0);
      const elapsed = performance.now() - t0;
      expect(elapsed).toBeGreaterThanOrEqual(990);
      // Restarting the full timeout after the signal would take about 1200 ms.
      expect(elapsed).toBeLessThan(1150);
      await exited;
      for (let i = 0; i < 100 && signals === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(signals).toBe(1);
    } finally {
      process.off('SIGUSR2', onSignal);
    }
  });
});
