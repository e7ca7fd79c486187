// onTrace(): one record per call, naming the OS thread that made the system
// call (the main thread for *Sync calls, a libuv worker for async ones), how
// long an async call waited for a worker and how long it ran.
// BSD_SOCKETS_TRACE=1 prints the same as strace-like lines on stderr.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AF_INET, AI_NUMERICHOST, SOCK_STREAM, type TraceRecord,
  accept, acceptSync, close, connectSync, formatTrace, getaddrinfo, getaddrinfoSync, onTrace, read, readSync, recv, recvSync, socket, threadpool,
  write, writeSync,
} from '../lib/index';
import { Child, fixture, killChildren } from './fixtures/child';
import { sleep } from './helpers/fds';
import { closeAll, listener, tcpPair, track } from './helpers/pairs';

const E = os.constants.errno;

const offs: (() => void)[] = [];
afterEach(async () => {
  for (const off of offs.splice(0)) off();
  await killChildren();
  closeAll();
  expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
});

/** Subscribes for the rest of the test; returns the records array. */
function record(): TraceRecord[] {
  const records: TraceRecord[] = [];
  offs.push(onTrace((r) => records.push(r)));
  return records;
}

/** Thread ids of this process (Linux: /proc/self/task). */
function threadsOfThisProcess(): number[] {
  return fs.readdirSync('/proc/self/task').map(Number);
}

describe('onTrace() records', () => {
  it('for a *Sync call: the main thread, no queueing, the C name', () => {
    const { client, server } = tcpPair('ipv4');
    const records = record();
    writeSync(client, Buffer.from('abc'));
    expect(readSync(server, Buffer.alloc(8), 8)).toBe(3);
    expect(records).toHaveLength(2);
    const [w, r] = records;
    expect(w).toMatchObject({ syscall: 'write', args: [client, 3], result: 3, queuedNs: 0 });
    expect(r).toMatchObject({ syscall: 'read', args: [server, 8], result: 3, queuedNs: 0 });
    for (const rec of records) {
      expect(rec.threadId).toBe(rec.mainThreadId);
      // The main thread of a process has the process id as its thread id.
      expect(rec.mainThreadId).toBe(process.pid);
      expect(rec.errno).toBeUndefined();
      expect(typeof rec.runNs).toBe('number');
      expect(rec.runNs).toBeGreaterThanOrEqual(0);
    }
  });

  it('for an async call: a worker thread of this process, queuedNs and runNs >= 0', async () => {
    const { client, server } = tcpPair('ipv4');
    const records = record();
    expect(await write(client, Buffer.from('abcd'))).toBe(4);
    expect(await read(server, Buffer.alloc(8))).toBe(4);
    expect(records.map((r) => r.syscall)).toEqual(['write', 'read']);
    const [w, r] = records;
    expect(w).toMatchObject({ args: [client, 4], result: 4 });
    expect(r).toMatchObject({ args: [server, 8], result: 4 });
    const tasks = threadsOfThisProcess();
    for (const rec of records) {
      expect(rec.mainThreadId).toBe(process.pid);
      expect(typeof rec.threadId).toBe('number');
      expect(Number.isInteger(rec.threadId)).toBe(true);
      expect(rec.threadId).not.toBe(rec.mainThreadId);
      expect(tasks).toContain(rec.threadId);
      expect(typeof rec.queuedNs).toBe('number');
      expect(typeof rec.runNs).toBe('number');
      expect(rec.queuedNs).toBeGreaterThanOrEqual(0);
      expect(rec.runNs).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(rec.queuedNs) && Number.isFinite(rec.runNs)).toBe(true);
    }
  });

  it("names read() and readSync() alike: syscall 'read' (recv stays 'recv')", async () => {
    const { client, server } = tcpPair('unix');
    const records = record();
    writeSync(client, Buffer.from('xyzw'));
    readSync(server, Buffer.alloc(1));
    await read(server, Buffer.alloc(1));
    recvSync(server, Buffer.alloc(1), 1, 0);
    await recv(server, Buffer.alloc(1), 1, 0);
    expect(records.map((r) => r.syscall)).toEqual(['write', 'read', 'read', 'recv', 'recv']);
    const reads = records.filter((r) => r.syscall === 'read');
    expect(reads[0].threadId).toBe(reads[0].mainThreadId);
    expect(reads[1].threadId).not.toBe(reads[1].mainThreadId);
  });

  it('runNs covers the time an async call blocked on its worker', async () => {
    const { client, server } = tcpPair('ipv4');
    const records = record();
    const t0 = performance.now();
    const p = recv(server, Buffer.alloc(8), 8, 0);
    await sleep(120);
    const blockedMs = performance.now() - t0;
    writeSync(client, Buffer.from('late'));
    expect(await p).toBe(4);
    const rec = records.find((r) => r.syscall === 'recv')!;
    expect(rec).toMatchObject({ syscall: 'recv', args: [server, 8, 0], result: 4 });
    // It ran from when a worker took it (queuedNs after the call) until after
    // the write: on a loaded machine the pick-up may lag, never the end.
    expect(rec.queuedNs + rec.runNs).toBeGreaterThanOrEqual(blockedMs * 1e6 - 1e6);
    expect(rec.runNs).toBeGreaterThan(0);
    expect(rec.queuedNs + rec.runNs).toBeLessThan(5e9);
  });

  it('a failed call has result -1 and errno, sync and async', async () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    const records = record();
    expect(() => readSync(fd, Buffer.alloc(1))).toThrow();
    await expect(read(fd, Buffer.alloc(1))).rejects.toMatchObject({ code: 'EBADF' });
    expect(records).toHaveLength(2);
    for (const rec of records) expect(rec).toMatchObject({ syscall: 'read', args: [fd, 1], result: -1, errno: E.EBADF });
    expect(records[0].threadId).toBe(records[0].mainThreadId);
    expect(records[1].threadId).not.toBe(records[1].mainThreadId);
  });

  it('a failed getaddrinfo has its EAI_* return value, not an errno, sync and async', async () => {
    const records = record();
    // AI_NUMERICHOST: fails at once, no resolver is asked.
    const hints = { flags: AI_NUMERICHOST, family: AF_INET };
    expect(() => getaddrinfoSync('not-a-number', null, hints)).toThrow(expect.objectContaining({ code: 'EAI_NONAME' }));
    await expect(getaddrinfo('not-a-number', null, hints)).rejects.toMatchObject({ code: 'EAI_NONAME' });
    expect(records).toHaveLength(2);
    for (const rec of records) {
      expect(rec).toMatchObject({ syscall: 'getaddrinfo', args: ['not-a-number', null], detail: 'EAI_NONAME' });
      expect(rec.result).toBeLessThan(0);
      expect(rec.errno).toBeUndefined();
      expect(formatTrace(rec)).toMatch(new RegExp(`^\\[tid \\d+ (main|worker)\\] getaddrinfo\\("not-a-number", null\\) = ${rec.result} <EAI_NONAME>`));
    }
  });

  it("accept's record carries the peer address, and acceptSync's too", async () => {
    const l = listener('ipv4');
    const c1 = track(socket(AF_INET, SOCK_STREAM, 0));
    const c2 = track(socket(AF_INET, SOCK_STREAM, 0));
    connectSync(c1, l.addr);
    connectSync(c2, l.addr);
    const records = record();
    const a = acceptSync(l.fd);
    const b = await accept(l.fd);
    track(a.fd);
    track(b.fd);
    const accepts = records.filter((r) => r.syscall === 'accept');
    expect(accepts).toHaveLength(2);
    expect(accepts[0]).toMatchObject({ args: [l.fd], result: a.fd, detail: `127.0.0.1:${(a.addr as { port: number }).port}` });
    expect(accepts[1]).toMatchObject({ args: [l.fd], result: b.fd, detail: `127.0.0.1:${(b.addr as { port: number }).port}` });
    expect(accepts[0].threadId).toBe(process.pid);
    expect(accepts[1].threadId).not.toBe(process.pid);
  });

  it('the unsubscribe function stops delivery to that listener only', async () => {
    const { client, server } = tcpPair('ipv4');
    const a: TraceRecord[] = [];
    const b: TraceRecord[] = [];
    const offA = onTrace((r) => a.push(r));
    offs.push(onTrace((r) => b.push(r)));
    writeSync(client, Buffer.from('1'));
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    offA();
    offA(); // Twice is harmless.
    writeSync(client, Buffer.from('2'));
    await read(server, Buffer.alloc(2));
    expect(a).toHaveLength(1);
    expect(b.map((r) => r.syscall)).toEqual(['write', 'write', 'read']);
  });

  it('delivers nothing once every listener has unsubscribed', async () => {
    const { client, server } = tcpPair('unix');
    const seen: TraceRecord[] = [];
    const off = onTrace((r) => seen.push(r));
    off();
    writeSync(client, Buffer.from('z'));
    await read(server, Buffer.alloc(1));
    expect(seen).toEqual([]);
  });

  it('rejects a listener that is not a function', () => {
    expect(() => onTrace(42 as unknown as () => void)).toThrow(
      new TypeError('The "listener" argument must be of type function'),
    );
  });
});

describe('BSD_SOCKETS_TRACE=1', () => {
  it('prints an strace-like line per call on stderr: accept on a worker with its peer', async () => {
    const child = new Child(fixture('trace-accept.cjs'), { env: { BSD_SOCKETS_TRACE: '1' }, timeoutMs: 10_000 });
    const exit = await child.exited;
    expect(exit.code).toBe(0);
    const done = child.messages.find((m) => m.event === 'done')!;
    expect(done).toBeDefined();
    const lines = exit.stderr.split('\n').filter((line) => line !== '');
    const acceptLines = lines.filter((line) => / accept\(/.test(line));
    expect(acceptLines).toHaveLength(1);
    const line = acceptLines[0];
    expect(line).toMatch(/^\[tid \d+ (main|worker)\] accept\(\d+\) = \d+ <127\.0\.0\.1:\d+> queued [\d.]+ms ran [\d.]+ms$/);
    const m = /^\[tid (\d+) worker\] accept\((\d+)\) = (\d+) <127\.0\.0\.1:(\d+)> queued ([\d.]+)ms ran ([\d.]+)ms$/.exec(line)!;
    expect(m).not.toBeNull();
    expect(Number(m[1])).not.toBe(done.pid);
    expect(Number(m[2])).toBe(done.listenFd);
    expect(Number(m[3])).toBe(done.acceptedFd);
    expect(Number(m[4])).toBe(done.peerPort);
    expect(Number(m[6])).toBeGreaterThanOrEqual(40); // It waited ~50 ms for the connection.
    // Every line has the shape; sync calls are on the main thread (tid = pid) with no queue time.
    for (const l of lines) expect(l).toMatch(/^\[tid \d+ (main|worker)\] \w+\(.*\) = -?\d+.* ran [\d.]+ms$/);
    const socketLine = lines.find((l) => / socket\(/.test(l))!;
    expect(socketLine).toMatch(new RegExp(`^\\[tid ${done.pid} main\\] socket\\(${AF_INET}, ${SOCK_STREAM}, 0\\) = ${done.listenFd} ran [\\d.]+ms$`));
    expect(lines.find((l) => / connect\(/.test(l))).toMatch(new RegExp(`^\\[tid ${done.pid} main\\] connect\\(\\d+, "127\\.0\\.0\\.1:\\d+"\\) = 0 ran [\\d.]+ms$`));
  });

  it('prints nothing without it', async () => {
    const child = new Child(fixture('trace-accept.cjs'), { timeoutMs: 10_000 });
    const exit = await child.exited;
    expect(exit.code).toBe(0);
    expect(exit.stderr).toBe('');
  });
});
