// Ending with calls in flight: process.exit() and worker.terminate() never
// hang on a blocked call (every call is woken first), while a pending call
// keeps the event loop alive just as pending I/O does.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AF_INET, SOCK_STREAM, close, connectSync, getsockname, read, socket, threadpool, write,
} from '../lib/index';
import { Child, fixture, killChildren } from './fixtures/child';
import { sleep } from './helpers/fds';
import { closeAll, tcpPair, track } from './helpers/pairs';

afterEach(async () => {
  await killChildren();
  closeAll();
});

/** Bound on a child that should exit at once; it is SIGKILLed after this. */
const CHILD_LIMIT_MS = 5000;

describe('process.exit() with calls pending', () => {
  const cases: [string, string, Record<string, string>, Record<string, number>][] = [
    ['an accept() on a worker', 'accept', {}, { busy: 1, queued: 0 }],
    ['a read() and an accept() on workers', 'read', {}, { busy: 2, queued: 0 }],
    ['calls still queued for the only pool thread', 'queued', { UV_THREADPOOL_SIZE: '1' }, { busy: 1, queued: 2 }],
  ];
  it.each(cases)('exits at once with code 0 with %s', async (_name, mode, env, expected) => {
    const child = new Child(fixture('exit-pending.cjs'), { args: [mode], env, timeoutMs: CHILD_LIMIT_MS });
    const ready = await child.event('ready', CHILD_LIMIT_MS);
    const readyAt = performance.now();
    expect(ready.threadpool).toMatchObject(expected);
    const exit = await child.exited;
    expect(exit.killed).toBe(false);
    expect(exit.signal).toBeNull();
    expect(exit.code).toBe(0);
    // Well under the bound: nothing waited for the blocked calls.
    expect(performance.now() - readyAt).toBeLessThan(1500);
  });

  it('exits at once with a connect() blocked on a full Unix listener backlog', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bsd-sockets-exit-'));
    const child = new Child(fixture('exit-pending.cjs'), { args: ['unix-connect', dir], timeoutMs: CHILD_LIMIT_MS });
    await child.event('ready', CHILD_LIMIT_MS);
    const readyAt = performance.now();
    const exit = await child.exited;
    fs.rmSync(dir, { recursive: true, force: true });
    expect(exit.killed, `process.exit(0) hung for ${Math.round(performance.now() - readyAt)} ms and was killed`).toBe(false);
    expect(exit.code).toBe(0);
    expect(performance.now() - readyAt).toBeLessThan(1500);
  });
});

describe('worker_threads', () => {
  async function startWorker(workerData: Record<string, unknown> = {}): Promise<{ worker: Worker; fds: number[]; exited: Promise<number> }> {
    const worker = new Worker(fixture('worker-pending.cjs'), { workerData: { baseBusy: threadpool().busy, ...workerData } });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const msg = await new Promise<{ event: string; fds: number[]; message?: string }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      setTimeout(() => reject(new Error('the worker never became ready')), 10_000);
    });
    expect(msg.event, msg.message).toBe('ready');
    return { worker, fds: msg.fds, exited };
  }

  it('a worker with pending accept() and read() terminates cleanly, and the main thread stays healthy', async () => {
    const { worker, fds, exited } = await startWorker();
    try {
      expect(threadpool().busy).toBe(2); // Process-wide: the worker's two calls.
      const t0 = performance.now();
      const code = await Promise.race([worker.terminate(), sleep(5000).then(() => 'hung' as const)]);
      expect(code).toBe(1); // terminate() resolves with exit code 1.
      const exitCode = await Promise.race([exited, sleep(3000).then(() => 'no exit event' as const)]);
      expect(exitCode).toBe(1);
      expect(performance.now() - t0).toBeLessThan(3000);
      // The pool threads were released.
      for (let i = 0; i < 200 && threadpool().busy > 0; i++) await sleep(5);
      expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });

      // The main thread still does async socket work.
      const { client, server } = tcpPair('ipv4');
      const buf = Buffer.alloc(8);
      const p = read(server, buf);
      expect(await write(client, Buffer.from('alive'))).toBe(5);
      expect(await p).toBe(5);
      expect(buf.toString('utf8', 0, 5)).toBe('alive');
    } finally {
      // fds are process-wide: the worker's stay open until closed.
      for (const fd of fds) close(fd);
    }
  });

  it('a worker with a pending poll() too terminates cleanly; two in a row as well', async () => {
    for (let round = 0; round < 2; round++) {
      const { worker, fds, exited } = await startWorker({ poll: true });
      try {
        expect(threadpool().busy).toBe(3);
        await worker.terminate();
        expect(await Promise.race([exited, sleep(3000).then(() => 'no exit event' as const)])).toBe(1);
        for (let i = 0; i < 200 && threadpool().busy > 0; i++) await sleep(5);
        expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
      } finally {
        for (const fd of fds) close(fd);
      }
    }
  });
});

describe('a pending call keeps the event loop alive', () => {
  it('a child with only a pending accept() waits for a connection, then exits by itself', async () => {
    const child = new Child(fixture('keepalive.cjs'), { timeoutMs: 10_000 });
    const { port } = (await child.event('listening')) as { port: number };
    await sleep(500);
    expect(child.exitStatus).toBeUndefined(); // Still alive: the accept() holds the loop.
    const c = track(socket(AF_INET, SOCK_STREAM, 0));
    const connectedAt = performance.now();
    connectSync(c, { family: AF_INET, address: '127.0.0.1', port });
    const exit = await child.exited;
    expect(exit.killed).toBe(false);
    expect(exit.code).toBe(0);
    expect(performance.now() - connectedAt).toBeLessThan(3000);
    const accepted = child.messages.find((m) => m.event === 'accepted')!;
    expect(accepted).toMatchObject({ event: 'accepted', threadpool: { busy: 0, queued: 0 } });
    expect(accepted.peerPort).toBe((getsockname(c) as { port: number }).port);
    expect(child.messages.map((m) => m.event)).toEqual(['listening', 'accepted', 'exit']);
  });
});
