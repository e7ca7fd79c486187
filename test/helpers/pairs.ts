// Real socket pairs on loopback (port 0: the kernel picks) and Unix sockets
// in a temp dir, made with the library's own sync calls. Every fd a helper
// opens is recorded so `closeAll()` in afterEach can close it. Every socket
// listener/tcpPair/udpPair hands out has SO_RCVTIMEO and SO_SNDTIMEO set
// (PAIR_TIMEOUT_MS): tests drive them with *Sync calls on vitest's main
// thread, where a call that never returns would hang the worker for good (no
// test timeout can interrupt it); with the options a regression fails with
// EAGAIN instead. A test that needs other values sets its own.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AF_INET, AF_INET6, AF_UNIX, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SO_RCVTIMEO, SO_REUSEADDR, SO_SNDTIMEO,
  MSG_DONTWAIT, type Sockaddr, SocketError, acceptSync, bind, close, connectSync, getsockname, listen,
  sendSync, sendtoSync, setsockopt, socket,
} from '../../lib/index';

/** SO_RCVTIMEO and SO_SNDTIMEO, in ms, of every socket listener/tcpPair/udpPair hands out. */
export const PAIR_TIMEOUT_MS = 5000;

/** A blocking call on fd gives up with EAGAIN after PAIR_TIMEOUT_MS instead of waiting for ever. */
function bounded(fd: number): number {
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, PAIR_TIMEOUT_MS);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, PAIR_TIMEOUT_MS);
  return fd;
}

const opened = new Set<number>();

/** Records fd so closeAll() closes it; returns fd. */
export function track(fd: number): number {
  opened.add(fd);
  return fd;
}

/** Closes every tracked fd still open (ignoring EBADF for ones a test closed). */
export function closeAll(): void {
  for (const fd of opened) {
    try {
      close(fd);
    } catch {
      // Already closed by the test.
    }
  }
  opened.clear();
}

export type Family = 'ipv4' | 'ipv6' | 'unix';
export const FAMILIES: Family[] = ['ipv4', 'ipv6', 'unix'];

let tmpDir: string | undefined;
let counter = 0;

/** A fresh Unix socket path in this process's temp dir. */
export function unixPath(): string {
  tmpDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'bsd-sockets-'));
  return path.join(tmpDir, `s${counter++}.sock`);
}

export function domainOf(family: Family): number {
  return family === 'ipv4' ? AF_INET : family === 'ipv6' ? AF_INET6 : AF_UNIX;
}

/** A bindable address of the family: loopback port 0, or a new Unix path. */
export function anyAddr(family: Family): Sockaddr {
  if (family === 'ipv4') return { family: AF_INET, address: '127.0.0.1', port: 0 };
  if (family === 'ipv6') return { family: AF_INET6, address: '::1', port: 0 };
  return { family: AF_UNIX, path: unixPath() };
}

/** A listening stream socket (acceptSync bounded); returns its fd and the address to connect to. */
export function listener(family: Family, backlog = 128): { fd: number; addr: Sockaddr } {
  const fd = bounded(track(socket(domainOf(family), SOCK_STREAM, 0)));
  if (family !== 'unix') setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  bind(fd, anyAddr(family));
  listen(fd, backlog);
  return { fd, addr: getsockname(fd) };
}

/** A connected TCP (or Unix stream) pair: [client, server-side accepted fd], each bounded. */
export function tcpPair(family: Family = 'ipv4'): { client: number; server: number; listenFd: number } {
  const l = listener(family);
  const client = bounded(track(socket(domainOf(family), SOCK_STREAM, 0)));
  connectSync(client, l.addr); // Completes at once on loopback: the kernel's backlog takes it.
  const server = bounded(track(acceptSync(l.fd).fd));
  return { client, server, listenFd: l.fd };
}

/** Two bound datagram sockets (each bounded) and their addresses. */
export function udpPair(family: Family = 'ipv4'): { a: number; b: number; addrA: Sockaddr; addrB: Sockaddr } {
  const a = bounded(track(socket(domainOf(family), SOCK_DGRAM, 0)));
  const b = bounded(track(socket(domainOf(family), SOCK_DGRAM, 0)));
  bind(a, anyAddr(family));
  bind(b, anyAddr(family));
  return { a, b, addrA: getsockname(a), addrB: getsockname(b) };
}

/**
 * A port on 127.0.0.1 (or ::1) where a TCP connect() is refused: held by a
 * socket bound there that never listens, tracked, so it stays bound until
 * closeAll(). (A port bound and closed again could be taken by another test
 * process before the connect.)
 */
export function refusedPort(family: 'ipv4' | 'ipv6' = 'ipv4'): number {
  const fd = track(socket(domainOf(family), SOCK_STREAM, 0));
  bind(fd, anyAddr(family));
  return (getsockname(fd) as { port: number }).port;
}

/** Fills the send side of a connected stream without blocking; returns the bytes queued. */
export function fill(fd: number, byte = 0x46): number {
  const chunk = Buffer.alloc(64 * 1024, byte);
  let total = 0;
  for (let i = 0; i < 100_000; i++) {
    try {
      total += sendSync(fd, chunk, undefined, MSG_DONTWAIT);
    } catch (err) {
      if ((err as SocketError).code === 'EAGAIN') return total;
      throw err;
    }
  }
  throw new Error('the send buffer never filled');
}

/** Fills a datagram socket's send side (or, sending `to`, the receiver's queue) with small non-blocking sends until EAGAIN; returns how many went. */
export function fillDgram(fd: number, to?: Sockaddr): number {
  const dgram = Buffer.alloc(1024, 0x44);
  for (let sent = 0; sent < 100_000; sent++) {
    try {
      if (to) sendtoSync(fd, dgram, undefined, MSG_DONTWAIT, to);
      else sendSync(fd, dgram, undefined, MSG_DONTWAIT);
    } catch (err) {
      if ((err as SocketError).code === 'EAGAIN') return sent;
      throw err;
    }
  }
  throw new Error('the datagram queue never filled');
}
