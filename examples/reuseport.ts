// Mirrors reuseport.c: several processes, each with its own SO_REUSEPORT socket on one port; the kernel spreads the connections.
// Usage: npx tsx examples/reuseport.ts HOST PORT NPROC NCONN   (HOST numeric; PORT 0: the kernel picks; NPROC from 1 to 16)
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  AF_UNIX, POLLIN, SHUT_WR, SOCK_STREAM, SOL_SOCKET, SOMAXCONN, SO_RCVTIMEO, SO_REUSEPORT, type Sockaddr, type SockaddrIn,
  acceptSync, bind, close, connect, getsockname, listen, poll, read, setsockopt, shutdown, socket, socketpair, write,
} from 'bsd-sockets';
import { addrText, die, inetAddr } from './common';

const MAXPROC = 16;
/** A worker that hears nothing for this long gives up; so does the parent. */
const IDLE_MS = 10_000;
/** Where a worker process finds its end of ctl (C's fork() keeps the number; spawn() passes it as fd 3). */
const WORKER_CTL_FD = 3;

/**
 * One worker process: its own socket with SO_REUSEPORT, bound to the shared
 * address. It tells the parent its port on ctl, then accepts until the
 * parent shuts ctl down (end of stream).
 */
async function worker(index: number, addr: Sockaddr, ctl: number): Promise<void> {
  const fd = socket(addr.family, SOCK_STREAM, 0);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
  bind(fd, addr);
  listen(fd, SOMAXCONN);
  const bound = getsockname(fd) as SockaddrIn;
  await write(ctl, Buffer.from(String(bound.port)));

  let accepted = 0;
  for (;;) {
    const fds = [{ fd, events: POLLIN, revents: 0 }, { fd: ctl, events: POLLIN, revents: 0 }];
    const n = await poll(fds, IDLE_MS);
    if (n === 0 || fds[1].revents !== 0) break; // Idle, or the parent is done.
    const { fd: conn } = acceptSync(fd);
    accepted++;
    await write(conn, Buffer.from(`worker ${index}`));
    close(conn);
  }
  console.log(`worker ${index} accepted ${accepted} connections`);
  close(fd);
  close(ctl);
}

/** C's fork(): this same program again, as worker `index`, with `ctl` as its fd 3. */
function forkWorker(index: number, host: string, port: number, ctl: number): ChildProcess {
  return spawn(process.execPath, [...process.execArgv, process.argv[1], 'worker', String(index), host, String(port)], {
    stdio: ['ignore', 'inherit', 'inherit', ctl],
  });
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'worker') {
    await worker(Number(argv[1]), inetAddr(argv[2], Number(argv[3])), WORKER_CTL_FD);
    return;
  }
  if (argv.length !== 4 || !(Number(argv[2]) >= 1 && Number(argv[2]) <= MAXPROC)) {
    console.error('usage: reuseport HOST PORT NPROC NCONN (NPROC from 1 to 16)');
    process.exitCode = 2;
    return;
  }
  // No SIGPIPE to ignore: a write to a gone peer fails with EPIPE.
  let addr = inetAddr(argv[0], Number(argv[1]));
  const nproc = Number(argv[2]);
  const nconn = Number(argv[3]);

  // ctl[0] stays here, every worker shares ctl[1].
  const ctl = socketpair(AF_UNIX, SOCK_STREAM, 0);
  setsockopt(ctl[0], SOL_SOCKET, SO_RCVTIMEO, IDLE_MS); // C's struct timeval, in ms.
  const workers: ChildProcess[] = [];
  for (let i = 0; i < nproc; i++) {
    workers[i] = forkWorker(i, argv[0], (addr as SockaddrIn).port, ctl[1]);
    // One worker at a time: the first learns the port (PORT 0), the rest share it.
    const msg = Buffer.alloc(31);
    const n = await read(ctl[0], msg, msg.length);
    addr = inetAddr(argv[0], Number(msg.toString('utf8', 0, n)));
  }
  close(ctl[1]);
  console.log(`${nproc} processes listening on ${addrText(addr)}`);

  const served = new Array<number>(nproc).fill(0);
  for (let c = 0; c < nconn; c++) {
    const fd = socket(addr.family, SOCK_STREAM, 0);
    await connect(fd, addr);
    const reply = Buffer.alloc(31);
    let got = 0;
    let n: number;
    while ((n = await read(fd, reply.subarray(got), reply.length - got)) > 0) got += n;
    const m = /^worker (\d+)/.exec(reply.toString('utf8', 0, got));
    const index = m === null ? -1 : Number(m[1]);
    if (index < 0 || index >= nproc) {
      console.error(`unexpected reply: ${reply.toString('utf8', 0, got)}`);
      process.exitCode = 1;
      return;
    }
    served[index]++;
    close(fd);
  }
  for (let i = 0; i < nproc; i++) console.log(`worker ${i} served ${served[i]} of ${nconn} connections`);
  // The workers read end of stream on ctl, print their count and exit.
  shutdown(ctl[0], SHUT_WR);
  await Promise.all(workers.map((w) => (w.exitCode === null ? once(w, 'exit') : undefined)));
  close(ctl[0]);
}

main(process.argv.slice(2)).catch(die);
