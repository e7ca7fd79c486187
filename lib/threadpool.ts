// The libuv threadpool as bsd-sockets sees it, and the once-only warning
// when blocking calls outnumber its threads.
import { native } from './binding';

export interface ThreadpoolStats {
  /** Threads in libuv's pool: UV_THREADPOOL_SIZE when the process started (default 4). */
  size: number;
  /** bsd-sockets calls running on a pool thread now (process-wide). */
  busy: number;
  /** bsd-sockets calls waiting for a free pool thread. */
  queued: number;
}

// Both counts live in one 64-bit word (busy low, queued high), read with one
// atomic load so a call moving from queued to busy is never missed.
function counts(): [busy: number, queued: number] {
  const word = Atomics.load(native.poolCounters, 0);
  return [Number(BigInt.asIntN(32, word)), Number(word >> 32n)];
}

/**
 * The libuv thread pool that runs the async calls: its size (UV_THREADPOOL_SIZE,
 * read once when the pool starts), this library's calls running on it now, and those
 * waiting for a free thread. Process-wide: every worker_thread shares one pool.
 * No C twin — C's blocking calls hold the calling thread instead.
 */
export function threadpool(): ThreadpoolStats {
  const [busy, queued] = counts();
  return { size: native.poolSize, busy, queued };
}

let warned = false;

/** Called after each async call is queued. */
export function checkSaturation(): void {
  if (warned) return;
  const [busy, queued] = counts();
  const inFlight = busy + queued;
  if (inFlight <= native.poolSize) return;
  warned = true;
  process.emitWarning(
    `${inFlight} blocking socket calls are in flight but the libuv threadpool has ` +
      `${native.poolSize} threads (UV_THREADPOOL_SIZE=${native.poolSize}): the rest wait for a ` +
      'free thread, and so do fs, dns.lookup, crypto and zlib. Raise UV_THREADPOOL_SIZE in the ' +
      "process's environment (max 1024), or serve many sockets from one thread with poll(), " +
      'epoll_wait() or watch().',
    { type: 'BsdSocketsWarning', code: 'BSD_SOCKETS_POOL_SATURATED' },
  );
}
