// Mirrors udp-pktinfo.c: a UDP echo server that sees each datagram's destination address and interface (IP_PKTINFO) and replies from it.
// Usage: npx tsx examples/udp-pktinfo.ts HOST PORT MAXMSG   (HOST numeric; PORT 0: the kernel picks)
import {
  AF_INET6, type CmsgInput, IPPROTO_IP, IPPROTO_IPV6, IPV6_PKTINFO, IPV6_RECVPKTINFO, IP_PKTINFO, type InPktinfo,
  SOCK_DGRAM, bind, close, getsockname, recvmsg, sendmsg, setsockopt, socket,
} from 'bsd-sockets';
import { addrText, die, inetAddr } from './common';

async function main(argv: string[]): Promise<void> {
  if (argv.length !== 3) {
    console.error('usage: udp-pktinfo HOST PORT MAXMSG');
    process.exitCode = 2;
    return;
  }
  const addr = inetAddr(argv[0], Number(argv[1]));
  const maxmsg = Number(argv[2]);
  const v6 = addr.family === AF_INET6;

  const fd = socket(addr.family, SOCK_DGRAM, 0);
  if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
  else setsockopt(fd, IPPROTO_IP, IP_PKTINFO, 1);
  bind(fd, addr);
  console.log(`listening on ${addrText(getsockname(fd))}`);

  const buf = Buffer.alloc(65536);
  for (let i = 0; i < maxmsg; i++) {
    // The default control buffer has room for a pktinfo.
    const { nbytes: n, addr: peer, control } = await recvmsg(fd, { iov: [buf] }, 0);
    let dst = '?';
    let ifindex = 0;
    for (const c of control) {
      if ((c.level === IPPROTO_IP && c.type === IP_PKTINFO) || (c.level === IPPROTO_IPV6 && c.type === IPV6_PKTINFO)) {
        ({ address: dst, ifindex } = c.data as InPktinfo);
      }
    }
    console.log(`datagram of ${n} bytes from ${addrText(peer)} to ${dst} on ifindex ${ifindex}: ${buf.toString('utf8', 0, n)}`);

    // The reply leaves from the address the datagram came to, on the same
    // interface: the same control message, turned around.
    const pktinfo: CmsgInput = v6
      ? { level: IPPROTO_IPV6, type: IPV6_PKTINFO, data: { ifindex, address: dst } }
      : { level: IPPROTO_IP, type: IP_PKTINFO, data: { ifindex, specDst: dst } };
    await sendmsg(fd, { iov: [buf.subarray(0, n)], name: peer!, control: [pktinfo] }, 0);
  }
  close(fd);
}

main(process.argv.slice(2)).catch(die);
