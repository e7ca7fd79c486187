#!/usr/bin/env node
// `bsd-sockets`: labs that answer socket questions with measurements made on
// this library's own calls. `npm start` runs the default, `lab threads`.
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { stopChildrenOnExit } from './children';
import { runChecksumLab } from './checksum';
import { runDemuxLab } from './demux';
import { MODES, MODE_HELP, type Mode, REQUEST_BYTES } from './threads/protocol';
import { runThreadsLab } from './threads/lab';
import { readingOf, renderTable, renderHtml } from './threads/report';

const LABS = ['threads', 'demux', 'checksum'] as const;
type Lab = (typeof LABS)[number];

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  clients: { type: 'string' },
  idle: { type: 'string' },
  requests: { type: 'string' },
  modes: { type: 'string' },
  deadline: { type: 'string' },
  report: { type: 'string' },
  peers: { type: 'string' },
  good: { type: 'string' },
  bad: { type: 'string' },
} as const;
type OptionName = keyof typeof OPTIONS;

const LAB_OPTIONS: Record<Lab, OptionName[]> = {
  threads: ['help', 'json', 'quiet', 'clients', 'idle', 'requests', 'modes', 'deadline', 'report'],
  demux: ['help', 'json', 'peers'],
  checksum: ['help', 'json', 'good', 'bad'],
};

const HELP_MAIN = `bsd-sockets — socket labs measured on this library's own calls (127.0.0.1 only)

Usage:
  bsd-sockets [lab threads] [options]   does a server need a thread per connection? (default)
  bsd-sockets lab demux [options]       one UDP socket for many peers; one TCP socket per peer
  bsd-sockets lab checksum [options]    corrupted UDP datagrams are dropped (raw socket; root)
  bsd-sockets lab <name> --help         the options of one lab

npm start runs \`bsd-sockets lab threads\` with its defaults.
`;

const HELP: Record<Lab, string> = {
  threads: `bsd-sockets lab threads — does a server need a thread per connection?

For each number of concurrent clients, the same request/response workload
(${REQUEST_BYTES}-byte echo) runs against four servers, each in its own child process:
${MODES.map((m) => `  ${m.padEnd(16)} ${MODE_HELP[m]}`).join('\n')}
The clients run in another process, on one thread: non-blocking sockets on
watch() and *Sync calls. The server samples its own TCP sockets
(/proc/self/fd), OS threads (/proc/self/task) and RSS; the clients time every
request; onTrace() gives how long calls waited for a pool thread (queuedNs).
A worker_thread is a whole V8 instance (about 8 MB here, not a C thread's few
KB): thread-per-conn is skipped for a client count the free memory cannot hold.

Options:
  --clients LIST    concurrent clients per run (default 1,10,100,500; each 1-2000;
                    past 1023 connections pool-sized stops at libuv's 1024)
  --requests N      round trips per client (default 20; 1-10000)
  --idle N          add N clients that connect and send nothing: a slow-loris
                    (default 0; up to 100). With the default pool of 4 threads
                    they hold every worker and the blocking server freezes.
  --modes LIST      which servers (default all: ${MODES.join(',')})
  --deadline MS     time limit for the requests of one run (default 5000);
                    requests unanswered by then are reported, not waited for
  --report FILE     also write a self-contained HTML page with charts
  --json            print the raw results as JSON instead of the table
  -q, --quiet       no progress bar on stderr
  -h, --help        this help

Every run is bounded in time; the child processes are killed after each run,
on errors and on Ctrl-C. Traffic stays on 127.0.0.1.
`,
  demux: `bsd-sockets lab demux — multiplexing and demultiplexing

A UDP server: one socket receives datagrams from several clients (recvfrom()
names each sender: one socket, many peers). A TCP server: accept() gives one
new socket per client (getsockname/getpeername: the 4-tuple). For each, the
kernel's own table (/proc/net/udp, /proc/net/tcp) shows how many sockets the
server has on its port.

Options:
  --peers N     clients of each server (default 3; 1-20)
  --json        print the results as JSON
  -h, --help    this help
`,
  checksum: `bsd-sockets lab checksum — the transport layer's error check, for real

A raw socket (socket(AF_INET, SOCK_RAW, IPPROTO_UDP)) sends hand-built UDP
datagrams to a UDP socket on 127.0.0.1: some with a correct checksum, some
with it corrupted. The receiver gets exactly the good ones, and the kernel's
InCsumErrors counter (/proc/net/snmp) rises by the number of corrupted ones.
Raw sockets need root or CAP_NET_RAW; without it the lab says so and exits 0.

Options:
  --good N      datagrams with a correct checksum (default 3; 0-100)
  --bad N       datagrams with a corrupted checksum (default 2; 0-100)
  --json        print the results as JSON
  -h, --help    this help
`,
};

class UsageError extends Error {}

/** Connections per run, clients and idle together. */
const MAX_CONNECTIONS = 2000;

function intOption(value: string | undefined, name: string, def: number, min: number, max: number): number {
  if (value === undefined) return def;
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`--${name} must be a whole number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function listOption(value: string | undefined, name: string, def: number[], min: number, max: number): number[] {
  if (value === undefined) return def;
  const list = value.split(',').map((v) => intOption(v, name, 0, min, max));
  if (list.length === 0 || list.length > 10) throw new UsageError(`--${name} takes 1 to 10 values`);
  return [...new Set(list)].sort((a, b) => a - b);
}

function modesOption(value: string | undefined): Mode[] {
  if (value === undefined) return [...MODES];
  const modes = value.split(',').map((m) => m.trim());
  for (const m of modes) {
    if (!(MODES as readonly string[]).includes(m)) throw new UsageError(`unknown mode "${m}"; the modes are ${MODES.join(', ')}`);
  }
  return MODES.filter((m) => modes.includes(m));
}

function whichLab(positionals: string[]): Lab {
  const words = positionals[0] === 'lab' ? positionals.slice(1) : positionals;
  if (words.length === 0) return 'threads';
  if (words.length > 1) throw new UsageError(`unexpected argument "${words[1]}"`);
  if (!(LABS as readonly string[]).includes(words[0])) {
    throw new UsageError(`unknown lab "${words[0]}"; the labs are ${LABS.join(', ')}`);
  }
  return words[0] as Lab;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals, tokens } = parsed;
  if (values.help && positionals.length === 0) {
    process.stdout.write(HELP_MAIN + '\n' + HELP.threads);
    return 0;
  }
  const lab = whichLab(positionals);
  if (values.help) {
    process.stdout.write(HELP[lab]);
    return 0;
  }
  for (const t of tokens ?? []) {
    if (t.kind === 'option' && !LAB_OPTIONS[lab].includes(t.name as OptionName)) {
      throw new UsageError(`--${t.name} is not an option of lab ${lab} (see bsd-sockets lab ${lab} --help)`);
    }
  }
  const json = values.json === true;

  if (lab === 'demux') {
    const peers = intOption(values.peers, 'peers', 3, 1, 20);
    const result = await runDemuxLab({ peers, print: !json });
    if (json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return 0;
  }
  if (lab === 'checksum') {
    const good = intOption(values.good, 'good', 3, 0, 100);
    const bad = intOption(values.bad, 'bad', 2, 0, 100);
    const result = await runChecksumLab({ good, bad, print: !json });
    if (json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return result.status === 'failed' ? 1 : 0;
  }

  const opts = {
    clients: listOption(values.clients, 'clients', [1, 10, 100, 500], 1, MAX_CONNECTIONS),
    idle: intOption(values.idle, 'idle', 0, 0, 100),
    requests: intOption(values.requests, 'requests', 20, 1, 10_000),
    modes: modesOption(values.modes),
    deadlineMs: intOption(values.deadline, 'deadline', 5000, 100, 60_000),
    progress: values.quiet !== true,
  };
  const max = Math.max(...opts.clients);
  if (max + opts.idle > MAX_CONNECTIONS) throw new UsageError(`--clients plus --idle may not exceed ${MAX_CONNECTIONS} connections`);
  if (values.report !== undefined && values.report.trim() === '') throw new UsageError('--report needs a file name');
  stopChildrenOnExit(() => {
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    process.stderr.write('interrupted: the lab\'s child processes were stopped\n');
  });
  const result = await runThreadsLab(opts);
  result.reading = readingOf(result);
  if (values.report !== undefined) fs.writeFileSync(values.report, renderHtml(result));
  if (json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } else {
    process.stdout.write(renderTable(result) + '\n\n' + result.reading + '\n');
    if (values.report !== undefined) process.stdout.write(`\nreport: ${values.report}\n`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`bsd-sockets: ${err.message}\nTry: bsd-sockets --help\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`bsd-sockets: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
