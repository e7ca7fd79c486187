// Mirrors poll-echo.c: a single-threaded TCP echo server on poll(2); `await poll` waits on one worker, the ready calls are *Sync.
// Usage: npx tsx examples/poll-echo.ts HOST PORT MAXCONN   (clients: tcp-client)
import {
  POLLIN, SOCK_STREAM, SOL_SOCKET, SOMAXCONN, SO_REUSEADDR, type PollFd,
  acceptSync, bind, close, getsockname, listen, poll, readSync, setsockopt, socket, writeSync,
} from 'bsd-sockets';
import { addrText, die, inetAddr } from './common';

async function main(argv: string[]): Promise<void> {
  if (argv.length !== 3 || !(Number(argv[2]) >= 1 && Number(argv[2]) <= 1000)) {
    console.error('usage: poll-echo HOST PORT MAXCONN (1 to 1000)');
    process.exitCode = 2;
    return;
  }
  const addr = inetAddr(argv[0], Number(argv[1]));
  const maxconn = Number(argv[2]);

  const listener = socket(addr.family, SOCK_STREAM, 0);
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, 1);
  bind(listener, addr);
  listen(listener, SOMAXCONN);
  console.log(`listening on ${addrText(getsockname(listener))}`);

  const fds: PollFd[] = [{ fd: listener, events: POLLIN }]; // fds[0]: the listener; then clients.
  let accepted = 0;
  let total = 0;
  const buf = Buffer.alloc(4096);
  while (fds.length > 1 || accepted < maxconn) {
    // One worker thread waits on every fd; the event loop stays free meanwhile.
    const ready = await poll(fds, 10000);
    if (ready === 0) {
      console.error('poll-echo: idle for 10 s, giving up');
      process.exit(1);
    }
    // Backwards, so that moving the last entry into a freed slot is safe.
    for (let i = fds.length - 1; i >= 0; i--) {
      if (fds[i].revents === 0) continue;
      // poll() said ready: these calls return at once, so *Sync, on this thread, as in C.
      if (fds[i].fd === listener) {
        const { fd: conn, addr: peer } = acceptSync(listener);
        console.log(`connection from ${addrText(peer)}`);
        fds.push({ fd: conn, events: POLLIN, revents: 0 });
        if (++accepted === maxconn) {
          close(listener);
          fds[0].fd = -1; // poll() skips a negative fd.
        }
      } else {
        const n = readSync(fds[i].fd, buf, buf.length);
        if (n === 0) { // The client closed its end.
          close(fds[i].fd);
          fds[i] = fds[fds.length - 1];
          fds.pop();
        } else {
          writeSync(fds[i].fd, buf, n);
          total += n;
        }
      }
    }
  }
  console.log(`served ${accepted} connections, echoed ${total} bytes`);
}

main(process.argv.slice(2)).catch(die);
