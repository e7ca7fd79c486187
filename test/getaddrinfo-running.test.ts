// A getaddrinfo() stopped while it is really running inside glibc (not while
// queued): the pool thread is released at once, and process.exit() does not
// wait for the lookup. A lookup that runs needs a resolver that does not
// answer; so the child runs in a network namespace of its own (loopback
// only: no packet can leave the machine) whose resolv.conf names 127.0.0.1,
// where the child's own UDP socket swallows the queries (see
// fixtures/gai-running.cjs). Needs root for `unshare --mount --net`, as in CI.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Child, fixture, killChildren } from './fixtures/child';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bsd-gai-'));
const resolvConf = path.join(dir, 'resolv.conf');
const nsswitchConf = path.join(dir, 'nsswitch.conf');
fs.writeFileSync(resolvConf, 'nameserver 127.0.0.1\noptions timeout:5 attempts:1\n');
fs.writeFileSync(nsswitchConf, 'hosts: dns\n');

// Own mount and network namespaces: loopback up, our resolver files bound
// over the system's (private mounts: the host never sees them), and nscd's
// socket, if there is one, hidden: glibc would ask the host's nscd (a Unix
// socket knows no network namespace), which could ask the real network.
const WRAP = [
  'unshare', '--mount', '--net', 'sh', '-c',
  'ip link set lo up && mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/nsswitch.conf && ' +
    'for s in /var/run/nscd/socket /run/nscd/socket; do if [ -S "$s" ]; then mount --bind /dev/null "$s" || exit 1; fi; done && ' +
    'shift 2 && exec "$@"',
  'sh', resolvConf, nsswitchConf,
];
const probe = spawnSync(WRAP[0], [...WRAP.slice(1), 'true'], { encoding: 'utf8' });
const canIsolate = probe.status === 0;
if (!canIsolate) {
  console.log(`skipping: a running getaddrinfo needs \`unshare --mount --net\` and iproute2's \`ip\` (root): ${probe.stderr || probe.error}`);
}

afterEach(async () => {
  await killChildren();
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function run(mode: 'abort' | 'timeout' | 'exit' | 'terminate'): Promise<{ child: Child; msg: Record<string, unknown> }> {
  const child = new Child(fixture('gai-running.cjs'), { args: [mode], wrap: WRAP, timeoutMs: 15_000 });
  const msg = await child.message((m) => m.event !== undefined, 10_000);
  expect(msg.event, String(msg.message)).not.toBe('error');
  // The resolver's query reached the child's socket: the lookup was running,
  // on the one pool thread that was busy.
  expect(msg.nbytes).toBeGreaterThan(12);
  expect(msg.busyWhileRunning).toBe(1);
  return { child, msg };
}

describe.skipIf(!canIsolate)('getaddrinfo() stopped while the lookup runs', () => {
  it('abort rejects with AbortError at once and frees the pool thread', async () => {
    const { child, msg } = await run('abort');
    expect(msg).toMatchObject({ event: 'done', settled: 'AbortError' });
    expect(msg.settleMs).toBeLessThan(500);
    expect(msg.releasedMs).toBeGreaterThanOrEqual(0);
    expect(msg.releasedMs).toBeLessThan(500);
    console.log(`getaddrinfo abort while running: rejected in ${(msg.settleMs as number).toFixed(1)} ms, pool thread free after ${(msg.releasedMs as number).toFixed(1)} ms (the resolver would have taken 5 s)`);
    expect((await child.exited).code).toBe(0);
  });

  it('timeout rejects with ETIMEDOUT on time and frees the pool thread', async () => {
    const { child, msg } = await run('timeout');
    expect(msg).toMatchObject({ event: 'done', settled: 'ETIMEDOUT' });
    expect(msg.settleMs).toBeGreaterThanOrEqual(290);
    expect(msg.settleMs).toBeLessThan(1500);
    expect(msg.releasedMs).toBeGreaterThanOrEqual(0);
    expect(msg.releasedMs).toBeLessThan(500);
    expect((await child.exited).code).toBe(0);
  });

  it('worker.terminate() ends a worker_thread blocked in getaddrinfoSync() within its termination tick', async () => {
    const { child, msg } = await run('terminate');
    expect(msg).toMatchObject({ event: 'done', settled: 'terminated' });
    expect(msg.settleMs).toBeLessThan(1500);
    expect((await child.exited).code).toBe(0);
  });

  it('process.exit() with the lookup running exits at once, not after the resolver timeout', async () => {
    const { child } = await run('exit');
    const t0 = performance.now();
    const exit = await child.exited;
    expect(exit.code).toBe(0);
    expect(exit.killed).toBe(false);
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});
