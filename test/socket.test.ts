// socket(2), close(2), socketpair(2) and fcntl(2): the calls that create and
// control fds, including close-on-exec by default (checked in a real child).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, AF_UNIX, FD_CLOEXEC, F_GETFD, F_GETFL, F_SETFD, F_SETFL, IPPROTO_TCP,
  IPPROTO_UDP, O_NONBLOCK, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_SEQPACKET, SOCK_STREAM,
  SOL_SOCKET, SO_DOMAIN, SO_PROTOCOL, SO_TYPE, acceptSync, close, connectSync, fcntl,
  getpeername, getsockname, getsockopt, readSync, socket, socketpair, writeSync,
} from '../lib/index';
import { openFds } from './helpers/fds';
import { closeAll, listener, tcpPair, track, unixPath } from './helpers/pairs';
import { sysError } from './helpers/errors';

const E = osConstants.errno;


/** What /proc/self/fd/<fd> points to: 'socket:[inode]' for a socket. */
function target(fd: number): string {
  return fs.readlinkSync(`/proc/self/fd/${fd}`);
}

/** Whether fd is open in this process (readlink opens no fd, unlike readdir). */
function isOpen(fd: number): boolean {
  try {
    fs.readlinkSync(`/proc/self/fd/${fd}`);
    return true;
  } catch {
    return false;
  }
}

const O_ACCMODE = 3;

/** The fds a child process (ls) sees as its own, as 'N -> target' lines. */
function childFdLines(): string[] {
  const r = spawnSync('ls', ['-l', '/proc/self/fd'], { encoding: 'utf8', timeout: 10_000 });
  expect(r.status).toBe(0);
  return r.stdout.split('\n').filter((line) => line.includes(' -> '))
    .map((line) => line.slice(line.lastIndexOf(' ', line.indexOf(' -> ') - 1) + 1));
}

let baseline: number[];

beforeAll(() => {
  close(socket(AF_INET, SOCK_STREAM, 0));
  baseline = openFds();
});

afterEach(closeAll);

afterAll(() => {
  expect(openFds()).toEqual(baseline);
});

describe('socket(2)', () => {
  it.each([
    ['AF_INET', AF_INET, 'SOCK_STREAM', SOCK_STREAM, IPPROTO_TCP],
    ['AF_INET', AF_INET, 'SOCK_DGRAM', SOCK_DGRAM, IPPROTO_UDP],
    ['AF_INET6', AF_INET6, 'SOCK_STREAM', SOCK_STREAM, IPPROTO_TCP],
    ['AF_INET6', AF_INET6, 'SOCK_DGRAM', SOCK_DGRAM, IPPROTO_UDP],
    ['AF_UNIX', AF_UNIX, 'SOCK_STREAM', SOCK_STREAM, 0],
    ['AF_UNIX', AF_UNIX, 'SOCK_DGRAM', SOCK_DGRAM, 0],
    ['AF_UNIX', AF_UNIX, 'SOCK_SEQPACKET', SOCK_SEQPACKET, 0],
  ])('creates an %s %s socket whose SO_DOMAIN/SO_TYPE/SO_PROTOCOL match', (_d, domain, _t, type, proto) => {
    const fd = track(socket(domain, type));
    expect(Number.isInteger(fd)).toBe(true);
    expect(fd).toBeGreaterThan(2);
    expect(isOpen(fd)).toBe(true);
    expect(target(fd)).toMatch(/^socket:\[\d+\]$/);
    expect(getsockopt(fd, SOL_SOCKET, SO_DOMAIN)).toBe(domain);
    expect(getsockopt(fd, SOL_SOCKET, SO_TYPE)).toBe(type);
    expect(getsockopt(fd, SOL_SOCKET, SO_PROTOCOL)).toBe(proto);
  });

  it('takes an explicit protocol', () => {
    const fd = track(socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP));
    expect(getsockopt(fd, SOL_SOCKET, SO_PROTOCOL)).toBe(IPPROTO_UDP);
  });

  it('returns a distinct fd for each call', () => {
    const a = track(socket(AF_INET, SOCK_STREAM, 0));
    const b = track(socket(AF_INET, SOCK_STREAM, 0));
    expect(a).not.toBe(b);
    expect(target(a)).not.toBe(target(b));
  });

  it('is blocking unless SOCK_NONBLOCK is given', () => {
    const blocking = track(socket(AF_INET, SOCK_STREAM, 0));
    const nonblocking = track(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    expect(fcntl(blocking, F_GETFL) & O_NONBLOCK).toBe(0);
    expect(fcntl(nonblocking, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
    // The type flags are not part of SO_TYPE.
    expect(getsockopt(nonblocking, SOL_SOCKET, SO_TYPE)).toBe(SOCK_STREAM);
  });

  it('fails with EAFNOSUPPORT for an unknown domain', () => {
    const err = sysError(() => socket(12345, SOCK_STREAM, 0));
    expect(err.code).toBe('EAFNOSUPPORT');
    expect(err.errno).toBe(E.EAFNOSUPPORT);
    expect(err.syscall).toBe('socket');
    expect(err.message).toBe('socket EAFNOSUPPORT');
  });

  it('fails with EPROTONOSUPPORT for a protocol the type does not speak', () => {
    const err = sysError(() => socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    expect(err.code).toBe('EPROTONOSUPPORT');
    expect(err.errno).toBe(E.EPROTONOSUPPORT);
    expect(err.syscall).toBe('socket');
    expect(err.message).toBe('socket EPROTONOSUPPORT');
  });

  it('fails with EINVAL for an unknown type', () => {
    const err = sysError(() => socket(AF_INET, 999, 0));
    expect(err.code).toBe('EINVAL');
    expect(err.errno).toBe(E.EINVAL);
    expect(err.syscall).toBe('socket');
  });

  it('opens no fd when it fails', () => {
    const before = openFds();
    sysError(() => socket(12345, SOCK_STREAM, 0));
    expect(openFds()).toEqual(before);
  });
});

describe('close(2)', () => {
  it('returns 0 and releases the fd', () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    expect(isOpen(fd)).toBe(true);
    expect(close(fd)).toBe(0);
    expect(isOpen(fd)).toBe(false);
  });

  it('fails with EBADF on an fd already closed', () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    const err = sysError(() => close(fd));
    expect(err.code).toBe('EBADF');
    expect(err.errno).toBe(E.EBADF);
    expect(err.syscall).toBe('close');
    expect(err.message).toBe('close EBADF');
  });

  it('closes fds that are not sockets too', () => {
    const file = path.join(path.dirname(unixPath()), 'plain-file');
    const fd = fs.openSync(file, 'w');
    expect(close(fd)).toBe(0);
    expect(isOpen(fd)).toBe(false);
    fs.unlinkSync(file);
  });

  it('makes the peer of a connection see EOF', () => {
    const { client, server } = tcpPair('ipv4');
    close(client);
    expect(readSync(server, Buffer.alloc(8))).toBe(0);
  });
});

describe('socketpair(2)', () => {
  it('returns both fds even with a setter on Array.prototype (none is swallowed, none leaks)', () => {
    const before = openFds().length;
    const swallowed: unknown[] = [];
    Object.defineProperty(Array.prototype, '0', { configurable: true, set: (v) => swallowed.push(v) });
    let pair: [number, number];
    try {
      pair = socketpair(AF_UNIX, SOCK_STREAM);
    } finally {
      delete (Array.prototype as unknown as Record<string, unknown>)['0'];
    }
    expect(swallowed).toEqual([]);
    expect(pair.every((fd) => Number.isInteger(fd) && fd >= 0)).toBe(true);
    pair.forEach((fd) => close(fd));
    expect(openFds().length).toBe(before);
  });

  it.each([
    ['SOCK_STREAM', SOCK_STREAM],
    ['SOCK_DGRAM', SOCK_DGRAM],
    ['SOCK_SEQPACKET', SOCK_SEQPACKET],
  ])('returns two connected AF_UNIX %s fds', (_name, type) => {
    const pair = socketpair(AF_UNIX, type);
    expect(pair).toHaveLength(2);
    const [a, b] = pair.map(track);
    expect(a).not.toBe(b);
    expect(getsockopt(a, SOL_SOCKET, SO_TYPE)).toBe(type);
    expect(getsockopt(b, SOL_SOCKET, SO_TYPE)).toBe(type);
    expect(writeSync(a, Buffer.from('ab'))).toBe(2);
    expect(writeSync(b, Buffer.from('xyz'))).toBe(3);
    const buf = Buffer.alloc(8);
    expect(readSync(b, buf)).toBe(2);
    expect(buf.toString('latin1', 0, 2)).toBe('ab');
    expect(readSync(a, buf)).toBe(3);
    expect(buf.toString('latin1', 0, 3)).toBe('xyz');
  });

  it('gives unnamed addresses on both ends', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM).map(track);
    expect(getsockname(a)).toEqual({ family: AF_UNIX, path: '' });
    expect(getpeername(a)).toEqual({ family: AF_UNIX, path: '' });
    expect(getsockname(b)).toEqual({ family: AF_UNIX, path: '' });
  });

  it('keeps datagram boundaries on SOCK_DGRAM', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_DGRAM, 0).map(track);
    writeSync(a, Buffer.from('one'));
    writeSync(a, Buffer.from('three'));
    const buf = Buffer.alloc(16);
    expect(readSync(b, buf)).toBe(3);
    expect(readSync(b, buf)).toBe(5);
    expect(buf.toString('latin1', 0, 5)).toBe('three');
  });

  it('honours SOCK_NONBLOCK on both fds', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK).map(track);
    expect(fcntl(a, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
    expect(fcntl(b, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
  });

  it('fails with EOPNOTSUPP for AF_INET (Linux supports only AF_UNIX)', () => {
    const before = openFds();
    const err = sysError(() => socketpair(AF_INET, SOCK_STREAM, 0));
    expect(err.code).toBe('EOPNOTSUPP');
    expect(err.errno).toBe(E.EOPNOTSUPP);
    expect(err.syscall).toBe('socketpair');
    expect(err.message).toBe('socketpair EOPNOTSUPP');
    expect(openFds()).toEqual(before);
  });
});

describe('fcntl(2)', () => {
  it('F_GETFL gives O_RDWR for a fresh socket', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    expect(fcntl(fd, F_GETFL)).toBe(fs.constants.O_RDWR);
  });

  it('F_SETFL O_NONBLOCK returns 0 and makes reads fail with EAGAIN; clearing it restores blocking', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM).map(track);
    const flags = fcntl(a, F_GETFL);
    expect(fcntl(a, F_SETFL, flags | O_NONBLOCK)).toBe(0);
    expect(fcntl(a, F_GETFL)).toBe(flags | O_NONBLOCK);
    const err = sysError(() => readSync(a, Buffer.alloc(4)));
    expect(err.code).toBe('EAGAIN');
    expect(err.errno).toBe(E.EAGAIN);
    expect(err.syscall).toBe('read');
    expect(fcntl(a, F_SETFL, flags & ~O_NONBLOCK)).toBe(0);
    expect(fcntl(a, F_GETFL) & O_NONBLOCK).toBe(0);
    // Blocking again: with data queued the read returns it.
    writeSync(b, Buffer.from('hi'));
    expect(readSync(a, Buffer.alloc(4))).toBe(2);
  });

  it('F_GETFD is FD_CLOEXEC by default, and F_SETFD changes it', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    expect(fcntl(fd, F_GETFD)).toBe(FD_CLOEXEC);
    expect(fcntl(fd, F_SETFD, 0)).toBe(0);
    expect(fcntl(fd, F_GETFD)).toBe(0);
    expect(fcntl(fd, F_SETFD, FD_CLOEXEC)).toBe(0);
    expect(fcntl(fd, F_GETFD)).toBe(FD_CLOEXEC);
  });

  it('keeps status flags (F_SETFL) and descriptor flags (F_SETFD) apart', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    expect(fcntl(fd, F_GETFD)).toBe(FD_CLOEXEC);
    fcntl(fd, F_SETFD, 0);
    expect(fcntl(fd, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
    expect(fcntl(fd, F_GETFD)).toBe(0);
  });

  it('works on fds that are not sockets', () => {
    const file = path.join(path.dirname(unixPath()), 'fcntl-file');
    const fd = fs.openSync(file, 'w');
    try {
      expect(fcntl(fd, F_GETFL) & O_ACCMODE).toBe(fs.constants.O_WRONLY);
    } finally {
      fs.closeSync(fd);
      fs.unlinkSync(file);
    }
  });

  it('fails with EBADF on a closed fd', () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    const err = sysError(() => fcntl(fd, F_GETFD));
    expect(err.code).toBe('EBADF');
    expect(err.errno).toBe(E.EBADF);
    expect(err.syscall).toBe('fcntl');
    expect(err.message).toBe('fcntl EBADF');
  });

  it('rejects a command it does not support with a RangeError', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    expect(() => fcntl(fd, 5 /* F_GETLK: takes a pointer */)).toThrow(RangeError);
    expect(() => fcntl(fd, 5)).toThrow(/"cmd"/);
  });
});

describe('close-on-exec by default', () => {
  it('sets FD_CLOEXEC on socket() even without SOCK_CLOEXEC', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    expect(fcntl(fd, F_GETFD) & FD_CLOEXEC).toBe(FD_CLOEXEC);
    const explicit = track(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    expect(fcntl(explicit, F_GETFD) & FD_CLOEXEC).toBe(FD_CLOEXEC);
  });

  it('sets FD_CLOEXEC on both socketpair() fds', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM).map(track);
    expect(fcntl(a, F_GETFD) & FD_CLOEXEC).toBe(FD_CLOEXEC);
    expect(fcntl(b, F_GETFD) & FD_CLOEXEC).toBe(FD_CLOEXEC);
  });

  it('sets FD_CLOEXEC on acceptSync() fds, with and without SOCK_NONBLOCK', () => {
    const l = listener('ipv4');
    const c1 = track(socket(AF_INET, SOCK_STREAM, 0));
    const c2 = track(socket(AF_INET, SOCK_STREAM, 0));
    connectSync(c1, l.addr);
    connectSync(c2, l.addr);
    const plain = track(acceptSync(l.fd).fd);
    const nonblocking = track(acceptSync(l.fd, SOCK_NONBLOCK).fd);
    expect(fcntl(plain, F_GETFD) & FD_CLOEXEC).toBe(FD_CLOEXEC);
    expect(fcntl(nonblocking, F_GETFD) & FD_CLOEXEC).toBe(FD_CLOEXEC);
    expect(fcntl(nonblocking, F_GETFL) & O_NONBLOCK).toBe(O_NONBLOCK);
    expect(fcntl(plain, F_GETFL) & O_NONBLOCK).toBe(0);
  });

  it('a child process does not inherit the fds; it does once FD_CLOEXEC is cleared', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    const [pa, pb] = socketpair(AF_UNIX, SOCK_STREAM).map(track);
    const { server } = tcpPair('ipv4');
    const mine = [fd, pa, pb, server].map((n) => `${n} -> ${target(n)}`);

    let child = childFdLines();
    for (const line of mine) expect(child).not.toContain(line);
    // No socket of ours under any number either.
    for (const n of [fd, pa, pb, server]) expect(child.join('\n')).not.toContain(target(n));

    // The control: the same check sees an inheritable fd.
    for (const n of [fd, pa, pb, server]) fcntl(n, F_SETFD, 0);
    child = childFdLines();
    for (const line of mine) expect(child).toContain(line);
  });
});
