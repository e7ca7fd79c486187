// watch(): readiness of one fd from libuv's own poller (uv_poll_t) on the
// event-loop thread — no worker thread at all — for servers that handle many
// non-blocking sockets from one thread.
import * as os from 'node:os';
import { native } from './binding';
import { type SocketError, socketError } from './errors';
import { nodeOwnerOf } from './interop';
import { validateFd, validateFunction, validateInt } from './validate';

export type WatchListener = (err: SocketError | null, revents: number) => void;

export interface Watcher {
  /** Watch for other events (POLLIN | POLLOUT …); 0 pauses. */
  update(events: number): void;
  /** Stops watching and restores the fd's blocking mode. Idempotent. */
  close(): void;
  /** Keep the event loop alive while watching (the default). */
  ref(): void;
  /** Let the process exit even while watching. */
  unref(): void;
}

const { EBADF } = os.constants.errno;
const { POLLIN, POLLOUT, POLLPRI, POLLERR, POLLHUP, POLLRDHUP } = native.constants;

/** Live watchers by fd: one per fd (libuv allows no more), and close(fd) must stop it first. */
const watchers = new Map<number, WatcherImpl>();
/** The same watchers by native id, for the dispatcher. */
const byId = new Map<number, WatcherImpl>();

/** The revents bits a watch for `events` reports (as libuv filters what epoll gave). */
function deliverable(events: number): number {
  if (events === 0) return 0;
  return (events & (POLLIN | POLLOUT | POLLPRI)) | (events & POLLRDHUP ? POLLHUP : 0) | POLLERR;
}

/**
 * The readiness of one loop iteration, from the native side in one call:
 * queue = [count, next, (id, status, revents, owner)*]. queue[1] is set before each
 * listener runs, so that after one throws the native side resumes with the
 * next. A watcher closed or paused by an earlier listener of the batch is
 * skipped, and one updated gets only the events it still watches — what
 * libuv does for a handle stopped during its poll phase.
 */
function dispatch(queue: Int32Array): void {
  const count = queue[0];
  for (let i = queue[1]; i < count; i++) {
    const k = 2 + i * 4;
    if (queue[k + 3] !== owner) return;  // Another copy of this module's watcher: its turn.
    queue[1] = i + 1;
    const watcher = byId.get(queue[k]);
    if (watcher === undefined) continue;
    const status = queue[k + 1];
    const revents = queue[k + 2] & watcher.mask;
    if (watcher.mask === 0 || (status === 0 && revents === 0)) continue;
    watcher.listener(status < 0 ? socketError(-status, 'watch') : null, revents);
  }
}
/** This module's dispatcher, as the addon knows it (it may be loaded by two copies of the library). */
const owner = native.watchInit(dispatch);

class WatcherImpl implements Watcher {
  constructor(
    private readonly fd: number,
    private readonly id: number,
    readonly listener: WatchListener,
    /** deliverable() of the events watched now. */
    public mask: number,
  ) {}

  update(events: number): void {
    validateInt(events, 'events', 0, 0x7fff);
    if (!byId.has(this.id)) throw socketError(EBADF, 'watch');
    const r = native.watchUpdate(this.id, events);
    if (r < 0) throw socketError(-r, 'watch');
    this.mask = deliverable(events);
  }

  close(): void {
    if (!byId.delete(this.id)) return; // Closed already.
    // A watcher of a file closed behind the library's back may have been
    // replaced in `watchers` by a new watch() of the reused number.
    if (watchers.get(this.fd) === this) watchers.delete(this.fd);
    native.watchClose(this.id);
  }

  ref(): void {
    native.watchRef(this.id, true);
  }

  unref(): void {
    native.watchRef(this.id, false);
  }
}

/**
 * Watch `fd` for `events` (POLLIN, POLLOUT, POLLPRI, POLLRDHUP) with libuv's
 * poller on the event-loop thread; `listener(err, revents)` runs on each
 * readiness. Like uv_poll_init(), this puts the fd in non-blocking mode
 * while watched — make non-blocking calls (`*Sync` ones return EAGAIN when
 * not ready) — and `close()` restores the mode it had. An error condition on
 * the socket (a refused connect, a reset) is reported as POLLERR, after which
 * libuv has stopped the watch: read SO_ERROR, then update() to re-arm it.
 * One watcher per fd. The listeners of fds ready in one loop iteration run
 * one after another in one call from the native side; promise reactions and
 * process.nextTick callbacks they queue run after the last of them. Not a C
 * call: see uv_poll_start(3) in libuv's docs.
 * @throws SocketError EEXIST if `fd` is already watched, EBADF for a closed fd.
 */
export function watch(fd: number, events: number, listener: WatchListener): Watcher {
  validateFd(fd);
  validateInt(events, 'events', 0, 0x7fff);
  validateFunction(listener, 'listener');
  const nodeOwner = nodeOwnerOf(fd);
  if (nodeOwner !== undefined) {
    // Node's own handle polls it: a second uv_poll_t would take its epoll registration.
    throw new TypeError(`The "fd" argument ${fd} belongs to a ${nodeOwner} (from fdOf()): Node already polls it`);
  }
  // The native side decides EEXIST: it can tell a live watcher of this fd
  // from one whose file was closed behind the library's back.
  const id = native.watchStart(fd, events, owner);
  if (id < 0) throw socketError(-id, 'watch');
  const watcher = new WatcherImpl(fd, id, listener, deliverable(events));
  watchers.set(fd, watcher);
  byId.set(id, watcher);
  return watcher;
}

/**
 * Called by close(fd): a live watcher is told (EBADF) and stopped before the
 * fd number is released, so libuv never polls a closed or reused fd.
 */
export function closeWatcherOf(fd: number): void {
  const watcher = watchers.get(fd);
  if (watcher === undefined) return;
  watcher.close();
  process.nextTick(() => watcher.listener(socketError(EBADF, 'watch'), 0));
}
