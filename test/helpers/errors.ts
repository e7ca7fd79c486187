// Assertions on how a call fails: a SocketError from the kernel, or a
// TypeError/RangeError from argument checks that made no system call.
import { expect } from 'vitest';
import { SocketError, type TraceRecord, onTrace } from '../../lib/index';

/** The SocketError fn() throws (fails the test if it throws anything else, or nothing). */
export function sysError(fn: () => unknown): SocketError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SocketError);
    return err as SocketError;
  }
  return expect.fail('expected a SocketError');
}

/** fn() must throw `type` matching `message` without making a system call. */
export function throwsWithoutSyscall(fn: () => unknown, type: typeof TypeError | typeof RangeError, message: RegExp): void {
  const records: TraceRecord[] = [];
  const off = onTrace((r) => records.push(r));
  try {
    expect(fn).toThrow(type);
    expect(fn).toThrow(message);
  } finally {
    off();
  }
  expect(records).toEqual([]);
}

/** The reason p rejects with (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return expect.fail('expected the promise to reject');
}

/** p, and whether it has settled yet, without changing its outcome. */
export function settleFlag<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const promise = p.finally(() => {
    done = true;
  });
  return { promise, settled: () => done };
}
