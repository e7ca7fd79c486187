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
//
// idle-10k is a memory figure, not a rate: the client holds 10,000 idle
// connections (each one served once) while the driver samples the server
// process's memory from /proc (see runIdle); rounds and medians as above.
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
  --only            run only these workloads (noop, pingpong-1, pingpong-1k, bulk, udp, connrate, echo-1000, idle-10k)
  --quick           smaller counts, for a smoke run (idle-10k: 2,000 connections)
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
  /** Why they are skipped, for the output. */
  skipWhy?: string;
  /** A memory workload (runIdle), not a rate. */
  idle?: boolean;
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
  // The servers of echo-1000. bsd async is its epoll server (epoll_wait on one
  // pool thread, non-blocking calls on the loop thread), not a pending read()
  // per connection, which would hold a pool thread each.
  {
    name: 'idle-10k', server: 'echo', client: [], unit: 'KB/conn', skip: ['sync'], idle: true,
    skipWhy: 'bsd sync is not run: its echo server serves one connection at a time on the main thread ' +
      '(a thread per connection is the *Sync model; 10,000 threads is not an idle-connection server)',
  },
];

/** Lower figures are better for these units (ratios are then baseline ÷ cell). */
const lowerIsBetter = (unit: string) => unit === 'ns/call' || unit === 'KB/conn';

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

// ---- idle-10k ---------------------------------------------------------------

/** The text of a /proc file, or undefined where there is none. */
function procText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * RLIMIT_NOFILE of this process, which the servers and the client inherit:
 * soft and hard. (Node raises its own soft limit to the hard one at start-up,
 * so a short hard limit is what scales the count down in practice.)
 */
function fdLimits(): { soft: number; hard: number } {
  const num = (t: string) => (t === 'unlimited' ? Infinity : Number(t));
  const line = procText('/proc/self/limits')?.split('\n').find((l) => l.startsWith('Max open files'));
  if (line) {
    const [soft, hard] = line.slice('Max open files'.length).trim().split(/\s+/);
    return { soft: num(soft), hard: num(hard) };
  }
  const [soft, hard] = execFileSync('sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' }).trim().split('\n');
  return { soft: num(soft), hard: num(hard) };
}

interface IdlePlan {
  /** Connections held at once (10,000, or 2,000 with --quick, unless a limit says fewer). */
  count: number;
  /**
   * Connections opened and closed before the baseline: 1,000, enough that
   * the server's code paths have run and are paged in (V8's collector at
   * scale among them: after only 200, node's own binary still added ~0.4
   * KB/conn of file-backed RSS during 10,000). A warm-up close to `count`
   * would leave freed heap in the baseline that the count then reuses.
   */
  warm: number;
  /** Connections the client opens before it reads their echoes: within the listen backlog. */
  batch: number;
  /** A soft RLIMIT_NOFILE to set in the server and client, if the inherited one is short. */
  nofile?: number;
  /** What was checked, and what was changed, for the output. */
  notes: string[];
  /** Why the workload cannot run here at all. */
  unavailable?: string;
}

function planIdle(): IdlePlan {
  const wanted = quick ? 2000 : 10000;
  const notes: string[] = [];
  if (procText('/proc/self/status') === undefined) {
    return { count: 0, warm: 0, batch: 0, notes, unavailable: 'idle-10k reads /proc/PID/status: Linux only' };
  }
  // Each side needs a descriptor per connection plus its own (node has about 20).
  const margin = 256;
  let count = wanted;
  let nofile: number | undefined;
  const { soft, hard } = fdLimits();
  if (soft < wanted + margin) {
    if (hard >= wanted + margin) {
      nofile = wanted + margin;
      notes.push(`RLIMIT_NOFILE soft ${soft} < ${wanted + margin}: raised to ${nofile} in the server and client`);
    } else {
      count = Math.max(100, Math.floor((hard - margin) / 100) * 100);
      if (soft < count + margin) nofile = count + margin;
      notes.push(`RLIMIT_NOFILE hard ${hard} < ${wanted + margin}: ${count} connections instead of ${wanted}`);
    }
  }
  // One client, one server port: one ephemeral source port per connection.
  const range = procText('/proc/sys/net/ipv4/ip_local_port_range')?.trim().split(/\s+/).map(Number);
  if (range?.length === 2) {
    // Leave room for whatever else the machine connects meanwhile.
    const ports = range[1] - range[0] + 1 - 2000;
    if (count > ports) {
      count = Math.max(100, Math.floor(ports / 100) * 100);
      notes.push(`ip_local_port_range ${range[0]}–${range[1]}: ${count} connections instead of ${wanted}`);
    }
  }
  // The client connects `batch` at a time before it reads their echoes: the
  // listen backlog (the servers ask for 4096, capped at somaxconn) must hold them.
  const somaxconn = Number(procText('/proc/sys/net/core/somaxconn') ?? 4096);
  const batch = Math.max(1, Math.min(256, Math.floor(somaxconn / 2)));
  const warm = Math.min(count, 1000);
  notes.unshift(`${count} connections (after ${warm} opened and closed to warm up), ${batch} connected at a time; RLIMIT_NOFILE ${soft}/${hard}, ` +
    `ip_local_port_range ${range?.join('–') ?? '?'}, somaxconn ${somaxconn}`);
  if (count < 10000) notes.push(`with ${count} connections the fixed costs (heap growth, the warm-up's freed memory) weigh more: quote a 10,000-connection run`);
  return { count, warm, batch, nofile, notes };
}

/** argv under a shell that first raises the soft fd limit (exec keeps the pid). */
function withNofile(nofile: number | undefined, argv: string[]): string[] {
  return nofile === undefined ? argv : ['sh', '-c', `ulimit -Sn ${nofile} && exec "$@"`, 'sh', ...argv];
}

/** Lines from a child's stdout, one at a time, each awaited with a time limit. */
function lineReader(child: ReturnType<typeof spawn>, what: string) {
  const lines: string[] = [];
  const waiting: Array<(line: string | Error) => void> = [];
  let text = '';
  let ended: Error | undefined;
  const push = (item: string | Error) => {
    const w = waiting.shift();
    if (w) w(item);
    else if (typeof item === 'string') lines.push(item);
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    for (let nl; (nl = text.indexOf('\n')) >= 0; text = text.slice(nl + 1)) push(text.slice(0, nl));
  });
  child.on('exit', (code, signal) => {
    ended = new Error(`${what} exited (${signal ?? code})`);
    while (waiting.length) push(ended);
  });
  return (timeoutMs: number): Promise<string> => {
    if (lines.length) return Promise.resolve(lines.shift()!);
    if (ended) return Promise.reject(ended);
    return new Promise<string>((resolve, reject) => {
      const settle = (item: string | Error) => {
        clearTimeout(timer);
        if (typeof item === 'string') resolve(item);
        else reject(item);
      };
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(settle), 1);
        reject(new Error(`${what}: no output in ${timeoutMs / 1000} s`));
      }, timeoutMs);
      waiting.push(settle);
    });
  };
}

/** The server process's memory, in KB (1,024 bytes, as /proc gives it). */
interface Memory {
  /** VmRSS from /proc/PID/status, and its anonymous and file-backed parts. */
  rss: number;
  rssAnon: number;
  rssFile: number;
  /** Pss and Private_Clean + Private_Dirty from /proc/PID/smaps_rollup. */
  pss: number;
  private: number;
  threads: number;
  fds: number;
  /** process.memoryUsage() after gc(), node-based servers only. */
  heapUsed?: number;
  external?: number;
}

function readMemory(pid: number): Memory {
  const status = procText(`/proc/${pid}/status`) ?? '';
  const rollup = procText(`/proc/${pid}/smaps_rollup`) ?? '';
  const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  let fds = NaN;
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch { /* not ours to read */ }
  return {
    rss: field(status, 'VmRSS'), rssAnon: field(status, 'RssAnon'), rssFile: field(status, 'RssFile'), threads: field(status, 'Threads'),
    pss: field(rollup, 'Pss'), private: field(rollup, 'Private_Clean') + field(rollup, 'Private_Dirty'), fds,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Several samples of the server's memory, and their medians. A node-based
 * server is asked to gc() first each time (node and bsd-sockets alike,
 * through the same control.cjs), so the figures are live memory, not
 * garbage the next collection would free.
 */
async function sampleMemory(pid: number, control: { ask: () => void; answer: (ms: number) => Promise<string> } | undefined): Promise<Memory> {
  const samples: Memory[] = [];
  for (let k = 0; k < 3; k++) {
    await sleep(100);
    let usage: { heapUsed: number; external: number } | undefined;
    if (control) {
      control.ask();
      const line = await control.answer(10_000);
      if (!line.startsWith('gc ')) throw new Error(`unexpected server output: ${line}`);
      usage = JSON.parse(line.slice(3));
    }
    samples.push({ ...readMemory(pid), heapUsed: usage && usage.heapUsed / 1024, external: usage && usage.external / 1024 });
  }
  const mid = (pick: (m: Memory) => number | undefined) => {
    const xs = samples.map(pick).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  return {
    rss: mid((m) => m.rss)!, rssAnon: mid((m) => m.rssAnon)!, rssFile: mid((m) => m.rssFile)!, pss: mid((m) => m.pss)!, private: mid((m) => m.private)!,
    threads: mid((m) => m.threads)!, fds: mid((m) => m.fds)!, heapUsed: mid((m) => m.heapUsed), external: mid((m) => m.external),
  };
}

interface IdleRound {
  count: number;
  /** Seconds the client took to open and serve every connection. */
  connectSeconds: number;
  /** The server listening and warmed, before the connections. */
  idle: Memory;
  /** With all `count` connections open. */
  held: Memory;
}

const idleRounds = new Map<string, IdleRound[]>();
let idlePlan: IdlePlan | undefined;

/**
 * idle-10k: the server listens and is warmed (the client opens and closes a
 * few hundred connections); its memory is sampled; the client opens the
 * connections and holds them, each served once; the memory is sampled
 * again; the client closes them. The figure: (RSS held − RSS idle) ÷ count.
 */
async function runIdle(impl: Impl, w: Workload): Promise<number> {
  const plan = idlePlan!;
  const script = (name: string) => path.join(__dirname, 'servers', name);
  const argv = impl === 'C' ? [path.join(outDir, 'server'), w.server]
    : impl === 'node' ? [process.execPath, '--expose-gc', script('node.cjs'), w.server]
      : [process.execPath, '--expose-gc', script('bsd.cjs'), w.server, impl];
  const [cmd, ...args] = pinned(0, withNofile(plan.nofile, argv));
  const server = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, BENCH_CONTROL: '1' } });
  let client: ReturnType<typeof spawn> | undefined;
  try {
    const fromServer = lineReader(server, `${impl} ${w.server} server`);
    const port = Number(await fromServer(10_000));
    const control = impl === 'C' ? undefined : { ask: () => server.stdin!.write('gc\n'), answer: fromServer };
    const [ccmd, ...cargs] = pinned(split ? 1 : 0, withNofile(plan.nofile,
      [path.join(outDir, 'client'), 'idle', String(port), String(plan.count), String(plan.warm), String(plan.batch)]));
    client = spawn(ccmd, cargs, { stdio: ['pipe', 'pipe', 'inherit'] });
    const fromClient = lineReader(client, 'client idle');
    const exited = new Promise((resolve) => client!.on('exit', resolve));
    if ((await fromClient(60_000)) !== 'warm') throw new Error('client idle: expected "warm"');
    // The server has the CPU to itself now: let it finish closing the warm-up connections.
    await sleep(200);
    const idle = await sampleMemory(server.pid!, control);
    client.stdin!.write('go\n');
    const ready = (await fromClient(120_000)).split(' ');
    if (ready[0] !== 'ready' || Number(ready[1]) !== plan.count) throw new Error(`client idle: ${ready.join(' ')}`);
    const held = await sampleMemory(server.pid!, control);
    client.stdin!.write('close\n');
    if ((await fromClient(60_000)) !== 'closed') throw new Error('client idle: expected "closed"');
    await exited;
    const round = { count: plan.count, connectSeconds: Number(ready[2]), idle, held };
    idleRounds.set(`${w.name}/${impl}`, [...(idleRounds.get(`${w.name}/${impl}`) ?? []), round]);
    return (held.rss - idle.rss) / plan.count;
  } finally {
    client?.kill('SIGKILL');
    server.kill('SIGKILL');
  }
}

// ---- rates ------------------------------------------------------------------

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
  if (w.idle) return runIdle(impl, w);
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
  /** idle-10k: the server's memory and threads, medians over rounds. */
  memory?: IdleSummary;
}

interface IdleSummary {
  count: number;
  connectSeconds: number;
  /** KB per connection: (held − idle) ÷ count, medians over rounds. */
  perConnection: { rss: number; rssAnon: number; rssFile: number; pss: number; private: number; heapUsed?: number; external?: number };
  idle: Memory;
  held: Memory;
}

function idleSummary(rounds: IdleRound[]): IdleSummary {
  const mid = (pick: (r: IdleRound) => number | undefined) => {
    const xs = rounds.map(pick).filter((x): x is number => x !== undefined && Number.isFinite(x));
    return xs.length ? median(xs) : undefined;
  };
  const per = (k: keyof Memory) => mid((r) => ((r.held[k] ?? NaN) - (r.idle[k] ?? NaN)) / r.count);
  const memory = (which: 'idle' | 'held') => Object.fromEntries((['rss', 'rssAnon', 'rssFile', 'pss', 'private', 'threads', 'fds', 'heapUsed', 'external'] as const)
    .map((k) => [k, mid((r) => r[which][k])]).filter(([, v]) => v !== undefined)) as unknown as Memory;
  return {
    count: rounds[0].count, connectSeconds: mid((r) => r.connectSeconds)!,
    perConnection: { rss: per('rss')!, rssAnon: per('rssAnon')!, rssFile: per('rssFile')!, pss: per('pss')!, private: per('private')!, heapUsed: per('heapUsed'), external: per('external') },
    idle: memory('idle'), held: memory('held'),
  };
}

async function main(): Promise<void> {
  buildC();
  const only = opts.only?.split(',');
  const unknown = only?.filter((name) => !WORKLOADS.some((w) => w.name === name));
  if (unknown?.length) throw new Error(`unknown workload: ${unknown.join(', ')}`);
  const notes: string[] = [];
  let workloads = WORKLOADS.filter((w) => !only || only.includes(w.name));
  if (workloads.some((w) => w.idle)) {
    idlePlan = planIdle();
    if (idlePlan.unavailable) {
      workloads = workloads.filter((w) => !w.idle);
      notes.push(idlePlan.unavailable);
    } else {
      notes.push(...idlePlan.notes.map((n) => `idle-10k: ${n}`));
    }
  }
  for (const w of workloads) if (w.skipWhy) notes.push(`${w.name}: ${w.skipWhy}`);
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
      // Within each round; for a time per call or memory per connection the
      // better figure is the lower. A memory figure at or below zero (a server
      // that keeps nothing per connection, within noise) gives no ratio.
      const rs = vs.map((v, r) => (lowerIsBetter(w.unit) ? bs[r] / v : v / bs[r]));
      return w.idle && [...vs, ...bs].some((x) => x <= 0) ? undefined : median(rs);
    };
    const result: CellResult = {
      workload: w.name, impl, unit: w.unit, values: vs,
      median: median(vs), min: Math.min(...vs), max: Math.max(...vs),
      vsC: ratio('C'), vsNode: ratio('node'),
    };
    const idle = idleRounds.get(key(w.name, impl));
    if (idle) result.memory = idleSummary(idle);
    return result;
  });

  if (opts.json) {
    console.log(JSON.stringify({ rounds, placement: split ? 'split' : 'pinned', taskset: hasTaskset, notes, results }, null, 2));
    return;
  }
  const fmt = (x: number, unit = '') =>
    (unit === 'KB/conn' ? x.toFixed(2) : x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const implName = (impl: Impl) => (impl === 'C' || impl === 'node' ? impl : `bsd ${impl}`);
  const table = (head: string[], rows: string[][]) => {
    const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
    const line = (cols: string[]) => '| ' + cols.map((s, c) => s.padEnd(widths[c])).join(' | ') + ' |';
    console.log(line(head));
    console.log('| ' + widths.map((n) => '-'.repeat(n)).join(' | ') + ' |');
    for (const row of rows) console.log(line(row));
  };
  const ratioText = (r: CellResult, x: number | undefined, base: Impl) =>
    (x !== undefined ? `${x.toFixed(2)}×` : r.unit === 'KB/conn' && values.has(key(r.workload, base)) ? '—' : '');
  table(['workload', 'implementation', 'median', 'min–max', 'vs C', 'vs node'], results.map((r) => [
    r.workload, implName(r.impl),
    `${fmt(r.median, r.unit)} ${r.unit}`, `${fmt(r.min, r.unit)}–${fmt(r.max, r.unit)}`,
    ratioText(r, r.vsC, 'C'), ratioText(r, r.vsNode, 'node'),
  ]));
  console.log(`\n${rounds} rounds, ${split ? 'server on CPU 0, client on CPU 1' : hasTaskset ? 'every process on CPU 0 (taskset -c 0)' : 'unpinned (no taskset)'}; ` +
    'ratios are medians of per-round ratios (> 1 is better than the baseline: faster, or for ns/call and KB/conn, the baseline\'s figure over the cell\'s).');

  const idle = results.filter((r) => r.memory);
  if (idle.length) {
    // (-0.00 from noise around zero reads as 0.00.)
    const kb = (x: number | undefined) => (x === undefined ? '' : (Math.abs(x) < 0.005 ? 0 : x).toFixed(2));
    const mb = (x: number | undefined) => (x === undefined ? '' : (x / 1024).toFixed(1));
    console.log(`\n${idle[0].workload}: the server process with ${idle[0].memory!.count} idle connections open (held) and before them ` +
      '(idle: listening, warmed); KB = 1,024 bytes; per connection = (held − idle) ÷ connections; medians over rounds. ' +
      'RSS and its anonymous part (RssAnon) from /proc/PID/status, Pss and private (clean + dirty) from /proc/PID/smaps_rollup, JS heap = ' +
      'process.memoryUsage().heapUsed; node-based servers gc() (--expose-gc) before each of 3 samples.\n');
    table(['implementation', 'RSS idle MB', 'RSS held MB', 'RSS KB/conn', 'anon KB/conn', 'Pss KB/conn', 'private KB/conn',
      'JS heap KB/conn', 'threads idle→held', 'fds held', 'connect s'], idle.map((r) => {
      const m = r.memory!;
      return [implName(r.impl), mb(m.idle.rss), mb(m.held.rss), kb(m.perConnection.rss), kb(m.perConnection.rssAnon), kb(m.perConnection.pss),
        kb(m.perConnection.private), kb(m.perConnection.heapUsed), `${m.idle.threads}→${m.held.threads}`,
        String(m.held.fds), m.connectSeconds.toFixed(2)];
    }));
  }
  for (const r of idle) {
    if (r.impl === 'C' && r.median <= 0.005) {
      notes.push(`${r.workload}: the C server (epoll, one static buffer) keeps nothing per connection in user space ` +
        '(the kernel\'s socket and epoll memory is in no process\'s RSS, and the same for every server): no ratio against it');
    }
  }
  if (notes.length) console.log('\n' + notes.map((n) => `- ${n}`).join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
