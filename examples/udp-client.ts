// Mirrors udp-client.c: a UDP client (socket → sendto → poll with a timeout → recvfrom, per MESSAGE).
// Usage: npx tsx examples/udp-client.ts HOST PORT MESSAGE...   (HOST numeric: 127.0.0.1, ::1)
import { POLLIN, SOCK_DGRAM, close, poll, recvfrom, sendto, socket } from 'bsd-sockets';
import { addrText, die, inetAddr } from './common';

async function main(argv: string[]): Promise<void> {
  if (argv.length < 3) {
    console.error('usage: udp-client HOST PORT MESSAGE...');
    process.exitCode = 2;
    return;
  }
  const server = inetAddr(argv[0], Number(argv[1]));

  const fd = socket(server.family, SOCK_DGRAM, 0);
  const buf = Buffer.alloc(65536);
  for (const text of argv.slice(2)) {
    const msg = Buffer.from(text);
    await sendto(fd, msg, msg.length, 0, server);
    const pfd = [{ fd, events: POLLIN }]; // struct pollfd: poll() sets pfd[0].revents.
    const ready = await poll(pfd, 5000);
    if (ready === 0) {
      console.error('udp-client: no reply within 5 s');
      process.exit(1);
    }
    const { nbytes: n, addr: from } = await recvfrom(fd, buf, buf.length, 0);
    console.log(`reply of ${n} bytes from ${addrText(from)}: ${buf.toString('utf8', 0, n)}`);
  }
  close(fd);
}

main(process.argv.slice(2)).catch(die);
