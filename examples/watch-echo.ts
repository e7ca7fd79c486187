// Mirrors watch-echo.c (whose watch() is a poll(2) stand-in for libuv, in watch.h): an echo server on libuv's poller.
// Usage: npx tsx examples/watch-echo.ts HOST PORT MAXCONN   (clients: tcp-client)
// No worker thread at all: watch() uses libuv's uv_poll_t on the event-loop
// thread, and the ready calls are non-blocking *Sync calls on that thread.
import {
  POLLIN, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SOMAXCONN, SO_REUSEADDR, type Sockaddr, type SocketError, type Watcher,
  acceptSync, bind, close, getsockname, listen, readSync, setsockopt, socket, watch, writeSync,
} from 'bsd-sockets';
import { addrText, die, inetAddr } from './common';

let maxconn = 0;
let accepted = 0;
let clients = 0;
let total = 0;
const buf = Buffer.alloc(4096);

// C keeps its callbacks by fd in watch.h; here watch() returns a handle to close.
const watchers = new Map<number, Watcher>();
function unwatch(fd: number): void {
  watchers.get(fd)?.close();
  watchers.delete(fd);
}

function onClient(fd: number): void {
  let n: number;
  try {
    n = readSync(fd, buf, buf.length);
  } catch (err) {
    if ((err as SocketError).code === 'EAGAIN') return; // Not ready after all.
    throw err;
  }
  if (n === 0) { // The client closed its end.
    unwatch(fd);
    close(fd);
    clients--;
    if (accepted === maxconn && clients === 0) console.log(`served ${accepted} connections, echoed ${total} bytes`);
    return;
  }
  // Small echoes fit the send buffer; a real server would keep the rest
  // and watch for POLLOUT.
  writeSync(fd, buf, n);
  total += n;
}

function onListener(fd: number): void {
  let conn: number;
  let peer: Sockaddr | null;
  try {
    ({ fd: conn, addr: peer } = acceptSync(fd, SOCK_NONBLOCK)); // accept4(fd, …, SOCK_NONBLOCK)
  } catch (err) {
    if ((err as SocketError).code === 'EAGAIN') return;
    throw err;
  }
  console.log(`connection from ${addrText(peer)}`);
  watchers.set(conn, watch(conn, POLLIN, (err) => {
    if (err) throw err;
    onClient(conn);
  }));
  clients++;
  if (++accepted === maxconn) {
    unwatch(fd);
    close(fd);
  }
}

function main(argv: string[]): void {
  if (argv.length !== 3 || !(Number(argv[2]) >= 1)) {
    console.error('usage: watch-echo HOST PORT MAXCONN');
    process.exitCode = 2;
    return;
  }
  const addr = inetAddr(argv[0], Number(argv[1]));
  maxconn = Number(argv[2]);

  const listener = socket(addr.family, SOCK_STREAM, 0);
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, 1);
  bind(listener, addr);
  listen(listener, SOMAXCONN);
  console.log(`listening on ${addrText(getsockname(listener))}`);

  watchers.set(listener, watch(listener, POLLIN, (err) => {
    if (err) throw err;
    onListener(listener);
  }));
  // The event loop is Node's own: it runs the callbacks once main() returns,
  // and the process exits when nothing is watched any more.
}

try {
  main(process.argv.slice(2));
} catch (err) {
  die(err);
}
