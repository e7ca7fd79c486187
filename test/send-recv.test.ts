// send(2), recv(2), sendto(2), recvfrom(2) through their *Sync forms: flags
// (MSG_PEEK, MSG_DONTWAIT, MSG_TRUNC, MSG_WAITALL), datagrams over UDP on
// 127.0.0.1/::1 and Unix datagram sockets, and source addresses.
import { constants as osConstants, endianness } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, AF_UNIX, F_GETFL, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_PEEK, MSG_TRUNC, MSG_WAITALL, O_NONBLOCK,
  type PollFd, POLLERR, POLLIN, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_SEQPACKET, SOCK_STREAM, type Sockaddr, SOL_SOCKET, SO_RCVTIMEO, SO_SNDTIMEO, bind, close, connectSync, fcntl, getsockname, pollSync, recvSync,
  recvfromSync, sendSync, sendtoSync, setsockopt, socket, socketpair,
} from '../lib/index';
import { openFds } from './helpers/fds';
import {
  FAMILIES, type Family, closeAll, domainOf, tcpPair as rawTcpPair, track, udpPair as rawUdpPair,
} from './helpers/pairs';
import { sysError } from './helpers/errors';

const E = osConstants.errno;

/** 'addr' as lib/errors.ts prints it in a message. */
function text(addr: Sockaddr): string {
  if ('path' in addr) return addr.path.startsWith('\0') ? `@${addr.path.slice(1)}` : addr.path;
  return addr.family === AF_INET ? `${addr.address}:${addr.port}` : `[${addr.address}]:${addr.port}`;
}

/** Waits (bounded) until fd is readable: a datagram sent on loopback is queued at once, but be safe. */
function waitReadable(fd: number): void {
  const fds: PollFd[] = [{ fd, events: POLLIN }];
  expect(pollSync(fds, 5000)).toBe(1);
}

/** A blocking call on fd that would hang (a bug) fails with EAGAIN after 5 s instead. */
function guard(fd: number): number {
  const tv = Buffer.alloc(16);
  if (endianness() === 'LE') tv.writeBigInt64LE(5n, 0);
  else tv.writeBigInt64BE(5n, 0);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv);
  return fd;
}

function tcpPair(family: Family): { client: number; server: number } {
  const p = rawTcpPair(family);
  return { client: guard(p.client), server: guard(p.server) };
}

function udpPair(family: Family): ReturnType<typeof rawUdpPair> {
  const p = rawUdpPair(family);
  guard(p.a);
  guard(p.b);
  return p;
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

describe('send(2) and recv(2) on a connected stream', () => {
  it('sendSync and recvSync with flags 0 round-trip the bytes; len undefined is byteLength', () => {
    const { client, server } = tcpPair('ipv4');
    expect(sendSync(client, Buffer.from('hello'), undefined, 0)).toBe(5);
    const buf = Buffer.alloc(16);
    expect(recvSync(server, buf, undefined, 0)).toBe(5);
    expect(buf.toString('latin1', 0, 5)).toBe('hello');
  });

  it('an explicit len sends and receives only that many bytes', () => {
    const { client, server } = tcpPair('ipv4');
    expect(sendSync(client, Buffer.from('abcdef'), 2, 0)).toBe(2);
    expect(sendSync(client, Buffer.from('XYZ'), 3, MSG_NOSIGNAL)).toBe(3);
    const buf = Buffer.alloc(8, 0x2e);
    expect(recvSync(server, buf, 1, 0)).toBe(1);
    expect(buf.toString('latin1')).toBe('a.......');
    expect(recvSync(server, buf.subarray(1), 4, MSG_WAITALL)).toBe(4);
    expect(buf.toString('latin1')).toBe('abXYZ...');
  });

  it('MSG_PEEK returns the data and leaves it queued', () => {
    const { client, server } = tcpPair('ipv6');
    sendSync(client, Buffer.from('peekaboo'), undefined, 0);
    const buf = Buffer.alloc(8);
    expect(recvSync(server, buf, 4, MSG_PEEK)).toBe(4);
    expect(buf.toString('latin1', 0, 4)).toBe('peek');
    expect(recvSync(server, buf, undefined, MSG_PEEK)).toBe(8);
    expect(recvSync(server, buf.fill(0), undefined, 0)).toBe(8);
    expect(buf.toString('latin1')).toBe('peekaboo');
  });

  it('MSG_WAITALL gathers len bytes queued by several sends', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, 0).map(track).map(guard);
    sendSync(a, Buffer.from('one-'), undefined, 0);
    sendSync(a, Buffer.from('two-'), undefined, 0);
    sendSync(a, Buffer.from('three'), undefined, 0);
    const buf = Buffer.alloc(13);
    expect(recvSync(b, buf, 13, MSG_WAITALL)).toBe(13);
    expect(buf.toString('latin1')).toBe('one-two-three');
  });

  it('MSG_DONTWAIT fails with EAGAIN on an empty blocking socket and leaves it blocking', () => {
    const { server } = tcpPair('unix');
    const err = sysError(() => recvSync(server, Buffer.alloc(4), undefined, MSG_DONTWAIT));
    expect(err.code).toBe('EAGAIN');
    expect(err.errno).toBe(E.EAGAIN);
    expect(err.syscall).toBe('recv');
    expect(err.message).toBe('recv EAGAIN');
    expect(fcntl(server, F_GETFL) & O_NONBLOCK).toBe(0);
  });

  it('recvSync fails with EAGAIN on an empty non-blocking socket', () => {
    const [a] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0).map(track);
    const err = sysError(() => recvSync(a, Buffer.alloc(4), undefined, 0));
    expect(err.code).toBe('EAGAIN');
    expect(err.syscall).toBe('recv');
  });

  it('recvSync returns 0 after the peer closes', () => {
    const { client, server } = tcpPair('ipv4');
    close(client);
    expect(recvSync(server, Buffer.alloc(4), undefined, 0)).toBe(0);
  });

  it('sendSync fails with EPIPE when the peer is gone (no SIGPIPE)', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, 0).map(track);
    close(b);
    const err = sysError(() => sendSync(a, Buffer.from('x'), undefined, 0));
    expect(err.code).toBe('EPIPE');
    expect(err.errno).toBe(E.EPIPE);
    expect(err.syscall).toBe('send');
    expect(err.message).toBe('send EPIPE');
  });

  it('sendSync and recvSync fail with EBADF on a closed fd', () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    expect(sysError(() => sendSync(fd, Buffer.from('x'), undefined, 0))).toMatchObject({
      code: 'EBADF', errno: E.EBADF, syscall: 'send', message: 'send EBADF',
    });
    expect(sysError(() => recvSync(fd, Buffer.alloc(1), undefined, 0))).toMatchObject({
      code: 'EBADF', errno: E.EBADF, syscall: 'recv', message: 'recv EBADF',
    });
  });

  it('sendSync on an unconnected UDP socket fails with EDESTADDRREQ', () => {
    const fd = track(socket(AF_INET, SOCK_DGRAM, 0));
    const err = sysError(() => sendSync(fd, Buffer.from('x'), undefined, 0));
    expect(err.code).toBe('EDESTADDRREQ');
    expect(err.errno).toBe(E.EDESTADDRREQ);
    expect(err.syscall).toBe('send');
  });

  it('recvfromSync on a connected TCP socket gives addr null', () => {
    const { client, server } = tcpPair('ipv4');
    sendSync(client, Buffer.from('hi'), undefined, 0);
    const buf = Buffer.alloc(4);
    expect(recvfromSync(server, buf, undefined, 0)).toEqual({ nbytes: 2, addr: null });
    expect(buf.toString('latin1', 0, 2)).toBe('hi');
  });

  it('recvfromSync on an unnamed socketpair gives addr null', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET, 0).map(track);
    sendSync(a, Buffer.from('seq'), undefined, 0);
    expect(recvfromSync(b, Buffer.alloc(4), undefined, 0)).toEqual({ nbytes: 3, addr: null });
  });
});

describe.each(FAMILIES)('sendto(2) and recvfrom(2) on %s datagram sockets', (family) => {
  it("recvfromSync gives the bytes and the sender's address", () => {
    const { a, b, addrA, addrB } = udpPair(family);
    expect(sendtoSync(a, Buffer.from('datagram'), undefined, 0, addrB)).toBe(8);
    waitReadable(b);
    const buf = Buffer.alloc(32);
    const r = recvfromSync(b, buf, undefined, 0);
    expect(r).toEqual({ nbytes: 8, addr: addrA });
    expect(r.addr).toEqual(getsockname(a));
    expect(buf.toString('latin1', 0, 8)).toBe('datagram');
  });

  it('keeps datagram boundaries, in order', () => {
    const { a, b, addrA, addrB } = udpPair(family);
    sendtoSync(a, Buffer.from('first'), undefined, 0, addrB);
    sendtoSync(a, Buffer.from('2nd'), undefined, 0, addrB);
    sendtoSync(a, Buffer.from('xxthirdxx'), 7, 0, addrB);
    waitReadable(b);
    const buf = Buffer.alloc(32);
    expect(recvfromSync(b, buf, undefined, 0)).toEqual({ nbytes: 5, addr: addrA });
    expect(buf.toString('latin1', 0, 5)).toBe('first');
    expect(recvfromSync(b, buf, undefined, 0)).toEqual({ nbytes: 3, addr: addrA });
    expect(buf.toString('latin1', 0, 3)).toBe('2nd');
    expect(recvfromSync(b, buf, undefined, 0)).toEqual({ nbytes: 7, addr: addrA });
    expect(buf.toString('latin1', 0, 7)).toBe('xxthird');
  });

  it('a zero-length datagram is sent and received as 0 bytes', () => {
    const { a, b, addrA, addrB } = udpPair(family);
    expect(sendtoSync(a, Buffer.alloc(0), undefined, 0, addrB)).toBe(0);
    waitReadable(b);
    expect(recvfromSync(b, Buffer.alloc(4), undefined, 0)).toEqual({ nbytes: 0, addr: addrA });
  });

  it('a short buffer truncates the datagram; with MSG_TRUNC nbytes is its real length', () => {
    const { a, b, addrA, addrB } = udpPair(family);
    const data = Buffer.from('0123456789abcdefghij');
    sendtoSync(a, data, undefined, 0, addrB);
    sendtoSync(a, data, undefined, 0, addrB);
    waitReadable(b);
    const small = Buffer.alloc(6);
    expect(recvfromSync(b, small, undefined, MSG_TRUNC)).toEqual({ nbytes: 20, addr: addrA });
    expect(small.toString('latin1')).toBe('012345');
    // Without MSG_TRUNC: the bytes that fit; the rest of the datagram is discarded.
    small.fill(0);
    expect(recvfromSync(b, small, 4, 0)).toEqual({ nbytes: 4, addr: addrA });
    expect(small.toString('latin1', 0, 4)).toBe('0123');
    expect(sysError(() => recvfromSync(b, small, undefined, MSG_DONTWAIT)).code).toBe('EAGAIN');
  });

  it('MSG_PEEK leaves the datagram queued', () => {
    const { a, b, addrA, addrB } = udpPair(family);
    sendtoSync(a, Buffer.from('peek'), undefined, 0, addrB);
    waitReadable(b);
    const buf = Buffer.alloc(8);
    expect(recvfromSync(b, buf, undefined, MSG_PEEK)).toEqual({ nbytes: 4, addr: addrA });
    expect(recvfromSync(b, buf, undefined, 0)).toEqual({ nbytes: 4, addr: addrA });
    expect(buf.toString('latin1', 0, 4)).toBe('peek');
  });

  it('recvfromSync with MSG_DONTWAIT on an empty socket fails with EAGAIN', () => {
    const { b } = udpPair(family);
    const err = sysError(() => recvfromSync(b, Buffer.alloc(4), undefined, MSG_DONTWAIT));
    expect(err.code).toBe('EAGAIN');
    expect(err.errno).toBe(E.EAGAIN);
    expect(err.syscall).toBe('recvfrom');
    expect(err.message).toBe('recvfrom EAGAIN');
  });

  it('a connected datagram socket uses sendSync/recvSync and only hears its peer', () => {
    const { a, b, addrA, addrB } = udpPair(family);
    connectSync(a, addrB);
    connectSync(b, addrA);
    expect(sendSync(a, Buffer.from('conn'), undefined, 0)).toBe(4);
    waitReadable(b);
    const buf = Buffer.alloc(8);
    expect(recvSync(b, buf, undefined, 0)).toBe(4);
    expect(buf.toString('latin1', 0, 4)).toBe('conn');
    sendSync(b, Buffer.from('back'), undefined, 0);
    waitReadable(a);
    expect(recvfromSync(a, buf, undefined, 0)).toEqual({ nbytes: 4, addr: addrB });
  });

  it('a datagram too large fails with EMSGSIZE, with the destination in the error', () => {
    const { a, addrB } = udpPair(family);
    // UDP: 65535 - IP and UDP headers; a Unix datagram may not exceed the send buffer.
    const size = family === 'unix' ? 4 * 1024 * 1024 : 65536;
    const err = sysError(() => sendtoSync(a, Buffer.alloc(size), undefined, 0, addrB));
    expect(err.code).toBe('EMSGSIZE');
    expect(err.errno).toBe(E.EMSGSIZE);
    expect(err.syscall).toBe('sendto');
    expect(err.message).toBe(`sendto EMSGSIZE ${text(addrB)}`);
    if ('path' in addrB) expect(err.path).toBe(addrB.path);
    else {
      expect(err.address).toBe(addrB.address);
      expect(err.port).toBe(addrB.port);
    }
  });

  it('sendtoSync with a closed fd fails with EBADF and names the destination', () => {
    const { addrB } = udpPair(family);
    const fd = socket(domainOf(family), SOCK_DGRAM, 0);
    close(fd);
    const err = sysError(() => sendtoSync(fd, Buffer.from('x'), undefined, 0, addrB));
    expect(err.code).toBe('EBADF');
    expect(err.message).toBe(`sendto EBADF ${text(addrB)}`);
  });
});

describe('a destination object used again', () => {
  it('after its port changes, the next datagram goes to the new port', () => {
    const { a, b, addrA, addrB } = udpPair('ipv4');
    const c = guard(track(socket(AF_INET, SOCK_DGRAM, 0)));
    bind(c, { family: AF_INET, address: '127.0.0.1', port: 0 });
    const dest = { ...(addrB as { family: number; address: string; port: number }) };
    expect(sendtoSync(a, Buffer.from('to b'), undefined, 0, dest)).toBe(4);
    dest.port = (getsockname(c) as { port: number }).port;
    expect(sendtoSync(a, Buffer.from('to c!'), undefined, 0, dest)).toBe(5);
    waitReadable(b);
    waitReadable(c);
    const buf = Buffer.alloc(8);
    expect(recvfromSync(c, buf, undefined, 0)).toEqual({ nbytes: 5, addr: addrA });
    expect(buf.toString('latin1', 0, 5)).toBe('to c!');
    expect(recvfromSync(b, buf, undefined, 0)).toEqual({ nbytes: 4, addr: addrA });
    expect(sysError(() => recvfromSync(b, buf, undefined, MSG_DONTWAIT)).code).toBe('EAGAIN');
  });

  it('after it becomes invalid, it is rejected again before any system call', () => {
    const { a, addrB } = udpPair('ipv4');
    const dest = { ...(addrB as { family: number; address: string; port: number }) };
    sendtoSync(a, Buffer.from('ok'), undefined, 0, dest);
    dest.port = 70000;
    expect(() => sendtoSync(a, Buffer.from('x'), undefined, 0, dest)).toThrow(RangeError);
    dest.port = 9;
    dest.address = 'not-an-ip';
    expect(() => sendtoSync(a, Buffer.from('x'), undefined, 0, dest)).toThrow(TypeError);
  });

  it('on a socket of another family, it is a TypeError', () => {
    const { a, addrB } = udpPair('ipv4');
    const v6 = track(socket(AF_INET6, SOCK_DGRAM, 0));
    sendtoSync(a, Buffer.from('ok'), undefined, 0, addrB);
    expect(() => sendtoSync(v6, Buffer.from('x'), undefined, 0, addrB)).toThrow(/"destAddr\.family".*does not match/);
  });
});

describe('datagram edge cases', () => {
  it('the largest UDP/IPv4 datagram (65507 bytes) is sent whole, 65508 is EMSGSIZE', () => {
    const { a, b, addrA, addrB } = udpPair('ipv4');
    const big = Buffer.alloc(65507, 7);
    big[65506] = 9;
    expect(sendtoSync(a, big, undefined, 0, addrB)).toBe(65507);
    waitReadable(b);
    const into = Buffer.alloc(70000);
    expect(recvfromSync(b, into, undefined, 0)).toEqual({ nbytes: 65507, addr: addrA });
    expect(into[65506]).toBe(9);
    expect(sysError(() => sendtoSync(a, Buffer.alloc(65508), undefined, 0, addrB)).code).toBe('EMSGSIZE');
  });

  it('an unbound Unix datagram sender gives addr null', () => {
    const { b, addrB } = udpPair('unix');
    const sender = track(socket(AF_UNIX, SOCK_DGRAM, 0));
    expect(sendtoSync(sender, Buffer.from('anon'), undefined, 0, addrB)).toBe(4);
    waitReadable(b);
    const buf = Buffer.alloc(8);
    expect(recvfromSync(b, buf, undefined, 0)).toEqual({ nbytes: 4, addr: null });
    expect(buf.toString('latin1', 0, 4)).toBe('anon');
  });

  it('an abstract-named Unix sender is reported by its abstract name', () => {
    const { b, addrB } = udpPair('unix');
    const sender = track(socket(AF_UNIX, SOCK_DGRAM, 0));
    const name = `\0bsd-sockets-send-recv-${process.pid}\0x`;
    bind(sender, { family: AF_UNIX, path: name });
    sendtoSync(sender, Buffer.from('abs'), undefined, 0, addrB);
    waitReadable(b);
    expect(recvfromSync(b, Buffer.alloc(8), undefined, 0)).toEqual({ nbytes: 3, addr: { family: AF_UNIX, path: name } });
  });

  it('a connected UDP socket gets ECONNREFUSED from recvSync after sending to a closed port', () => {
    const gone = track(socket(AF_INET, SOCK_DGRAM, 0));
    bind(gone, { family: AF_INET, address: '127.0.0.1', port: 0 });
    const dead = getsockname(gone);
    close(gone);
    const fd = track(socket(AF_INET, SOCK_DGRAM, 0));
    connectSync(fd, dead);
    expect(sendSync(fd, Buffer.from('x'), undefined, 0)).toBe(1);
    const fds: PollFd[] = [{ fd, events: POLLIN }];
    expect(pollSync(fds, 5000)).toBe(1);
    expect(fds[0].revents).toBe(POLLERR);
    const err = sysError(() => recvSync(fd, Buffer.alloc(4), undefined, 0));
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.errno).toBe(E.ECONNREFUSED);
    expect(err.syscall).toBe('recv');
  });
});
