// `lab threads`: does a server need a thread per connection? For each count
// of concurrent clients, the same echo workload runs against each server
// mode: the server in one child process, the clients in another. Every phase
// has a deadline; both children are killed after each run.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Child } from '../children';
import { Progress } from '../progress';
import {
  type ClientResult, type FromClients, type FromServer, MODE_LABELS, type Mode, REQUEST_BYTES,
  type ServerSample, type ServerStats, type ToClients, type ToServer, UV_THREADPOOL_DEFAULT, UV_THREADPOOL_MAX,
} from './protocol';

export interface ThreadsOptions {
  clients: number[];
  idle: number;
  requests: number;
  modes: Mode[];
  deadlineMs: number;
  progress: boolean;
}

export interface RunResult {
  mode: Mode;
  label: string;
  clients: number;
  idle: number;
  poolSize: number;
  /** The pool was asked for more threads than libuv allows (1024). */
  poolCapped: boolean;
  /** From the first connect() to every connection being served at once; null if that never happened. */
  setupMs: number | null;
  /** The lab stopped waiting for that after this long (a slow start, not a stall); null otherwise. */
  setupCutMs: number | null;
  /** Connections being served when the clients started sending. */
  servingAtGo: number;
  connectFailed: number;
  server: ServerStats;
  client: ClientResult;
  requestsPerSec: number;
  /** Requests were still unanswered at the deadline. */
  frozen: boolean;
  /** Why the run was not made (not enough memory for its threads); its numbers are then all 0. */
  skipped: string | null;
}

export interface ThreadsResult {
  lab: 'threads';
  machine: { platform: string; kernel: string; cpus: number; node: string };
  config: Omit<ThreadsOptions, 'progress'> & { requestBytes: number };
  runs: RunResult[];
  reading: string;
  elapsedMs: number;
}

const dir = __dirname;
const SAMPLE_MS = 50;
/** The server is taking no more connections once none came in for this long. */
const STALL_MS = 300;
/** Untimed round trips on one connection before each run. */
const WARMUP_ROUNDS = 50;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function poolSizeFor(mode: Mode, connections: number): { size: number; capped: boolean } {
  if (mode !== 'pool-sized') return { size: UV_THREADPOOL_DEFAULT, capped: false };
  // One thread per connection's read() plus one for the accept() loop.
  const want = connections + 1;
  return { size: Math.min(want, UV_THREADPOOL_MAX), capped: want > UV_THREADPOOL_MAX };
}

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.BSD_SOCKETS_TRACE; // A trace line per call would swamp the measurement.
  delete env.NODE_OPTIONS;
  return env;
}

async function runOne(mode: Mode, clients: number, opts: ThreadsOptions,
  say: (fraction: number, text: string) => void): Promise<RunResult> {
  const connections = clients + opts.idle;
  const pool = poolSizeFor(mode, connections);
  // The blocking server's accept loop holds one pool thread; each connection's read() another.
  const canStall = (mode === 'pool-default' || mode === 'pool-sized') && connections + 1 > pool.size;
  // The longest this run may take, phase by phase, plus slack: the children's own time limit.
  // (Starting a worker_thread per connection takes about 40 ms each here: capped so that a slow
  // machine still finishes in about a minute; the table then says "> 25 s".)
  const warmupMs = mode === 'thread-per-conn' ? Math.min(25_000, 5000 + 80 * connections) : 3000;
  const maxLifetimeMs = 10_000 + 5000 + 2000 + 10_000 + warmupMs + opts.deadlineMs + 15_000;

  const server = new Child<ToServer, FromServer>('server', path.join(dir, 'server.js'),
    { mode, maxLifetimeMs, sampleMs: SAMPLE_MS },
    childEnv({ UV_THREADPOOL_SIZE: String(pool.size) }), ['--no-warnings']);
  let clientsProc: Child<ToClients, FromClients> | null = null;
  try {
    const ready = await server.waitFor('ready', 10_000);
    let lastStatus: ServerSample = ready.baseline;
    let lastServing = 0;
    let lastAccepted = 0;
    let lastStarting = 0;
    server.onMessage = (m) => {
      if (m.type === 'status') {
        lastStatus = m.sample;
        lastServing = m.serving;
        lastAccepted = m.accepted;
        lastStarting = m.starting;
      } else if (m.type === 'served') {
        lastServing = m.serving;
      }
    };
    const cl = new Child<ToClients, FromClients>('clients', path.join(dir, 'clients.js'),
      { port: ready.port, maxLifetimeMs }, childEnv({}));
    clientsProc = cl;
    await cl.waitFor('hello', 10_000);

    // One untimed connection first, so no run measures cold code; then wait
    // until the server has seen it close.
    say(0.02, 'warm-up');
    cl.send({ type: 'warmup', rounds: WARMUP_ROUNDS });
    await cl.waitFor('warmed', 10_000);
    await server.waitFor('status', 2000, (m) => m.serving === 0).catch(() => null);

    // Slow-loris first: idle connections that the server accepts and then waits on.
    if (opts.idle > 0) {
      say(0.05, `${opts.idle} idle clients connect`);
      cl.send({ type: 'connect', count: opts.idle, idle: true, timeoutMs: 5000 });
      await cl.waitFor('connected', 7000);
      server.send({ type: 'expect', serving: opts.idle });
      await server.waitFor('served', 2000).catch(() => null);
    }

    say(0.1, `${clients} clients connect`);
    const t0 = performance.now();
    let servedAt: number | null = null;
    server.send({ type: 'expect', serving: connections });
    server.waitFor('served', maxLifetimeMs).then(() => {
      servedAt = performance.now();
    }, () => {});
    cl.send({ type: 'connect', count: clients, idle: false, timeoutMs: 10_000 });
    const connected = await cl.waitFor('connected', 12_000);

    // Wait while the server is still taking connections in: until it serves
    // them all, or stalls — a blocking server whose pool threads are all
    // parked in read() on connections that have not sent yet takes no more
    // until the clients send. Then the clients start.
    let cutAt: number | null = null;
    let seen = '';
    let changedAt = performance.now();
    while (servedAt === null) {
      const now = performance.now();
      if (`${lastAccepted}/${lastServing}` !== seen) {
        seen = `${lastAccepted}/${lastServing}`;
        changedAt = now;
      }
      // A thread still starting for a connection is progress, not a stall;
      // and only a pool with fewer threads than connections can stall (on a
      // busy machine the others may just be slow).
      const stalled = canStall && lastStarting === 0 && now - changedAt > STALL_MS;
      if (stalled) break;
      if (now - t0 > warmupMs) {
        cutAt = now;
        break;
      }
      say(0.2, `server: ${lastStatus.threads} threads, ${lastServing}/${connections} connections served`);
      await sleep(20);
    }
    const servingAtGo = servedAt === null ? lastServing : connections;

    server.send({ type: 'go' });
    const total = connected.count * opts.requests;
    cl.onMessage = (m) => {
      if (m.type === 'progress') say(0.3 + 0.7 * (total ? m.completed / total : 1), `${m.completed}/${total} requests`);
    };
    cl.send({ type: 'go', requests: opts.requests, deadlineMs: opts.deadlineMs });
    const done = await cl.waitFor('done', opts.deadlineMs + 10_000);
    server.send({ type: 'final' });
    const final = await server.waitFor('final', 15_000);
    const c = done.result;
    return {
      mode, label: MODE_LABELS[mode], clients, idle: opts.idle, poolSize: final.stats.poolSize, poolCapped: pool.capped,
      setupMs: servedAt === null ? null : servedAt - t0,
      setupCutMs: servedAt === null && cutAt !== null ? cutAt - t0 : null, servingAtGo, connectFailed: connected.failed, server: final.stats, client: c,
      requestsPerSec: c.elapsedMs > 0 ? (c.completed / c.elapsedMs) * 1000 : 0,
      frozen: c.completed < c.requests, skipped: null,
    };
  } finally {
    await Promise.all([server.kill(), clientsProc?.kill()]);
  }
}

/** What one Node.js worker thread costs here (its own V8 heap), measured: about 8 MB. */
const WORKER_BYTES = 10 * 1024 * 1024;

/** Free memory: the machine's, or what is left under this cgroup's limit if that is less. */
function availableMemory(): number {
  let free = os.freemem();
  try {
    const max = fs.readFileSync('/sys/fs/cgroup/memory.max', 'utf8').trim();
    const current = Number(fs.readFileSync('/sys/fs/cgroup/memory.current', 'utf8').trim());
    if (/^\d+$/.test(max)) free = Math.min(free, Number(max) - current);
  } catch {
    // No cgroup v2 memory controller here.
  }
  return free;
}

/** A run this machine cannot afford: a worker thread per connection needs memory. */
function skipReason(mode: Mode, connections: number): string | null {
  if (mode !== 'thread-per-conn') return null;
  const need = connections * WORKER_BYTES + 512 * 1024 * 1024;
  const free = availableMemory();
  if (free >= need) return null;
  const gb = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GB`;
  return `${connections} worker threads need about ${gb(need)} of memory; ${gb(free)} is free`;
}

function skipped(mode: Mode, clients: number, idle: number, reason: string): RunResult {
  const sample: ServerSample = { sockets: 0, threads: 0, rssBytes: 0 };
  return {
    mode, label: MODE_LABELS[mode], clients, idle, poolSize: UV_THREADPOOL_DEFAULT, poolCapped: false,
    setupMs: null, setupCutMs: null, servingAtGo: 0, connectFailed: 0,
    server: {
      poolSize: UV_THREADPOOL_DEFAULT, loaded: sample, allServed: false, baseline: sample, peak: sample,
      poolBusyPeak: 0, poolQueuedPeak: 0, queuedNsPeak: 0, tracedCalls: 0, accepted: 0, warning: null,
    },
    client: {
      connections: 0, idle: 0, requests: 0, completed: 0, errors: 0, firstError: null, elapsedMs: 0,
      latencyMs: { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 }, censored: 0, deadlineHit: false, threads: 0,
    },
    requestsPerSec: 0, frozen: false, skipped: reason,
  };
}

export async function runThreadsLab(opts: ThreadsOptions): Promise<ThreadsResult> {
  const started = performance.now();
  const plan: Array<{ mode: Mode; clients: number }> = [];
  for (const clients of opts.clients) for (const mode of opts.modes) plan.push({ mode, clients });
  const progress = new Progress(plan.length, opts.progress);
  const runs: RunResult[] = [];
  try {
    for (const [i, { mode, clients }] of plan.entries()) {
      const name = `${MODE_LABELS[mode]} × ${clients}${opts.idle ? ` (+${opts.idle} idle)` : ''}`;
      progress.update(i, `${name}: starting`);
      const skip = skipReason(mode, clients + opts.idle);
      const run = skip ? skipped(mode, clients, opts.idle, skip)
        : await runOne(mode, clients, opts, (f, text) => progress.update(i + f, `${name}: ${text}`));
      runs.push(run);
      const status = run.skipped ? `skipped: ${run.skipped}` : run.frozen
        ? `froze: ${run.client.completed}/${run.client.requests} requests by the deadline`
        : `${Math.round(run.requestsPerSec)} req/s, p99 ${run.client.latencyMs.p99.toFixed(2)} ms`;
      progress.step(i + 1, `${name}: ${status}`);
    }
  } finally {
    progress.clear();
  }
  const { progress: _shown, ...chosen } = opts;
  const config = { ...chosen, requestBytes: REQUEST_BYTES };
  return {
    lab: 'threads',
    machine: { platform: process.platform, kernel: os.release(), cpus: os.availableParallelism(), node: process.version },
    config, runs, reading: '', elapsedMs: performance.now() - started,
  };
}
