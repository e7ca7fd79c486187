// The server under test in `lab threads`, one child process per run: an echo
// server (REQUEST_BYTES in, the same bytes out) in one of four I/O models.
// It samples itself — TCP sockets from /proc/self/fd, OS threads from
// /proc/self/task, RSS — and reports to the lab over the IPC channel.
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  AF_INET, POLLIN, POLLOUT, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SOMAXCONN, SO_REUSEADDR,
  accept, acceptSync, bind, close, getsockname, listen, onTrace, read, readSync,
  setsockopt, socket, threadpool, watch, write, writeSync,
} from '../../index';
import { childSide, toParent } from '../children';
import { countSockets, countThreads, rssBytes } from '../proc';
import { type FromServer, type Mode, REQUEST_BYTES, isAgain, type ServerSample, type ServerStats, type ToServer } from './protocol';

const arg = childSide<{ mode: Mode; maxLifetimeMs: number; sampleMs: number }>();

let accepted = 0;
/** Threads started for a connection that are not serving it yet (thread per connection). */
let starting = 0;
/** Accepted connections waiting for their thread to be started. */
const waiting: number[] = [];
/** Connections being served now: accepted, with their reader in place, not yet closed. */
let open = 0;
let poolBusyPeak = 0;
let poolQueuedPeak = 0;
let queuedNsPeak = 0;
let tracedCalls = 0;
let warning: string | null = null;
let expected = Infinity;
/** The sample taken the moment every expected connection was being served at once. */
let loaded: ServerSample | null = null;
/** When the clients started their requests (performance.now()); calls queued before it are not timed. */
let goAt = Infinity;

function opened(): void {
  open++;
  checkExpected();
}

function closed(): void {
  open--;
}

function checkExpected(): void {
  if (open < expected) return;
  expected = Infinity;
  loaded = takeSample();
  send({ type: 'served', serving: open });
}

function send(msg: FromServer): void {
  toParent(msg);
}

function notePool(): void {
  const { busy, queued } = threadpool();
  if (busy > poolBusyPeak) poolBusyPeak = busy;
  if (queued > poolQueuedPeak) poolQueuedPeak = queued;
}

// ---- blocking, on the libuv pool: pool-default and pool-sized ----------------

/** One connection: a blocking read() parked on a pool thread until the request arrives. */
async function serveOnPool(fd: number): Promise<void> {
  const buf = Buffer.alloc(REQUEST_BYTES);
  try {
    for (;;) {
      let got = 0;
      while (got < REQUEST_BYTES) {
        const n = await read(fd, buf.subarray(got), REQUEST_BYTES - got);
        if (n === 0) return; // The client closed.
        got += n;
      }
      await write(fd, buf, REQUEST_BYTES);
    }
  } catch {
    // ECONNRESET or EBADF at teardown: the connection is over.
  } finally {
    close(fd);
  }
}

async function acceptOnPool(listener: number): Promise<void> {
  for (;;) {
    const { fd } = await accept(listener);
    accepted++;
    opened();
    notePool();
    void serveOnPool(fd).finally(closed);
  }
}

// ---- thread per connection: worker_threads with blocking *Sync calls ---------

/** Threads being started at once: more only makes each start slower on a small machine. */
const STARTING_MAX = 2 * os.availableParallelism();

function threadPerConnection(listener: number): void {
  const script = path.join(__dirname, 'thread-worker.js');
  // Each thread is a whole Node.js worker (its own V8 heap), so keep the heap small.
  const resourceLimits = { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16, stackSizeMb: 1 };
  const startNext = () => {
    while (starting < STARTING_MAX && waiting.length > 0) {
      const fd = waiting.shift() as number;
      let serving = false;
      starting++;
      const conn = new Worker(script, { workerData: { role: 'conn', fd }, resourceLimits, stdout: false, stderr: false });
      conn.on('message', () => {
        serving = true;
        starting--;
        opened();
        startNext();
      });
      conn.on('exit', () => {
        if (serving) {
          closed();
        } else {
          starting--;
          startNext();
        }
      });
      conn.on('error', () => {});
    }
  };
  // The accept loop blocks in acceptSync() on a thread of its own, as a C
  // server's main thread would; this (event-loop) thread starts a thread for
  // each connection and keeps sampling.
  const acceptor = new Worker(script, { workerData: { role: 'acceptor', fd: listener }, resourceLimits });
  acceptor.on('message', (m: { fd: number }) => {
    accepted++;
    waiting.push(m.fd);
    startNext();
  });
  acceptor.on('error', (err) => send({ type: 'error', message: `acceptor: ${err.message}` }));
}

// ---- non-blocking, one thread: watch() ---------------------------------------

interface Conn {
  fd: number;
  buf: Buffer;
  got: number;
  /** Bytes of the response still to write when the socket was full. */
  pending: Buffer | null;
}

function nonBlocking(listener: number): void {
  watch(listener, POLLIN, (err) => {
    if (err) return;
    // Accept every waiting connection, until the kernel says EAGAIN.
    for (;;) {
      let fd: number;
      try {
        fd = acceptSync(listener, SOCK_NONBLOCK).fd;
      } catch (e) {
        if (!isAgain(e)) send({ type: 'error', message: `accept: ${(e as Error).message}` });
        return;
      }
      accepted++;
      opened();
      const conn: Conn = { fd, buf: Buffer.alloc(REQUEST_BYTES), got: 0, pending: null };
      const w = watch(fd, POLLIN, (werr, revents) => {
        if (werr) return;
        try {
          if (revents & POLLOUT && conn.pending) {
            const n = writeSync(fd, conn.pending);
            conn.pending = n < conn.pending.length ? conn.pending.subarray(n) : null;
            if (!conn.pending) w.update(POLLIN);
            return;
          }
          // One read per readiness: the poller is level-triggered and calls again if more is waiting.
          const n = readSync(fd, conn.buf.subarray(conn.got), REQUEST_BYTES - conn.got);
          if (n === 0) {
            close(fd); // Also stops the watcher.
            closed();
            return;
          }
          conn.got += n;
          if (conn.got < REQUEST_BYTES) return;
          conn.got = 0;
          const sent = writeSync(fd, conn.buf, REQUEST_BYTES);
          if (sent < REQUEST_BYTES) {
            conn.pending = Buffer.from(conn.buf.subarray(sent));
            w.update(POLLOUT);
          }
        } catch (e) {
          if (isAgain(e)) return;
          close(fd); // ECONNRESET: the connection is over.
          closed();
        }
      });
    }
  });
}

// ---- the process -------------------------------------------------------------

let baseline: ServerSample;
let peak: ServerSample;
/** The whole sample in which the socket count peaked: "loaded" when every client was never served at once. */
let busiest: ServerSample;

let lastSockets = 0;

/** Threads and RSS; the socket count too when `full` (it costs a getsockopt() per open fd). */
function takeSample(full = true): ServerSample {
  if (full) lastSockets = countSockets().tcp;
  const s: ServerSample = { sockets: lastSockets, threads: countThreads(), rssBytes: rssBytes() };
  if (s.sockets > busiest.sockets) busiest = s;
  peak.sockets = Math.max(peak.sockets, s.sockets);
  peak.threads = Math.max(peak.threads, s.threads);
  peak.rssBytes = Math.max(peak.rssBytes, s.rssBytes);
  notePool();
  return s;
}

function main(): void {
  process.on('warning', (w) => {
    if ((w as { code?: string }).code === 'BSD_SOCKETS_POOL_SATURATED') warning = w.message;
  });
  baseline = { sockets: countSockets().tcp, threads: countThreads(), rssBytes: rssBytes() };
  peak = { ...baseline };
  busiest = baseline;
  onTrace((r) => {
    tracedCalls++;
    notePool();
    // Only waits that began once the clients were sending: not the accept()
    // that sat queued while the connections were still being made.
    if (r.queuedNs > queuedNsPeak && performance.now() - (r.queuedNs + r.runNs) / 1e6 >= goAt) queuedNsPeak = r.queuedNs;
  });

  const listener = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, 1);
  bind(listener, { family: AF_INET, address: '127.0.0.1', port: 0 });
  listen(listener, SOMAXCONN);
  const { port } = getsockname(listener) as { port: number };

  let tick = 0;
  setInterval(() => {
    const sample = takeSample(tick++ % 4 === 0);
    send({ type: 'status', accepted, serving: open, starting: starting + waiting.length, sample });
  }, arg.sampleMs);

  process.on('message', (m: ToServer) => {
    if (m.type === 'expect') {
      expected = m.serving;
      loaded = null;
      checkExpected();
    } else if (m.type === 'go') {
      goAt = performance.now();
    } else if (m.type === 'final') {
      takeSample();
      const stats: ServerStats = {
        poolSize: threadpool().size, loaded: loaded ?? busiest, allServed: loaded !== null, baseline, peak,
        poolBusyPeak, poolQueuedPeak, queuedNsPeak, tracedCalls, accepted, warning,
      };
      send({ type: 'final', stats });
    }
  });

  if (arg.mode === 'pool-default' || arg.mode === 'pool-sized') {
    acceptOnPool(listener).catch((e: Error) => send({ type: 'error', message: `accept: ${e.message}` }));
  } else if (arg.mode === 'thread-per-conn') {
    threadPerConnection(listener);
  } else {
    nonBlocking(listener);
  }
  send({ type: 'ready', port, poolSize: threadpool().size, baseline });
}

main();
