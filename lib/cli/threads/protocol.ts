// `lab threads`: the four servers, the workload, and the messages the lab
// exchanges with its two child processes (the server under test and the
// clients) over Node's IPC channel.

import { SocketError } from '../../index';

/** A non-blocking call that found nothing ready (EAGAIN/EWOULDBLOCK), as both children meet it. */
export function isAgain(err: unknown): boolean {
  return err instanceof SocketError && (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK');
}

export const MODES = ['pool-default', 'pool-sized', 'thread-per-conn', 'nonblocking'] as const;
export type Mode = (typeof MODES)[number];

export const MODE_LABELS: Record<Mode, string> = {
  'pool-default': 'blocking, default pool',
  'pool-sized': 'blocking, pool = connections',
  'thread-per-conn': 'thread per connection',
  nonblocking: 'non-blocking, one thread',
};

export const MODE_HELP: Record<Mode, string> = {
  'pool-default': 'accept() loop + one blocking read() per connection, libuv pool of 4 (its default)',
  'pool-sized': 'the same with UV_THREADPOOL_SIZE = connections + 1 for accept() (libuv caps it at 1024)',
  'thread-per-conn': 'acceptSync() loop; each connection gets its own worker_thread running readSync/writeSync',
  nonblocking: 'one thread: watch() (libuv uv_poll_t) + non-blocking acceptSync/readSync/writeSync',
};

/** Every request and its response (an echo) are this many bytes. */
export const REQUEST_BYTES = 64;
/** libuv's limit on UV_THREADPOOL_SIZE. */
export const UV_THREADPOOL_MAX = 1024;
/** libuv's default pool size. */
export const UV_THREADPOOL_DEFAULT = 4;

export interface ServerSample {
  /** TCP sockets open in the server (listener + accepted connections). */
  sockets: number;
  threads: number;
  rssBytes: number;
}

export interface ServerStatus {
  type: 'status';
  accepted: number;
  /** Connections with a reader ready: a read() queued, a worker running, or a watcher. */
  serving: number;
  /** Threads started for a connection but not serving it yet. */
  starting: number;
  sample: ServerSample;
}

export interface ServerStats {
  poolSize: number;
  /** The sample taken the moment every connection was being served at once (else the one with most sockets). */
  loaded: ServerSample;
  /** Every connection was being served at once at some moment. */
  allServed: boolean;
  baseline: ServerSample;
  peak: ServerSample;
  /** Most bsd-sockets calls running on pool threads at once (threadpool().busy). */
  poolBusyPeak: number;
  poolQueuedPeak: number;
  /** Longest a call waited for a free pool thread (onTrace queuedNs). */
  queuedNsPeak: number;
  tracedCalls: number;
  accepted: number;
  /** The library's pool-saturation warning, if it was emitted. */
  warning: string | null;
}

/** 'expect': answer 'served' as soon as `serving` connections are being served. */
export type ToServer = { type: 'expect'; serving: number } | { type: 'go' } | { type: 'final' };
export type FromServer =
  | { type: 'ready'; port: number; poolSize: number; baseline: ServerSample }
  | ServerStatus
  | { type: 'served'; serving: number }
  | { type: 'final'; stats: ServerStats }
  | { type: 'error'; message: string };

export type ToClients =
  | { type: 'warmup'; rounds: number }
  | { type: 'connect'; count: number; idle: boolean; timeoutMs: number }
  | { type: 'go'; requests: number; deadlineMs: number };

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface ClientResult {
  connections: number;
  idle: number;
  /** Requests that were to be made, and those answered before the deadline. */
  requests: number;
  completed: number;
  errors: number;
  firstError: string | null;
  elapsedMs: number;
  /** Percentiles over every answered request plus, censored at the deadline, each unanswered one. */
  latencyMs: Percentiles;
  /** Unanswered requests counted in latencyMs with the time they had waited at the deadline. */
  censored: number;
  deadlineHit: boolean;
  threads: number;
}

export type FromClients =
  | { type: 'hello' }
  | { type: 'warmed'; ms: number }
  | { type: 'connected'; count: number; failed: number; firstError: string | null; ms: number }
  | { type: 'progress'; completed: number }
  | { type: 'done'; result: ClientResult }
  | { type: 'error'; message: string };
