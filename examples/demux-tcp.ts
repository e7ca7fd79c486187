// Mirrors demux-tcp.c: several TCP connections on one port, told apart by their 4-tuple (getsockname + getpeername).
// Usage: npx tsx examples/demux-tcp.ts server HOST PORT NCONN | npx tsx examples/demux-tcp.ts client HOST PORT NCONN
import {
  SOCK_STREAM, SOL_SOCKET, SOMAXCONN, SO_REUSEADDR, type Sockaddr,
  accept, bind, close, connect, getpeername, getsockname, listen, read, setsockopt, socket, write,
} from 'bsd-sockets';
import { addrText, die, inetAddr } from './common';

const MAXCONN = 64;

/** Prints "connection I: LOCAL <-> PEER" for a connected socket. */
function printTuple(i: number, fd: number): void {
  const local = getsockname(fd);
  const peer = getpeername(fd);
  console.log(`connection ${i}: ${addrText(local)} <-> ${addrText(peer)}`);
}

async function server(addr: Sockaddr, nconn: number): Promise<void> {
  const fd = socket(addr.family, SOCK_STREAM, 0);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  bind(fd, addr);
  listen(fd, SOMAXCONN);
  console.log(`listening on ${addrText(getsockname(fd))}`);

  const conns: number[] = [];
  for (let i = 0; i < nconn; i++) {
    conns[i] = (await accept(fd)).fd;
    printTuple(i, conns[i]);
  }
  const buf = Buffer.alloc(1500);
  for (let i = 0; i < nconn; i++) {
    const n = await read(conns[i], buf, buf.length);
    console.log(`connection ${i} says: ${buf.toString('utf8', 0, n)}`);
    const reply = Buffer.from(`you are connection ${i}`);
    await write(conns[i], reply, reply.length);
    close(conns[i]);
  }
  close(fd);
}

async function client(addr: Sockaddr, nconn: number): Promise<void> {
  const fds: number[] = [];
  for (let i = 0; i < nconn; i++) {
    fds[i] = socket(addr.family, SOCK_STREAM, 0);
    await connect(fds[i], addr);
    printTuple(i, fds[i]);
  }
  const buf = Buffer.alloc(1500);
  for (let i = 0; i < nconn; i++) {
    const msg = Buffer.from(`hello from connection ${i}`);
    await write(fds[i], msg, msg.length);
    const n = await read(fds[i], buf, buf.length);
    console.log(`connection ${i} got: ${buf.toString('utf8', 0, n)}`);
    close(fds[i]);
  }
}

async function main(argv: string[]): Promise<void> {
  if (argv.length !== 4 || (argv[0] !== 'server' && argv[0] !== 'client') || Number(argv[3]) > MAXCONN) {
    console.error('usage: demux-tcp server HOST PORT NCONN | demux-tcp client HOST PORT NCONN (NCONN at most 64)');
    process.exitCode = 2;
    return;
  }
  const addr = inetAddr(argv[1], Number(argv[2]));
  if (argv[0] === 'server') await server(addr, Number(argv[3]));
  else await client(addr, Number(argv[3]));
}

main(process.argv.slice(2)).catch(die);
