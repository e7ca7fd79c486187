// The addon in worker_threads: *Sync calls give real thread-per-connection
// programs (a worker blocks in acceptSync/readSync while the main thread is
// the client), workers exit cleanly, and several load the addon at once.
import * as fs from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import ts from 'typescript';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, AF_UNIX, SHUT_WR, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SO_RCVTIMEO, SO_SNDTIMEO, type Sockaddr,
  type TraceRecord, bind, close, connectSync, getsockname, onTrace, readSync, setsockopt, shutdown, socket,
  threadpool, writeSync,
} from '../lib/index';
import { openFdsExceptWakeups } from './helpers/fds';
import { closeAll, listener, track, unixPath } from './helpers/pairs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The addon lib/binding.ts loads: BSD_SOCKETS_ADDON (e.g. a sanitizer build), else node-gyp's. */
const ADDON = process.env.BSD_SOCKETS_ADDON
  ? path.resolve(process.env.BSD_SOCKETS_ADDON)
  : path.join(ROOT, 'build', 'Release', 'bsd_sockets.node');

/** struct timeval for SO_RCVTIMEO/SO_SNDTIMEO: a blocking call that would hang fails instead. */
function timeval(ms: number): Buffer {
  const b = Buffer.alloc(16);
  const secs = BigInt(Math.floor(ms / 1000));
  const usecs = BigInt((ms % 1000) * 1000);
  if (endianness() === 'LE') {
    b.writeBigInt64LE(secs, 0);
    b.writeBigInt64LE(usecs, 8);
  } else {
    b.writeBigInt64BE(secs, 0);
    b.writeBigInt64BE(usecs, 8);
  }
  return b;
}

function guard(fd: number, ms = 10_000): number {
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeval(ms));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, timeval(ms));
  return fd;
}

/**
 * lib/ compiled to CommonJS in a temp dir, once, so that a worker can
 * require() it (workers do not go through vitest's TypeScript transform).
 */
let libDir: string;

function compileLib(): string {
  const out = fs.mkdtempSync(path.join(tmpdir(), 'bsd-sockets-worker-lib-'));
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const src = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(src);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        const js = ts.transpileModule(fs.readFileSync(src, 'utf8'), {
          fileName: src,
          compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
        }).outputText;
        const dest = path.join(out, path.relative(path.join(ROOT, 'lib'), src)).replace(/\.ts$/, '.js');
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        fs.writeFileSync(dest, js);
      }
    }
  };
  walk(path.join(ROOT, 'lib'));
  return out;
}

interface Run {
  messages: unknown[];
  exitCode: number;
  error?: Error;
}

/** Starts a worker running `body` with `s` = bsd-sockets; resolves when it exits (bounded). */
function startWorker(body: string, workerData: unknown, onMessage?: (m: unknown) => void): { worker: Worker; done: Promise<Run> } {
  const code = `
const { parentPort, workerData } = require('node:worker_threads');
const s = require(${JSON.stringify(path.join(libDir, 'index.js'))});
${body}
`;
  // BSD_SOCKETS_ADDON: the compiled lib/ lives outside the checkout.
  const worker = new Worker(code, { eval: true, workerData, env: { ...process.env, BSD_SOCKETS_ADDON: ADDON } });
  const messages: unknown[] = [];
  let error: Error | undefined;
  worker.on('message', (m) => {
    messages.push(m);
    onMessage?.(m);
  });
  worker.on('error', (e) => {
    error = e;
  });
  const done = new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker did not exit within 15 s')), 15_000);
    worker.on('exit', (exitCode) => {
      clearTimeout(timer);
      resolve({ messages, exitCode, error });
    });
  });
  return { worker, done };
}

/** Resolves with the first message the worker posts that satisfies `pred`. */
function nextMessage(worker: Worker, pred: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const stop = (err?: Error) => {
      clearTimeout(timer);
      worker.off('message', on);
      worker.off('error', stop);
      worker.off('exit', onExit);
      if (err) reject(err);
    };
    const timer = setTimeout(() => stop(new Error('no message from the worker within 15 s')), 15_000);
    const on = (m: Record<string, unknown>) => {
      if (!pred(m)) return;
      stop();
      resolve(m);
    };
    const onExit = (code: number) => stop(new Error(`the worker exited (${code}) before the message`));
    worker.on('message', on);
    worker.on('error', stop);
    worker.on('exit', onExit);
  });
}

/** The gettid() of this (main) thread, as the trace reports a sync call made here. */
function mainTid(): number {
  const records: TraceRecord[] = [];
  const off = onTrace((r) => records.push(r));
  try {
    close(socket(AF_INET, SOCK_STREAM, 0));
  } finally {
    off();
  }
  return records[0].threadId;
}

let baseline: number[];

beforeAll(() => {
  libDir = compileLib();
  close(socket(AF_INET, SOCK_STREAM, 0));
  baseline = openFdsExceptWakeups();
});

afterEach(() => {
  closeAll();
  expect(threadpool().busy).toBe(0);
});

afterAll(() => {
  expect(openFdsExceptWakeups()).toEqual(baseline);
  fs.rmSync(libDir, { recursive: true, force: true });
});

// A connection's thread: echo with readSync/writeSync until EOF, then close.
const CONNECTION = `
const records = [];
s.onTrace((r) => records.push(r));
const cfd = workerData.fd;
const ctv = Buffer.alloc(16);
ctv.writeBigInt64LE(10n, 0);
s.setsockopt(cfd, s.SOL_SOCKET, s.SO_RCVTIMEO, ctv);
const buf = Buffer.alloc(4096);
let n;
let total = 0;
while ((n = s.readSync(cfd, buf)) > 0) {
  total += n;
  let off = 0;
  while (off < n) off += s.writeSync(cfd, buf.subarray(off, n));
}
s.close(cfd);
const read = records.find((r) => r.syscall === 'read');
parentPort.postMessage({ total, tid: read.threadId, ownTid: read.mainThreadId, syscalls: [...new Set(records.map((r) => r.syscall))] });
`;

/** Talks to each client in turn (every read waits on another thread), then half-closes and expects EOF. */
function talk(clients: number[], rounds: number): void {
  for (let round = 0; round < rounds; round++) {
    for (const [i, c] of clients.entries()) {
      const msg = Buffer.from(`client ${i} round ${round}`);
      expect(writeSync(c, msg)).toBe(msg.length);
      const back = Buffer.alloc(msg.length);
      let got = 0;
      while (got < msg.length) {
        const n = readSync(c, back.subarray(got));
        expect(n).toBeGreaterThan(0);
        got += n;
      }
      expect(back.toString()).toBe(msg.toString());
    }
  }
  for (const c of clients) shutdown(c, SHUT_WR);
  for (const c of clients) expect(readSync(c, Buffer.alloc(8))).toBe(0);
}

interface ConnResult { total: number; tid: number; ownTid: number; syscalls: string[] }

describe('worker_threads', () => {
  it('a worker does socket/bind/listen/acceptSync/readSync/writeSync as a blocking server; the main thread is the client', async () => {
    const { worker, done } = startWorker(`
const l = s.socket(s.AF_INET, s.SOCK_STREAM, 0);
s.setsockopt(l, s.SOL_SOCKET, s.SO_REUSEADDR, 1);
s.bind(l, { family: s.AF_INET, address: '127.0.0.1', port: 0 });
s.listen(l, 8);
const tv = Buffer.alloc(16);
tv.writeBigInt64LE(10n, 0);
s.setsockopt(l, s.SOL_SOCKET, s.SO_RCVTIMEO, tv); // acceptSync gives up after 10 s instead of hanging.
parentPort.postMessage({ addr: s.getsockname(l) });
const { fd, addr } = s.acceptSync(l);
s.close(l);
workerData.fd = fd;
${CONNECTION.replace('parentPort.postMessage({', 'parentPort.postMessage({ peer: addr, ')}
`, {});
    const { addr } = await nextMessage(worker, (m) => 'addr' in m) as { addr: Sockaddr };
    expect(addr).toMatchObject({ family: AF_INET, address: '127.0.0.1' });
    const c = guard(track(socket(AF_INET, SOCK_STREAM, 0)));
    expect(connectSync(c, addr)).toBe(0);
    talk([c], 4);
    const run = await done;
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBe(0);
    expect(run.messages).toHaveLength(2);
    const result = run.messages[1] as ConnResult & { peer: Sockaddr };
    expect(result.peer).toEqual(getsockname(c));
    expect(result.total).toBe(4 * 'client 0 round 0'.length);
    expect(result.syscalls).toEqual(expect.arrayContaining(['read', 'write', 'close']));
    // The sync calls ran on the worker's own thread.
    expect(result.tid).toBe(result.ownTid);
    expect(result.tid).not.toBe(mainTid());
  });

  it('thread per connection: an acceptor worker starts one worker per accepted fd', async () => {
    const N = 3;
    const connectionCode = `
const { parentPort, workerData } = require('node:worker_threads');
const s = require(${JSON.stringify(path.join(libDir, 'index.js'))});
${CONNECTION}`;
    const { worker, done } = startWorker(`
const { Worker } = require('node:worker_threads');
const l = s.socket(s.AF_INET6, s.SOCK_STREAM, 0);
s.bind(l, { family: s.AF_INET6, address: '::1', port: 0 });
s.listen(l, 16);
const tv = Buffer.alloc(16);
tv.writeBigInt64LE(10n, 0);
s.setsockopt(l, s.SOL_SOCKET, s.SO_RCVTIMEO, tv);
parentPort.postMessage({ addr: s.getsockname(l) });
const exits = [];
for (let i = 0; i < workerData.n; i++) {
  const { fd, addr } = s.acceptSync(l);
  const child = new Worker(workerData.code, { eval: true, workerData: { fd } });
  exits.push(new Promise((resolve) => {
    const msgs = [];
    child.on('message', (m) => msgs.push(m));
    child.on('error', (e) => msgs.push(String(e)));
    child.on('exit', (code) => resolve({ code, addr, msgs }));
  }));
}
s.close(l);
Promise.all(exits).then((conns) => parentPort.postMessage({ conns }));
`, { n: N, code: connectionCode });
    const { addr } = await nextMessage(worker, (m) => 'addr' in m) as { addr: Sockaddr };
    const clients = Array.from({ length: N }, () => {
      const c = guard(track(socket(AF_INET6, SOCK_STREAM, 0)));
      expect(connectSync(c, addr)).toBe(0);
      return c;
    });
    talk(clients, 3);
    const run = await done;
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBe(0);
    const { conns } = run.messages[1] as { conns: { code: number; addr: Sockaddr; msgs: ConnResult[] }[] };
    expect(conns).toHaveLength(N);
    const main = mainTid();
    for (const conn of conns) {
      expect(conn.code).toBe(0);
      expect(conn.msgs).toHaveLength(1);
      expect(conn.msgs[0].total).toBe(3 * 'client 0 round 0'.length);
      expect(conn.msgs[0].tid).toBe(conn.msgs[0].ownTid);
      expect(conn.msgs[0].tid).not.toBe(main);
    }
    // One thread per connection, each serving the client it accepted.
    expect(new Set(conns.map((c) => c.msgs[0].tid)).size).toBe(N);
    expect(conns.map((c) => JSON.stringify(c.addr)).sort())
      .toEqual(clients.map((c) => JSON.stringify(getsockname(c))).sort());
  });

  it('workers blocked in acceptSync on one shared listener each take one connection', async () => {
    const l = listener('ipv4');
    guard(l.fd); // acceptSync in the workers gives up after 10 s instead of hanging.
    const N = 3;
    const workers = Array.from({ length: N }, () => startWorker(`
parentPort.postMessage('ready');
const { fd, addr } = s.acceptSync(workerData.listenFd);
workerData.fd = fd;
${CONNECTION.replace('parentPort.postMessage({', 'parentPort.postMessage({ peer: addr, ')}
`, { listenFd: l.fd }));
    await Promise.all(workers.map((w) => nextMessage(w.worker, (m) => (m as unknown) === 'ready')));
    const clients = Array.from({ length: N }, () => {
      const c = guard(track(socket(AF_INET, SOCK_STREAM, 0)));
      expect(connectSync(c, l.addr)).toBe(0);
      return c;
    });
    talk(clients, 3);
    const runs = await Promise.all(workers.map((w) => w.done));
    const results = runs.map((r) => {
      expect(r.error).toBeUndefined();
      expect(r.exitCode).toBe(0);
      expect(r.messages).toHaveLength(2);
      return r.messages[1] as ConnResult & { peer: Sockaddr };
    });
    expect(results.map((m) => JSON.stringify(m.peer)).sort())
      .toEqual(clients.map((c) => JSON.stringify(getsockname(c))).sort());
    expect(new Set(results.map((m) => m.tid)).size).toBe(N);
  });

  it('a blocking writeSync of 4 MiB completes while a worker reads it', async () => {
    const l = listener('unix');
    guard(l.fd);
    const reader = startWorker(`
const { fd } = s.acceptSync(workerData.listenFd);
const tv = Buffer.alloc(16);
tv.writeBigInt64LE(10n, 0);
s.setsockopt(fd, s.SOL_SOCKET, s.SO_RCVTIMEO, tv);
const buf = Buffer.alloc(65536);
let n;
let total = 0;
let sum = 0;
while ((n = s.readSync(fd, buf)) > 0) {
  total += n;
  for (let i = 0; i < n; i++) sum = (sum + buf[i]) % 65521;
}
s.writeSync(fd, Buffer.from(JSON.stringify({ total, sum })));
s.close(fd);
`, { listenFd: l.fd });
    const c = guard(track(socket(AF_UNIX, SOCK_STREAM, 0)));
    connectSync(c, l.addr);
    const data = Buffer.alloc(4 * 1024 * 1024);
    let sum = 0;
    for (let i = 0; i < data.length; i++) {
      data[i] = (i * 31 + 7) & 0xff;
      sum = (sum + data[i]) % 65521;
    }
    // Far more than the socket buffer: writeSync blocks until the worker drains it, and writes it all.
    expect(writeSync(c, data)).toBe(data.length);
    shutdown(c, SHUT_WR);
    const reply = Buffer.alloc(256);
    let got = 0;
    let n: number;
    while ((n = readSync(c, reply.subarray(got))) > 0) got += n;
    expect(JSON.parse(reply.toString('utf8', 0, got))).toEqual({ total: data.length, sum });
    const run = await reader.done;
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBe(0);
  });

  it('two workers load the addon at once and each makes sync and async calls', async () => {
    const body = `
(async () => {
  const [a, b] = s.socketpair(s.AF_UNIX, s.SOCK_STREAM, 0);
  s.writeSync(a, Buffer.from('sync ' + workerData.id));
  const buf = Buffer.alloc(32);
  const n = s.readSync(b, buf);
  const pending = s.read(a, buf.subarray(16));
  await s.write(b, Buffer.from('async'));
  const m = await pending;
  const ai = s.getaddrinfoSync('127.0.0.1', '80', { flags: s.AI_NUMERICHOST | s.AI_NUMERICSERV, socktype: s.SOCK_STREAM });
  let err;
  try { s.close(a); s.close(a); } catch (e) { err = { name: e.name, code: e.code, isSocketError: e instanceof s.SocketError }; }
  s.close(b);
  parentPort.postMessage({
    sync: buf.toString('latin1', 0, n), async: buf.toString('latin1', 16, 16 + m),
    addr: ai[0].addr, constants: { AF_INET: s.AF_INET, SOCK_STREAM: s.SOCK_STREAM, POLLIN: s.POLLIN }, err,
  });
})();
`;
    const runs = await Promise.all([startWorker(body, { id: 1 }).done, startWorker(body, { id: 2 }).done]);
    const { AF_INET: af, SOCK_STREAM: st, POLLIN: pi } = await import('../lib/index');
    runs.forEach((r, i) => {
      expect(r.error).toBeUndefined();
      expect(r.exitCode).toBe(0);
      expect(r.messages).toEqual([{
        sync: `sync ${i + 1}`,
        async: 'async',
        addr: { family: AF_INET, address: '127.0.0.1', port: 80 },
        constants: { AF_INET: af, SOCK_STREAM: st, POLLIN: pi },
        err: { name: 'SocketError', code: 'EBADF', isSocketError: true },
      }]);
    });
  });

  it('a worker that calls process.exit() exits cleanly', async () => {
    const run = await startWorker(`
const [a, b] = s.socketpair(s.AF_UNIX, s.SOCK_STREAM, 0);
s.writeSync(a, Buffer.from('x'));
s.readSync(b, Buffer.alloc(1));
s.close(a);
s.close(b);
parentPort.postMessage('done');
process.exit(7);
`, {}).done;
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBe(7);
    expect(run.messages).toEqual(['done']);
  });

  it('terminating a worker with an async accept in flight returns promptly and releases the pool thread', async () => {
    const l = listener('ipv4');
    const { worker, done } = startWorker(`
s.accept(workerData.listenFd).then(() => parentPort.postMessage('accepted'), (e) => parentPort.postMessage(e.code));
parentPort.postMessage('pending');
`, { listenFd: l.fd });
    await nextMessage(worker, (m) => (m as unknown) === 'pending');
    // Let the call reach its worker thread.
    for (let i = 0; i < 100 && threadpool().busy === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(threadpool().busy).toBe(1);
    const t0 = performance.now();
    await worker.terminate();
    const run = await done;
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(run.error).toBeUndefined();
    for (let i = 0; i < 100 && threadpool().busy !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(threadpool().busy).toBe(0);
    // The listening socket belongs to the process and still works from the main thread.
    const c = track(socket(AF_INET, SOCK_STREAM, 0));
    expect(connectSync(c, l.addr)).toBe(0);
  });

  it('terminating a worker blocked in sendtoSync() on a full Unix datagram receiver (a wait no fd shows) returns promptly', async () => {
    // poll(2) reports an unconnected Unix datagram socket writable while
    // every send to its full receiver meets EAGAIN: the wait backs off in
    // pauses, and worker.terminate() must still be noticed within its tick.
    const receiver = track(socket(AF_UNIX, SOCK_DGRAM, 0));
    const addr = { family: AF_UNIX, path: unixPath() } as const;
    bind(receiver, addr);
    const { worker, done } = startWorker(`
const snd = s.socket(s.AF_UNIX, s.SOCK_DGRAM, 0);
const buf = Buffer.alloc(64);
for (let i = 0; i < 100000; i++) {
  try {
    s.sendtoSync(snd, buf, undefined, s.MSG_DONTWAIT, workerData.addr);
  } catch (e) {
    if (e.code === 'EAGAIN') break;
    throw e;
  }
}
parentPort.postMessage({ full: snd });
s.sendtoSync(snd, buf, undefined, 0, workerData.addr);
parentPort.postMessage('sent');
`, { addr });
    // fds are the process's: the worker's socket outlives it, and is closed here.
    const snd = (await nextMessage(worker, (m) => typeof m === 'object' && m !== null && 'full' in m)).full as number;
    track(snd);
    await new Promise((r) => setTimeout(r, 400)); // Long enough for the pauses to reach 100 ms.
    const t0 = performance.now();
    await worker.terminate();
    const run = await done;
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(run.messages).toEqual([{ full: snd }]);
  });

  it('the worker closes its own fds: none is left behind', async () => {
    const before = openFdsExceptWakeups();
    const run = await startWorker(`
const fds = [];
for (let i = 0; i < 10; i++) fds.push(s.socket(s.AF_INET, s.SOCK_STREAM, 0));
fds.push(...s.socketpair(s.AF_UNIX, s.SOCK_DGRAM, 0));
for (const fd of fds) s.close(fd);
parentPort.postMessage(fds.length);
`, {}).done;
    expect(run.exitCode).toBe(0);
    expect(run.messages).toEqual([12]);
    expect(openFdsExceptWakeups()).toEqual(before);
  });
});
