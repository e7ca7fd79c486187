// watch(fd, events, listener): readiness from libuv's own poller on the
// event-loop thread, no worker thread. The listener gets (null, revents);
// update() changes or pauses the events; close() stops it and gives the fd
// back in the blocking mode it had; one watcher per fd; close(fd) with a live
// watcher is reported (EBADF), not a crash, and so is one closed behind the
// library's back (fs.closeSync); unref() lets a process exit; the
// watcher keeps serving while the libuv pool is full; a watch() server echoes
// 1,000 concurrent connections byte-exact.
import { createRequire } from 'node:module';
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_UNIX, F_GETFL, F_SETFL, O_NONBLOCK, POLLIN, POLLHUP, POLLOUT, POLLRDHUP,
  SOCK_NONBLOCK, SOCK_STREAM, SocketError, type TraceRecord, type Watcher,
  acceptSync, close, connect, connectSync, fcntl, onTrace, poll, read, readSync, socket, socketpair, threadpool,
  watch, write, writeSync,
} from '../lib/index';
import { native } from '../lib/binding';
import { Child, DIST_INDEX, fixture, killChildren } from './fixtures/child';
import { openFds, sleep } from './helpers/fds';
import { FAMILIES, closeAll, listener, tcpPair, track } from './helpers/pairs';
import { sysError } from './helpers/errors';

const E = os.constants.errno;


/** Resolves once `cond()` holds, polling every 2 ms; rejects after `ms`. */
async function until(cond: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(2);
  }
}

/** Lets the event loop run a few turns (so pending uv_poll callbacks fire). */
async function turns(ms = 50): Promise<void> {
  await sleep(ms);
}

function isNonBlocking(fd: number): boolean {
  return (fcntl(fd, F_GETFL) & O_NONBLOCK) === O_NONBLOCK;
}

/** Reads all there is on a non-blocking fd; returns it as latin1 text. */
function drainText(fd: number): string {
  const buf = Buffer.alloc(4096);
  let text = '';
  for (;;) {
    try {
      const n = readSync(fd, buf);
      if (n === 0) return text;
      text += buf.toString('latin1', 0, n);
    } catch (err) {
      expect(err).toMatchObject({ code: 'EAGAIN' });
      return text;
    }
  }
}

interface Call {
  err: SocketError | null;
  revents: number;
}

/** A listener that records its calls. */
function recorder(onCall?: (call: Call, calls: Call[]) => void): { calls: Call[]; listener: (err: SocketError | null, revents: number) => void } {
  const calls: Call[] = [];
  return {
    calls,
    listener: (err, revents) => {
      const call = { err, revents };
      calls.push(call);
      onCall?.(call, calls);
    },
  };
}

const watchers: Watcher[] = [];
/** watch() that the afterEach closes. */
function tracked(w: Watcher): Watcher {
  watchers.push(w);
  return w;
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

afterEach(async () => {
  await killChildren();
  for (const w of watchers.splice(0)) w.close();
  closeAll();
  expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
});

afterAll(() => {
  expect(openFds()).toEqual(baseline);
});

describe('watch(): readiness on the event-loop thread', () => {
  it.each(FAMILIES)('%s: the listener gets (null, POLLIN) when data arrives, and only then', async (family) => {
    const { client, server } = tcpPair(family);
    let text = '';
    const rec = recorder(() => {
      text += drainText(server);
    });
    tracked(watch(server, POLLIN, rec.listener));
    await turns();
    expect(rec.calls).toEqual([]);
    expect(writeSync(client, Buffer.from('hello'))).toBe(5);
    await until(() => rec.calls.length > 0, 2000, 'the POLLIN call');
    expect(rec.calls[0]).toEqual({ err: null, revents: POLLIN });
    // The listener drained the socket, so level-triggered readiness stops.
    await turns();
    expect(rec.calls).toEqual([{ err: null, revents: POLLIN }]);
    expect(text).toBe('hello');
    writeSync(client, Buffer.from(' again'));
    await until(() => rec.calls.length === 2, 2000, 'the second POLLIN call');
    expect(rec.calls[1]).toEqual({ err: null, revents: POLLIN });
    expect(text).toBe('hello again');
  });

  it('level-triggered: keeps reporting POLLIN while the data stays unread', async () => {
    const { client, server } = tcpPair('ipv4');
    const rec = recorder();
    tracked(watch(server, POLLIN, rec.listener));
    writeSync(client, Buffer.from('x'));
    await until(() => rec.calls.length >= 3, 2000, 'three POLLIN calls');
    expect(rec.calls.slice(0, 3)).toEqual([
      { err: null, revents: POLLIN }, { err: null, revents: POLLIN }, { err: null, revents: POLLIN },
    ]);
  });

  it('runs on the main thread with no worker: the pool stays idle and the calls in the listener are main-thread calls', async () => {
    const { client, server } = tcpPair('ipv4');
    const records: TraceRecord[] = [];
    const stop = onTrace((r) => records.push(r));
    try {
      const rec = recorder(() => {
        expect(threadpool().busy).toBe(0);
        readSync(server, Buffer.alloc(16));
      });
      tracked(watch(server, POLLIN, rec.listener));
      writeSync(client, Buffer.from('abc'));
      await until(() => rec.calls.length === 1);
      const reads = records.filter((r) => r.syscall === 'read');
      expect(reads).toHaveLength(1);
      expect(reads[0]).toMatchObject({ result: 3 });
      expect(reads[0].threadId).toBe(reads[0].mainThreadId);
    } finally {
      stop();
    }
  });

  it('a listening socket reports POLLIN for a pending connection; accept with SOCK_NONBLOCK in the listener', async () => {
    const l = listener('ipv4');
    const accepted: number[] = [];
    const rec = recorder(() => {
      for (;;) {
        try {
          accepted.push(track(acceptSync(l.fd, SOCK_NONBLOCK).fd));
        } catch (err) {
          expect(err).toMatchObject({ code: 'EAGAIN' });
          return;
        }
      }
    });
    tracked(watch(l.fd, POLLIN, rec.listener));
    const c1 = track(socket(AF_INET, SOCK_STREAM, 0));
    const c2 = track(socket(AF_INET, SOCK_STREAM, 0));
    connectSync(c1, l.addr);
    connectSync(c2, l.addr);
    await until(() => accepted.length === 2, 2000, 'two accepts');
    expect(rec.calls[0]).toEqual({ err: null, revents: POLLIN });
    expect(accepted.every(isNonBlocking)).toBe(true);
  });

  it('POLLIN|POLLRDHUP: the peer\'s close is reported as POLLIN|POLLHUP', async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM).map(track);
    const rec = recorder();
    const w = tracked(watch(b, POLLIN | POLLRDHUP, rec.listener));
    close(a);
    await until(() => rec.calls.length > 0);
    w.close();
    expect(rec.calls[0]).toEqual({ err: null, revents: POLLIN | POLLHUP });
    expect(readSync(b, Buffer.alloc(4))).toBe(0);
  });
});

describe('watch(): update()', () => {
  it('update(POLLOUT) reports writability; update(0) pauses; update(POLLIN) resumes with the data that came meanwhile', async () => {
    const { client, server } = tcpPair('ipv4');
    let pausedAt = -1;
    let w: Watcher | undefined;
    const rec = recorder((call, calls) => {
      if (call.revents === POLLOUT && pausedAt < 0) {
        pausedAt = calls.length;
        w!.update(0);
      }
    });
    w = tracked(watch(server, POLLIN, rec.listener));
    await turns();
    expect(rec.calls).toEqual([]);
    w.update(POLLOUT);
    await until(() => pausedAt > 0, 2000, 'the POLLOUT call');
    expect(rec.calls).toEqual([{ err: null, revents: POLLOUT }]);
    // Paused: data arrives, nothing is reported.
    writeSync(client, Buffer.from('while paused'));
    await turns(100);
    expect(rec.calls).toHaveLength(1);
    w.update(POLLIN);
    // Level-triggered and unread: it may fire more than once before we look.
    await until(() => rec.calls.length >= 2, 2000, 'the POLLIN call after resuming');
    expect(rec.calls[1]).toEqual({ err: null, revents: POLLIN });
    w.update(0);
    expect(drainText(server)).toBe('while paused');
  });

  it('update(POLLIN | POLLOUT) reports both when both hold', async () => {
    const { client, server } = tcpPair('unix');
    writeSync(client, Buffer.from('x'));
    let w: Watcher | undefined;
    const rec = recorder(() => w!.update(0));
    w = tracked(watch(server, POLLIN, rec.listener));
    await until(() => rec.calls.length === 1);
    w.update(POLLIN | POLLOUT);
    await until(() => rec.calls.length === 2);
    expect(rec.calls).toEqual([{ err: null, revents: POLLIN }, { err: null, revents: POLLIN | POLLOUT }]);
  });

  it('checks events: RangeError out of 0..0x7fff', () => {
    const { server } = tcpPair('ipv4');
    const w = tracked(watch(server, POLLIN, () => {}));
    expect(() => w.update(-1)).toThrow(RangeError);
    expect(() => w.update(0x8000)).toThrow(RangeError);
    expect(() => watch(server + 100000, -1, () => {})).toThrow(RangeError);
  });
});

describe('watch(): close()', () => {
  it('stops the listener: data arriving later is not reported; close() is idempotent; update() after it throws EBADF', async () => {
    const { client, server } = tcpPair('ipv4');
    const rec = recorder();
    const w = watch(server, POLLIN, rec.listener);
    w.close();
    w.close();
    writeSync(client, Buffer.from('late'));
    await turns(100);
    expect(rec.calls).toEqual([]);
    expect(sysError(() => w.update(POLLIN))).toMatchObject({
      code: 'EBADF', errno: E.EBADF, syscall: 'watch', message: 'watch EBADF',
    });
    // ref()/unref() on a closed watcher do nothing.
    w.ref();
    w.unref();
    // The data is still there for the next reader.
    const buf = Buffer.alloc(8);
    expect(readSync(server, buf)).toBe(4);
    expect(buf.toString('latin1', 0, 4)).toBe('late');
  });

  it('stops even from inside the listener', async () => {
    const { client, server } = tcpPair('ipv4');
    let w: Watcher | undefined;
    const rec = recorder(() => w!.close());
    w = watch(server, POLLIN, rec.listener);
    writeSync(client, Buffer.from('unread'));
    await until(() => rec.calls.length === 1);
    await turns(100);
    expect(rec.calls).toHaveLength(1);
  });

  it.each(FAMILIES)('%s: the fd is non-blocking while watched and blocking again after close(), flags exactly as before', (family) => {
    const { server } = tcpPair(family);
    const before = fcntl(server, F_GETFL);
    expect(before & O_NONBLOCK).toBe(0);
    const w = watch(server, POLLIN, () => {});
    expect(isNonBlocking(server)).toBe(true);
    // As documented: non-blocking calls while watched.
    expect(sysError(() => readSync(server, Buffer.alloc(4)))).toMatchObject({ code: 'EAGAIN', errno: E.EAGAIN, syscall: 'read' });
    w.close();
    expect(fcntl(server, F_GETFL)).toBe(before);
  });

  it('after close() a readSync in a worker_thread blocks until data arrives, as on any blocking socket', async () => {
    const { client, server } = tcpPair('ipv4');
    const w = watch(server, POLLIN, () => {});
    w.close();
    expect(isNonBlocking(server)).toBe(false);
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads');
      const lib = require(workerData.dist);
      const buf = Buffer.alloc(16);
      parentPort.postMessage({ event: 'reading' });
      const t0 = Date.now();
      try {
        const n = lib.readSync(workerData.fd, buf);
        parentPort.postMessage({ event: 'read', n, text: buf.toString('latin1', 0, n), ms: Date.now() - t0 });
      } catch (err) {
        parentPort.postMessage({ event: 'error', code: err.code, ms: Date.now() - t0 });
      }
      `,
      { eval: true, workerData: { dist: DIST_INDEX, fd: server } },
    );
    const messages: Record<string, unknown>[] = [];
    worker.on('message', (m: Record<string, unknown>) => messages.push(m));
    const exited = new Promise<number>((resolve) => worker.on('exit', resolve));
    try {
      await until(() => messages.length > 0, 10_000, 'the worker to start reading');
      expect(messages[0]).toEqual({ event: 'reading' });
      await sleep(200);
      // Still blocked in read(2): no EAGAIN.
      expect(messages).toHaveLength(1);
      expect(writeSync(client, Buffer.from('wake'))).toBe(4);
      await until(() => messages.length === 2, 5000, 'the worker\'s read');
      expect(messages[1]).toMatchObject({ event: 'read', n: 4, text: 'wake' });
      expect(messages[1].ms as number).toBeGreaterThanOrEqual(150);
    } finally {
      if (messages.length < 2) writeSync(client, Buffer.from('free'));
      expect(await exited).toBe(0);
    }
  });

  it('after close() an async read waits for data instead of failing with EAGAIN', async () => {
    const { client, server } = tcpPair('unix');
    watch(server, POLLIN, () => {}).close();
    const buf = Buffer.alloc(8);
    let settled = false;
    const p = read(server, buf).finally(() => {
      settled = true;
    });
    await sleep(100);
    expect(settled).toBe(false);
    expect(await write(client, Buffer.from('data'))).toBe(4);
    expect(await p).toBe(4);
  });

  it('a socket created with SOCK_NONBLOCK stays non-blocking after close(), and one set with F_SETFL too', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    const before = fcntl(fd, F_GETFL);
    watch(fd, POLLIN, () => {}).close();
    expect(fcntl(fd, F_GETFL)).toBe(before);
    expect(isNonBlocking(fd)).toBe(true);
    const { server } = tcpPair('ipv4');
    fcntl(server, F_SETFL, fcntl(server, F_GETFL) | O_NONBLOCK);
    const flags = fcntl(server, F_GETFL);
    watch(server, POLLIN, () => {}).close();
    expect(fcntl(server, F_GETFL)).toBe(flags);
  });
});

describe('watch(): one per fd, and a closed fd', () => {
  it('a second watch() on the same fd throws EEXIST; the first keeps working; after close() the fd can be watched again', async () => {
    const { client, server } = tcpPair('ipv4');
    const rec = recorder(() => drainText(server));
    const w = tracked(watch(server, POLLIN, rec.listener));
    const second = recorder();
    expect(sysError(() => watch(server, POLLIN, second.listener))).toMatchObject({
      name: 'SocketError', code: 'EEXIST', errno: E.EEXIST, syscall: 'watch', message: 'watch EEXIST',
    });
    writeSync(client, Buffer.from('x'));
    await until(() => rec.calls.length === 1);
    expect(second.calls).toEqual([]);
    w.close();
    const third = recorder(() => drainText(server));
    tracked(watch(server, POLLIN, third.listener));
    writeSync(client, Buffer.from('y'));
    await until(() => third.calls.length === 1);
    expect(third.calls[0]).toEqual({ err: null, revents: POLLIN });
    expect(rec.calls).toHaveLength(1);
  });

  it('watch() on a closed fd throws EBADF', () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    expect(sysError(() => watch(fd, POLLIN, () => {}))).toMatchObject({
      code: 'EBADF', errno: E.EBADF, syscall: 'watch', message: 'watch EBADF',
    });
  });

  it('checks its arguments', () => {
    const { server } = tcpPair('ipv4');
    expect(() => watch(server, POLLIN, 'x' as unknown as () => void)).toThrow(
      new TypeError('The "listener" argument must be of type function. Received \'x\''),
    );
    expect(() => watch(server, 0x8000, () => {})).toThrow(RangeError);
    expect(() => watch(-1, POLLIN, () => {})).toThrow(RangeError);
    // Nothing was left watching: a valid watch() works.
    tracked(watch(server, POLLIN, () => {}));
  });

  it('close(fd) with a live watcher reports SocketError EBADF to the listener, asynchronously and once, and does not crash', async () => {
    const { client, server } = tcpPair('ipv4');
    writeSync(client, Buffer.from('pending')); // Level-triggered POLLIN would fire on every turn.
    const rec = recorder();
    const w = watch(server, POLLIN, rec.listener);
    await until(() => rec.calls.length > 0);
    const before = rec.calls.length;
    expect(close(server)).toBe(0);
    // Not from inside close().
    expect(rec.calls).toHaveLength(before);
    await until(() => rec.calls.length === before + 1, 2000, 'the EBADF call');
    await turns(100);
    expect(rec.calls).toHaveLength(before + 1);
    const last = rec.calls[before];
    expect(last.err).toBeInstanceOf(SocketError);
    expect(last.err).toMatchObject({ code: 'EBADF', errno: E.EBADF, syscall: 'watch', message: 'watch EBADF' });
    expect(last.revents).toBe(0);
    expect(rec.calls.slice(0, before).every((c) => c.err === null && c.revents === POLLIN)).toBe(true);
    // The watcher is dead: update throws EBADF, close is a no-op.
    expect(sysError(() => w.update(POLLIN))).toMatchObject({ code: 'EBADF' });
    w.close();
    // The fd number is free; a new socket reusing it can be watched (no EEXIST).
    const again = track(socket(AF_INET, SOCK_STREAM, 0));
    const rec2 = recorder();
    const w2 = tracked(watch(again, POLLOUT, rec2.listener));
    await until(() => rec2.calls.length > 0);
    w2.close();
    expect(rec2.calls[0].err).toBeNull();
    expect(rec.calls).toHaveLength(before + 1);
  });
});

describe('watch(): an fd closed behind the library\'s back (fs.closeSync)', () => {
  // libuv aborts the process when epoll_ctl fails on a watched fd, so each
  // case runs in a child: it must exit 0, with the listener or update() told
  // EBADF, and never touch the socket that reuses the number.
  it.each([
    ['before-poll', 'closed before the loop polled: the listener hears EBADF'],
    ['reused-before-poll', 'closed and its number reused before the loop polled: EBADF, the new socket untouched'],
    ['after-poll', 'closed after the loop polled: update() throws EBADF'],
    ['reused-after-poll', 'closed and its number reused after the loop polled: update() throws EBADF, the new socket untouched'],
  ])('%s: %s', async (mode) => {
    const child = new Child(fixture('watch-closed-behind.cjs'), { args: [mode], timeoutMs: 10_000 });
    const msg = await child.message((m) => m.event !== undefined, 8000);
    expect(msg.event, String(msg.message)).toBe('done');
    const exit = await child.exited;
    expect(exit.signal).toBeNull();
    expect(exit.code).toBe(0);
    if (mode.endsWith('before-poll')) {
      expect(msg).toMatchObject({ heard: [{ err: 'EBADF', revents: 0 }], update: null });
    } else {
      expect(msg).toMatchObject({ heard: [], update: 'EBADF' });
    }
    if (mode.startsWith('reused')) {
      expect(msg.reused).toBe(true);
      expect(msg.rewatched).toEqual({ err: null, revents: POLLIN }); // The number is free for a new watch().
      expect(msg.afterDeadClose).toEqual({ err: null, revents: POLLIN }); // Still watched after the dead one's close().
      expect(msg.cNonBlocking).toBe(true); // The dead watcher's close() left the stranger's flags alone.
    }
  });
});

describe('watch(): fds ready in one loop iteration (delivered as one batch)', () => {
  /** n socketpairs whose first ends are readable before the loop next polls. */
  function readyPairs(n: number): number[] {
    return Array.from({ length: n }, () => {
      const [a, b] = socketpair(AF_UNIX, SOCK_STREAM);
      track(a);
      track(b);
      writeSync(b, Buffer.from('x'));
      return a;
    });
  }

  it('more ready fds than libuv takes from one epoll_wait (1024): still one listener call per fd per iteration', async () => {
    const fds = readyPairs(1100);
    const calls = new Map<number, number>();
    for (const fd of fds) {
      // Level-triggered and never read: ready again in every iteration.
      tracked(watch(fd, POLLIN, () => calls.set(fd, (calls.get(fd) ?? 0) + 1)));
    }
    // The first poll phase that sees them, then the check phase: the batch, then an immediate.
    for (let i = 0; i < 100 && calls.size === 0; i++) await new Promise((resolve) => setImmediate(resolve));
    const counts = new Set(fds.map((fd) => calls.get(fd) ?? 0));
    expect([...counts]).toEqual([1]);
  }, 20_000);

  it('each listener runs once per readiness; one that closes the other watchers first means they are not called', async () => {
    const fds = readyPairs(16);
    const called: number[] = [];
    const ws: Watcher[] = [];
    for (const [i, fd] of fds.entries()) {
      ws.push(tracked(watch(fd, POLLIN, () => {
        called.push(i);
        for (const w of ws) w.close();
      })));
    }
    await turns();
    expect(called).toHaveLength(1);
  });

  it('a listener that closes another watcher and watches its fd anew: the old listener is not called, the new one is, for that fd only', async () => {
    const fds = readyPairs(8);
    const calls: string[] = [];
    const ws: Watcher[] = [];
    const buf = Buffer.alloc(16);
    let swapped = -1;
    for (const [i, fd] of fds.entries()) {
      ws.push(tracked(watch(fd, POLLIN, () => {
        calls.push(`old:${i}`);
        readSync(fd, buf);
        ws[i].close();
        if (swapped >= 0) return;
        // Swap another fd's watcher, whatever its place in this batch.
        swapped = (i + 1) % fds.length;
        ws[swapped].close();
        const other = fds[swapped];
        tracked(watch(other, POLLIN, () => {
          calls.push(`new:${swapped}`);
          readSync(other, buf);
        }));
      })));
    }
    await until(() => calls.length === fds.length, 2000, 'every fd reported once');
    await turns();
    expect(calls.filter((c) => c === `old:${swapped}`)).toEqual([]);
    expect(calls.filter((c) => c === `new:${swapped}`)).toEqual([`new:${swapped}`]);
    expect(new Set(calls).size).toBe(fds.length);
  });

  it('update(0) from a listener pauses another ready watcher before its turn; update(POLLOUT) leaves it only POLLOUT', async () => {
    const fds = readyPairs(8);
    const calls: Array<[number, number]> = [];
    const ws: Watcher[] = [];
    let first = -1;
    for (const [i, fd] of fds.entries()) {
      ws.push(tracked(watch(fd, POLLIN, (err, revents) => {
        expect(err).toBeNull();
        calls.push([i, revents]);
        if (first >= 0) return;
        first = i;
        for (const [k, w] of ws.entries()) if (k !== i) w.update(k % 2 === 0 ? 0 : POLLOUT);
        ws[i].update(0);
      })));
    }
    await turns();
    expect(calls[0]).toEqual([first, POLLIN]);
    // The paused ones never ran; the POLLOUT ones got POLLOUT (never POLLIN).
    for (const [i, revents] of calls.slice(1)) {
      expect(i % 2).toBe(1);
      expect(revents).toBe(POLLOUT);
    }
    expect(calls.filter(([i]) => i % 2 === 1 && i !== first).length).toBeGreaterThan(0);
  });

  it('two copies of the library (lib/ and dist/) sharing one addon: the watchers of each, ready together, are all served', async () => {
    const load = createRequire(__filename);
    const dist = load(DIST_INDEX) as typeof import('../lib/index');
    // The premise: both copies got the one addon instance (its per-environment state).
    expect(load(DIST_INDEX.replace(/index\.js$/, 'binding.js')).native).toBe(native);
    const fds = readyPairs(4);
    const got: string[] = [];
    const buf = Buffer.alloc(16);
    const distWatchers: Watcher[] = [];
    try {
      for (const [i, fd] of fds.entries()) {
        const copy = i % 2 === 0 ? 'lib' : 'dist';
        const listener = (): void => {
          got.push(`${copy}:${i}`);
          readSync(fd, buf);
        };
        if (copy === 'lib') tracked(watch(fd, POLLIN, listener));
        else distWatchers.push(dist.watch(fd, POLLIN, listener));
      }
      await until(() => got.length === fds.length, 2000, 'every watcher of both copies');
      expect(got.sort()).toEqual(['dist:1', 'dist:3', 'lib:0', 'lib:2']);
    } finally {
      for (const w of distWatchers) w.close();
    }
  });

  it('two copies of the library cannot both watch one fd: the second gets EEXIST, the first keeps its events', async () => {
    const load = createRequire(__filename);
    const dist = load(DIST_INDEX) as typeof import('../lib/index');
    const [fd] = readyPairs(1);
    let calls = 0;
    tracked(watch(fd, POLLIN, () => {
      calls++;
      readSync(fd, Buffer.alloc(16));
    }));
    expect(() => dist.watch(fd, POLLIN, () => undefined)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'watch' }));
    await until(() => calls === 1, 2000, 'the first watcher\'s event');
  });

  it('two copies of the library: once one closes its watcher the other can watch the fd, and then the first gets EEXIST (among 100 watched fds)', async () => {
    const load = createRequire(__filename);
    const dist = load(DIST_INDEX) as typeof import('../lib/index');
    const fds = readyPairs(100);
    const others = fds.slice(1).map((other) => tracked(watch(other, 0, () => undefined)));
    const [fd] = fds;
    const first = watch(fd, 0, () => undefined);
    first.close();
    let calls = 0;
    const second = dist.watch(fd, POLLIN, () => {
      calls++;
      readSync(fd, Buffer.alloc(16));
    });
    try {
      expect(() => watch(fd, POLLIN, () => undefined)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'watch' }));
      await until(() => calls === 1, 2000, 'the second copy\'s event');
      // Closing the others leaves this one's registration alone.
      for (const w of others) w.close();
      expect(() => watch(fd, POLLIN, () => undefined)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'watch' }));
    } finally {
      second.close();
    }
    tracked(watch(fd, 0, () => undefined));
  });

  it('a listener that throws: the error reaches \'uncaughtException\' before the next listener runs, and the others all run (child process)', async () => {
    const child = new Child(fixture('nb-watch-batch.cjs'), { args: ['8'], timeoutMs: 10_000 });
    const { order } = (await child.event('done', 8000)) as { order: string[] };
    const exit = await child.exited;
    expect(exit.code).toBe(0);
    expect(order).toHaveLength(9);
    expect(order[0]).toMatch(/^listener:\d$/);
    expect(order[1]).toBe(`uncaught:from ${order[0].split(':')[1]}`);
    expect(new Set(order.filter((e) => e.startsWith('listener:'))).size).toBe(8);
  });
});

describe('watch(): the event loop\'s life (child processes)', () => {
  it('unref() lets the process exit while watching', async () => {
    const child = new Child(fixture('nb-watch-ref.cjs'), { args: ['unref'], timeoutMs: 10_000 });
    const exit = await child.exited;
    expect(exit.killed).toBe(false);
    expect(exit.code).toBe(0);
    expect(exit.stderr).toBe('');
    expect(child.messages.map((m) => m.event)).toEqual(['listening', 'exit']);
    expect(exit.ms).toBeLessThan(5000);
  });

  it.each(['ref', 'unref-ref'])('%s: the watcher keeps the process alive until its listener closes it', async (mode) => {
    const child = new Child(fixture('nb-watch-ref.cjs'), { args: [mode], timeoutMs: 10_000 });
    const { port } = (await child.event('listening', 8000)) as { port: number };
    await sleep(400);
    expect(child.exitStatus).toBeUndefined();
    const c = track(socket(AF_INET, SOCK_STREAM, 0));
    connectSync(c, { family: AF_INET, address: '127.0.0.1', port });
    const exit = await child.exited;
    expect(exit.killed).toBe(false);
    expect(exit.code).toBe(0);
    expect(exit.stderr).toBe('');
    expect(child.messages.map((m) => m.event)).toEqual(['listening', 'accepted', 'exit']);
    expect(child.messages[1]).toEqual({ event: 'accepted', revents: POLLIN });
  });

  it('an unref()\'d watcher still reports while something else keeps the loop alive', async () => {
    const child = new Child(fixture('nb-watch-ref.cjs'), { args: ['unref-timer'], timeoutMs: 10_000 });
    const { port } = (await child.event('listening', 8000)) as { port: number };
    const c = track(socket(AF_INET, SOCK_STREAM, 0));
    connectSync(c, { family: AF_INET, address: '127.0.0.1', port });
    const exit = await child.exited;
    expect(exit.code).toBe(0);
    expect(exit.ms).toBeLessThan(8000);
    expect(child.messages.map((m) => m.event)).toEqual(['listening', 'accepted', 'exit']);
  });
});

describe('watch(): the libuv pool fully occupied (UV_THREADPOOL_SIZE=1)', () => {
  it('a watch() echo server keeps serving while a blocked read holds the only pool thread', async () => {
    const rounds = 50;
    const child = new Child(fixture('nb-pool-busy.cjs'), {
      env: { UV_THREADPOOL_SIZE: '1' }, args: [String(rounds), '1'], timeoutMs: 20_000,
    });
    const listening = await child.event('listening', 10_000);
    expect(listening).toMatchObject({ size: 1, busyBefore: 1 });
    // An outside client (this process, its own pool) is served too.
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    await connect(fd, { family: AF_INET, address: '127.0.0.1', port: listening.port as number }, { timeout: 5000 });
    const buf = Buffer.alloc(64);
    for (let i = 0; i < 10; i++) {
      const msg = Buffer.from(`outside-${i}`);
      expect(await write(fd, msg, undefined, { timeout: 5000 })).toBe(msg.length);
      let got = 0;
      while (got < msg.length) got += await read(fd, buf.subarray(got), msg.length - got, { timeout: 5000 });
      expect(buf.toString('latin1', 0, got)).toBe(msg.toString('latin1'));
    }
    close(fd);
    const served = await child.event('served', 10_000);
    expect(served).toMatchObject({ ownRounds: rounds, statDoneWhileBlocked: false, readSettled: false, busy: 1 });
    const done = await child.event('done', 10_000);
    const exit = await child.exited;
    expect(exit.code).toBe(0);
    expect(exit.stderr).toBe('');
    expect(done).toMatchObject({
      ownRounds: rounds,
      // The pool really was full until the read was released: fs.stat waited behind it.
      statDoneBeforeRelease: false,
      readSettledBeforeRelease: false,
      busyBeforeRelease: 1,
      readResult: 7,
      readText: 'release',
      statOk: true,
      // The only call that ran on a worker is the blocked read itself.
      traceWorker: 1,
      workerSyscalls: ['read'],
      threadpool: { size: 1, busy: 0, queued: 0 },
    });
    const stats = done.stats as { accepted: number; closed: number; echoed: number };
    expect(stats.accepted).toBe(2);
    expect(stats.closed).toBe(2);
    let ownBytes = 0;
    for (let r = 0; r < rounds; r++) ownBytes += `ping-${r}-`.length + (r % 37);
    let outsideBytes = 0;
    for (let i = 0; i < 10; i++) outsideBytes += `outside-${i}`.length;
    expect(stats.echoed).toBe(ownBytes + outsideBytes);
    console.log(`[watch with a full pool] ${rounds} round trips in ${(done.ownMs as number).toFixed(1)} ms`);
  });
});

describe('watch(): 1,000 concurrent connections', () => {
  it('a watch() echo server (one child) echoes 1,000 concurrent clients (another child) byte-exact, with no worker-thread call and no new thread', async () => {
    const N = 1000;
    const t0 = performance.now();
    const server = new Child(fixture('nb-echo-server.cjs'), { args: [String(N)], timeoutMs: 30_000 });
    const listening = await server.event('listening', 10_000);
    const clients = new Child(fixture('nb-echo-clients.cjs'), {
      args: [String(listening.port), String(N)], timeoutMs: 30_000,
    });
    const [cExit, sExit] = await Promise.all([clients.exited, server.exited]);
    const elapsed = performance.now() - t0;
    expect(cExit.stderr).toBe('');
    expect(sExit.stderr).toBe('');
    expect(cExit.killed).toBe(false);
    expect(sExit.killed).toBe(false);
    expect(cExit.code).toBe(0);
    expect(sExit.code).toBe(0);
    const c = clients.messages.find((m) => m.event === 'done')!;
    const s = server.messages.find((m) => m.event === 'done')!;
    let total = 0;
    for (let i = 0; i < N; i++) total += ((i * 7919) % 8192) + 1;
    expect(c).toMatchObject({
      clients: N, connected: N, finished: N, mismatches: 0, bytesSent: total, bytesRecv: total,
      threadpool: { busy: 0, queued: 0 },
    });
    expect(c.sha256Recv).toBe(c.sha256Sent);
    expect(s).toMatchObject({
      accepted: N, closed: N, open: 0, resets: 0, bytesIn: total, bytesOut: total,
      // Every connection was open at the same time.
      maxOpen: N,
      // No call ran on a worker thread, and no thread was started.
      traceWorker: 0,
      workerSyscalls: [],
      threadpool: { busy: 0, queued: 0 },
    });
    expect(s.traceTotal as number).toBeGreaterThanOrEqual(4 * N);
    expect(s.threadsAtPeak).toBe(s.idleThreads);
    expect(s.threadsAtEnd).toBe(s.idleThreads);
    expect(elapsed).toBeLessThan(30_000);
    console.log(
      `[watch echo] ${N} concurrent connections, ${total} bytes echoed byte-exact in ${elapsed.toFixed(0)} ms ` +
      `(connect ${(c.connectMs as number).toFixed(0)} ms, echo ${(c.echoMs as number).toFixed(0)} ms; ` +
      `server threads ${s.idleThreads as number} idle / ${s.threadsAtPeak as number} at peak; ` +
      `${s.acceptBatches as number} accept wake-ups; ${s.traceTotal as number} calls traced, ${s.traceWorker as number} on workers)`,
    );
  }, 40_000);
});
