// `npm run bench`: every workload served three ways — C (bench/c/server.c),
// node:net/node:dgram (servers/node.cjs) and bsd-sockets in each mode
// (servers/bsd.cjs: sync, async, watch) — and driven by the one C load
// generator (bench/c/client.c), in separate processes on loopback.
//
// Method: rounds are interleaved (each round runs every cell once, in a
// rotating order); a cell's figure is the median over rounds; ratios are
// taken within a round (cell ÷ C, cell ÷ node) and their median reported.
// By default every process is pinned to CPU 0 (taskset -c 0): on a 2-CPU
// machine a wake-up across CPUs costs tens of µs and makes round-trip
// figures jump between two modes. `--placement split` puts the client on
// CPU 1 and the server on CPU 0.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const root = path.join(__dirname, '..');
const outDir = path.join(root, 'build', 'bench');

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    placement: { type: 'string', default: 'pinned' },
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (opts.help) {
  console.log(`usage: npm run bench -- [--rounds N] [--placement pinned|split] [--only WORKLOAD,…] [--quick] [--json]
  --rounds N        rounds of every cell, interleaved (default 5; medians over rounds)
  --placement       pinned: every process on CPU 0 (default); split: server CPU 0, client CPU 1
  --only            run only these workloads (noop, pingpong-1, pingpong-1k, bulk, udp, connrate, echo-1000)
  --quick           smaller counts, for a smoke run
  --json            print the raw results as JSON instead of the table`);
  process.exit(0);
}

const rounds = Math.max(1, Number(opts.rounds));
const split = opts.placement === 'split';
const quick = opts.quick;
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

type Impl = 'C' | 'node' | 'sync' | 'async' | 'watch';
const IMPLS: Impl[] = ['C', 'node', 'sync', 'async', 'watch'];

interface Workload {
  name: string;
  /** The server workload name both server programs take. */
  server: string;
  /** The C client's arguments after the port. */
  client: string[];
  unit: string;
  /** Implementations that have no such server. */
  skip?: Impl[];
}

// Full counts keep each cell at 0.2 s or more (a stable median over 5 rounds)
// and the whole run under 5 minutes on a 2-CPU machine.
const q = (full: number, small: number) => String(quick ? small : full);
const WORKLOADS: Workload[] = [
  { name: 'noop', server: 'noop', client: [], unit: 'ns/call', skip: ['node', 'watch'] },
  { name: 'pingpong-1', server: 'pingpong', client: ['pingpong', '1', q(15000, 2000)], unit: 'round-trips/s' },
  { name: 'pingpong-1k', server: 'pingpong', client: ['pingpong', '1024', q(15000, 2000)], unit: 'round-trips/s' },
  { name: 'bulk', server: 'bulk', client: ['bulk', q(2 ** 29, 2 ** 26), '65536'], unit: 'MB/s' },
  { name: 'udp', server: 'udp', client: ['udp', '64', q(15000, 2000)], unit: 'round-trips/s' },
  { name: 'connrate', server: 'connrate', client: ['connrate', q(5000, 500)], unit: 'connections/s' },
  // A thread per connection for 1,000 connections is not a *Sync benchmark.
  { name: 'echo-1000', server: 'echo', client: ['echo', '1000', q(20, 3), '64'], unit: 'messages/s', skip: ['sync'] },
];

function buildC(): void {
  fs.mkdirSync(outDir, { recursive: true });
  for (const name of ['client', 'server']) {
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', path.join(outDir, name),
      path.join(__dirname, 'c', `${name}.c`)], { stdio: 'inherit' });
  }
}

function pinned(cpu: number, argv: string[]): string[] {
  return hasTaskset ? ['taskset', '-c', String(cpu), ...argv] : argv;
}

function serverArgv(impl: Impl, w: Workload): string[] {
  if (impl === 'C') return [path.join(outDir, 'server'), w.server];
  if (impl === 'node') return [process.execPath, path.join(__dirname, 'servers', 'node.cjs'), w.server];
  return [process.execPath, path.join(__dirname, 'servers', 'bsd.cjs'), w.server, impl];
}

/** Parses "<number> <unit>" from a program's output. */
function figure(out: string): number {
  const value = Number.parseFloat(out.trim().split(/\s+/)[0]);
  if (!Number.isFinite(value)) throw new Error(`no figure in output: ${JSON.stringify(out)}`);
  return value;
}

/** The no-op call rate is measured inside one process. */
function runNoop(impl: Impl): number {
  const argv = impl === 'C'
    ? [path.join(outDir, 'server'), 'noop', quick ? '100000' : '1000000']
    : [process.execPath, path.join(__dirname, 'servers', 'bsd.cjs'), 'noop', impl,
      impl === 'sync' ? (quick ? '100000' : '400000') : (quick ? '5000' : '20000')];
  const [cmd, ...args] = pinned(0, argv);
  return figure(execFileSync(cmd, args, { encoding: 'utf8', timeout: 60_000 }));
}

/** Starts the server, reads its port, runs the C client against it, stops the server. */
async function runCell(impl: Impl, w: Workload): Promise<number> {
  if (w.name === 'noop') return runNoop(impl);
  const [cmd, ...args] = pinned(0, serverArgv(impl, w));
  const server = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${impl} ${w.server} server did not start`)), 10_000);
      let text = '';
      server.stdout!.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('\n')) {
          clearTimeout(timer);
          resolve(Number(text.trim()));
        }
      });
      server.on('exit', (code) => reject(new Error(`${impl} ${w.server} server exited (${code})`)));
    });
    const [ccmd, ...cargs] = pinned(split ? 1 : 0, [path.join(outDir, 'client'), w.client[0], String(port), ...w.client.slice(1)]);
    return figure(execFileSync(ccmd, cargs, { encoding: 'utf8', timeout: 120_000 }));
  } finally {
    server.kill('SIGKILL');
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

interface CellResult {
  workload: string;
  impl: Impl;
  unit: string;
  values: number[];
  median: number;
  min: number;
  max: number;
  /** Median of the per-round ratios; for ns/call, C's time over the cell's (higher is better). */
  vsC?: number;
  vsNode?: number;
}

async function main(): Promise<void> {
  buildC();
  const only = opts.only?.split(',');
  const workloads = WORKLOADS.filter((w) => !only || only.includes(w.name));
  const cells = workloads.flatMap((w) => IMPLS.filter((i) => !w.skip?.includes(i)).map((impl) => ({ w, impl })));
  const values = new Map<string, number[]>();
  const key = (w: string, i: Impl) => `${w}/${i}`;
  // Wall time per workload (server start-up included), to keep the whole run short.
  const seconds = new Map<string, number>();
  const started = performance.now();
  for (let round = 0; round < rounds; round++) {
    // Rotate the order each round so no cell always runs first (or last).
    const order = cells.map((_, k) => cells[(k + round) % cells.length]);
    for (const [k, { w, impl }] of order.entries()) {
      process.stderr.write(`\rround ${round + 1}/${rounds}  cell ${k + 1}/${order.length}  ${w.name} ${impl}        `);
      const t0 = performance.now();
      const v = await runCell(impl, w);
      seconds.set(w.name, (seconds.get(w.name) ?? 0) + (performance.now() - t0) / 1000);
      values.set(key(w.name, impl), [...(values.get(key(w.name, impl)) ?? []), v]);
    }
  }
  process.stderr.write(`\rtook ${((performance.now() - started) / 1000).toFixed(0)} s: ` +
    [...seconds].map(([name, t]) => `${name} ${t.toFixed(0)} s`).join(', ') + '\n');

  const results: CellResult[] = cells.map(({ w, impl }) => {
    const vs = values.get(key(w.name, impl))!;
    const ratio = (base: Impl) => {
      const bs = values.get(key(w.name, base));
      if (!bs) return undefined;
      // Within each round; for a time per call the better figure is the lower.
      return median(vs.map((v, r) => (w.unit === 'ns/call' ? bs[r] / v : v / bs[r])));
    };
    return {
      workload: w.name, impl, unit: w.unit, values: vs,
      median: median(vs), min: Math.min(...vs), max: Math.max(...vs),
      vsC: ratio('C'), vsNode: ratio('node'),
    };
  });

  if (opts.json) {
    console.log(JSON.stringify({ rounds, placement: split ? 'split' : 'pinned', taskset: hasTaskset, results }, null, 2));
    return;
  }
  const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const rows = results.map((r) => [
    r.workload, r.impl === 'C' || r.impl === 'node' ? r.impl : `bsd ${r.impl}`,
    `${fmt(r.median)} ${r.unit}`, `${fmt(r.min)}–${fmt(r.max)}`,
    r.vsC === undefined ? '' : `${r.vsC.toFixed(2)}×`, r.vsNode === undefined ? '' : `${r.vsNode.toFixed(2)}×`,
  ]);
  const head = ['workload', 'implementation', 'median', 'min–max', 'vs C', 'vs node'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cols: string[]) => '| ' + cols.map((s, c) => s.padEnd(widths[c])).join(' | ') + ' |';
  console.log(line(head));
  console.log('| ' + widths.map((n) => '-'.repeat(n)).join(' | ') + ' |');
  for (const row of rows) console.log(line(row));
  console.log(`\n${rounds} rounds, ${split ? 'server on CPU 0, client on CPU 1' : hasTaskset ? 'every process on CPU 0 (taskset -c 0)' : 'unpinned (no taskset)'}; ` +
    'ratios are medians of per-round ratios (> 1 is faster than the baseline; for ns/call, the baseline time over the cell\'s).');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
