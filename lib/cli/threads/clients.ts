// The clients of `lab threads`, all in this one process and on one thread:
// non-blocking sockets driven by watch() (libuv's poller, no worker thread)
// and non-blocking *Sync calls. Each active connection makes `requests`
// request/response round trips and times each one; idle connections
// (a slow-loris) connect and then send nothing.
import {
  AF_INET, POLLIN, POLLOUT, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_ERROR, SocketError,
  close, connectSync, errnoName, getsockopt, readSync, socket, watch, writeSync, type Watcher,
} from '../../index';
import { childSide, toParent } from '../children';
import { countThreads } from '../proc';
import { type ClientResult, type FromClients, type Percentiles, REQUEST_BYTES, type ToClients, isAgain } from './protocol';

const arg = childSide<{ port: number; maxLifetimeMs: number }>();
const addr = { family: AF_INET, address: '127.0.0.1', port: arg.port };

interface Conn {
  fd: number;
  w: Watcher | null;
  idle: boolean;
  connected: boolean;
  done: boolean;
  remaining: number;
  /** When the request now in flight was sent (performance.now()); 0 when none is. */
  sentAt: number;
  seq: number;
  req: Buffer;
  res: Buffer;
  got: number;
  /** Where this connection's round-trip times go. */
  latencies: number[];
  onConnect: (error: string | null) => void;
  onEnd: (error: string | null) => void;
}

function send(msg: FromClients): void {
  toParent(msg);
}

function end(conn: Conn, error: string | null): void {
  if (conn.done) return;
  conn.done = true;
  try {
    close(conn.fd); // Stops its watcher too.
  } catch {
    // Already closed.
  }
  if (conn.connected) conn.onEnd(error);
  else conn.onConnect(error ?? 'closed before connecting');
}

function sendRequest(conn: Conn): void {
  conn.seq++;
  conn.req.writeUInt32BE(conn.seq, 0);
  conn.got = 0;
  conn.sentAt = performance.now();
  // 64 bytes into an empty socket buffer: a non-blocking write takes them all.
  const n = writeSync(conn.fd, conn.req, REQUEST_BYTES);
  if (n !== REQUEST_BYTES) throw new Error(`short write of ${n} bytes`);
  conn.w?.update(POLLIN);
}

function onReadable(conn: Conn): void {
  const n = readSync(conn.fd, conn.res.subarray(conn.got), REQUEST_BYTES - conn.got);
  if (n === 0) {
    end(conn, 'the server closed the connection');
    return;
  }
  conn.got += n;
  if (conn.got < REQUEST_BYTES) return;
  conn.latencies.push(performance.now() - conn.sentAt);
  conn.sentAt = 0;
  if (!conn.res.equals(conn.req)) {
    end(conn, 'the response was not the echo of the request');
    return;
  }
  conn.remaining--;
  if (conn.remaining > 0) sendRequest(conn);
  else end(conn, null);
}

/** socket() + non-blocking connect(): EINPROGRESS, then writable once the handshake is over. */
function openConn(idle: boolean, seed: number, latencies: number[],
  onConnect: (error: string | null) => void, onEnd: (error: string | null) => void): Conn {
  const fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const conn: Conn = {
    fd, w: null, idle, connected: false, done: false, remaining: 0, sentAt: 0, seq: 0,
    req: Buffer.alloc(REQUEST_BYTES, seed % 251), res: Buffer.alloc(REQUEST_BYTES), got: 0,
    latencies, onConnect, onEnd,
  };
  try {
    connectSync(fd, addr);
  } catch (e) {
    if (!(e instanceof SocketError && e.code === 'EINPROGRESS')) {
      end(conn, (e as Error).message);
      return conn;
    }
  }
  conn.w = watch(fd, POLLOUT, (err, revents) => {
    if (conn.done) return;
    try {
      if (!conn.connected) {
        const soError = err ? err.errno : getsockopt(fd, SOL_SOCKET, SO_ERROR);
        if (soError !== 0) {
          end(conn, `connect ${errnoName(soError)}`);
          return;
        }
        conn.connected = true;
        conn.w?.update(0);
        conn.onConnect(null);
        return;
      }
      // POLLERR/POLLHUP too: the read then returns the error (ECONNRESET) or 0.
      if (err) end(conn, err.message);
      else if (revents !== 0) onReadable(conn);
    } catch (e) {
      if (!isAgain(e)) end(conn, (e as Error).message);
    }
  });
  return conn;
}

function startRequests(conn: Conn, requests: number): void {
  conn.remaining = requests;
  try {
    sendRequest(conn);
  } catch (e) {
    end(conn, (e as Error).message);
  }
}

/**
 * One connection making `rounds` untimed round trips, then closing: the first
 * requests of a fresh process run cold code (JIT, lazy loading) in both
 * processes, which is not what this lab measures.
 */
function warmup(rounds: number): void {
  const t0 = performance.now();
  const conn = openConn(false, 0, [], (error) => {
    if (error) send({ type: 'error', message: `warm-up: ${error}` });
    else startRequests(conn, rounds);
  }, (error) => {
    if (error) send({ type: 'error', message: `warm-up: ${error}` });
    else send({ type: 'warmed', ms: performance.now() - t0 });
  });
}

// ---- the measured connections -----------------------------------------------

const conns: Conn[] = [];
const latencies: number[] = [];
let errors = 0;
let firstError: string | null = null;
let goAt = 0;
let requested = 0;
let finished = false;

function connectAll(count: number, idle: boolean, timeoutMs: number): void {
  const t0 = performance.now();
  let pending = count;
  let failed = 0;
  let connectError: string | null = null;
  const report = () => send({ type: 'connected', count: count - failed - pending, failed: failed + pending, firstError: connectError, ms: performance.now() - t0 });
  const timer = setTimeout(() => {
    connectError ??= `connect: no answer within ${timeoutMs} ms`;
    report();
    pending = -1;
  }, timeoutMs);
  const onConnect = (error: string | null) => {
    if (error) {
      failed++;
      connectError ??= error;
    }
    if (pending > 0 && --pending === 0) {
      clearTimeout(timer);
      report();
    }
  };
  const onEnd = (error: string | null) => {
    if (error) {
      errors++;
      firstError ??= error;
    }
    if (!finished && goAt > 0 && conns.every((c) => c.idle || c.done)) finish(false);
  };
  for (let i = 0; i < count; i++) conns.push(openConn(idle, conns.length + 1, latencies, onConnect, onEnd));
  if (count === 0) {
    clearTimeout(timer);
    report();
  }
}

function percentiles(values: number[]): Percentiles {
  if (values.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1], mean };
}

function finish(deadlineHit: boolean): void {
  if (finished) return;
  finished = true;
  const now = performance.now();
  const completed = latencies.length;
  // A request still unanswered has waited at least this long: counted, so a
  // frozen server shows a latency of at least the deadline, not no data.
  const all = latencies.slice();
  let censored = 0;
  for (const c of conns) {
    if (c.idle || c.done || c.sentAt === 0) continue;
    censored++;
    all.push(now - c.sentAt);
  }
  for (const c of conns) end(c, null);
  const result: ClientResult = {
    connections: conns.filter((c) => !c.idle).length,
    idle: conns.filter((c) => c.idle).length,
    requests: requested, completed, errors, firstError,
    elapsedMs: now - goAt,
    latencyMs: percentiles(all), censored, deadlineHit,
    threads: countThreads(),
  };
  send({ type: 'done', result });
}

function go(requests: number, deadlineMs: number): void {
  goAt = performance.now();
  const active = conns.filter((c) => !c.idle && c.connected && !c.done);
  requested = active.length * requests;
  setInterval(() => send({ type: 'progress', completed: latencies.length }), 100).unref();
  setTimeout(() => finish(true), deadlineMs).unref();
  if (active.length === 0) finish(false);
  for (const c of active) startRequests(c, requests);
}

process.on('message', (m: ToClients) => {
  if (m.type === 'warmup') warmup(m.rounds);
  else if (m.type === 'connect') connectAll(m.count, m.idle, m.timeoutMs);
  else if (m.type === 'go') go(m.requests, m.deadlineMs);
});
send({ type: 'hello' });
