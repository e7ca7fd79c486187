// Child processes of a lab: started with an IPC channel, waited for with a
// deadline, and always stopped — on success, on an error, on Ctrl-C
// (SIGINT/SIGTERM/SIGHUP) and on process exit. A child's own side is in
// `childSide()`: it dies with its parent and never outlives its time limit.
import { type ChildProcess, fork } from 'node:child_process';

const live = new Set<ChildProcess>();
let handlersInstalled = false;
let interrupted: ((signal: NodeJS.Signals) => void) | null = null;

/** Kills every live child with SIGKILL, synchronously. Safe to call twice. */
function killAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  live.clear();
}

/**
 * Installs the handlers that stop every child on Ctrl-C and on exit. The
 * callback runs after the children are killed (to tidy the terminal); the
 * process then exits with 128 + the signal number, as a shell expects.
 */
export function stopChildrenOnExit(onInterrupt?: (signal: NodeJS.Signals) => void): void {
  interrupted = onInterrupt ?? null;
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAll);
  const codes: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      killAll();
      interrupted?.(signal);
      process.exit(128 + codes[signal]);
    });
  }
}

export class Child<In, Out extends { type: string }> {
  readonly proc: ChildProcess;
  private stderr = '';
  private readonly waiters = new Set<{ test: (m: Out) => boolean; resolve: (m: Out) => void; reject: (e: Error) => void }>();
  private exited: Error | null = null;
  /** Called for every message, before waiters see it. */
  onMessage: ((m: Out) => void) | null = null;

  constructor(readonly name: string, script: string, arg: unknown, env: NodeJS.ProcessEnv, execArgv: string[] = []) {
    // stdout is ignored (the lab's own stdout may be --json); stderr is kept for error reports.
    this.proc = fork(script, [JSON.stringify(arg)], {
      env, execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json',
    });
    live.add(this.proc);
    this.proc.stderr?.setEncoding('utf8');
    this.proc.stderr?.on('data', (chunk: string) => {
      if (this.stderr.length < 20_000) this.stderr += chunk;
    });
    this.proc.on('message', (m) => {
      const msg = m as Out;
      this.onMessage?.(msg);
      for (const w of [...this.waiters]) {
        if (w.test(msg)) {
          this.waiters.delete(w);
          w.resolve(msg);
        } else if (msg.type === 'error') {
          this.waiters.delete(w);
          w.reject(new Error(`${this.name}: ${(msg as unknown as { message: string }).message}`));
        }
      }
    });
    this.proc.on('exit', (code, signal) => {
      live.delete(this.proc);
      const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const tail = this.stderr.trim() ? `\n${this.stderr.trim()}` : '';
      this.exited = new Error(`the ${this.name} process ${why}${tail}`);
      for (const w of this.waiters) w.reject(this.exited);
      this.waiters.clear();
    });
    this.proc.on('error', (err) => {
      this.exited = err;
      for (const w of this.waiters) w.reject(err);
      this.waiters.clear();
    });
  }

  send(msg: In): void {
    if (this.proc.connected) this.proc.send(msg as object);
  }

  /** The next message of `type` (and passing `test`), or a rejection after `timeoutMs`. */
  waitFor<T extends Out['type']>(type: T, timeoutMs: number, test?: (m: Extract<Out, { type: T }>) => boolean): Promise<Extract<Out, { type: T }>> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      const waiter = {
        test: (m: Out) => m.type === type && (test === undefined || test(m as Extract<Out, { type: T }>)),
        resolve: (m: Out) => {
          clearTimeout(timer);
          resolve(m as Extract<Out, { type: T }>);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new TimeoutError(`${this.name}: no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** SIGKILL, and resolves once the process is gone (at most `timeoutMs`). */
  kill(timeoutMs = 2000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
      live.delete(this.proc);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        this.proc.kill('SIGKILL');
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/**
 * The child's side: read the argument, and make sure this process never
 * outlives its parent or `maxLifetimeMs`. SIGINT is left to the parent, which
 * kills its children itself (Ctrl-C reaches the whole process group).
 * SIGKILL, not process.exit(): a worker thread blocked in readSync() would
 * make exit() wait for it.
 */
export function childSide<T extends { maxLifetimeMs: number }>(): T {
  const arg = JSON.parse(process.argv[2] ?? '{}') as T;
  const die = () => process.kill(process.pid, 'SIGKILL');
  process.on('disconnect', die);
  process.on('SIGINT', () => {});
  const timer = setTimeout(die, arg.maxLifetimeMs);
  timer.unref();
  return arg;
}

/** Sends a message to the parent if the channel is still open. */
export function toParent(msg: object): void {
  if (process.connected) process.send?.(msg);
}
