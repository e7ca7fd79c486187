// threadpool(): libuv's pool as bsd-sockets sees it ({ size, busy, queued }),
// and the once-only warning when blocking calls outnumber its threads.
import { afterEach, describe, expect, it } from 'vitest';
import { read, threadpool, writeSync } from '../lib/index';
import { Child, fixture, killChildren } from './fixtures/child';
import { sleep } from './helpers/fds';
import { closeAll, tcpPair } from './helpers/pairs';

afterEach(async () => {
  await killChildren();
  closeAll();
});

describe('threadpool()', () => {
  it('returns { size, busy, queued } with the pool size of this process', () => {
    const stats = threadpool();
    expect(Object.keys(stats).sort()).toEqual(['busy', 'queued', 'size']);
    const env = process.env.UV_THREADPOOL_SIZE;
    expect(stats).toEqual({ size: env === undefined ? 4 : Math.min(1024, Math.max(1, Number(env))), busy: 0, queued: 0 });
  });

  it('counts a call blocked on a worker as busy, and frees it when it settles', async () => {
    const { client, server } = tcpPair('unix');
    const p = read(server, Buffer.alloc(4));
    // Queued first (synchronously), then picked up by a pool thread: one
    // snapshot, so the move from queued to busy cannot fall between two reads.
    const now = threadpool();
    expect(now.busy + now.queued).toBe(1);
    for (let i = 0; i < 500 && threadpool().busy < 1; i++) await sleep(1);
    expect(threadpool()).toMatchObject({ busy: 1, queued: 0 });
    writeSync(client, Buffer.from('free'));
    expect(await p).toBe(4);
    expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
  });

  it('returns a fresh object each time', () => {
    const a = threadpool();
    const b = threadpool();
    expect(a).not.toBe(b);
    expect(a).toEqual(b);
  });
});

describe('with UV_THREADPOOL_SIZE=2 and three blocked reads (child process)', () => {
  it('shows busy 2 queued 1, warns exactly once naming UV_THREADPOOL_SIZE and poll/epoll/watch, and traces the wait', async () => {
    const child = new Child(fixture('pool-saturate.cjs'), { env: { UV_THREADPOOL_SIZE: '2' }, timeoutMs: 15_000 });
    const exit = await child.exited;
    expect(exit.code).toBe(0);
    const res = child.messages.find((m) => m.event === 'result') as Record<string, unknown> & {
      fds: number[]; holdMs: number; warnings: { name: string; code: string; message: string }[];
      reads: { fd: number; result: number; worker: boolean; queuedNs: number; runNs: number }[];
    };
    expect(res, exit.stdout + exit.stderr).toBeDefined();

    expect(res.idle).toEqual({ size: 2, busy: 0, queued: 0 });
    // Right after the three calls: all three in flight, at most two of them on threads.
    const q = res.afterQueueing as { size: number; busy: number; queued: number };
    expect(q.size).toBe(2);
    expect(q.busy + q.queued).toBe(3);
    expect(q.busy).toBeLessThanOrEqual(2);
    expect(res.saturated).toEqual({ size: 2, busy: 2, queued: 1 });
    expect(res.afterRelease).toEqual({ size: 2, busy: 2, queued: 0 });
    expect(res.final).toEqual({ size: 2, busy: 0, queued: 0 });
    expect(res.results).toEqual([2, 2, 2, 2, 2, 2]);

    // One warning, emitted as soon as the third call was in flight, never repeated.
    expect(res.warningsWhileSaturated).toBe(1);
    expect(res.warnings).toHaveLength(1);
    const [w] = res.warnings;
    expect(w.name).toBe('BsdSocketsWarning');
    expect(w.code).toBe('BSD_SOCKETS_POOL_SATURATED');
    expect(w.message).toContain('UV_THREADPOOL_SIZE');
    expect(w.message).toMatch(/\bpoll\(\)/);
    expect(w.message).toMatch(/\bepoll_wait\(\)/);
    expect(w.message).toMatch(/\bwatch\(\)/);
    expect(w.message).toContain('3 blocking socket calls');
    expect(w.message).toContain('2 threads');
    // Node prints it once on stderr as well.
    expect(exit.stderr.match(/BSD_SOCKETS_POOL_SATURATED/g)).toHaveLength(1);

    // The trace: the third read waited for the first to be released (held holdMs).
    const byFd = (fd: number) => res.reads.filter((r) => r.fd === fd);
    for (const fd of res.fds) expect(byFd(fd)).toHaveLength(1);
    expect(res.reads).toHaveLength(6);
    for (const r of res.reads) {
      expect(r.worker).toBe(true);
      expect(r.result).toBe(2);
      expect(r.queuedNs).toBeGreaterThanOrEqual(0);
      expect(r.runNs).toBeGreaterThanOrEqual(0);
    }
    const [first, second, third] = res.fds.slice(0, 3).map((fd) => byFd(fd)[0]);
    expect(third.queuedNs).toBeGreaterThanOrEqual(res.holdMs * 0.5 * 1e6);
    expect(third.queuedNs).toBeGreaterThan(first.queuedNs);
    expect(third.queuedNs).toBeGreaterThan(second.queuedNs);
    // The first two got a thread at once and were held on it instead.
    expect(first.queuedNs).toBeLessThan(50e6);
    expect(second.queuedNs).toBeLessThan(50e6);
    expect(first.runNs).toBeGreaterThanOrEqual(res.holdMs * 0.9 * 1e6);
  });
});
