// Seeing the threads: one record per call, sync and async, with the OS
// thread that ran the system call and how long it waited for a worker.
import * as fs from 'node:fs';
import { native } from './binding';
import { errnoName } from './errors';

export interface TraceRecord {
  /** The C name: 'read' for both read() and readSync(). */
  syscall: string;
  args: unknown[];
  /** The C return value: -1 on failure, with `errno` set (getaddrinfo: its EAI_* value). */
  result: number;
  errno?: number;
  /** gettid() of the thread that ran the system call; 0 when it never ran (stopped while queued for a worker). */
  threadId: number;
  /** gettid() of this JS thread (the event loop's). */
  mainThreadId: number;
  /** Time spent waiting for a free libuv worker (0 for sync calls). */
  queuedNs: number;
  runNs: number;
  /** A peer or source address the call returned, as text. */
  detail?: string;
}

export type TraceListener = (record: TraceRecord) => void;

const listeners = new Set<TraceListener>();
/** Read by every wrapper before it times a call: tracing off costs one property load. */
export const tracing = { on: false };

/** Subscribes to trace records; returns the unsubscribe function. */
export function onTrace(listener: TraceListener): () => void {
  if (typeof listener !== 'function') {
    throw new TypeError('The "listener" argument must be of type function');
  }
  listeners.add(listener);
  tracing.on = true;
  return () => {
    listeners.delete(listener);
    tracing.on = listeners.size > 0;
  };
}

function emit(record: TraceRecord): void {
  for (const listener of listeners) listener(record);
}

/** getaddrinfo(3) fails with its return value (an EAI_* code), not with errno. */
export interface GaiFailure {
  code: string;
  gai: number;
  errno?: number;
}

function make(syscall: string, args: unknown[], result: number, threadId: number,
  queuedNs: number, runNs: number, detail?: string, gai?: GaiFailure): TraceRecord {
  const record: TraceRecord = {
    syscall, args, result: result < 0 ? -1 : result, threadId,
    mainThreadId: native.mainThreadId, queuedNs, runNs,
  };
  if (gai !== undefined) {
    record.result = gai.gai;
    if (gai.errno !== undefined) record.errno = gai.errno;
    record.detail = gai.code;
  } else {
    if (result < 0) record.errno = -result;
    if (detail !== undefined) record.detail = detail;
  }
  return record;
}

/** Start time of a sync call when tracing, else 0. */
export function traceStart(): number {
  return tracing.on ? performance.now() : 0;
}

export function traceSync(syscall: string, args: unknown[], result: number, t0: number, detail?: string,
  gai?: GaiFailure): void {
  const runNs = Math.round((performance.now() - t0) * 1e6);
  emit(make(syscall, args, result, native.mainThreadId, 0, runNs, detail, gai));
}

/** For an async call, inside its completion: the native side filled traceSlots. */
export function traceAsync(syscall: string, args: unknown[], result: number, detail?: string,
  gai?: GaiFailure): void {
  const [threadId, queuedNs, runNs] = native.traceSlots;
  emit(make(syscall, args, result, threadId, queuedNs, runNs, detail, gai));
}

function ms(ns: number): string {
  return `${(ns / 1e6).toFixed(ns < 1e6 ? 3 : 1)}ms`;
}

function isTraceRecord(r: unknown): r is TraceRecord {
  if (r === null || typeof r !== 'object') return false;
  const t = r as Record<string, unknown>;
  const numbers = ['result', 'threadId', 'mainThreadId', 'queuedNs', 'runNs'] as const;
  return typeof t.syscall === 'string' && Array.isArray(t.args) &&
    numbers.every((k) => typeof t[k] === 'number') &&
    (t.errno === undefined || typeof t.errno === 'number') &&
    (t.detail === undefined || typeof t.detail === 'string');
}

/**
 * `[tid 4242 worker] accept(3) = 5 <127.0.0.1:51234> queued 0.01ms ran 12.3ms`;
 * a call stopped before a worker took it: `[never ran] read(7, 64) = -1 ECANCELED queued 3.1ms`.
 */
export function formatTrace(r: TraceRecord): string {
  if (!isTraceRecord(r)) {
    throw new TypeError('The "record" argument must be a trace record from onTrace()');
  }
  const who = r.threadId === r.mainThreadId ? 'main' : 'worker';
  const args = r.args.map((a) => (typeof a === 'string' ? JSON.stringify(a) : String(a))).join(', ');
  const result = r.errno !== undefined ? `${r.result} ${errnoName(r.errno)}` : String(r.result);
  const detail = r.detail !== undefined ? ` <${r.detail}>` : '';
  if (r.threadId === 0) return `[never ran] ${r.syscall}(${args}) = ${result}${detail} queued ${ms(r.queuedNs)}`;
  const queued = who === 'worker' ? ` queued ${ms(r.queuedNs)}` : '';
  return `[tid ${r.threadId} ${who}] ${r.syscall}(${args}) = ${result}${detail}${queued} ran ${ms(r.runNs)}`;
}

if (process.env.BSD_SOCKETS_TRACE === '1') {
  onTrace((r) => fs.writeSync(2, formatTrace(r) + '\n'));
}
