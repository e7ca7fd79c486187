// The bsd-sockets servers of `npm run bench`, one per workload and mode:
//   node bsd.cjs WORKLOAD MODE    WORKLOAD: pingpong|echo|bulk|udp|connrate|noop
//                                 MODE: sync (*Sync calls), async (Promises on
//                                 the libuv pool), watch (uv_poll_t + non-blocking *Sync)
// Binds 127.0.0.1 port 0, prints the port, serves until killed (120 s at most).
'use strict';
const b = require('bsd-sockets');
require('./control.cjs');

const { AF_INET, SOCK_STREAM, SOCK_DGRAM, SOCK_NONBLOCK, POLLIN, IPPROTO_TCP, TCP_NODELAY } = b;
const [workload, mode] = process.argv.slice(2);
setTimeout(() => process.exit(0), 120_000).unref();

function bound(type) {
  const fd = b.socket(AF_INET, type | (mode === 'watch' ? SOCK_NONBLOCK : 0), 0);
  b.setsockopt(fd, b.SOL_SOCKET, b.SO_REUSEADDR, 1);
  b.bind(fd, { family: AF_INET, address: '127.0.0.1', port: 0 });
  if (type === SOCK_STREAM) b.listen(fd, 4096);
  process.stdout.write(`${b.getsockname(fd).port}\n`);
  return fd;
}

const buf = Buffer.alloc(65536);

// Calls fn until it returns false (one call per readiness) or fails with
// EAGAIN (a non-blocking fd drained).
function drain(fn) {
  for (;;) {
    try {
      if (fn() === false) return;
    } catch (err) {
      if (err.code === 'EAGAIN') return;
      throw err;
    }
  }
}

// A TCP echo server for the ping-pong and 1,000-connection workloads.
async function echo() {
  const lfd = bound(SOCK_STREAM);
  if (mode === 'sync') {
    for (;;) {
      const { fd } = b.acceptSync(lfd);
      b.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
      for (let n; (n = b.readSync(fd, buf)) > 0; ) b.writeSync(fd, buf, n);
      b.close(fd);
    }
  }
  if (mode === 'async' && workload === 'pingpong') {
    for (;;) {
      const { fd } = await b.accept(lfd);
      b.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
      (async () => {
        const own = Buffer.alloc(65536);
        for (let n; (n = await b.read(fd, own)) > 0; ) await b.write(fd, own, n);
        b.close(fd);
      })();
    }
  }
  if (mode === 'async') {
    // Many connections: epoll_wait on a worker, non-blocking calls on the loop thread.
    b.fcntl(lfd, b.F_SETFL, b.O_NONBLOCK);
    const ep = b.epoll_create1(0);
    b.epoll_ctl(ep, b.EPOLL_CTL_ADD, lfd, { events: b.EPOLLIN, data: lfd });
    for (;;) {
      for (const { data: fd } of await b.epoll_wait(ep, 256, -1)) {
        if (fd === lfd) {
          drain(() => {
            const c = b.acceptSync(lfd, SOCK_NONBLOCK).fd;
            b.setsockopt(c, IPPROTO_TCP, TCP_NODELAY, 1);
            b.epoll_ctl(ep, b.EPOLL_CTL_ADD, c, { events: b.EPOLLIN, data: c });
          });
        } else if (!echoReady(fd)) {
          b.epoll_ctl(ep, b.EPOLL_CTL_DEL, fd);
          b.close(fd);
        }
      }
    }
  }
  // watch: one read per readiness (level-triggered: it fires again while
  // data remains). One function per connection, made once, not per event
  // (the listener runs only after watch() has returned w).
  b.watch(lfd, POLLIN, () => drain(() => {
    const c = b.acceptSync(lfd, SOCK_NONBLOCK).fd;
    b.setsockopt(c, IPPROTO_TCP, TCP_NODELAY, 1);
    const w = b.watch(c, POLLIN, () => {
      if (echoReady(c)) return;
      w.close();
      b.close(c);
    });
  }));
}

// Echo what a ready non-blocking connection has: false at EOF or an error
// (the caller stops watching it and closes it).
function echoReady(fd) {
  try {
    const n = b.readSync(fd, buf);
    if (n > 0) {
      b.writeSync(fd, buf, n);
      return true;
    }
  } catch (err) {
    if (err.code === 'EAGAIN') return true;
  }
  return false;
}

async function bulk() {
  const lfd = bound(SOCK_STREAM);
  for (;;) {
    if (mode === 'watch') {
      // One read per readiness: the watch is level-triggered, so it fires
      // again while data remains (no EAGAIN exception to end a drain loop).
      await new Promise((resolve) => {
        const lw = b.watch(lfd, POLLIN, () => drain(() => {
          const c = b.acceptSync(lfd, SOCK_NONBLOCK).fd;
          lw.close();
          const w = b.watch(c, POLLIN, () => drain(() => {
            if (b.readSync(c, buf) > 0) return false;
            w.close();
            b.writeSync(c, Buffer.from('!'));
            b.close(c);
            resolve();
            return false;
          }));
          return false;
        }));
      });
      continue;
    }
    const { fd } = mode === 'sync' ? b.acceptSync(lfd) : await b.accept(lfd);
    if (mode === 'sync') while (b.readSync(fd, buf) > 0);
    else while ((await b.read(fd, buf)) > 0);
    b.writeSync(fd, Buffer.from('!'));
    b.close(fd);
  }
}

async function udp() {
  const fd = bound(SOCK_DGRAM);
  if (mode === 'sync') {
    for (;;) {
      const { nbytes, addr } = b.recvfromSync(fd, buf, buf.length, 0);
      b.sendtoSync(fd, buf, nbytes, 0, addr);
    }
  }
  if (mode === 'async') {
    for (;;) {
      const { nbytes, addr } = await b.recvfrom(fd, buf, buf.length, 0);
      await b.sendto(fd, buf, nbytes, 0, addr);
    }
  }
  // One datagram per readiness (level-triggered: it fires again for the next).
  const echoOne = () => {
    const { nbytes, addr } = b.recvfromSync(fd, buf, buf.length, 0);
    b.sendtoSync(fd, buf, nbytes, 0, addr);
    return false;
  };
  b.watch(fd, POLLIN, () => drain(echoOne));
}

async function connrate() {
  const lfd = bound(SOCK_STREAM);
  if (mode === 'watch') {
    // One connection per readiness, as for datagrams: draining until EAGAIN
    // would throw once per connection here (one arrives at a time).
    b.watch(lfd, POLLIN, () => drain(() => {
      b.close(b.acceptSync(lfd, SOCK_NONBLOCK).fd);
      return false;
    }));
    return;
  }
  for (;;) b.close(mode === 'sync' ? b.acceptSync(lfd).fd : (await b.accept(lfd)).fd);
}

// The per-call cost of each mode: poll() on no fds with a zero timeout.
async function noop() {
  const n = Number(process.argv[4] ?? 100000);
  const t0 = process.hrtime.bigint();
  if (mode === 'sync') for (let i = 0; i < n; i++) b.pollSync([], 0);
  else for (let i = 0; i < n; i++) await b.poll([], 0);
  console.log(`${(Number(process.hrtime.bigint() - t0) / n).toFixed(1)} ns/call`);
}

const workloads = { pingpong: echo, echo, bulk, udp, connrate, noop };
workloads[workload]().catch((err) => {
  console.error(err);
  process.exit(1);
});
