// Non-blocking sockets, as in C: SOCK_NONBLOCK at socket()/accept4(),
// fcntl(F_SETFL, O_NONBLOCK); *Sync calls and their async twins fail at once
// with EAGAIN on a non-blocking fd ("the fd's own mode decides"); a
// non-blocking connect gives EINPROGRESS and its outcome is read with
// getsockopt(SO_ERROR) after poll() reports POLLOUT.
import * as os from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_UNIX, FD_CLOEXEC, F_GETFD, F_GETFL, F_SETFL, MSG_DONTWAIT, O_NONBLOCK,
  POLLERR, POLLHUP, POLLIN, POLLOUT, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_ERROR,
  type PollFd, type Sockaddr, SocketError,
  accept, acceptSync, bind, close, connect, connectSync, fcntl, getpeername, getsockname, getsockopt,
  poll, pollSync, read, readSync, recv, recvSync, recvfrom, recvfromSync, send, sendSync,
  socket, socketpair, threadpool, write, writeSync,
} from '../lib/index';
import { openFds, sleep } from './helpers/fds';
import {
  FAMILIES, type Family, anyAddr, closeAll, domainOf, listener, refusedPort, tcpPair, track, udpPair,
} from './helpers/pairs';
import { sysError } from './helpers/errors';

const E = os.constants.errno;
/** How long a call that must not block may take (generous for a loaded CI machine). */
const FAST_MS = 200;


/** Awaits p, which must reject with a SocketError, and returns it. */
async function asyncError(p: Promise<unknown>): Promise<SocketError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SocketError);
    return err as SocketError;
  }
  return expect.fail('expected the promise to reject with a SocketError');
}

/** The fields of an EAGAIN SocketError from `syscall`. */
function eagain(syscall: string): Record<string, unknown> {
  return { name: 'SocketError', code: 'EAGAIN', errno: E.EAGAIN, syscall, message: `${syscall} EAGAIN` };
}

function isNonBlocking(fd: number): boolean {
  return (fcntl(fd, F_GETFL) & O_NONBLOCK) === O_NONBLOCK;
}

/** Times a synchronous call in ms. */
function timed<T>(fn: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t0 };
}

/** A connected stream pair whose both ends are non-blocking. */
function nbPair(family: Family): { client: number; server: number } {
  const { client, server } = tcpPair(family);
  fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK);
  fcntl(server, F_SETFL, fcntl(server, F_GETFL) | O_NONBLOCK);
  return { client, server };
}

/** Occupies every libuv pool thread once so each has created its wake-up fd before the fd baseline. */
async function warmPool(): Promise<void> {
  const [a, b] = socketpair(AF_UNIX, SOCK_STREAM);
  await Promise.all(Array.from({ length: threadpool().size }, () => poll([{ fd: a, events: POLLIN }], 30)));
  close(a);
  close(b);
}

let baseline: number[];

beforeAll(async () => {
  await warmPool();
  baseline = openFds();
});

afterEach(() => {
  closeAll();
  expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
});

afterAll(() => {
  expect(openFds()).toEqual(baseline);
});

describe('socket(2) with SOCK_NONBLOCK', () => {
  it.each(FAMILIES)('%s stream: O_NONBLOCK is set in F_GETFL, and close-on-exec is kept', (family) => {
    const fd = track(socket(domainOf(family), SOCK_STREAM | SOCK_NONBLOCK, 0));
    expect(fcntl(fd, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
    expect(fcntl(fd, F_GETFD)).toBe(FD_CLOEXEC);
  });

  it.each(FAMILIES)('%s datagram: O_NONBLOCK is set in F_GETFL', (family) => {
    const fd = track(socket(domainOf(family), SOCK_DGRAM | SOCK_NONBLOCK, 0));
    expect(fcntl(fd, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
  });

  it.each(FAMILIES)('%s: a socket created without SOCK_NONBLOCK is blocking', (family) => {
    const fd = track(socket(domainOf(family), SOCK_STREAM, 0));
    expect(fcntl(fd, F_GETFL) & O_NONBLOCK).toBe(0);
  });

  it('socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK) makes both ends non-blocking', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK).map(track);
    expect(isNonBlocking(a)).toBe(true);
    expect(isNonBlocking(b)).toBe(true);
  });
});

describe('accept4(2) flags', () => {
  describe.each(FAMILIES)('%s', (family) => {
    it('acceptSync(fd, SOCK_NONBLOCK) returns a non-blocking, close-on-exec fd', () => {
      const l = listener(family);
      const c = track(socket(domainOf(family), SOCK_STREAM, 0));
      connectSync(c, l.addr);
      const { fd } = acceptSync(l.fd, SOCK_NONBLOCK);
      track(fd);
      expect(fcntl(fd, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
      expect(fcntl(fd, F_GETFD)).toBe(FD_CLOEXEC);
      // It is a real, connected non-blocking socket: empty -> EAGAIN, then the data.
      expect(sysError(() => readSync(fd, Buffer.alloc(8)))).toMatchObject(eagain('read'));
      expect(writeSync(c, Buffer.from('abc'))).toBe(3);
      const buf = Buffer.alloc(8);
      expect(readSync(fd, buf)).toBe(3);
      expect(buf.toString('latin1', 0, 3)).toBe('abc');
    });

    it('accept(fd, { flags: SOCK_NONBLOCK }) returns a non-blocking, close-on-exec fd', async () => {
      const l = listener(family);
      const c = track(socket(domainOf(family), SOCK_STREAM, 0));
      connectSync(c, l.addr);
      const { fd } = await accept(l.fd, { flags: SOCK_NONBLOCK });
      track(fd);
      expect(fcntl(fd, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
      expect(fcntl(fd, F_GETFD)).toBe(FD_CLOEXEC);
      expect(sysError(() => readSync(fd, Buffer.alloc(8)))).toMatchObject(eagain('read'));
    });

    it('without flags the accepted fd is blocking, even from a non-blocking listener (Linux does not inherit O_NONBLOCK)', async () => {
      const l = listener(family);
      fcntl(l.fd, F_SETFL, fcntl(l.fd, F_GETFL) | O_NONBLOCK);
      const c1 = track(socket(domainOf(family), SOCK_STREAM, 0));
      const c2 = track(socket(domainOf(family), SOCK_STREAM, 0));
      connectSync(c1, l.addr);
      connectSync(c2, l.addr);
      const a1 = track(acceptSync(l.fd).fd);
      const a2 = track((await accept(l.fd)).fd);
      expect(fcntl(a1, F_GETFL) & O_NONBLOCK).toBe(0);
      expect(fcntl(a2, F_GETFL) & O_NONBLOCK).toBe(0);
    });
  });
});

describe('fcntl(2) F_SETFL O_NONBLOCK', () => {
  it('sets and clears O_NONBLOCK, returning 0, without touching FD_CLOEXEC (a descriptor flag)', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    const before = fcntl(fd, F_GETFL);
    expect(before & O_NONBLOCK).toBe(0);
    expect(fcntl(fd, F_SETFL, before | O_NONBLOCK)).toBe(0);
    expect(fcntl(fd, F_GETFL)).toBe(before | O_NONBLOCK);
    expect(fcntl(fd, F_GETFD)).toBe(FD_CLOEXEC);
    expect(fcntl(fd, F_SETFL, before)).toBe(0);
    expect(fcntl(fd, F_GETFL)).toBe(before);
    expect(fcntl(fd, F_GETFD)).toBe(FD_CLOEXEC);
  });

  it('readSync fails with EAGAIN once O_NONBLOCK is set on a blocking socket', () => {
    const { server } = tcpPair('ipv4');
    fcntl(server, F_SETFL, fcntl(server, F_GETFL) | O_NONBLOCK);
    const { value: err, ms } = timed(() => sysError(() => readSync(server, Buffer.alloc(16))));
    expect(err).toMatchObject(eagain('read'));
    expect(ms).toBeLessThan(FAST_MS);
  });

  it('after clearing O_NONBLOCK the async read waits for data again', async () => {
    const { client, server } = tcpPair('ipv4');
    const flags = fcntl(server, F_GETFL);
    fcntl(server, F_SETFL, flags | O_NONBLOCK);
    expect((await asyncError(read(server, Buffer.alloc(4))))).toMatchObject(eagain('read'));
    fcntl(server, F_SETFL, flags & ~O_NONBLOCK);
    const buf = Buffer.alloc(16);
    let settled = false;
    const pending = read(server, buf).finally(() => {
      settled = true;
    });
    await sleep(100);
    expect(settled).toBe(false);
    expect(threadpool().busy).toBe(1);
    expect(writeSync(client, Buffer.from('later'))).toBe(5);
    expect(await pending).toBe(5);
    expect(buf.toString('latin1', 0, 5)).toBe('later');
  });
});

describe('*Sync calls on a non-blocking socket fail fast with EAGAIN', () => {
  describe.each(FAMILIES)('%s stream', (family) => {
    it('readSync(2) on an empty socket', () => {
      const { server } = nbPair(family);
      const { value: err, ms } = timed(() => sysError(() => readSync(server, Buffer.alloc(16))));
      expect(err).toMatchObject(eagain('read'));
      expect(ms).toBeLessThan(FAST_MS);
    });

    it('recvSync(2) on an empty socket', () => {
      const { server } = nbPair(family);
      const { value: err, ms } = timed(() => sysError(() => recvSync(server, Buffer.alloc(16), 16, 0)));
      expect(err).toMatchObject(eagain('recv'));
      expect(ms).toBeLessThan(FAST_MS);
    });

    it('recvfromSync(2) on an empty socket', () => {
      const { server } = nbPair(family);
      const { value: err, ms } = timed(() => sysError(() => recvfromSync(server, Buffer.alloc(16), 16, 0)));
      expect(err).toMatchObject(eagain('recvfrom'));
      expect(ms).toBeLessThan(FAST_MS);
    });

    it('acceptSync(2) on a listener with no pending connection', () => {
      const l = listener(family);
      fcntl(l.fd, F_SETFL, fcntl(l.fd, F_GETFL) | O_NONBLOCK);
      const { value: err, ms } = timed(() => sysError(() => acceptSync(l.fd)));
      expect(err).toMatchObject(eagain('accept'));
      expect(ms).toBeLessThan(FAST_MS);
    });

    it('the same calls return the bytes that are there, then EAGAIN again', () => {
      const { client, server } = nbPair(family);
      expect(writeSync(client, Buffer.from('0123456789'))).toBe(10);
      // Loopback delivery is synchronous with the write.
      const buf = Buffer.alloc(4);
      expect(readSync(server, buf)).toBe(4);
      expect(buf.toString('latin1')).toBe('0123');
      expect(recvSync(server, buf, 4, 0)).toBe(4);
      expect(buf.toString('latin1')).toBe('4567');
      const from = recvfromSync(server, buf, 4, 0);
      expect(from.nbytes).toBe(2);
      expect(buf.toString('latin1', 0, 2)).toBe('89');
      expect(sysError(() => readSync(server, buf))).toMatchObject(eagain('read'));
    });
  });

  describe.each(FAMILIES)('%s datagram', (family) => {
    it('recvfromSync(2) and recvSync(2) on an empty socket, then the datagram and its source', () => {
      const { a, b, addrA, addrB } = udpPair(family);
      fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK);
      const buf = Buffer.alloc(32);
      expect(sysError(() => recvfromSync(b, buf, 32, 0))).toMatchObject(eagain('recvfrom'));
      expect(sysError(() => recvSync(b, buf, 32, 0))).toMatchObject(eagain('recv'));
      expect(sysError(() => readSync(b, buf))).toMatchObject(eagain('read'));
      connectSync(a, addrB);
      expect(writeSync(a, Buffer.from('dgram'))).toBe(5);
      const r = recvfromSync(b, buf, 32, 0);
      expect(r.nbytes).toBe(5);
      expect(buf.toString('latin1', 0, 5)).toBe('dgram');
      expect(r.addr).toEqual(addrA);
      expect(sysError(() => recvfromSync(b, buf, 32, 0))).toMatchObject(eagain('recvfrom'));
    });
  });

  it('writeSync(2) and sendSync(2) fail with EAGAIN once the send buffer is full, and every byte written arrives', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK).map(track);
    const chunk = Buffer.alloc(65536, 0x5a);
    let written = 0;
    let err: SocketError | undefined;
    for (let i = 0; i < 10_000 && err === undefined; i++) {
      try {
        written += writeSync(a, chunk);
      } catch (e) {
        err = e as SocketError;
      }
    }
    expect(err).toMatchObject(eagain('write'));
    // Top up with single bytes (a large write may fit partly) until even one byte does not fit.
    err = undefined;
    for (let i = 0; i < 100_000 && err === undefined; i++) {
      try {
        written += writeSync(a, chunk, 1);
      } catch (e) {
        err = e as SocketError;
      }
    }
    expect(err).toMatchObject(eagain('write'));
    expect(written).toBeGreaterThan(0);
    const { value: e2, ms } = timed(() => sysError(() => sendSync(a, chunk, 1, 0)));
    expect(e2).toMatchObject(eagain('send'));
    expect(ms).toBeLessThan(FAST_MS);
    // Drain: exactly the bytes written, all 0x5a, then EAGAIN.
    const buf = Buffer.alloc(65536);
    let got = 0;
    let bad = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(b, buf);
      } catch (e) {
        expect(e).toMatchObject(eagain('read'));
        break;
      }
      for (let i = 0; i < n; i++) if (buf[i] !== 0x5a) bad++;
      got += n;
    }
    expect(got).toBe(written);
    expect(bad).toBe(0);
  });

  it('recvSync with MSG_DONTWAIT fails with EAGAIN on a blocking socket (per-call non-blocking)', () => {
    const { server } = tcpPair('ipv4');
    expect(fcntl(server, F_GETFL) & O_NONBLOCK).toBe(0);
    const { value: err, ms } = timed(() => sysError(() => recvSync(server, Buffer.alloc(8), 8, MSG_DONTWAIT)));
    expect(err).toMatchObject(eagain('recv'));
    expect(ms).toBeLessThan(FAST_MS);
    // The fd itself stays blocking.
    expect(fcntl(server, F_GETFL) & O_NONBLOCK).toBe(0);
  });
});

describe('async calls on a non-blocking socket fail at once with EAGAIN (the fd\'s own mode decides)', () => {
  /** Awaits an async call that must reject with EAGAIN quickly, without keeping a worker. */
  async function fastEagain(p: Promise<unknown>, syscall: string): Promise<void> {
    const t0 = performance.now();
    const err = await asyncError(p);
    expect(err).toMatchObject(eagain(syscall));
    expect(performance.now() - t0).toBeLessThan(FAST_MS);
    expect(threadpool().busy).toBe(0);
  }

  describe.each(FAMILIES)('%s', (family) => {
    it('read()', async () => {
      const { server } = nbPair(family);
      await fastEagain(read(server, Buffer.alloc(16)), 'read');
    });

    it('recv()', async () => {
      const { server } = nbPair(family);
      await fastEagain(recv(server, Buffer.alloc(16), 16, 0), 'recv');
    });

    it('recvfrom() on a stream and on a datagram socket', async () => {
      const { server } = nbPair(family);
      await fastEagain(recvfrom(server, Buffer.alloc(16), 16, 0), 'recvfrom');
      const b = track(socket(domainOf(family), SOCK_DGRAM | SOCK_NONBLOCK, 0));
      bind(b, anyAddr(family));
      await fastEagain(recvfrom(b, Buffer.alloc(16), 16, 0), 'recvfrom');
    });

    it('accept() on a listener with no pending connection', async () => {
      const l = listener(family);
      fcntl(l.fd, F_SETFL, fcntl(l.fd, F_GETFL) | O_NONBLOCK);
      await fastEagain(accept(l.fd), 'accept');
      await fastEagain(accept(l.fd, { flags: SOCK_NONBLOCK, timeout: 5000 }), 'accept');
    });

    it('read() resolves at once when data is already there', async () => {
      const { client, server } = nbPair(family);
      expect(writeSync(client, Buffer.from('ready'))).toBe(5);
      const buf = Buffer.alloc(16);
      expect(await read(server, buf)).toBe(5);
      expect(buf.toString('latin1', 0, 5)).toBe('ready');
      await fastEagain(read(server, buf), 'read');
    });
  });

  it('write() and send() on a full non-blocking socket', async () => {
    const [a] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK).map(track);
    const chunk = Buffer.alloc(65536, 1);
    let full = false;
    for (let i = 0; i < 10_000 && !full; i++) {
      try {
        writeSync(a, chunk);
      } catch {
        full = true;
      }
    }
    full = false;
    for (let i = 0; i < 100_000 && !full; i++) {
      try {
        writeSync(a, chunk, 1);
      } catch {
        full = true;
      }
    }
    expect(full).toBe(true);
    await fastEagain(write(a, chunk, 1), 'write');
    await fastEagain(send(a, chunk, 1, 0), 'send');
  });
});

describe('connect(2) on a non-blocking socket', () => {
  describe.each([['ipv4', '127.0.0.1'], ['ipv6', '::1']] as const)('%s', (family, address) => {
    it('connectSync gives EINPROGRESS; pollSync POLLOUT, then SO_ERROR 0 means connected', () => {
      const l = listener(family);
      const port = (l.addr as { port: number }).port;
      const c = track(socket(domainOf(family), SOCK_STREAM | SOCK_NONBLOCK, 0));
      const { value: err, ms } = timed(() => sysError(() => connectSync(c, l.addr)));
      expect(err).toMatchObject({
        code: 'EINPROGRESS', errno: E.EINPROGRESS, syscall: 'connect', address, port,
        message: family === 'ipv4' ? `connect EINPROGRESS ${address}:${port}` : `connect EINPROGRESS [${address}]:${port}`,
      });
      expect(ms).toBeLessThan(FAST_MS);
      const fds: PollFd[] = [{ fd: c, events: POLLOUT }];
      expect(pollSync(fds, 5000)).toBe(1);
      expect(fds[0].revents).toBe(POLLOUT);
      expect(getsockopt(c, SOL_SOCKET, SO_ERROR)).toBe(0);
      expect(getpeername(c)).toEqual(l.addr);
      // Linux: connect() again after the completion reports it (0), and once more gives EISCONN.
      expect(connectSync(c, l.addr)).toBe(0);
      expect(sysError(() => connectSync(c, l.addr))).toMatchObject({ code: 'EISCONN', errno: E.EISCONN, syscall: 'connect' });
      // The connection works both ways.
      const s = track(acceptSync(l.fd).fd);
      expect(getpeername(s)).toEqual(getsockname(c));
      expect(writeSync(c, Buffer.from('nb-hello'))).toBe(8);
      const buf = Buffer.alloc(16);
      expect(readSync(s, buf)).toBe(8);
      expect(buf.toString('latin1', 0, 8)).toBe('nb-hello');
    });

    it('async connect() on a non-blocking fd rejects at once with EINPROGRESS, then completes in the kernel', async () => {
      const l = listener(family);
      const port = (l.addr as { port: number }).port;
      const c = track(socket(domainOf(family), SOCK_STREAM | SOCK_NONBLOCK, 0));
      const t0 = performance.now();
      const err = await asyncError(connect(c, l.addr));
      expect(err).toMatchObject({ code: 'EINPROGRESS', errno: E.EINPROGRESS, syscall: 'connect', address, port });
      expect(performance.now() - t0).toBeLessThan(FAST_MS);
      const fds: PollFd[] = [{ fd: c, events: POLLOUT }];
      expect(await poll(fds, 5000)).toBe(1);
      expect(fds[0].revents).toBe(POLLOUT);
      expect(getsockopt(c, SOL_SOCKET, SO_ERROR)).toBe(0);
    });
  });

  it('to a refused port: EINPROGRESS, POLLOUT|POLLERR|POLLHUP, SO_ERROR is ECONNREFUSED once, then 0', () => {
    const port = refusedPort();
    const addr: Sockaddr = { family: AF_INET, address: '127.0.0.1', port };
    const c = track(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    expect(sysError(() => connectSync(c, addr))).toMatchObject({
      code: 'EINPROGRESS', errno: E.EINPROGRESS, syscall: 'connect', address: '127.0.0.1', port,
    });
    const fds: PollFd[] = [{ fd: c, events: POLLOUT }];
    expect(pollSync(fds, 5000)).toBe(1);
    expect(fds[0].revents).toBe(POLLOUT | POLLERR | POLLHUP);
    expect(getsockopt(c, SOL_SOCKET, SO_ERROR)).toBe(E.ECONNREFUSED);
    // Reading SO_ERROR clears it, as in C.
    expect(getsockopt(c, SOL_SOCKET, SO_ERROR)).toBe(0);
  });

  it('AF_UNIX: completes at once (0) while the backlog has room, EAGAIN once it is full', () => {
    const l = listener('unix', 0);
    const c1 = track(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    expect(connectSync(c1, l.addr)).toBe(0);
    const c2 = track(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    const { value: err, ms } = timed(() => sysError(() => connectSync(c2, l.addr)));
    expect(err).toMatchObject({
      code: 'EAGAIN', errno: E.EAGAIN, syscall: 'connect', path: (l.addr as { path: string }).path,
    });
    expect(ms).toBeLessThan(FAST_MS);
  });
});
