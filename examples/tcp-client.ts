// Mirrors tcp-client.c: a TCP client (socket → connect → write → shutdown → read until EOF).
// Usage: npx tsx examples/tcp-client.ts HOST PORT MESSAGE   (HOST numeric: 127.0.0.1, ::1)
import { SHUT_WR, SOCK_STREAM, close, connect, getsockname, read, shutdown, socket, write } from 'bsd-sockets';
import { addrText, die, inetAddr } from './common';

async function main(argv: string[]): Promise<void> {
  if (argv.length !== 3) {
    console.error('usage: tcp-client HOST PORT MESSAGE');
    process.exitCode = 2;
    return;
  }
  const server = inetAddr(argv[0], Number(argv[1]));
  const msg = Buffer.from(argv[2]);

  const fd = socket(server.family, SOCK_STREAM, 0);
  await connect(fd, server);
  const local = getsockname(fd);
  console.log(`connected to ${addrText(server)} from ${addrText(local)}`);

  let n = await write(fd, msg, msg.length);
  console.log(`sent ${n} bytes`);
  // Half-close: the server reads end-of-stream, echoes the rest, closes.
  shutdown(fd, SHUT_WR);

  const buf = Buffer.alloc(65536);
  let total = 0;
  while ((n = await read(fd, buf.subarray(total), buf.length - total)) > 0) total += n;
  console.log(`received ${total} bytes: ${buf.toString('utf8', 0, total)}`);
  close(fd);
}

main(process.argv.slice(2)).catch(die);
