// Mirrors unix-stream.c: a Unix-domain stream echo server and client; NAME is a path or "@abstract".
// Usage: npx tsx examples/unix-stream.ts server NAME MAXCONN | npx tsx examples/unix-stream.ts client NAME MESSAGE
import * as fs from 'node:fs';
import {
  AF_UNIX, SHUT_WR, SOCK_STREAM, SOMAXCONN,
  accept, bind, close, connect, getsockname, listen, read, shutdown, socket, write,
} from 'bsd-sockets';
import { addrText, die, unixAddr } from './common';

async function server(name: string, maxconn: number): Promise<void> {
  const addr = unixAddr(name);
  const fd = socket(AF_UNIX, SOCK_STREAM, 0);
  bind(fd, addr);
  listen(fd, SOMAXCONN);
  console.log(`listening on ${addrText(getsockname(fd))}`);

  for (let i = 0; i < maxconn; i++) {
    const { fd: conn, addr: peer } = await accept(fd);
    // A client that did not bind() is unnamed.
    console.log(`connection from ${addrText(peer)}`);
    const buf = Buffer.alloc(4096);
    let n: number;
    let total = 0;
    while ((n = await read(conn, buf, buf.length)) > 0) {
      await write(conn, buf, n);
      total += n;
    }
    console.log(`echoed ${total} bytes`);
    close(conn);
  }
  close(fd);
  // A path outlives its socket: remove it. An abstract name is already gone.
  if (!name.startsWith('@')) fs.unlinkSync(name);
}

async function client(name: string, text: string): Promise<void> {
  const addr = unixAddr(name);
  const fd = socket(AF_UNIX, SOCK_STREAM, 0);
  await connect(fd, addr);
  console.log(`connected to ${addrText(addr)}`);

  const msg = Buffer.from(text);
  let n = await write(fd, msg, msg.length);
  console.log(`sent ${n} bytes`);
  shutdown(fd, SHUT_WR);

  const buf = Buffer.alloc(65536);
  let total = 0;
  while ((n = await read(fd, buf.subarray(total), buf.length - total)) > 0) total += n;
  console.log(`received ${total} bytes: ${buf.toString('utf8', 0, total)}`);
  close(fd);
}

async function main(argv: string[]): Promise<void> {
  if (argv.length !== 3 || (argv[0] !== 'server' && argv[0] !== 'client')) {
    console.error('usage: unix-stream server NAME MAXCONN | unix-stream client NAME MESSAGE');
    process.exitCode = 2;
    return;
  }
  if (argv[0] === 'server') await server(argv[1], Number(argv[2]));
  else await client(argv[1], argv[2]);
}

main(process.argv.slice(2)).catch(die);
