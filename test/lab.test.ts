// The `bsd-sockets` command end to end: lab threads (a small sweep, its
// --json and its HTML report rendered in headless Chromium), lab demux and
// lab checksum, option errors, and Ctrl-C stopping the lab's children.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ThreadsResult } from '../lib/cli/threads/lab';
import type { DemuxResult } from '../lib/cli/demux';
import type { ChecksumResult } from '../lib/cli/checksum';

const root = path.join(__dirname, '..');
const main = path.join(root, 'dist', 'cli', 'main.js');
const CHROMIUM = '/usr/bin/chromium';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bsd-sockets-lab-'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the command with a time limit; resolves with its exit code and output. */
function cli(args: string[], timeoutMs = 120_000, command: string[] = []): Promise<Run> {
  const [file, ...pre] = command.length ? command : [process.execPath];
  const argv = command.length ? [...pre, process.execPath, main, ...args] : [main, ...args];
  return new Promise((resolve) => {
    execFile(file, argv, { timeout: timeoutMs, killSignal: 'SIGINT', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number | string }).code ?? null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('bsd-sockets (the command)', () => {
  it('documents itself with --help', async () => {
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    for (const word of ['lab threads', 'lab demux', 'lab checksum', '--clients', '--idle', '--report', '--json']) {
      expect(top.stdout).toContain(word);
    }
    const demux = await cli(['lab', 'demux', '--help']);
    expect(demux.code).toBe(0);
    expect(demux.stdout).toContain('--peers');
  });

  it('rejects bad arguments with exit code 2 and a hint', async () => {
    for (const args of [['--clients', '0'], ['--clients', 'ten'], ['--bogus'], ['lab', 'nope'], ['lab', 'demux', '--clients', '3'], ['--modes', 'fork']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^bsd-sockets: .+\nTry: bsd-sockets --help\n$/);
    }
  });
});

describe('lab threads', () => {
  let result: ThreadsResult;
  const report = path.join(tmp, 'threads.html');

  beforeAll(async () => {
    const r = await cli(['lab', 'threads', '--clients', '1,8', '--requests', '20', '--json', '--quiet', '--report', report]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    result = JSON.parse(r.stdout) as ThreadsResult;
  }, 180_000);

  const run = (mode: string, clients: number) => {
    const found = result.runs.find((x) => x.mode === mode && x.clients === clients);
    if (!found) throw new Error(`no run ${mode} × ${clients}`);
    return found;
  };

  it('runs every mode for every client count, and every request is answered', () => {
    expect(result.lab).toBe('threads');
    expect(result.config).toMatchObject({ clients: [1, 8], requests: 20, idle: 0, requestBytes: 64 });
    expect(result.runs.map((x) => `${x.mode}×${x.clients}`)).toEqual([
      'pool-default×1', 'pool-sized×1', 'thread-per-conn×1', 'nonblocking×1',
      'pool-default×8', 'pool-sized×8', 'thread-per-conn×8', 'nonblocking×8',
    ]);
    for (const x of result.runs) {
      expect(x.skipped).toBeNull();
      expect(x.frozen, x.mode).toBe(false);
      expect(x.connectFailed).toBe(0);
      expect(x.client.errors, x.client.firstError ?? '').toBe(0);
      expect(x.client.requests).toBe(x.clients * 20);
      expect(x.client.completed).toBe(x.clients * 20);
      expect(x.requestsPerSec).toBeGreaterThan(0);
    }
  });

  it('counts at least one server socket per client (plus the listener)', () => {
    for (const x of result.runs) {
      expect(x.server.loaded.sockets, `${x.mode} × ${x.clients}`).toBeGreaterThanOrEqual(x.clients + 1);
      expect(x.server.peak.sockets).toBeGreaterThanOrEqual(x.server.loaded.sockets);
      expect(x.server.peak.sockets).toBeLessThanOrEqual(x.clients + 2); // + the warm-up connection at most.
      expect(x.server.baseline.sockets).toBe(0);
    }
  });

  it("shows the non-blocking server's threads not growing with clients, and thread per connection's growing", () => {
    const nb1 = run('nonblocking', 1).server.peak.threads;
    const nb8 = run('nonblocking', 8).server.peak.threads;
    expect(nb8).toBeLessThanOrEqual(nb1 + 1);
    const t1 = run('thread-per-conn', 1).server.peak.threads;
    const t8 = run('thread-per-conn', 8).server.peak.threads;
    expect(t8).toBeGreaterThanOrEqual(t1 + 7);
    expect(t8).toBeGreaterThan(nb8 + 7);
  });

  it('keeps the blocking pool busy count within the pool size', () => {
    for (const clients of [1, 8]) {
      const def = run('pool-default', clients);
      expect(def.poolSize).toBe(4);
      expect(def.server.poolSize).toBe(4);
      expect(def.server.poolBusyPeak).toBeGreaterThanOrEqual(1);
      expect(def.server.poolBusyPeak).toBeLessThanOrEqual(4);
      const sized = run('pool-sized', clients);
      expect(sized.poolSize).toBe(clients + 1);
      expect(sized.poolCapped).toBe(false);
      expect(sized.server.poolBusyPeak).toBeLessThanOrEqual(sized.poolSize);
    }
    // At 8 clients the default pool is full: every thread was busy at some point.
    expect(run('pool-default', 8).server.poolBusyPeak).toBe(4);
    // The threads those pools add show in /proc/self/task.
    expect(run('pool-sized', 8).server.peak.threads).toBeGreaterThan(run('pool-default', 8).server.peak.threads);
  });

  it('measures plausible latencies, waits and memory', () => {
    for (const x of result.runs) {
      const l = x.client.latencyMs;
      expect(l.p50).toBeGreaterThan(0);
      expect(l.p99).toBeGreaterThanOrEqual(l.p50);
      expect(l.max).toBeGreaterThanOrEqual(l.p99);
      expect(l.max).toBeLessThan(result.config.deadlineMs);
      expect(x.client.censored).toBe(0);
      expect(x.server.peak.rssBytes).toBeGreaterThan(10 << 20);
      expect(x.server.queuedNsPeak).toBeGreaterThanOrEqual(0);
      if (x.mode === 'thread-per-conn' || x.mode === 'nonblocking') expect(x.server.queuedNsPeak).toBe(0);
      expect(x.setupMs).not.toBeNull();
    }
    // The clients: one process, many connections, no thread per connection there either.
    expect(run('nonblocking', 8).client.threads).toBeLessThan(run('thread-per-conn', 8).server.peak.threads);
  });

  it('reads the numbers back in two sentences', () => {
    const sentences = result.reading.split(/(?<=\.) (?=[A-Z])/);
    expect(sentences).toHaveLength(2);
    expect(result.reading).toContain('At 8 clients the non-blocking server held 9 TCP sockets');
    expect(result.reading).toMatch(/With 4 pool threads the blocking server served 8 clients at most 4 at a time/);
  });

  it('writes an HTML report whose charts render in headless Chromium, with no network', async (ctx) => {
    const html = fs.readFileSync(report, 'utf8');
    expect(html).toContain('<svg id="threads-chart"');
    expect(html).toContain('<svg id="p99-chart"');
    expect(html).not.toMatch(/(src|href)=["']https?:/); // Self-contained.
    if (!fs.existsSync(CHROMIUM)) {
      ctx.skip(`${CHROMIUM} is missing: install Debian's Chromium (apt-get update && apt-get install -y chromium) to render the report`);
      return;
    }
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Not the sanitizer runtime `npm run test:asan` preloads for node: Chromium hangs under it.
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'LD_PRELOAD')) as Record<string, string>,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
        '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
      const elsewhere: string[] = [];
      await page.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith('file:')) return route.continue();
        elsewhere.push(url);
        return route.abort();
      });
      await page.goto(`file://${report}`);
      const charts = await page.evaluate(async () => {
        const out = [];
        for (const svg of Array.from(document.querySelectorAll<SVGSVGElement>('svg.chart'))) {
          const box = svg.getBoundingClientRect();
          const series = Array.from(svg.querySelectorAll<SVGPathElement>('path.series')).map((p) => ({
            mode: p.dataset.mode, length: p.getTotalLength(), width: p.getBBox().width,
          }));
          // Rasterise the chart and count the pixels drawn in the series' colours.
          const img = new Image();
          img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(new XMLSerializer().serializeToString(svg))}`;
          await img.decode();
          const canvas = document.createElement('canvas');
          canvas.width = img.width;
          canvas.height = img.height;
          const g = canvas.getContext('2d') as CanvasRenderingContext2D;
          g.drawImage(img, 0, 0);
          const data = g.getImageData(0, 0, canvas.width, canvas.height).data;
          const colours: Record<string, number> = { red: 0, green: 0, purple: 0 };
          for (let i = 0; i < data.length; i += 4) {
            const [r, gr, b] = [data[i], data[i + 1], data[i + 2]];
            if (r > 190 && gr < 70 && b < 70) colours.red++;
            else if (r < 80 && gr > 140 && b < 80) colours.green++;
            else if (r > 120 && r < 170 && gr < 130 && b > 170) colours.purple++;
          }
          out.push({ id: svg.id, width: box.width, height: box.height, series, points: svg.querySelectorAll('circle.point').length, colours });
        }
        return out;
      });
      expect(elsewhere).toEqual([]);
      expect(charts.map((c) => c.id)).toEqual(['threads-chart', 'p99-chart']);
      for (const c of charts) {
        expect(c.width).toBeGreaterThan(300);
        expect(c.height).toBeGreaterThan(200);
        expect(c.series.map((s) => s.mode).sort()).toEqual(['nonblocking', 'pool-default', 'pool-sized', 'thread-per-conn']);
        for (const s of c.series) {
          expect(s.length).toBeGreaterThan(100);
          expect(s.width).toBeGreaterThan(100);
        }
        expect(c.points).toBe(8); // One per mode × client count.
        expect(c.colours.red).toBeGreaterThan(200);
        expect(c.colours.green).toBeGreaterThan(200);
        expect(c.colours.purple).toBeGreaterThan(200);
      }
      expect(await page.textContent('#reading')).toBe(result.reading);
      expect(await page.locator('#results tbody tr').count()).toBe(8);
      await page.screenshot({ path: path.join(tmp, 'threads.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('prints a table and the reading, and shows a slow-loris freezing the default pool', async () => {
    const r = await cli(['--clients', '3', '--idle', '4', '--requests', '5', '--modes', 'pool-default,nonblocking', '--deadline', '1000', '--quiet']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/clients\s+server\s+sockets\s+threads\s+pool busy\s+setup\s+req\/s\s+p50\s+p99\s+pool wait\s+RSS/);
    expect(r.stdout).toMatch(/3\+4\s+blocking, default pool\s+\d+\s+\d+\s+4\/4\s+never\s+froze 0\/15/);
    expect(r.stdout).toMatch(/3\+4\s+non-blocking, one thread\s+8\s+\d+\s+—/);
    expect(r.stdout).toContain('With 4 idle clients holding its threads, the blocking server on the default pool froze: 0 of 15 requests');
    expect(r.stdout).toContain('while the non-blocking server answered every request');
  }, 60_000);
});

describe('lab threads on Ctrl-C', () => {
  let child: ChildProcess | null = null;
  afterAll(() => {
    child?.kill('SIGKILL');
  });

  const childrenOf = (pid: number): number[] => {
    try {
      return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const alive = (pid: number): boolean => {
    try {
      return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };

  it('stops its child processes and exits with 130', async () => {
    const c = spawn(process.execPath, [main, '--clients', '50', '--requests', '1000', '--modes', 'thread-per-conn', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => c.on('exit', (code) => resolve(code)));
    // Wait (bounded) until both children — server and clients — are running.
    let kids: number[] = [];
    for (let i = 0; i < 200 && kids.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      kids = childrenOf(c.pid as number);
    }
    expect(kids.length).toBe(2);
    c.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain("interrupted: the lab's child processes were stopped");
    for (let i = 0; i < 40 && kids.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
    expect(kids.filter(alive)).toEqual([]);
  }, 30_000);
});

describe('lab demux', () => {
  it('shows one UDP socket for many peers and one TCP socket per peer', async () => {
    const r = await cli(['lab', 'demux', '--json', '--peers', '3']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as DemuxResult;
    expect(d.udp.socketsOnPort).toBe(1);
    expect(d.udp.peers).toBe(3);
    expect(new Set(d.udp.datagrams.map((x) => x.from)).size).toBe(3);
    expect(d.udp.datagrams.map((x) => x.from).sort()).toEqual(d.udp.clients.map((c) => c.address).sort());
    expect(d.tcp.socketsOnPort).toBe(4);
    expect(d.tcp.listening).toBe(1);
    expect(d.tcp.connected).toBe(3);
    // Every accepted socket shares the server's address; only the peer differs.
    expect(new Set(d.tcp.accepted.map((a) => a.local))).toEqual(new Set([d.tcp.server.address]));
    expect(new Set(d.tcp.accepted.map((a) => a.remote)).size).toBe(3);
    expect(new Set(d.tcp.accepted.map((a) => a.fd)).size).toBe(3);

    const text = await cli(['lab', 'demux']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/\/proc\/net\/udp, port \d+: 1 socket — one socket, 3 peers/);
    expect(text.stdout).toMatch(/\/proc\/net\/tcp, port \d+: 4 sockets — 1 listening \+ 3 connected, one per peer/);
    expect(text.stdout).toMatch(/accept\(fd \d+\) = fd \d+: 127\.0\.0\.1:\d+ ↔ 127\.0\.0\.1:\d+/);
  });
});

describe('lab checksum', () => {
  const isRoot = process.getuid?.() === 0;

  it.runIf(isRoot)('as root: the receiver gets exactly the intact datagrams; InCsumErrors counts the corrupted ones', async () => {
    const r = await cli(['lab', 'checksum', '--json', '--good', '4', '--bad', '3']);
    expect(r.code).toBe(0);
    const c = JSON.parse(r.stdout) as ChecksumResult;
    expect(c.status).toBe('ok');
    expect(c.received).toEqual(['datagram 1 (intact)', 'datagram 2 (intact)', 'datagram 3 (intact)', 'datagram 4 (intact)']);
    expect(c.counters?.delta.InCsumErrors).toBe(3);
    expect(c.sent?.filter((s) => s.corrupted)).toHaveLength(3);
    expect(c.rawSaw).toBe(7);

    const text = await cli(['lab', 'checksum']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('socket(AF_INET, SOCK_RAW, IPPROTO_UDP)');
    expect(text.stdout).toMatch(/InCsumErrors \d+ → \d+ \(\+2\)/);
    expect(text.stdout).toContain('Sent 3 intact and 2 corrupted datagrams: the receiving socket got 3, exactly the intact ones');
  });

  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p));
  it.runIf(!isRoot || setpriv !== undefined)('without CAP_NET_RAW: says so and exits 0', async () => {
    // As root, drop CAP_NET_RAW from the bounding set for the run; as a user there is none to drop.
    const r = isRoot ? await cli(['lab', 'checksum'], 30_000, [setpriv as string, '--bounding-set', '-net_raw']) : await cli(['lab', 'checksum']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/socket\(AF_INET, SOCK_RAW, IPPROTO_UDP\) failed with (EPERM|EACCES): raw sockets need root or CAP_NET_RAW/);
  });
});
