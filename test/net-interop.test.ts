// node:net / node:dgram interop, both ways. fdOf() gives the fd under a Node
// socket for option calls Node has no method for; an fd made here is handed
// to Node (net.Server.listen({ fd }), new net.Socket({ fd })), which then owns
// it: puts it in non-blocking mode, serves it, and closes it once — after
// which the number is closed (EBADF), not closed twice.
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { once } from 'node:events';
import * as net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, F_GETFL, IPPROTO_TCP, O_NONBLOCK, POLLIN, SOCK_STREAM, SOL_SOCKET, SO_RCVBUF, SO_REUSEADDR, SO_REUSEPORT, SO_SNDBUF,
  SocketError, TCP_ESTABLISHED, TCP_INFO, TCP_NODELAY, type SockaddrIn, accept, bind, close, connectSync, fcntl, fdOf,
  getpeername, getsockname, getsockopt, listen, read, setsockopt, socket, threadpool, watch, write,
} from '../lib/index';
import { openFdsExceptWakeups as openFds } from './helpers/fds';
import { closeAll, listener, track } from './helpers/pairs';
import { sysError } from './helpers/errors';

const linux = process.platform === 'linux';
const LOOPBACK = { family: AF_INET, address: '127.0.0.1', port: 0 };

/** A listening net.Server on 127.0.0.1 that echoes, and a connected client. */
async function nodePair(): Promise<{ server: net.Server; client: net.Socket; accepted: net.Socket }> {
  const server = net.createServer((c) => c.pipe(c));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const acceptedP = once(server, 'connection');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  const [accepted] = (await acceptedP) as [net.Socket];
  return { server, client, accepted };
}

async function closeServer(server: net.Server): Promise<void> {
  if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Sends `payload` over a new node:net connection to `port`, half-closes, and returns all it gets back. */
async function echoThrough(port: number, payload: Buffer): Promise<Buffer> {
  const c = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  c.on('data', (d: Buffer) => chunks.push(d));
  c.end(payload);
  await once(c, 'close');
  return Buffer.concat(chunks);
}

const isClosed = (fd: number): boolean => {
  try {
    fcntl(fd, F_GETFL);
    return false;
  } catch (err) {
    return (err as SocketError).code === 'EBADF';
  }
};

let baseline: number[];
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(() => {
  close(socket(AF_INET, SOCK_STREAM, 0));
  baseline = openFds();
});

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  closeAll();
  expect(threadpool().busy).toBe(0);
});

afterAll(async () => {
  // Node closes its handles on the next turns of the loop.
  for (let i = 0; i < 50 && openFds().length !== baseline.length; i++) await new Promise((r) => setTimeout(r, 20));
  expect(openFds()).toEqual(baseline);
});

describe('fdOf(): the fd under a Node socket', () => {
  it.each([
    ['a number', 5], ['null', null], ['{}', {}], ['a plain object with _handle', { _handle: { fd: 3 } }], ['a string', 'x'],
  ])('%s is a TypeError', (_s, bad) => {
    expect(() => fdOf(bad as never)).toThrow(TypeError);
    expect(() => fdOf(bad as never)).toThrow(/^The "socket" argument must be a net\.Socket, net\.Server or dgram\.Socket\. Received /);
  });

  it('a net.Socket not connected, a net.Server not listening, a dgram.Socket not bound: a TypeError naming the problem', async () => {
    expect(() => fdOf(new net.Socket())).toThrow(/^The "socket" argument \(a net\.Socket\) has no fd: not connected yet, or destroyed$/);
    expect(() => fdOf(net.createServer())).toThrow(/^The "socket" argument \(a net\.Server\) has no fd: not listening$/);
    const d = dgram.createSocket('udp4');
    try {
      expect(() => fdOf(d)).toThrow(/^The "socket" argument \(a dgram\.Socket\) has no fd: not bound yet/);
    } finally {
      d.close();
    }
  });

  it('a connected net.Socket: the same socket as Node\'s (getsockname/getpeername), non-blocking, and gone after destroy()', async () => {
    const { server, client, accepted } = await nodePair();
    cleanups.push(() => closeServer(server));
    const fd = fdOf(client);
    expect(getsockname(fd)).toEqual({ family: AF_INET, address: client.localAddress, port: client.localPort });
    expect(getpeername(fd)).toEqual({ family: AF_INET, address: '127.0.0.1', port: client.remotePort });
    expect(fcntl(fd, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
    expect(fdOf(server)).not.toBe(fd);
    expect((getsockname(fdOf(server)) as SockaddrIn).port).toBe(client.remotePort);
    expect(fdOf(accepted)).not.toBe(fd);
    client.destroy();
    accepted.destroy();
    await once(client, 'close');
    expect(() => fdOf(client)).toThrow(/has no fd: not connected yet, or destroyed/);
  });

  it('TCP_NODELAY set by Node (setNoDelay) reads back here, and ours is what Node\'s socket has', async () => {
    const { server, client, accepted } = await nodePair();
    cleanups.push(() => closeServer(server));
    cleanups.push(() => { client.destroy(); accepted.destroy(); });
    const fd = fdOf(client);
    client.setNoDelay(false);
    expect(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY)).toBe(0);
    client.setNoDelay(true);
    expect(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY)).toBe(1);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 0);
    expect(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY)).toBe(0);
    // The connection still carries data both ways after our calls.
    const echoed = once(client, 'data');
    client.write('still works');
    expect(String((await echoed)[0])).toBe('still works');
  });

  it.skipIf(!linux)('TCP_INFO of a node:net connection: ESTABLISHED', async () => {
    const { server, client, accepted } = await nodePair();
    cleanups.push(() => closeServer(server));
    cleanups.push(() => { client.destroy(); accepted.destroy(); });
    const info = getsockopt(fdOf(client), IPPROTO_TCP, TCP_INFO);
    expect(info.state).toBe(TCP_ESTABLISHED);
    expect(info.rtt).toBeGreaterThan(0);
  });

  it('SO_RCVBUF/SO_SNDBUF of a bound dgram.Socket: set here, seen by Node, and the reverse', async () => {
    const d = dgram.createSocket('udp4');
    cleanups.push(() => new Promise<void>((resolve) => d.close(() => resolve())));
    d.bind(0, '127.0.0.1');
    await once(d, 'listening');
    const fd = fdOf(d);
    expect(getsockname(fd)).toEqual({ family: AF_INET, address: '127.0.0.1', port: d.address().port });
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 65536);
    // Linux doubles the value set; Node reads the same getsockopt().
    expect(d.getRecvBufferSize()).toBe(getsockopt(fd, SOL_SOCKET, SO_RCVBUF));
    if (linux) expect(d.getRecvBufferSize()).toBe(131072);
    d.setSendBufferSize(50_000);
    expect(getsockopt(fd, SOL_SOCKET, SO_SNDBUF)).toBe(d.getSendBufferSize());
    if (linux) expect(getsockopt(fd, SOL_SOCKET, SO_SNDBUF)).toBe(100_000);
  });

  it('close() of an fd Node owns is a TypeError (nothing is closed); once Node has closed it, the guard is gone', async () => {
    const { server, client, accepted } = await nodePair();
    cleanups.push(() => closeServer(server));
    const fd = fdOf(client);
    expect(() => close(fd)).toThrow(TypeError);
    expect(() => close(fd)).toThrow(`The "fd" argument ${fd} belongs to a net.Socket (from fdOf()): Node closes it; call its destroy() or close()`);
    expect(isClosed(fd)).toBe(false);
    const echoed = once(client, 'data');
    client.write('alive');
    expect(String((await echoed)[0])).toBe('alive');
    client.destroy();
    accepted.destroy();
    await once(client, 'close');
    expect(isClosed(fd)).toBe(true);
    expect(sysError(() => close(fd))).toMatchObject({ code: 'EBADF', syscall: 'close' });
  });

  it('watch() of an fd Node owns is a TypeError (Node polls it already), and Node\'s socket keeps working', async () => {
    const { server, client } = await nodePair();
    cleanups.push(() => closeServer(server));
    const fd = fdOf(client);
    expect(() => watch(fd, POLLIN, () => undefined)).toThrow(`The "fd" argument ${fd} belongs to a net.Socket (from fdOf()): Node already polls it`);
    const echoed = once(client, 'data');
    client.write('still');
    expect(String((await echoed)[0])).toBe('still');
    client.destroy();
  });
});

describe('an fd made here, handed to Node: Node owns it from then on', () => {
  it('two SO_REUSEPORT listeners on one port, each served by net.Server.listen({ fd }): node:net clients echo byte-exact', async () => {
    const fds = [0, 1].map(() => {
      const fd = socket(AF_INET, SOCK_STREAM, 0); // Not tracked: Node will own and close it.
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
      return fd;
    });
    bind(fds[0], LOOPBACK);
    const addr = getsockname(fds[0]) as SockaddrIn;
    bind(fds[1], addr);
    for (const fd of fds) listen(fd, 64);
    const counts = [0, 0];
    const servers = fds.map((fd, i) => {
      const s = net.createServer((c) => {
        counts[i]++;
        c.pipe(c);
      });
      s.listen({ fd });
      return s;
    });
    await Promise.all(servers.map((s) => once(s, 'listening')));
    try {
      for (const fd of fds) expect(fcntl(fd, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
      expect(servers.map((s) => (s.address() as net.AddressInfo).port)).toEqual([addr.port, addr.port]);
      const payloads = Array.from({ length: 32 }, (_, i) => randomBytes(1 + i * 997));
      const echoes = await Promise.all(payloads.map((p) => echoThrough(addr.port, p)));
      echoes.forEach((e, i) => expect(e.equals(payloads[i])).toBe(true));
      expect(counts[0] + counts[1]).toBe(32);
      // The kernel spreads connections over the group by 4-tuple hash: both get some
      // (all 32 on one has a probability of 2^-31).
      if (linux) expect(Math.min(...counts)).toBeGreaterThan(0);
    } finally {
      await Promise.all(servers.map(closeServer));
    }
    // Node closed each fd exactly once: the numbers are closed, and close() here is EBADF.
    for (const fd of fds) {
      expect(isClosed(fd)).toBe(true);
      expect(sysError(() => close(fd))).toMatchObject({ code: 'EBADF' });
    }
  });

  it('a socket connected here, wrapped in new net.Socket({ fd }), talks to a server made here', async () => {
    const l = listener('ipv4');
    const fd = socket(AF_INET, SOCK_STREAM, 0); // Not tracked: Node will own and close it.
    connectSync(fd, l.addr);
    const conn = track((await accept(l.fd, { timeout: 5000 })).fd);
    const sock = new net.Socket({ fd, readable: true, writable: true });
    try {
      expect(fcntl(fd, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
      expect(sock.remotePort).toBe((l.addr as SockaddrIn).port);
      const request = Buffer.from('ping from node:net');
      sock.write(request);
      const buf = Buffer.alloc(64);
      let n = 0;
      for (let i = 0; i < 20 && n < request.length; i++) n += await read(conn, buf.subarray(n), undefined, { timeout: 5000 });
      expect(buf.subarray(0, n).equals(request)).toBe(true);
      const reply = Buffer.from('pong from bsd-sockets');
      const got = once(sock, 'data');
      expect(await write(conn, reply)).toBe(reply.length);
      expect(((await got)[0] as Buffer).equals(reply)).toBe(true);
      // Our end of the stream: Node sees it as 'end'.
      const ended = once(sock, 'end');
      close(conn);
      await ended;
    } finally {
      sock.destroy();
      await once(sock, 'close');
    }
    expect(isClosed(fd)).toBe(true);
  });

  it('listen({ fd }) of a plain listener: fdOf(server) is that fd, the port is taken, and close() here is refused while Node serves it', async () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    bind(fd, LOOPBACK);
    listen(fd, 8);
    const s = net.createServer().listen({ fd });
    await once(s, 'listening');
    try {
      const other = track(socket(AF_INET, SOCK_STREAM, 0));
      expect(sysError(() => bind(other, getsockname(fdOf(s))))).toMatchObject({ code: 'EADDRINUSE' });
      expect(fdOf(s)).toBe(fd);
      expect(() => close(fd)).toThrow(/belongs to a net\.Server/);
    } finally {
      await closeServer(s);
    }
    expect(isClosed(fd)).toBe(true);
  });
});
