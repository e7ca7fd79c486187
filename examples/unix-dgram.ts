// Mirrors unix-dgram.c: a Unix-domain datagram echo server and client; each NAME is a path or "@abstract".
// Usage: npx tsx examples/unix-dgram.ts server NAME MAXMSG | npx tsx examples/unix-dgram.ts client NAME CLIENTNAME MESSAGE...
import * as fs from 'node:fs';
import { AF_UNIX, POLLIN, SOCK_DGRAM, bind, close, getsockname, poll, recvfrom, sendto, socket } from 'bsd-sockets';
import { addrText, die, unixAddr } from './common';

async function server(name: string, maxmsg: number): Promise<void> {
  const addr = unixAddr(name);
  const fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  bind(fd, addr);
  console.log(`listening on ${addrText(getsockname(fd))}`);

  const buf = Buffer.alloc(65536);
  for (let i = 0; i < maxmsg; i++) {
    const { nbytes: n, addr: peer } = await recvfrom(fd, buf, buf.length, 0);
    console.log(`received ${n} bytes from ${addrText(peer)}: ${buf.toString('utf8', 0, n)}`);
    await sendto(fd, buf, n, 0, peer!); // The client bound a name, so there is one.
  }
  close(fd);
  if (!name.startsWith('@')) fs.unlinkSync(name);
}

async function client(name: string, myname: string, msgs: string[]): Promise<void> {
  const addr = unixAddr(name);
  const me = unixAddr(myname);
  const fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  bind(fd, me);
  const buf = Buffer.alloc(65536);
  for (const text of msgs) {
    const msg = Buffer.from(text);
    await sendto(fd, msg, msg.length, 0, addr);
    const pfd = [{ fd, events: POLLIN }];
    const ready = await poll(pfd, 5000);
    if (ready === 0) {
      console.error('unix-dgram: no reply within 5 s');
      process.exit(1);
    }
    const { nbytes: n, addr: from } = await recvfrom(fd, buf, buf.length, 0);
    console.log(`reply of ${n} bytes from ${addrText(from)}: ${buf.toString('utf8', 0, n)}`);
  }
  close(fd);
  if (!myname.startsWith('@')) fs.unlinkSync(myname);
}

async function main(argv: string[]): Promise<void> {
  const isServer = argv.length === 3 && argv[0] === 'server';
  const isClient = argv.length >= 4 && argv[0] === 'client';
  if (!isServer && !isClient) {
    console.error('usage: unix-dgram server NAME MAXMSG | unix-dgram client NAME CLIENTNAME MESSAGE...');
    process.exitCode = 2;
    return;
  }
  if (isServer) await server(argv[1], Number(argv[2]));
  else await client(argv[1], argv[2], argv.slice(3));
}

main(process.argv.slice(2)).catch(die);
