// Thread-per-call at scale: one echo server and 200 concurrent clients in one
// child process, every call async (a libuv pool thread while it blocks).
// Each client's 64 KiB of random data must come back byte-exact.
import { afterEach, describe, expect, it } from 'vitest';
import { Child, fixture, killChildren } from './fixtures/child';

afterEach(async () => {
  await killChildren();
});

describe('echo server with 200 concurrent clients', () => {
  it('echoes 64 KiB per client byte-exact (sha256), bounded in time', async () => {
    // Sized to fit the worst case, so no call can wait behind a blocked one
    // it depends on: 1 accept + 200 server-side reads + 200 client calls = 401.
    // (With fewer threads than that, every thread could end up in a server
    // read whose data sits in a client write still queued for a thread.)
    const child = new Child(fixture('echo-200.cjs'), { args: ['200'], env: { UV_THREADPOOL_SIZE: '512' }, timeoutMs: 60_000 });
    const exit = await child.exited;
    expect(exit.killed, `the echo run did not finish in 60 s; stderr: ${exit.stderr}`).toBe(false);
    expect(exit.stderr).toBe('');
    expect(exit.code).toBe(0);
    const result = child.messages.find((m) => m.event === 'result') as Record<string, unknown>;
    expect(result, exit.stdout).toBeDefined();
    expect(result).toMatchObject({
      clients: 200,
      matched: 200,
      distinct: 200, // Every client sent its own random data.
      echoedTotal: 200 * 64 * 1024,
      servedCount: 200,
      threadpool: { size: 512, busy: 0, queued: 0 },
      warnings: [], // The pool was never saturated.
      leakedSockets: 0,
    });
    expect(result.ms).toBeLessThan(30_000);
  }, 70_000);
});
