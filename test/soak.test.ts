// Soak: 10,000 socket/connect/accept/close cycles (TCP and Unix, sync and
// async, 4 bytes checked each), 100,000 async reads (64 bytes each, payload
// checked), then 2,000 rounds of calls that end otherwise (abort, timeout,
// close under a blocked read, shutdown, an aborted accept) with poll, epoll,
// watch, UDP and getaddrinfo — in a child process (test/fixtures/rel-soak.cjs,
// run with --expose-gc). Afterwards nothing is left over: open fds, threads,
// active handles and the pool counters are back where they started, and RSS
// grew within the bounds below. Under the sanitizer build (npm run
// test:asan) RSS means nothing (ASan keeps freed memory in quarantine), and
// LeakSanitizer's check must find no leak instead.
//
// SOAK_CYCLES, SOAK_READS, SOAK_ROUNDS scale it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Child, fixture, killChildren } from './fixtures/child';

const CYCLES = Number(process.env.SOAK_CYCLES ?? 10_000);
const READS = Number(process.env.SOAK_READS ?? 100_000);
const ROUNDS = Number(process.env.SOAK_ROUNDS ?? 2_000);
const MB = 1024 * 1024;
/** RSS bounds (MB), measured after gc() from a checkpoint taken once 10% of the cycles ran (allocator and JIT warm). */
const BOUNDS = { cycles: 8, reads: 8, rounds: 24, total: 32 };

interface Checkpoint {
  phase: string;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  fds: { sockets: number; eventfds: number; other: number; total: number; others: string[] };
  threads: number;
  threadpool: { size: number; busy: number; queued: number };
  resources: string[];
  ms?: number;
  counts?: Record<string, number>;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bsd-sockets-soak-'));

afterEach(async () => {
  await killChildren();
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Handles that only stdio makes (a pipe to the parent once written asynchronously). */
const stdio = (r: string[]) => r.filter((x) => x !== 'PipeWrap' && x !== 'TTYWrap');

describe('soak', () => {
  it(`${CYCLES} connect/accept/close cycles, ${READS} async reads, ${ROUNDS} abort/timeout/close rounds: nothing left over`, async () => {
    const child = new Child(fixture('rel-soak.cjs'), {
      execArgv: ['--expose-gc'], args: [String(CYCLES), String(READS), String(ROUNDS), tmp], timeoutMs: 110_000,
    });
    const done = await child.message((m) => m.event === 'done' || m.event === 'error', 110_000);
    expect(done.event, String(done.message)).toBe('done');
    const exit = await child.exited;
    expect(exit.code).toBe(0);
    const { start, warm, afterCycles, afterReads, end } = done as unknown as Record<string, Checkpoint>;
    const leakCheck = done.leakCheck as number;

    // fds: every socket closed; the only new fds are the pool threads' wake-up eventfds.
    expect(end.fds.sockets).toBe(start.fds.sockets); // (stdout and stderr are socketpairs from the parent)
    expect(end.fds.others).toEqual(start.fds.others);
    expect(end.fds.eventfds - start.fds.eventfds).toBeGreaterThanOrEqual(0);
    expect(end.fds.eventfds - start.fds.eventfds).toBeLessThanOrEqual(end.threadpool.size);
    // Threads: libuv's pool started, nothing more.
    expect(end.threads).toBeLessThanOrEqual(start.threads + end.threadpool.size);
    // Nothing pending: no call on a pool thread, no handle left open.
    expect(end.threadpool).toMatchObject({ busy: 0, queued: 0 });
    expect(stdio(end.resources)).toEqual(stdio(start.resources));
    // Every round took each path.
    expect(end.counts).toEqual({
      aborted: ROUNDS, timedOut: ROUNDS, closedUnder: ROUNDS, shutdownEof: ROUNDS, acceptAborted: ROUNDS,
      polled: ROUNDS, datagrams: ROUNDS, epolled: Math.ceil(ROUNDS / 2), watched: Math.floor(ROUNDS / 2),
      lookups: Math.ceil(ROUNDS / 10),
    });

    const grow = {
      cycles: (afterCycles.rss - warm.rss) / MB,
      reads: (afterReads.rss - afterCycles.rss) / MB,
      rounds: (end.rss - afterReads.rss) / MB,
      total: (end.rss - warm.rss) / MB,
    };
    const f = (n: number) => n.toFixed(1);
    console.log([
      `soak: ${CYCLES} cycles in ${f(afterCycles.ms! / 1000)} s (${Math.round(CYCLES / (afterCycles.ms! / 1000))}/s), ` +
        `${READS} async reads in ${f(afterReads.ms! / 1000)} s (${Math.round(READS / (afterReads.ms! / 1000))}/s), ` +
        `${ROUNDS} rounds in ${f(end.ms! / 1000)} s`,
      `  RSS MB: start ${f(start.rss / MB)}, warm ${f(warm.rss / MB)}, after cycles ${f(afterCycles.rss / MB)}, after reads ${f(afterReads.rss / MB)}, end ${f(end.rss / MB)} ` +
        `(growth: cycles ${f(grow.cycles)}, reads ${f(grow.reads)}, rounds ${f(grow.rounds)}, total ${f(grow.total)}; V8 heapTotal ${f(afterReads.heapTotal / MB)} -> ${f(end.heapTotal / MB)}, heapUsed ${f(end.heapUsed / MB)})`,
      `  fds (sockets/eventfds/other): start ${start.fds.sockets}/${start.fds.eventfds}/${start.fds.other}, ` +
        `end ${end.fds.sockets}/${end.fds.eventfds}/${end.fds.other}; threads ${start.threads} -> ${end.threads}; ` +
        `threadpool ${JSON.stringify(end.threadpool)}; LeakSanitizer ${leakCheck < 0 ? 'not in this build' : leakCheck === 0 ? 'no leaks' : 'LEAKS'}`,
    ].join('\n'));

    if (leakCheck >= 0) {
      // Sanitizer build: LeakSanitizer's verdict replaces RSS, which ASan's quarantine inflates.
      expect(leakCheck, `LeakSanitizer found leaks; child stderr:\n${exit.stderr}`).toBe(0);
    } else {
      expect(grow.cycles).toBeLessThan(BOUNDS.cycles);
      expect(grow.reads).toBeLessThan(BOUNDS.reads);
      expect(grow.rounds).toBeLessThan(BOUNDS.rounds);
      expect(grow.total).toBeLessThan(BOUNDS.total);
    }
  }, 120_000);
});
