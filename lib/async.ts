// Options every asynchronous call takes, and the one place that turns a
// native async call into a Promise: abort, timeout, trace, saturation check.
import * as os from 'node:os';
import { native, type NativeCallback } from './binding';
import { AbortError, socketError } from './errors';
import type { Sockaddr } from './sockaddr';
import { checkSaturation } from './threadpool';
import { type GaiFailure, traceAsync, tracing } from './trace';
import { validateInt } from './validate';

export interface CallOptions {
  /** Aborting rejects with an AbortError; nothing is half-done (no bytes consumed). */
  signal?: AbortSignal;
  /** Milliseconds from the call; then it rejects with SocketError ETIMEDOUT. */
  timeout?: number;
}

const { ECANCELED, ETIMEDOUT } = os.constants.errno;

export function validateOptions(opts: unknown): CallOptions | undefined {
  if (opts === undefined) return undefined;
  if (opts === null || typeof opts !== 'object') {
    throw new TypeError('The "opts" argument must be an object');
  }
  const { signal, timeout } = opts as CallOptions;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError('The "opts.signal" property must be an AbortSignal');
  }
  if (timeout !== undefined) validateInt(timeout, 'opts.timeout', 0, 2 ** 31 - 1);
  return opts as CallOptions;
}

function abortError(signal: AbortSignal): AbortError {
  return new AbortError(undefined, { cause: signal.reason });
}

export interface AsyncSpec<T> {
  syscall: string;
  /** For the trace. */
  args: unknown[];
  addr?: Sockaddr | null;
  /** Queues the native call; returns its id, or -errno if it could not start. */
  start: (cb: NativeCallback) => number;
  /** Builds the resolved value from the native result (>= 0) and extra. */
  finish: (result: number, extra: unknown) => T;
  /** A native error other than -errno (getaddrinfo's EAI_*). */
  fail?: (result: number, extra: unknown) => Error;
  /** The text after ` = result` in a trace line. */
  detail?: (result: number, extra: unknown) => string | undefined;
  /** getaddrinfo: the EAI_* failure to trace instead of an errno. */
  gaiFailure?: (result: number, extra: unknown) => GaiFailure | undefined;
}

const enum Stop {
  None,
  Abort,
  Timeout,
}

/**
 * Runs a native async call. An abort or a timeout asks the worker to stop
 * and rejects only once it has: if the call completed first, its result
 * stands, so no bytes are ever consumed and then dropped.
 */
export function runAsync<T>(spec: AsyncSpec<T>, opts: CallOptions | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const signal = opts?.signal;
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    let stop = Stop.None;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const onAbort = () => {
      stop = Stop.Abort;
      native.cancel(id, ECANCELED);
    };
    const finish = (result: number, extra: unknown) => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (result >= 0) resolve(spec.finish(result, extra));
      else if (stop === Stop.Abort && result === -ECANCELED) reject(abortError(signal!));
      else if (stop === Stop.Timeout && result === -ETIMEDOUT) reject(socketError(ETIMEDOUT, spec.syscall, spec.addr));
      else reject(spec.fail ? spec.fail(result, extra) : socketError(-result, spec.syscall, spec.addr));
    };
    const id = spec.start((result, extra) => {
      if (tracing.on) {
        traceAsync(spec.syscall, spec.args, result, spec.detail?.(result, extra), spec.gaiFailure?.(result, extra));
      }
      finish(result, extra);
    });
    if (id < 0) {
      settled = true;
      reject(socketError(-id, spec.syscall, spec.addr));
      return;
    }
    checkSaturation();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (opts?.timeout !== undefined) {
      timer = setTimeout(() => {
        stop = Stop.Timeout;
        native.cancel(id, ETIMEDOUT);
      }, opts.timeout);
    }
  });
}

// Node joins libuv's pool threads after 'exit': wake every call first.
process.once('exit', () => native.cancelAll());
