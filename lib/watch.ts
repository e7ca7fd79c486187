// watch(): readiness of one fd from libuv's own poller (uv_poll_t) on the
// event-loop thread — no worker thread at all — for servers that handle many
// non-blocking sockets from one thread.
import * as os from 'node:os';
import { native } from './binding';
import { type SocketError, socketError } from './errors';
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

const { EBADF, EEXIST } = os.constants.errno;

/** Live watchers by fd: one per fd (libuv allows no more), and close(fd) must stop it first. */
const watchers = new Map<number, WatcherImpl>();

class WatcherImpl implements Watcher {
  constructor(
    private readonly fd: number,
    private readonly id: number,
    readonly listener: WatchListener,
  ) {}

  update(events: number): void {
    validateInt(events, 'events', 0, 0x7fff);
    if (watchers.get(this.fd) !== this) throw socketError(EBADF, 'watch');
    const r = native.watchUpdate(this.id, events);
    if (r < 0) throw socketError(-r, 'watch');
  }

  close(): void {
    if (watchers.get(this.fd) !== this) return;
    watchers.delete(this.fd);
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
 * One watcher per fd. Not a C call: see uv_poll_start(3) in libuv's docs.
 * @throws SocketError EEXIST if `fd` is already watched, EBADF for a closed fd.
 */
export function watch(fd: number, events: number, listener: WatchListener): Watcher {
  validateFd(fd);
  validateInt(events, 'events', 0, 0x7fff);
  validateFunction(listener, 'listener');
  if (watchers.has(fd)) throw socketError(EEXIST, 'watch');
  const id = native.watchStart(fd, events, (status, revents) => {
    listener(status < 0 ? socketError(-status, 'watch') : null, revents);
  });
  if (id < 0) throw socketError(-id, 'watch');
  const watcher = new WatcherImpl(fd, id, listener);
  watchers.set(fd, watcher);
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
