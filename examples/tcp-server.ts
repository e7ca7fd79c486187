// Mirrors tcp-server.c: an iterative TCP echo server (socket → bind → listen → accept → read/write).
// Usage: npx tsx examples/tcp-server.ts HOST PORT MAXCONN   (HOST numeric; PORT 0: the kernel picks)
import {
  SOCK_STREAM, SOL_SOCKET, SOMAXCONN, SO_REUSEADDR,
  accept, bind, close, getsockname, listen, read, setsockopt, socket, write,
} from 'bsd-sockets';
import { addrText, die, inetAddr } from './common';

async function main(argv: string[]): Promise<void> {
  if (argv.length !== 3) {
    console.error('usage: tcp-server HOST PORT MAXCONN');
    process.exitCode = 2;
    return;
  }
  // No SIGPIPE to ignore: a write to a gone peer fails with EPIPE.
  const addr = inetAddr(argv[0], Number(argv[1]));
  const maxconn = Number(argv[2]);

  const fd = socket(addr.family, SOCK_STREAM, 0); // Errors throw: no -1 to check.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  bind(fd, addr);
  listen(fd, SOMAXCONN);
  console.log(`listening on ${addrText(getsockname(fd))}`);

  for (let i = 0; i < maxconn; i++) {
    const { fd: conn, addr: peer } = await accept(fd);
    const text = addrText(peer);
    console.log(`connection from ${text}`);
    const buf = Buffer.alloc(4096);
    let n: number;
    let total = 0;
    while ((n = await read(conn, buf, buf.length)) > 0) {
      await write(conn, buf, n);
      total += n;
    }
    console.log(`echoed ${total} bytes to ${text}`);
    close(conn);
  }
  close(fd);
}

main(process.argv.slice(2)).catch(die);
