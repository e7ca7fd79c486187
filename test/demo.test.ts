// `npm run demo` (dist/demo/echo.js): the TCP echo server and client in one
// process run to the end by themselves, every message comes back, and every
// blocking call ran on a pool thread, as the trace shows.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { requireDist } from './fixtures/child';

describe('npm run demo', () => {
  it('echoes its three messages over 127.0.0.1, traces each call and exits 0 by itself', () => {
    requireDist();
    const out = execFileSync(process.execPath, [path.join(__dirname, '..', 'dist', 'demo', 'echo.js')], {
      encoding: 'utf8', timeout: 20_000, env: { ...process.env, BSD_SOCKETS_TRACE: '' },
    });
    for (const text of ['hello, socket', 'the kernel routes by the 4-tuple', 'bye']) {
      expect(out).toContain(`client: sent "${text}", echoed "${text}"`);
    }
    expect(out).toMatch(/\[tid \d+ main\] listen\(\d+, 16\) = 0/);
    expect(out).toMatch(/\[tid \d+ worker\] accept\(\d+\) = \d+ <127\.0\.0\.1:\d+>/);
    const done = /done: (\d+) blocking calls ran on libuv worker threads, 0 on the main thread\./.exec(out);
    expect(done, out).not.toBeNull();
    // accept, connect, 3 × (write, read, write, read) and the read of EOF, at
    // least (a read may return part of a message).
    expect(Number(done![1])).toBeGreaterThanOrEqual(15);
  });
});
