// bind(2), listen(2), connect(2), accept(2), getsockname(2), getpeername(2)
// over TCP on 127.0.0.1 and ::1 and over Unix stream sockets, and the kernel
// errors they give: ECONNREFUSED, EADDRINUSE, EINVAL, EAGAIN, EINPROGRESS…
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC, F_GETFL, O_NONBLOCK, POLLERR, POLLHUP, POLLIN, POLLOUT,
  SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_ERROR, SO_REUSEADDR, type Sockaddr,
  type PollFd, accept, acceptSync, bind, close, connect, connectSync, fcntl, getpeername,
  getsockname, getsockopt, listen, pollSync, readSync, setsockopt, socket, threadpool, writeSync,
} from '../lib/index';
import { openFdsExceptWakeups } from './helpers/fds';
import {
  FAMILIES, anyAddr, closeAll, domainOf, listener, refusedPort, track, unixPath,
} from './helpers/pairs';
import { sysError } from './helpers/errors';

const E = osConstants.errno;

/** 'addr' as lib/errors.ts prints it in a message. */
function text(addr: Sockaddr): string {
  if ('path' in addr) return addr.path;
  return addr.family === AF_INET6 ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
}

/** An address of the family with nothing listening on it (held, bound and not listening, until closeAll()). */
function refusedAddr(family: 'ipv4' | 'ipv6' | 'unix'): Sockaddr {
  if (family === 'ipv4') return { family: AF_INET, address: '127.0.0.1', port: refusedPort('ipv4') };
  if (family === 'ipv6') return { family: AF_INET6, address: '::1', port: refusedPort('ipv6') };
  // A Unix socket that is bound but not listening refuses connections.
  const fd = track(socket(AF_UNIX, SOCK_STREAM, 0));
  const p = unixPath();
  bind(fd, { family: AF_UNIX, path: p });
  return { family: AF_UNIX, path: p };
}

let baseline: number[];

beforeAll(() => {
  close(socket(AF_INET, SOCK_STREAM, 0));
  baseline = openFdsExceptWakeups();
});

afterEach(() => {
  closeAll();
  expect(threadpool().busy).toBe(0);
});

afterAll(() => {
  expect(openFdsExceptWakeups()).toEqual(baseline);
});

describe.each(FAMILIES)('connect(2) and accept(2) over %s', (family) => {
  const domain = domainOf(family);

  it("connectSync returns 0; acceptSync gives { fd, addr } with addr equal to the client's getsockname", () => {
    const l = listener(family);
    const client = track(socket(domain, SOCK_STREAM, 0));
    expect(connectSync(client, l.addr)).toBe(0);
    const result = acceptSync(l.fd);
    track(result.fd);
    expect(Object.keys(result).sort()).toEqual(['addr', 'fd']);
    expect(Number.isInteger(result.fd)).toBe(true);
    expect(result.fd).not.toBe(l.fd);
    expect(result.fd).not.toBe(client);
    expect(result.addr).toEqual(getsockname(client));
    expect(getpeername(result.fd)).toEqual(getsockname(client));
    expect(getpeername(client)).toEqual(l.addr);
    expect(getsockname(result.fd)).toEqual(l.addr);
    if (family === 'unix') expect(result.addr).toEqual({ family: AF_UNIX, path: '' });
    else expect((result.addr as { port: number }).port).toBeGreaterThan(0);
  });

  it('the accepted fd is connected to the client both ways', () => {
    const l = listener(family);
    const client = track(socket(domain, SOCK_STREAM, 0));
    connectSync(client, l.addr);
    const server = track(acceptSync(l.fd).fd);
    const buf = Buffer.alloc(8);
    expect(writeSync(client, Buffer.from('ping'))).toBe(4);
    expect(readSync(server, buf)).toBe(4);
    expect(buf.toString('latin1', 0, 4)).toBe('ping');
    expect(writeSync(server, Buffer.from('pong!'))).toBe(5);
    expect(readSync(client, buf)).toBe(5);
    expect(buf.toString('latin1', 0, 5)).toBe('pong!');
  });

  it('a client bound before connecting is reported by that address', () => {
    const l = listener(family);
    const client = track(socket(domain, SOCK_STREAM, 0));
    bind(client, anyAddr(family));
    const name = getsockname(client);
    connectSync(client, l.addr);
    const { fd, addr } = acceptSync(l.fd);
    track(fd);
    expect(addr).toEqual(name);
    if (family === 'unix') expect((addr as { path: string }).path).toBe((name as { path: string }).path);
  });

  it('acceptSync takes queued connections in the order they were made', () => {
    const l = listener(family);
    const clients = [0, 1, 2].map(() => {
      const c = track(socket(domain, SOCK_STREAM, 0));
      if (family === 'unix') bind(c, anyAddr('unix'));
      connectSync(c, l.addr);
      return c;
    });
    for (const c of clients) {
      const { fd, addr } = acceptSync(l.fd);
      track(fd);
      expect(addr).toEqual(getsockname(c));
    }
  });

  it('accepted fds are blocking unless acceptSync is given SOCK_NONBLOCK, even from a non-blocking listener', () => {
    const l = track(socket(domain, SOCK_STREAM | SOCK_NONBLOCK, 0));
    bind(l, anyAddr(family));
    listen(l, 8);
    const addr = getsockname(l);
    for (let i = 0; i < 2; i++) connectSync(track(socket(domain, SOCK_STREAM, 0)), addr);
    // The connections are queued; wait until the listener reports them.
    expect(pollSync([{ fd: l, events: POLLIN }], 5000)).toBe(1);
    const plain = track(acceptSync(l).fd);
    const nonblocking = track(acceptSync(l, SOCK_NONBLOCK).fd);
    expect(fcntl(plain, F_GETFL) & O_NONBLOCK).toBe(0);
    expect(fcntl(nonblocking, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
  });

  it('acceptSync fails with EAGAIN on a SOCK_NONBLOCK listener with nothing queued', () => {
    const l = track(socket(domain, SOCK_STREAM | SOCK_NONBLOCK, 0));
    bind(l, anyAddr(family));
    listen(l, 8);
    const err = sysError(() => acceptSync(l));
    expect(err.code).toBe('EAGAIN');
    expect(err.errno).toBe(E.EAGAIN);
    expect(err.syscall).toBe('accept');
    expect(err.message).toBe('accept EAGAIN');
    expect(err.address).toBeUndefined();
    expect(err.path).toBeUndefined();
  });

  it('acceptSync fails with EINVAL on a socket that is not listening', () => {
    const fd = track(socket(domain, SOCK_STREAM, 0));
    bind(fd, anyAddr(family));
    const err = sysError(() => acceptSync(fd));
    expect(err.code).toBe('EINVAL');
    expect(err.errno).toBe(E.EINVAL);
    expect(err.syscall).toBe('accept');
    expect(err.message).toBe('accept EINVAL');
  });

  it('listen fails with EINVAL on a connected socket', () => {
    const l = listener(family);
    const client = track(socket(domain, SOCK_STREAM, 0));
    connectSync(client, l.addr);
    const err = sysError(() => listen(client, 1));
    expect(err.code).toBe('EINVAL');
    expect(err.errno).toBe(E.EINVAL);
    expect(err.syscall).toBe('listen');
    expect(err.message).toBe('listen EINVAL');
  });

  it('connectSync fails with EISCONN on a socket already connected', () => {
    const l = listener(family);
    const client = track(socket(domain, SOCK_STREAM, 0));
    connectSync(client, l.addr);
    const err = sysError(() => connectSync(client, l.addr));
    expect(err.code).toBe('EISCONN');
    expect(err.errno).toBe(E.EISCONN);
    expect(err.syscall).toBe('connect');
    expect(err.message).toBe(`connect EISCONN ${text(l.addr)}`);
  });

  it('connectSync fails with ECONNREFUSED when nothing listens, with the address in the error', () => {
    const addr = refusedAddr(family);
    const fd = track(socket(domain, SOCK_STREAM, 0));
    const err = sysError(() => connectSync(fd, addr));
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.errno).toBe(E.ECONNREFUSED);
    expect(err.errno).toBeGreaterThan(0);
    expect(err.syscall).toBe('connect');
    if ('path' in addr) {
      expect(err.path).toBe(addr.path);
      expect(err.address).toBeUndefined();
      expect(err.port).toBeUndefined();
      expect(err.message).toBe(`connect ECONNREFUSED ${addr.path}`);
    } else {
      expect(err.address).toBe(addr.address);
      expect(err.port).toBe(addr.port);
      expect(err.path).toBeUndefined();
    }
  });

  it('bind fails with EADDRINUSE for an address in use, with the address in the error', () => {
    const l = listener(family);
    const fd = track(socket(domain, SOCK_STREAM, 0));
    if (family !== 'unix') setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1); // Not enough while l listens.
    const err = sysError(() => bind(fd, l.addr));
    expect(err.code).toBe('EADDRINUSE');
    expect(err.errno).toBe(E.EADDRINUSE);
    expect(err.syscall).toBe('bind');
    expect(err.message).toBe(`bind EADDRINUSE ${text(l.addr)}`);
    if ('path' in l.addr) expect(err.path).toBe(l.addr.path);
    else {
      expect(err.address).toBe(l.addr.address);
      expect(err.port).toBe(l.addr.port);
    }
  });

  it('bind fails with EINVAL on a socket already bound', () => {
    const fd = track(socket(domain, SOCK_STREAM, 0));
    bind(fd, anyAddr(family));
    const again = anyAddr(family);
    const err = sysError(() => bind(fd, again));
    expect(err.code).toBe('EINVAL');
    expect(err.errno).toBe(E.EINVAL);
    expect(err.syscall).toBe('bind');
    expect(err.message).toBe(`bind EINVAL ${text(again)}`);
  });

  it('accept() and connect(), the Promise twins, agree with the sync calls', async () => {
    const l = listener(family);
    const client = track(socket(domain, SOCK_STREAM, 0));
    expect(await connect(client, l.addr)).toBe(0);
    const result = await accept(l.fd);
    track(result.fd);
    expect(result.addr).toEqual(getsockname(client));
    expect(getpeername(client)).toEqual(l.addr);
  });
});

describe('connect(2) on a non-blocking socket', () => {
  it.each(['ipv4', 'ipv6'] as const)(
    'over %s: EINPROGRESS, then POLLOUT and SO_ERROR 0 once connected', (family) => {
      const l = listener(family);
      const fd = track(socket(domainOf(family), SOCK_STREAM | SOCK_NONBLOCK, 0));
      const err = sysError(() => connectSync(fd, l.addr));
      expect(err.code).toBe('EINPROGRESS');
      expect(err.errno).toBe(E.EINPROGRESS);
      expect(err.syscall).toBe('connect');
      expect(err.message).toBe(`connect EINPROGRESS ${text(l.addr)}`);
      const fds: PollFd[] = [{ fd, events: POLLOUT }];
      expect(pollSync(fds, 5000)).toBe(1);
      expect(fds[0].revents).toBe(POLLOUT);
      expect(getsockopt(fd, SOL_SOCKET, SO_ERROR)).toBe(0);
      expect(getpeername(fd)).toEqual(l.addr);
      const accepted = acceptSync(l.fd);
      track(accepted.fd);
      expect(accepted.addr).toEqual(getsockname(fd));
    });

  it('over a Unix socket it completes at once while the backlog has room', () => {
    const l = listener('unix');
    const fd = track(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    expect(connectSync(fd, l.addr)).toBe(0);
    expect(getpeername(fd)).toEqual(l.addr);
  });

  it('a refused connection: EINPROGRESS, then POLLERR and SO_ERROR ECONNREFUSED (read once)', () => {
    const addr = refusedAddr('ipv4');
    const fd = track(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    expect(sysError(() => connectSync(fd, addr)).code).toBe('EINPROGRESS');
    const fds: PollFd[] = [{ fd, events: POLLOUT }];
    expect(pollSync(fds, 5000)).toBe(1);
    expect(fds[0].revents! & (POLLERR | POLLHUP)).toBe(POLLERR | POLLHUP);
    expect(getsockopt(fd, SOL_SOCKET, SO_ERROR)).toBe(E.ECONNREFUSED);
    expect(getsockopt(fd, SOL_SOCKET, SO_ERROR)).toBe(0);
  });

  it('connectSync again while in progress fails with EALREADY', () => {
    // A SYN to a listener whose backlog is full stays unanswered: the connect stays in progress.
    const l = track(socket(AF_INET, SOCK_STREAM, 0));
    bind(l, { family: AF_INET, address: '127.0.0.1', port: 0 });
    listen(l, 0);
    const addr = getsockname(l);
    const fillers: number[] = [];
    let pending = -1;
    for (let i = 0; i < 8 && pending < 0; i++) {
      const fd = track(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
      fillers.push(fd);
      sysError(() => connectSync(fd, addr));
      const fds: PollFd[] = [{ fd, events: POLLOUT }];
      if (pollSync(fds, 200) === 0) pending = fd;
    }
    expect(pending).toBeGreaterThanOrEqual(0);
    const err = sysError(() => connectSync(pending, addr));
    expect(err.code).toBe('EALREADY');
    expect(err.errno).toBe(E.EALREADY);
    expect(err.syscall).toBe('connect');
  });
});

describe('connect(2) and bind(2) errors', () => {
  it('connectSync to a Unix path that does not exist fails with ENOENT and the path', () => {
    const p = path.join(path.dirname(unixPath()), 'no-such-socket');
    const fd = track(socket(AF_UNIX, SOCK_STREAM, 0));
    const err = sysError(() => connectSync(fd, { family: AF_UNIX, path: p }));
    expect(err.code).toBe('ENOENT');
    expect(err.errno).toBe(E.ENOENT);
    expect(err.syscall).toBe('connect');
    expect(err.path).toBe(p);
    expect(err.message).toBe(`connect ENOENT ${p}`);
  });

  it('connectSync to a port with nothing listening: connect ECONNREFUSED 127.0.0.1:<port>', () => {
    const port = refusedPort();
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    const err = sysError(() => connectSync(fd, { family: AF_INET, address: '127.0.0.1', port }));
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('SocketError');
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.errno).toBe(E.ECONNREFUSED);
    expect(err.syscall).toBe('connect');
    expect(err.address).toBe('127.0.0.1');
    expect(err.port).toBe(port);
    expect(err.message).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('connectSync to ::1 with nothing listening: connect ECONNREFUSED [::1]:<port>', () => {
    const addr = refusedAddr('ipv6') as { address: string; port: number };
    const fd = track(socket(AF_INET6, SOCK_STREAM, 0));
    const err = sysError(() => connectSync(fd, { family: AF_INET6, address: '::1', port: addr.port }));
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.address).toBe('::1');
    expect(err.port).toBe(addr.port);
    expect(err.message).toBe(`connect ECONNREFUSED [::1]:${addr.port}`);
  });

  it('bind to a UDP port in use fails with EADDRINUSE', () => {
    const a = track(socket(AF_INET, SOCK_DGRAM, 0));
    bind(a, { family: AF_INET, address: '127.0.0.1', port: 0 });
    const addr = getsockname(a) as { address: string; port: number };
    const b = track(socket(AF_INET, SOCK_DGRAM, 0));
    const err = sysError(() => bind(b, addr as Sockaddr));
    expect(err.code).toBe('EADDRINUSE');
    expect(err.message).toBe(`bind EADDRINUSE 127.0.0.1:${addr.port}`);
  });

  it('listen on a datagram socket fails with EOPNOTSUPP', () => {
    const fd = track(socket(AF_INET, SOCK_DGRAM, 0));
    const err = sysError(() => listen(fd, 1));
    expect(err.code).toBe('EOPNOTSUPP');
    expect(err.errno).toBe(E.EOPNOTSUPP);
    expect(err.syscall).toBe('listen');
  });

  it('calls on an fd that is not a socket fail with ENOTSOCK', () => {
    const file = path.join(path.dirname(unixPath()), 'not-a-socket');
    const fd = fs.openSync(file, 'w');
    try {
      for (const [fn, syscall] of [
        [() => bind(fd, { family: AF_INET, address: '127.0.0.1', port: 0 }), 'bind'],
        [() => listen(fd, 1), 'listen'],
        [() => acceptSync(fd), 'accept'],
        [() => connectSync(fd, { family: AF_INET, address: '127.0.0.1', port: 1 }), 'connect'],
        [() => getsockname(fd), 'getsockname'],
        [() => getpeername(fd), 'getpeername'],
      ] as const) {
        const err = sysError(fn);
        expect(err.code).toBe('ENOTSOCK');
        expect(err.errno).toBe(E.ENOTSOCK);
        expect(err.syscall).toBe(syscall);
      }
    } finally {
      fs.closeSync(fd);
      fs.unlinkSync(file);
    }
  });

  it('calls on a closed fd fail with EBADF', () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    for (const [fn, syscall] of [
      [() => bind(fd, { family: AF_INET, address: '127.0.0.1', port: 0 }), 'bind'],
      [() => listen(fd, 1), 'listen'],
      [() => acceptSync(fd), 'accept'],
      [() => connectSync(fd, { family: AF_INET, address: '127.0.0.1', port: 1 }), 'connect'],
      [() => getsockname(fd), 'getsockname'],
      [() => getpeername(fd), 'getpeername'],
    ] as const) {
      const err = sysError(fn);
      expect(err.code).toBe('EBADF');
      expect(err.errno).toBe(E.EBADF);
      expect(err.syscall).toBe(syscall);
    }
  });

  it('getpeername fails with ENOTCONN on an unconnected socket', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    const err = sysError(() => getpeername(fd));
    expect(err.code).toBe('ENOTCONN');
    expect(err.errno).toBe(E.ENOTCONN);
    expect(err.syscall).toBe('getpeername');
    expect(err.message).toBe('getpeername ENOTCONN');
  });

  it('connectSync with AF_UNSPEC dissolves a datagram socket\'s association', () => {
    const peer = track(socket(AF_INET, SOCK_DGRAM, 0));
    bind(peer, { family: AF_INET, address: '127.0.0.1', port: 0 });
    const fd = track(socket(AF_INET, SOCK_DGRAM, 0));
    connectSync(fd, getsockname(peer));
    expect(getpeername(fd)).toEqual(getsockname(peer));
    expect(connectSync(fd, { family: AF_UNSPEC } as unknown as Sockaddr)).toBe(0);
    expect(sysError(() => getpeername(fd)).code).toBe('ENOTCONN');
  });
});
