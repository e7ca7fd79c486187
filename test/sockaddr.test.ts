// Socket addresses: JS objects <-> struct sockaddr_in / sockaddr_in6 /
// sockaddr_un, round-tripped through the kernel with bind/connect and
// getsockname/getpeername, and the checks made before any system call.
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, AF_UNIX, IPPROTO_IPV6, SOCK_DGRAM, SOCK_STREAM, type Sockaddr, acceptSync, bind, close, connectSync, getaddrinfoSync, getpeername,
  getsockname, listen, recvfromSync, sendtoSync, setsockopt, socket, AI_NUMERICHOST,
  AI_NUMERICSERV,
} from '../lib/index';
import { native } from '../lib/binding';
import { openFds } from './helpers/fds';
import { closeAll, track, unixPath } from './helpers/pairs';
import { sysError, throwsWithoutSyscall } from './helpers/errors';

const E = osConstants.errno;
/** <linux/in6.h>: getpeername() reports the flowinfo given to connect(). */
const IPV6_FLOWINFO_SEND = 33;
/** sizeof(sockaddr_un::sun_path) on Linux. */
const SUN_PATH = 108;

/** A unique abstract name for this process. */
let abstractCounter = 0;
function abstractName(tag = 'x'): string {
  return `\0bsd-sockets-test-${process.pid}-${abstractCounter++}-${tag}`;
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

describe('struct sockaddr_in', () => {
  it('bind to 127.0.0.1 port 0: getsockname gives the kernel-chosen port', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    expect(bind(fd, { family: AF_INET, address: '127.0.0.1', port: 0 })).toBe(0);
    const name = getsockname(fd) as { family: number; address: string; port: number };
    expect(Object.keys(name).sort()).toEqual(['address', 'family', 'port']);
    expect(name.family).toBe(AF_INET);
    expect(name.address).toBe('127.0.0.1');
    expect(Number.isInteger(name.port)).toBe(true);
    expect(name.port).toBeGreaterThan(0);
    expect(name.port).toBeLessThanOrEqual(65535);
  });

  it('0.0.0.0 packs as INADDR_ANY: an all-zero sin_addr, the port in network byte order', () => {
    // The struct bind/connect/sendto would hand the kernel, checked without
    // binding the wildcard; the way back is the unbound socket's test below.
    const any = native.packSockaddr({ family: AF_INET, address: '0.0.0.0', port: 0x1234 });
    const lo = native.packSockaddr({ family: AF_INET, address: '127.0.0.1', port: 0x1234 });
    expect(any.length).toBe(16); // sizeof(struct sockaddr_in)
    expect([...any.subarray(2, 16)]).toEqual([0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect([...lo.subarray(2, 8)]).toEqual([0x12, 0x34, 127, 0, 0, 1]);
    expect([...any.subarray(0, 2)]).toEqual([...lo.subarray(0, 2)]); // sin_family, host byte order
  });

  it('an unbound socket (INADDR_ANY, port 0) reads back as 0.0.0.0:0', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    expect(getsockname(fd)).toEqual({ family: AF_INET, address: '0.0.0.0', port: 0 });
  });

  it('a port (network byte order) round-trips through connect and getpeername', () => {
    const l = track(socket(AF_INET, SOCK_STREAM, 0));
    bind(l, { family: AF_INET, address: '127.0.0.1', port: 0 });
    listen(l, 1);
    const { port } = getsockname(l) as { port: number };
    const c = track(socket(AF_INET, SOCK_STREAM, 0));
    connectSync(c, { family: AF_INET, address: '127.0.0.1', port });
    expect(getpeername(c)).toEqual({ family: AF_INET, address: '127.0.0.1', port });
    track(acceptSync(l).fd);
  });
});

describe('struct sockaddr_in6', () => {
  it('bind to ::1 gives family, address, port, flowinfo 0 and scopeId 0', () => {
    const fd = track(socket(AF_INET6, SOCK_STREAM, 0));
    bind(fd, { family: AF_INET6, address: '::1', port: 0 });
    const name = getsockname(fd) as { port: number };
    expect(name).toEqual({ family: AF_INET6, address: '::1', port: name.port, flowinfo: 0, scopeId: 0 });
    expect(name.port).toBeGreaterThan(0);
  });

  it('accepts flowinfo and scopeId on bind (Linux keeps a scope only for link-local addresses)', () => {
    const fd = track(socket(AF_INET6, SOCK_DGRAM, 0));
    bind(fd, { family: AF_INET6, address: '::1', port: 0, flowinfo: 0x12345, scopeId: 1 });
    expect(getsockname(fd)).toMatchObject({ family: AF_INET6, address: '::1', flowinfo: 0, scopeId: 0 });
  });

  it('flowinfo round-trips in host byte order via connect and getpeername (IPV6_FLOWINFO_SEND)', () => {
    const server = track(socket(AF_INET6, SOCK_DGRAM, 0));
    bind(server, { family: AF_INET6, address: '::1', port: 0 });
    const { port } = getsockname(server) as { port: number };
    const fd = track(socket(AF_INET6, SOCK_DGRAM, 0));
    setsockopt(fd, IPPROTO_IPV6, IPV6_FLOWINFO_SEND, 1);
    // Traffic-class bits only: a flow label would need IPV6_FLOWLABEL_MGR.
    const flowinfo = 0x0ab00000;
    connectSync(fd, { family: AF_INET6, address: '::1', port, flowinfo });
    expect(getpeername(fd)).toEqual({ family: AF_INET6, address: '::1', port, flowinfo, scopeId: 0 });
  });

  it('scopeId is read back from a sockaddr_in6 (getaddrinfo of "::1%1")', () => {
    const [ai] = getaddrinfoSync('::1%1', '7', { flags: AI_NUMERICHOST | AI_NUMERICSERV, socktype: SOCK_DGRAM });
    expect(ai.addr).toEqual({ family: AF_INET6, address: '::1', port: 7, flowinfo: 0, scopeId: 1 });
  });

  it('long and compressed forms read back in canonical text', () => {
    const fd = track(socket(AF_INET6, SOCK_DGRAM, 0));
    bind(fd, { family: AF_INET6, address: '0:0:0:0:0:0:0:1', port: 0 });
    expect(getsockname(fd)).toMatchObject({ address: '::1' });
  });

  it('IPv4-mapped addresses come back as ::ffff:a.b.c.d', () => {
    const v6 = track(socket(AF_INET6, SOCK_DGRAM, 0));
    bind(v6, { family: AF_INET6, address: '::ffff:127.0.0.1', port: 0 });
    const to = getsockname(v6) as { port: number };
    expect(to).toMatchObject({ family: AF_INET6, address: '::ffff:127.0.0.1' });
    const v4 = track(socket(AF_INET, SOCK_DGRAM, 0));
    bind(v4, { family: AF_INET, address: '127.0.0.1', port: 0 });
    const from = getsockname(v4) as { port: number };
    sendtoSync(v4, Buffer.from('m'), undefined, 0, { family: AF_INET, address: '127.0.0.1', port: to.port });
    const r = recvfromSync(v6, Buffer.alloc(4), undefined, 0);
    expect(r).toEqual({
      nbytes: 1,
      addr: { family: AF_INET6, address: '::ffff:127.0.0.1', port: from.port, flowinfo: 0, scopeId: 0 },
    });
  });
});

describe('struct sockaddr_un', () => {
  it('a filesystem path round-trips and creates a socket file', () => {
    const p = unixPath();
    const fd = track(socket(AF_UNIX, SOCK_STREAM, 0));
    bind(fd, { family: AF_UNIX, path: p });
    expect(getsockname(fd)).toEqual({ family: AF_UNIX, path: p });
    expect(fs.statSync(p).isSocket()).toBe(true);
  });

  it('a path of 107 bytes (sun_path less its NUL) reaches the kernel', () => {
    const p = path.join(path.dirname(unixPath()), 'x');
    const long = p + 'y'.repeat(SUN_PATH - 1 - Buffer.byteLength(p));
    expect(Buffer.byteLength(long)).toBe(107);
    const fd = track(socket(AF_UNIX, SOCK_STREAM, 0));
    bind(fd, { family: AF_UNIX, path: long });
    expect(getsockname(fd)).toEqual({ family: AF_UNIX, path: long });
    fs.unlinkSync(long);
  });

  it('a UTF-8 path round-trips byte for byte', () => {
    const p = path.join(path.dirname(unixPath()), 'sock-é-ü-✓');
    const fd = track(socket(AF_UNIX, SOCK_DGRAM, 0));
    bind(fd, { family: AF_UNIX, path: p });
    expect(getsockname(fd)).toEqual({ family: AF_UNIX, path: p });
    expect(fs.existsSync(p)).toBe(true);
    fs.unlinkSync(p);
  });

  it("an unbound socket's name is '' (the unnamed address)", () => {
    const fd = track(socket(AF_UNIX, SOCK_STREAM, 0));
    expect(getsockname(fd)).toEqual({ family: AF_UNIX, path: '' });
  });

  it("bind with '' autobinds to a kernel-chosen abstract name (Linux: NUL + 5 hex digits)", () => {
    const fd = track(socket(AF_UNIX, SOCK_DGRAM, 0));
    expect(bind(fd, { family: AF_UNIX, path: '' })).toBe(0);
    const { path: name } = getsockname(fd) as { path: string };
    expect(name).toMatch(/^\0[0-9a-f]{5}$/);
    // The name is usable as an address.
    const sender = track(socket(AF_UNIX, SOCK_DGRAM, 0));
    expect(sendtoSync(sender, Buffer.from('hi'), undefined, 0, { family: AF_UNIX, path: name })).toBe(2);
    expect(recvfromSync(fd, Buffer.alloc(4), undefined, 0)).toEqual({ nbytes: 2, addr: null });
  });

  it('an abstract name round-trips without creating a file', () => {
    const name = abstractName();
    const fd = track(socket(AF_UNIX, SOCK_STREAM, 0));
    bind(fd, { family: AF_UNIX, path: name });
    expect(getsockname(fd)).toEqual({ family: AF_UNIX, path: name });
    expect(fs.existsSync(name.slice(1))).toBe(false);
  });

  it('an abstract name keeps embedded and trailing NULs; its length is part of the name', () => {
    const name = `${abstractName('nul')}\0a\0b\0`;
    const fd = track(socket(AF_UNIX, SOCK_STREAM, 0));
    bind(fd, { family: AF_UNIX, path: name });
    listen(fd, 4);
    expect(getsockname(fd)).toEqual({ family: AF_UNIX, path: name });

    const client = track(socket(AF_UNIX, SOCK_STREAM, 0));
    connectSync(client, { family: AF_UNIX, path: name });
    expect(getpeername(client)).toEqual({ family: AF_UNIX, path: name });
    const accepted = acceptSync(fd);
    track(accepted.fd);
    expect(accepted.addr).toEqual({ family: AF_UNIX, path: '' });
    expect(getsockname(accepted.fd)).toEqual({ family: AF_UNIX, path: name });

    // The prefix before the last NUL is a different name, with no listener.
    const prefix = name.slice(0, -1);
    const other = track(socket(AF_UNIX, SOCK_STREAM, 0));
    const err = sysError(() => connectSync(other, { family: AF_UNIX, path: prefix }));
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.errno).toBe(E.ECONNREFUSED);
    expect(err.path).toBe(prefix);
  });

  it('an abstract name may fill all 108 bytes of sun_path', () => {
    const base = abstractName('full');
    const name = base + 'z'.repeat(SUN_PATH - base.length);
    expect(Buffer.byteLength(name)).toBe(SUN_PATH);
    const fd = track(socket(AF_UNIX, SOCK_DGRAM, 0));
    bind(fd, { family: AF_UNIX, path: name });
    expect(getsockname(fd)).toEqual({ family: AF_UNIX, path: name });
  });
});

describe('address checks before any system call', () => {
  let fd4: number;
  let fd6: number;
  let fdUnix: number;
  beforeAll(() => {
    fd4 = socket(AF_INET, SOCK_STREAM, 0);
    fd6 = socket(AF_INET6, SOCK_STREAM, 0);
    fdUnix = socket(AF_UNIX, SOCK_STREAM, 0);
  });
  afterAll(() => {
    close(fd4);
    close(fd6);
    close(fdUnix);
  });

  it('a path one byte too long for sun_path is a RangeError (bind, connectSync, sendtoSync)', () => {
    const long = '/tmp/' + 'a'.repeat(SUN_PATH - 5); // 108 bytes: no room for the NUL.
    expect(Buffer.byteLength(long)).toBe(108);
    const addr = { family: AF_UNIX, path: long };
    throwsWithoutSyscall(() => bind(fdUnix, addr), RangeError, /"addr\.path".*too long.*108 bytes, at most 107/);
    throwsWithoutSyscall(() => connectSync(fdUnix, addr), RangeError, /"addr\.path"/);
    const dgram = track(socket(AF_UNIX, SOCK_DGRAM, 0));
    throwsWithoutSyscall(() => sendtoSync(dgram, Buffer.from('x'), undefined, 0, addr), RangeError, /"destAddr\.path"/);
  });

  it('the limit counts UTF-8 bytes, not characters', () => {
    const long = '/' + 'é'.repeat(54); // 55 characters, 109 bytes.
    throwsWithoutSyscall(() => bind(fdUnix, { family: AF_UNIX, path: long }), RangeError, /109 bytes, at most 107/);
  });

  it('an abstract name of 109 bytes is a RangeError', () => {
    const name = '\0' + 'a'.repeat(SUN_PATH);
    throwsWithoutSyscall(() => bind(fdUnix, { family: AF_UNIX, path: name }), RangeError, /109 bytes, at most 108/);
  });

  it('a NUL inside a filesystem path is a TypeError', () => {
    throwsWithoutSyscall(() => bind(fdUnix, { family: AF_UNIX, path: '/tmp/a\0b' }), TypeError, /"addr\.path".*NUL/);
  });

  it.each([
    // Unparsable, so no system call is made; loopback-shaped all the same.
    ['127.0.0.256'], ['127.0.1'], ['127.0.0.1 '], ['localhost'], [''], ['::1'], ['127.00.0.01x'],
  ])('an unparsable IPv4 address %j is a TypeError', (address) => {
    throwsWithoutSyscall(() => bind(fd4, { family: AF_INET, address, port: 0 }), TypeError,
      /"addr\.address" property must be an IPv4 address/);
    throwsWithoutSyscall(() => connectSync(fd4, { family: AF_INET, address, port: 80 }), TypeError, /IPv4/);
  });

  it.each([
    ['127.0.0.1'], [':::1'], ['::g'], ['fe80::1%lo'], ['localhost'], [''],
  ])('an unparsable IPv6 address %j is a TypeError', (address) => {
    throwsWithoutSyscall(() => bind(fd6, { family: AF_INET6, address, port: 0 }), TypeError,
      /"addr\.address" property must be an IPv6 address/);
  });

  it('an address that is not a string is a TypeError', () => {
    const addr = { family: AF_INET, address: 0x7f000001, port: 0 } as unknown as Sockaddr;
    throwsWithoutSyscall(() => bind(fd4, addr), TypeError, /"addr\.address" property must be of type string/);
  });

  it.each([[-1], [65536], [1.5], [NaN], [Infinity]])('port %s is a RangeError', (port) => {
    throwsWithoutSyscall(() => bind(fd4, { family: AF_INET, address: '127.0.0.1', port }), RangeError, /"addr\.port"/);
    throwsWithoutSyscall(() => bind(fd6, { family: AF_INET6, address: '::1', port }), RangeError, /"addr\.port"/);
  });

  it('a port that is not a number is a TypeError', () => {
    const addr = { family: AF_INET, address: '127.0.0.1', port: '80' } as unknown as Sockaddr;
    throwsWithoutSyscall(() => bind(fd4, addr), TypeError, /"addr\.port" argument must be of type number/);
    const noPort = { family: AF_INET, address: '127.0.0.1' } as unknown as Sockaddr;
    throwsWithoutSyscall(() => bind(fd4, noPort), TypeError, /"addr\.port"/);
  });

  it('flowinfo and scopeId outside 0..2^32-1 are RangeErrors', () => {
    throwsWithoutSyscall(() => bind(fd6, { family: AF_INET6, address: '::1', port: 0, flowinfo: -1 }), RangeError,
      /"addr\.flowinfo"/);
    throwsWithoutSyscall(() => bind(fd6, { family: AF_INET6, address: '::1', port: 0, scopeId: 2 ** 32 }), RangeError,
      /"addr\.scopeId"/);
  });

  it('an address whose family differs from the socket is a TypeError', () => {
    throwsWithoutSyscall(() => bind(fd4, { family: AF_INET6, address: '::1', port: 0 }), TypeError,
      /"addr\.family".*does not match the socket's domain/);
    throwsWithoutSyscall(() => connectSync(fd6, { family: AF_INET, address: '127.0.0.1', port: 1 }), TypeError,
      /does not match/);
    throwsWithoutSyscall(() => bind(fdUnix, { family: AF_INET, address: '127.0.0.1', port: 0 }), TypeError,
      /does not match/);
    const udp = track(socket(AF_INET, SOCK_DGRAM, 0));
    throwsWithoutSyscall(() => sendtoSync(udp, Buffer.from('x'), undefined, 0, { family: AF_UNIX, path: '/tmp/x' }),
      TypeError, /"destAddr\.family".*does not match/);
  });

  it('an unknown family is a RangeError', () => {
    throwsWithoutSyscall(() => bind(fd4, { family: 12345, address: '127.0.0.1', port: 0 }), RangeError,
      /"addr\.family" property must be AF_INET, AF_INET6 or AF_UNIX/);
  });

  it('an address that is not an object is a TypeError', () => {
    for (const bad of [null, undefined, 'x', 42]) {
      throwsWithoutSyscall(() => bind(fd4, bad as unknown as Sockaddr), TypeError,
        /"addr" argument must be a socket address object/);
    }
  });

  it('a Unix address without a string path is a TypeError', () => {
    throwsWithoutSyscall(() => bind(fdUnix, { family: AF_UNIX } as unknown as Sockaddr), TypeError,
      /"addr\.path" property must be of type string/);
  });
});
