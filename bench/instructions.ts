// `npm run bench:instr -- WORKLOAD IMPL [COUNT]`: the server's user-space
// instructions per operation, counted by callgrind — a figure that does not
// move with the machine's load, unlike `npm run bench`'s wall-clock rates.
// The server runs under `valgrind --tool=callgrind`; the C client warms it up,
// the counters are zeroed (callgrind_control -z), the measured run follows,
// and the counters are dumped (-d). Kernel time is not counted: the system
// calls per operation (strace -c over the same window, with --syscalls) say
// how much of it each implementation asks for.
// WORKLOAD: pingpong | echo | udp | bulk | connrate; IMPL: C | node | sync | async | watch.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const [workload = 'pingpong', impl = 'watch', countText] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const withSyscalls = process.argv.includes('--syscalls');
// --cpu: the server's CPU time (user + system, /proc/PID/stat) per operation, without valgrind.
const withCpu = process.argv.includes('--cpu');
const root = path.join(__dirname, '..');
const outDir = path.join(root, 'build', 'bench');
const count = Number(countText ?? (workload === 'echo' ? 10 : workload === 'bulk' ? 2 ** 26 : 2000));

fs.mkdirSync(outDir, { recursive: true });
for (const name of ['client', 'server']) {
  execFileSync('cc', ['-O2', '-o', path.join(outDir, name), path.join(__dirname, 'c', `${name}.c`)]);
}

const serverArgv = impl === 'C' ? [path.join(outDir, 'server'), workload]
  : impl === 'node' ? [process.execPath, path.join(__dirname, 'servers', 'node.cjs'), workload]
  : [process.execPath, path.join(__dirname, 'servers', 'bsd.cjs'), workload, impl];
// The client's arguments and what one operation is.
const clientArgs = (n: number): [string[], number] => {
  switch (workload) {
    case 'pingpong': return [['pingpong', '1', String(n)], n];
    case 'udp': return [['udp', '64', String(n)], n];
    case 'connrate': return [['connrate', String(n)], n];
    case 'echo': return [['echo', '1000', String(n), '64'], 1000 * n];
    case 'bulk': return [['bulk', String(n), '65536'], n / 65536];
    default: throw new Error(`unknown workload ${workload}`);
  }
};

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bsd-instr-'));
// valgrind makes system calls of its own around the server's: count those without it.
const server = spawn('taskset', ['-c', '0', ...(withSyscalls || withCpu ? [] : ['valgrind', '--tool=callgrind',
  '--smc-check=all-non-file', '--separate-threads=yes', `--callgrind-out-file=${dir}/cg.out`]), ...serverArgv], { stdio: ['ignore', 'pipe', 'ignore'] });

function client(n: number): void {
  const [args] = clientArgs(n);
  execFileSync('taskset', ['-c', '0', path.join(outDir, 'client'), args[0], String(port), ...args.slice(1)],
    { encoding: 'utf8', timeout: 600_000 });
}

let port = 0;
server.stdout.once('data', (chunk: Buffer) => {
  port = Number(chunk.toString().trim());
  try {
    // Long enough for V8 to have optimised the hot paths before the count starts.
    client(workload === 'echo' ? 5 : workload === 'bulk' ? count : Math.max(count * 2, 20000));
    if (withCpu) {
      // utime and stime, in clock ticks, are fields 14 and 15 (after the parenthesised name).
      const ticks = () => {
        const f = fs.readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1].split(' ');
        return [Number(f[11]), Number(f[12])];
      };
      const [u0, s0] = ticks();
      client(count);
      const [u1, s1] = ticks();
      const [, ops] = clientArgs(count);
      const us = (t: number) => ((t * 10_000) / ops).toFixed(2);  // 100 ticks/s
      console.log(`${workload} ${impl}: ${us(u1 - u0)} µs user + ${us(s1 - s0)} µs system CPU/op (${ops} ops)`);
      return;
    }
    if (!withSyscalls) execFileSync('callgrind_control', ['-z', String(server.pid)], { stdio: 'ignore' });
    const strace = withSyscalls
      ? spawn('strace', ['-c', '-f', '-o', `${dir}/strace.txt`, '-p', String(server.pid)], { stdio: 'ignore' })
      : undefined;
    if (strace) execFileSync('sleep', ['1']);
    client(count);
    const [, ops] = clientArgs(count);
    if (strace) {
      strace.kill('SIGINT');
      execFileSync('sleep', ['1']);
      const total = /\n\s*100\.00\s+[\d.]+\s+\d+\s+(\d+)/.exec(fs.readFileSync(`${dir}/strace.txt`, 'utf8'));
      console.log(`${workload} ${impl}: ${total ? (Number(total[1]) / ops).toFixed(2) : '?'} system calls/op (${dir}/strace.txt)`);
      return;
    }
    execFileSync('callgrind_control', ['-d', String(server.pid)], { stdio: 'ignore' });
    // One file per thread (cg.out.1-01 is the main thread); the JIT's and the pool's are the others.
    const irOf = (file: string) => {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      return Number(/^summary:\s*(\d+)/m.exec(text)?.[1] ?? /^totals:\s*(\d+)/m.exec(text)?.[1] ?? 0);
    };
    const dumps = fs.readdirSync(dir).filter((f) => /^cg\.out\.1(-\d+)?$/.test(f)).sort();
    const main = dumps.find((f) => f.endsWith('-01')) ?? dumps[0];
    const total = dumps.reduce((sum, f) => sum + irOf(f), 0);
    console.log(`${workload} ${impl}: ${(irOf(main) / ops).toFixed(0)} instructions/op on the main thread, ` +
      `${(total / ops).toFixed(0)} in all threads (${ops} ops); callgrind file ${path.join(dir, main)}`);
  } finally {
    server.kill('SIGKILL');
  }
});
