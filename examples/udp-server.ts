// Mirrors udp-server.c: a UDP echo server (socket → bind → recvfrom/sendto), MAXMSG datagrams.
// Usage: npx tsx examples/udp-server.ts HOST PORT MAXMSG   (HOST numeric; PORT 0: the kernel picks)
import { SOCK_DGRAM, bind, close, getsockname, recvfrom, sendto, socket } from 'bsd-sockets';
import { addrText, die, inetAddr } from './common';

async function main(argv: string[]): Promise<void> {
  if (argv.length !== 3) {
    console.error('usage: udp-server HOST PORT MAXMSG');
    process.exitCode = 2;
    return;
  }
  const addr = inetAddr(argv[0], Number(argv[1]));
  const maxmsg = Number(argv[2]);

  const fd = socket(addr.family, SOCK_DGRAM, 0);
  bind(fd, addr);
  console.log(`listening on ${addrText(getsockname(fd))}`);

  const buf = Buffer.alloc(65536);
  for (let i = 0; i < maxmsg; i++) {
    // recvfrom's address out-parameter comes back as an object beside the count.
    const { nbytes: n, addr: peer } = await recvfrom(fd, buf, buf.length, 0);
    console.log(`received ${n} bytes from ${addrText(peer)}: ${buf.toString('utf8', 0, n)}`);
    await sendto(fd, buf, n, 0, peer!); // A UDP datagram always has a source address.
  }
  close(fd);
}

main(process.argv.slice(2)).catch(die);
