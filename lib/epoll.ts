// epoll(7), Linux only: one worker thread (or, with epoll_waitSync, the
// calling thread) waits on every registered socket. Elsewhere each call
// throws SocketError ENOSYS.
import { native } from './binding';
import { type CallOptions, runAsync, validateOptions } from './async';
import { check } from './errors';
import { traceStart, traceSync } from './trace';
import { validateFd, validateFlags, validateInt } from './validate';

export interface EpollEvent {
  /** EPOLLIN | EPOLLOUT | EPOLLET …; on return, the events that occurred. */
  events: number;
  /** Your tag for the fd (often the fd itself): an integer from 0 to 2^53-1. */
  data: number;
}

/**
 * Open an epoll instance; the fd is close-on-exec.
 * C: `int epoll_create1(int flags);` — see epoll_create1(2).
 * @returns the epoll fd.
 */
export function epoll_create1(flags = 0): number {
  validateFlags(flags);
  const t0 = traceStart();
  const r = native.epoll_create1(flags);
  if (t0) traceSync('epoll_create1', [flags], r, t0);
  return check(r, 'epoll_create1');
}

/**
 * Add, modify or remove `fd` in the interest list of `epfd`. `event` may be
 * omitted for EPOLL_CTL_DEL.
 * C: `int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event);` — see epoll_ctl(2).
 * @returns 0.
 * @throws SocketError EEXIST (added twice), ENOENT (not registered), EPERM (a regular file).
 */
export function epoll_ctl(epfd: number, op: number, fd: number, event?: EpollEvent): 0 {
  validateFd(epfd, 'epfd');
  validateInt(op, 'op');
  validateFd(fd);
  let events = 0;
  let data = 0;
  if (event !== undefined) {
    if (event === null || typeof event !== 'object') throw new TypeError('The "event" argument must be an object { events, data }');
    // A mask as C's uint32_t: EPOLLET is bit 31, so EPOLLIN | EPOLLET is negative in JS.
    events = validateInt(event.events, 'event.events', -(2 ** 31), 2 ** 32 - 1) >>> 0;
    data = event.data === undefined ? 0 : validateInt(event.data, 'event.data', 0, Number.MAX_SAFE_INTEGER);
  }
  const t0 = traceStart();
  const r = native.epoll_ctl(epfd, op, fd, events, data);
  if (t0) traceSync('epoll_ctl', [epfd, op, fd, events], r, t0);
  check(r, 'epoll_ctl');
  return 0;
}

function unpack(out: Float64Array, n: number): EpollEvent[] {
  const events: EpollEvent[] = [];
  for (let i = 0; i < n; i++) events.push({ events: out[i * 2] >>> 0, data: out[i * 2 + 1] });
  return events;
}

function checkWaitArgs(epfd: number, maxevents: number, timeoutMs: number): void {
  validateFd(epfd, 'epfd');
  validateInt(maxevents, 'maxevents', 1, 65536);
  validateInt(timeoutMs, 'timeoutMs', -1);
}

/**
 * Wait for events on an epoll instance, on a libuv worker thread.
 * `timeoutMs` -1 waits forever; `opts.timeout` is an outer bound (ETIMEDOUT).
 * C: `int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout);` — see epoll_wait(2).
 * @returns the ready events (empty after `timeoutMs`).
 */
export async function epoll_wait(epfd: number, maxevents: number, timeoutMs: number, opts?: CallOptions): Promise<EpollEvent[]> {
  checkWaitArgs(epfd, maxevents, timeoutMs);
  const o = validateOptions(opts);
  const out = new Float64Array(maxevents * 2);
  return runAsync({
    syscall: 'epoll_wait', args: [epfd, maxevents, timeoutMs],
    start: (cb) => native.epoll_wait(epfd, maxevents, timeoutMs, out, cb),
    finish: (n) => unpack(out, n),
  }, o);
}

/**
 * epoll_wait() on this thread, blocking as C does.
 *
 * C: `int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout);` — see epoll_wait(2).
 */
export function epoll_waitSync(epfd: number, maxevents: number, timeoutMs: number): EpollEvent[] {
  checkWaitArgs(epfd, maxevents, timeoutMs);
  const out = new Float64Array(maxevents * 2);
  const t0 = traceStart();
  const r = native.epoll_waitSync(epfd, maxevents, timeoutMs, out);
  if (t0) traceSync('epoll_wait', [epfd, maxevents, timeoutMs], r, t0);
  return unpack(out, check(r, 'epoll_wait'));
}
