// Fd hygiene beyond test/socket.test.ts (which checks socket(), socketpair()
// and acceptSync() fds in a child): every other fd the library creates is
// close-on-exec too — accept()'s on a pool thread, epoll_create1()'s, those a
// worker_thread creates, and the library's own wake-up eventfds (one per
// thread that waited) — and since each is made close-on-exec atomically at
// creation (SOCK_CLOEXEC, accept4, EPOLL_CLOEXEC, EFD_CLOEXEC), a child
// spawned while another thread creates sockets in a loop inherits none.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_UNIX, FD_CLOEXEC, F_GETFD, F_GETFL, F_SETFD, O_NONBLOCK, SOCK_NONBLOCK, SOCK_STREAM, accept, close,
  connectSync, epoll_create1, fcntl, read, socket, socketpair, writeSync,
} from '../lib/index';
import { DIST_INDEX, requireDist } from './fixtures/child';
import { fdTargets, sleep } from './helpers/fds';
import { closeAll, listener, track } from './helpers/pairs';

afterEach(() => {
  closeAll();
});

beforeAll(() => {
  requireDist();
});

/** What a freshly exec'd child has open beyond stdin/stdout/stderr: `fd -> target` lines. */
function childExtraFds(): string[] {
  const r = spawnSync('sh', ['-c', 'for f in /proc/$$/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && echo "$n -> $(readlink "$f")"; done; true'], {
    encoding: 'utf8', timeout: 10_000,
  });
  expect(r.status).toBe(0);
  // The loop's own directory fd is gone by the time readlink runs, or is the shell's script: keep sockets and anon inodes only.
  return r.stdout.split('\n').filter((l) => /socket:|anon_inode:/.test(l));
}

describe('close-on-exec: what the library creates', () => {
  it('accept() on a pool thread, with and without SOCK_NONBLOCK, gives FD_CLOEXEC fds', async () => {
    const l = listener('ipv4');
    for (const flags of [0, SOCK_NONBLOCK]) {
      const c = track(socket(AF_INET, SOCK_STREAM, 0));
      const p = accept(l.fd, { flags });
      connectSync(c, l.addr);
      const { fd } = await p;
      track(fd);
      expect(fcntl(fd, F_GETFD)).toBe(FD_CLOEXEC);
      expect(fcntl(fd, F_GETFL) & O_NONBLOCK).toBe(flags === 0 ? 0 : O_NONBLOCK);
    }
  });

  it('a child inherits none of: accept()ed fds, epoll fds, the pool threads\' wake-up eventfds, fds a worker_thread made', async () => {
    const before = fdTargets();
    // An accepted fd and an epoll fd.
    const l = listener('ipv4');
    const c = track(socket(AF_INET, SOCK_STREAM, 0));
    const p = accept(l.fd);
    connectSync(c, l.addr);
    track((await p).fd);
    track(epoll_create1(0));
    // Blocked calls on every pool thread, released: each thread made its wake-up eventfd.
    const pairs = Array.from({ length: 4 }, () => socketpair(AF_UNIX, SOCK_STREAM).map(track));
    const reads = pairs.map(([x]) => read(x, Buffer.alloc(4)));
    await sleep(30);
    for (const [, y] of pairs) writeSync(y, Buffer.from('go'));
    expect(await Promise.all(reads)).toEqual([2, 2, 2, 2]);
    // A worker_thread's sockets (fds are process-wide) and its *Sync wait's eventfd.
    const worker = new Worker(`
      const { parentPort } = require('node:worker_threads');
      const s = require(${JSON.stringify(DIST_INDEX)});
      const fd = s.socket(s.AF_INET6, s.SOCK_DGRAM, 0);
      const [a, b] = s.socketpair(s.AF_UNIX, s.SOCK_SEQPACKET, 0);
      parentPort.postMessage([fd, a, b]);
      s.readSync(a, Buffer.alloc(4)); // Waits (and makes this thread's wake-up eventfd) until the main thread writes.
      parentPort.postMessage('read');
    `, { eval: true });
    const messages: unknown[] = [];
    const next = () => new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const made = (await next()) as number[];
    await sleep(30);
    writeSync(made[2], Buffer.from('x'));
    messages.push(await next());
    expect(messages).toEqual(['read']);
    await worker.terminate();
    made.forEach(track);
    const ours = [...fdTargets()].filter(([fd, t]) => before.get(fd) !== t && /socket:|anon_inode:/.test(t));
    // At least: c, accepted, ep, 8 socketpair fds, the worker's 3 and the pool's eventfds.
    expect(ours.length).toBeGreaterThanOrEqual(14);
    expect(ours.some(([, t]) => t === 'anon_inode:[eventfd]')).toBe(true);
    expect(ours.some(([, t]) => t === 'anon_inode:[eventpoll]')).toBe(true);
    for (const [fd] of ours) expect(fcntl(fd, F_GETFD), `fd ${fd}`).toBe(FD_CLOEXEC);
    const child = childExtraFds().join('\n');
    for (const [fd, t] of ours) expect(child, `fd ${fd} (${t}) reached the child`).not.toContain(t);
  });

  it('children spawned while a worker_thread creates sockets in a loop inherit none of them (close-on-exec is atomic)', async () => {
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const w = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const s = require(${JSON.stringify(DIST_INDEX)});
      const l = s.socket(s.AF_INET, s.SOCK_STREAM, 0);
      s.bind(l, { family: s.AF_INET, address: '127.0.0.1', port: 0 });
      s.listen(l, 64);
      const addr = s.getsockname(l);
      let n = 0;
      // Bounded: at most 200,000 rounds, or until told to stop.
      while (Atomics.load(workerData, 0) === 0 && n < 200000) {
        const [a, b] = s.socketpair(s.AF_UNIX, s.SOCK_STREAM, 0);
        const c = s.socket(s.AF_INET, s.SOCK_STREAM, 0);
        s.connectSync(c, addr);
        const { fd } = s.acceptSync(l);
        const ep = s.epoll_create1(0);
        for (const x of [a, b, c, fd, ep]) s.close(x);
        n++;
      }
      s.close(l);
      parentPort.postMessage(n);
    `, { eval: true, workerData: stop });
    const rounds = new Promise<number>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await sleep(50);
    const leaks: string[] = [];
    const SPAWNS = 40;
    for (let i = 0; i < SPAWNS; i++) leaks.push(...childExtraFds());
    Atomics.store(stop, 0, 1);
    const n = await rounds;
    // The worker really was creating fds all along (5 per round).
    expect(n).toBeGreaterThan(SPAWNS);
    expect(leaks).toEqual([]);
    console.log(`cloexec: ${SPAWNS} children spawned while a worker_thread created and closed ${5 * n} fds; none inherited one`);
  });

  it('with FD_CLOEXEC cleared, the same check sees the fd in the child (the control)', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    const t = fs.readlinkSync(`/proc/self/fd/${fd}`);
    expect(childExtraFds().join('\n')).not.toContain(t);
    fcntl(fd, F_SETFD, 0);
    expect(childExtraFds().join('\n')).toContain(t);
    close(fd);
  });
});

