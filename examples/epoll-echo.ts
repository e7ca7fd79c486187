// Mirrors epoll-echo.c: a single-threaded TCP echo server on epoll(7) (Linux); `await epoll_wait`, the ready calls *Sync.
// Usage: npx tsx examples/epoll-echo.ts HOST PORT MAXCONN   (clients: tcp-client)
import {
  EPOLLIN, EPOLL_CTL_ADD, SOCK_STREAM, SOL_SOCKET, SOMAXCONN, SO_REUSEADDR,
  acceptSync, bind, close, epoll_create1, epoll_ctl, epoll_wait, getsockname, listen, readSync, setsockopt,
  socket, writeSync,
} from 'bsd-sockets';
import { addrText, die, inetAddr } from './common';

const MAXEVENTS = 64;

async function main(argv: string[]): Promise<void> {
  if (argv.length !== 3 || !(Number(argv[2]) >= 1)) {
    console.error('usage: epoll-echo HOST PORT MAXCONN');
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

  const epfd = epoll_create1(0);
  // data is ours to choose: the fd itself, to know which socket is ready.
  epoll_ctl(epfd, EPOLL_CTL_ADD, listener, { events: EPOLLIN, data: listener });
  let clients = 0;
  let accepted = 0;
  let total = 0;
  const buf = Buffer.alloc(4096);
  while (clients > 0 || accepted < maxconn) {
    // One worker thread waits in epoll_wait(); the ready list comes back as an array.
    const events = await epoll_wait(epfd, MAXEVENTS, 10000);
    if (events.length === 0) {
      console.error('epoll-echo: idle for 10 s, giving up');
      process.exit(1);
    }
    for (let i = 0; i < events.length; i++) {
      const fd = events[i].data;
      if (fd === listener) {
        const { fd: conn, addr: peer } = acceptSync(listener);
        console.log(`connection from ${addrText(peer)}`);
        epoll_ctl(epfd, EPOLL_CTL_ADD, conn, { events: EPOLLIN, data: conn });
        clients++;
        if (++accepted === maxconn) close(listener);
      } else {
        const n = readSync(fd, buf, buf.length);
        if (n === 0) { // The client closed its end.
          close(fd);
          clients--;
        } else {
          writeSync(fd, buf, n);
          total += n;
        }
      }
    }
  }
  close(epfd);
  console.log(`served ${accepted} connections, echoed ${total} bytes`);
}

main(process.argv.slice(2)).catch(die);
