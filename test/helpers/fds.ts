// Open fds of this process, for leak checks: /proc/self/fd (Linux) or /dev/fd.
import * as fs from 'node:fs';

export function openFds(): number[] {
  const dir = fs.existsSync('/proc/self/fd') ? '/proc/self/fd' : '/dev/fd';
  return fs.readdirSync(dir).map(Number).filter((fd) => Number.isInteger(fd));
}

/** fd -> what it points to (readlink of /proc/self/fd/N): leak checks by identity, not only by count. */
export function fdTargets(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      out.set(Number(name), fs.readlinkSync(`/proc/self/fd/${name}`));
    } catch {
      // readdir's own fd, gone already.
    }
  }
  return out;
}

/** Resolves after `ms`; for bounded waits in tests. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * openFds() without the eventfd each libuv pool thread keeps as its wake-up
 * fd for its lifetime once it has run an async call (Linux).
 */
export function openFdsExceptWakeups(): number[] {
  return openFds().filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`) !== 'anon_inode:[eventfd]';
    } catch {
      return false;
    }
  });
}
