// Mirrors demux-udp.c: one UDP socket serves several clients, told apart by each datagram's source address.
// Usage: npx tsx examples/demux-udp.ts server HOST PORT MAXMSG | npx tsx examples/demux-udp.ts client HOST PORT NCLIENTS
import { POLLIN, SOCK_DGRAM, type Sockaddr, bind, close, getsockname, poll, recvfrom, sendto, socket } from 'bsd-sockets';
import { addrText, die, inetAddr } from './common';

const MAXCLIENTS = 64;

async function server(addr: Sockaddr, maxmsg: number): Promise<void> {
  const fd = socket(addr.family, SOCK_DGRAM, 0);
  bind(fd, addr);
  console.log(`listening on ${addrText(getsockname(fd))}`);

  const buf = Buffer.alloc(1500);
  for (let i = 0; i < maxmsg; i++) {
    const { nbytes: n, addr: peer } = await recvfrom(fd, buf, buf.length, 0);
    const text = addrText(peer);
    console.log(`datagram from ${text}: ${buf.toString('utf8', 0, n)}`);
    const reply = Buffer.from(`you are ${text}`);
    await sendto(fd, reply, reply.length, 0, peer!);
  }
  close(fd);
}

async function client(addr: Sockaddr, nclients: number): Promise<void> {
  const fds: number[] = [];
  for (let i = 0; i < nclients; i++) {
    fds[i] = socket(addr.family, SOCK_DGRAM, 0);
  }
  const buf = Buffer.alloc(1500);
  for (let i = 0; i < nclients; i++) {
    const msg = Buffer.from(`hello from client ${i}`);
    await sendto(fds[i], msg, msg.length, 0, addr);
  }
  for (let i = 0; i < nclients; i++) {
    const pfd = [{ fd: fds[i], events: POLLIN }];
    const ready = await poll(pfd, 5000);
    if (ready === 0) {
      console.error('demux-udp: no reply within 5 s');
      process.exit(1);
    }
    const { nbytes: n } = await recvfrom(fds[i], buf, buf.length, 0);
    // sendto() bound the socket to a port the kernel picked, on the
    // wildcard address (the route gives each datagram its source): ask.
    const local = getsockname(fds[i]);
    console.log(`client ${i} at ${addrText(local)} got: ${buf.toString('utf8', 0, n)}`);
  }
  for (let i = 0; i < nclients; i++) close(fds[i]);
}

async function main(argv: string[]): Promise<void> {
  if (argv.length !== 4 || (argv[0] !== 'server' && argv[0] !== 'client') || (argv[0] === 'client' && Number(argv[3]) > MAXCLIENTS)) {
    console.error('usage: demux-udp server HOST PORT MAXMSG | demux-udp client HOST PORT NCLIENTS (at most 64)');
    process.exitCode = 2;
    return;
  }
  const addr = inetAddr(argv[1], Number(argv[2]));
  if (argv[0] === 'server') await server(addr, Number(argv[3]));
  else await client(addr, Number(argv[3]));
}

main(process.argv.slice(2)).catch(die);
