// Mirrors fd-passing.c: a parent hands its listening TCP socket to a child over a Unix socket (SCM_RIGHTS).
// Usage: npx tsx examples/fd-passing.ts child NAME MAXCONN | npx tsx examples/fd-passing.ts parent HOST PORT NAME
import * as fs from 'node:fs';
import {
  AF_UNIX, CMSG_SPACE, SCM_RIGHTS, SOCK_STREAM, SOL_SOCKET, SOMAXCONN,
  accept, bind, close, connect, getsockname, listen, read, recvmsg, sendmsg, socket, write,
} from 'bsd-sockets';
import { addrText, die, inetAddr, unixAddr } from './common';

async function child(name: string, maxconn: number): Promise<void> {
  const addr = unixAddr(name);
  const fd = socket(AF_UNIX, SOCK_STREAM, 0);
  bind(fd, addr);
  listen(fd, 1);
  console.log(`listening on ${addrText(addr)}`);

  const { fd: conn } = await accept(fd);
  // One byte of data carries the control message; room for exactly one fd.
  // The fd arrives close-on-exec (MSG_CMSG_CLOEXEC is always added).
  const { control } = await recvmsg(conn, { iov: [Buffer.alloc(1)], controllen: CMSG_SPACE(4) }, 0);
  let lfd = -1;
  for (const c of control) {
    if (c.level === SOL_SOCKET && c.type === SCM_RIGHTS) [lfd] = c.data as number[];
  }
  if (lfd === -1) throw new Error('no fd received');
  close(conn);
  close(fd);
  if (!name.startsWith('@')) fs.unlinkSync(name);

  console.log(`received a listening socket on ${addrText(getsockname(lfd))}`);

  for (let i = 0; i < maxconn; i++) {
    const { fd: c, addr: peer } = await accept(lfd);
    console.log(`connection from ${addrText(peer)}`);
    const buf = Buffer.alloc(4096);
    let n: number;
    let total = 0;
    while ((n = await read(c, buf, buf.length)) > 0) {
      await write(c, buf, n);
      total += n;
    }
    console.log(`echoed ${total} bytes`);
    close(c);
  }
  close(lfd);
}

async function parent(host: string, port: number, name: string): Promise<void> {
  const addr = inetAddr(host, port);
  const lfd = socket(addr.family, SOCK_STREAM, 0);
  bind(lfd, addr);
  listen(lfd, SOMAXCONN);
  console.log(`listening on ${addrText(getsockname(lfd))}`);

  const childAddr = unixAddr(name);
  const fd = socket(AF_UNIX, SOCK_STREAM, 0);
  await connect(fd, childAddr);
  await sendmsg(fd, { iov: [Buffer.from('L')], control: [{ level: SOL_SOCKET, type: SCM_RIGHTS, data: [lfd] }] }, 0);
  console.log(`passed it to ${addrText(childAddr)}`);
  close(fd);
  // The child's copy keeps the socket open and listening.
  close(lfd);
}

async function main(argv: string[]): Promise<void> {
  const isChild = argv.length === 3 && argv[0] === 'child';
  const isParent = argv.length === 4 && argv[0] === 'parent';
  if (!isChild && !isParent) {
    console.error('usage: fd-passing child NAME MAXCONN | fd-passing parent HOST PORT NAME');
    process.exitCode = 2;
    return;
  }
  if (isChild) await child(argv[1], Number(argv[2]));
  else await parent(argv[1], Number(argv[2]), argv[3]);
}

main(process.argv.slice(2)).catch(die);
