// setsockopt(2) and getsockopt(2): set -> get round trips (ints, booleans,
// raw bytes), read-only options, and the kernel's errors.
import * as fs from 'node:fs';
import { constants as osConstants, endianness } from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, AF_UNIX, IPPROTO_IPV6, IPPROTO_TCP, IPV6_V6ONLY, SOCK_DGRAM, SOCK_STREAM,
  SOL_SOCKET, SO_ACCEPTCONN, SO_BROADCAST, SO_DOMAIN, SO_ERROR, SO_KEEPALIVE, SO_LINGER, SO_PROTOCOL,
  SO_RCVBUF, SO_RCVTIMEO, SO_REUSEADDR, SO_REUSEPORT, SO_SNDBUF, SO_SNDTIMEO, SO_TYPE, SOCK_NONBLOCK,
  TCP_NODELAY, bind, close, connectSync, getsockname, getsockopt,
  listen, pollSync, POLLOUT, readSync, setsockopt, socket, socketpair,
} from '../lib/index';
import { openFds } from './helpers/fds';
import { closeAll, refusedPort, track, unixPath } from './helpers/pairs';
import { sysError } from './helpers/errors';

const E = osConstants.errno;
const LE = endianness() === 'LE';

/** struct linger { int l_onoff; int l_linger; }. */
function linger(onoff: number, secs: number): Buffer {
  const b = Buffer.alloc(8);
  if (LE) {
    b.writeInt32LE(onoff, 0);
    b.writeInt32LE(secs, 4);
  } else {
    b.writeInt32BE(onoff, 0);
    b.writeInt32BE(secs, 4);
  }
  return b;
}

/** struct timeval { time_t tv_sec; suseconds_t tv_usec; } on a 64-bit platform. */
function timeval(sec: number, usec: number): Buffer {
  const b = Buffer.alloc(16);
  if (LE) {
    b.writeBigInt64LE(BigInt(sec), 0);
    b.writeBigInt64LE(BigInt(usec), 8);
  } else {
    b.writeBigInt64BE(BigInt(sec), 0);
    b.writeBigInt64BE(BigInt(usec), 8);
  }
  return b;
}

function tcp(): number {
  return track(socket(AF_INET, SOCK_STREAM, 0));
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

describe('boolean options: set -> get round trip', () => {
  it.each([
    ['SO_REUSEADDR', () => tcp(), SOL_SOCKET, SO_REUSEADDR],
    ['SO_REUSEPORT', () => tcp(), SOL_SOCKET, SO_REUSEPORT],
    ['SO_KEEPALIVE', () => tcp(), SOL_SOCKET, SO_KEEPALIVE],
    ['SO_BROADCAST', () => track(socket(AF_INET, SOCK_DGRAM, 0)), SOL_SOCKET, SO_BROADCAST],
    ['TCP_NODELAY', () => tcp(), IPPROTO_TCP, TCP_NODELAY],
    ['IPV6_V6ONLY', () => track(socket(AF_INET6, SOCK_STREAM, 0)), IPPROTO_IPV6, IPV6_V6ONLY],
  ])('%s: default 0; 1, true, false and 0 read back as 1, 1, 0, 0', (_name, make, level, optname) => {
    const fd = make();
    // Linux's default IPV6_V6ONLY is net.ipv6.bindv6only.
    const initial = optname === IPV6_V6ONLY && level === IPPROTO_IPV6
      ? Number(fs.readFileSync('/proc/sys/net/ipv6/bindv6only', 'utf8').trim())
      : 0;
    expect(getsockopt(fd, level, optname)).toBe(initial);
    expect(setsockopt(fd, level, optname, 1)).toBe(0);
    expect(getsockopt(fd, level, optname)).toBe(1);
    expect(setsockopt(fd, level, optname, false)).toBe(0);
    expect(getsockopt(fd, level, optname)).toBe(0);
    expect(setsockopt(fd, level, optname, true)).toBe(0);
    expect(getsockopt(fd, level, optname)).toBe(1);
    expect(setsockopt(fd, level, optname, 0)).toBe(0);
    expect(getsockopt(fd, level, optname)).toBe(0);
  });

  it('any non-zero int turns a boolean option on; the kernel reads back 1', () => {
    const fd = tcp();
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, 5);
    expect(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE)).toBe(1);
  });
});

describe('buffer sizes', () => {
  it.each([['SO_RCVBUF', SO_RCVBUF], ['SO_SNDBUF', SO_SNDBUF]])(
    '%s: Linux doubles the value set (for bookkeeping overhead)', (_name, optname) => {
      const fd = tcp();
      expect(setsockopt(fd, SOL_SOCKET, optname, 65536)).toBe(0);
      expect(getsockopt(fd, SOL_SOCKET, optname)).toBe(131072);
      setsockopt(fd, SOL_SOCKET, optname, 100_000);
      expect(getsockopt(fd, SOL_SOCKET, optname)).toBe(200_000);
    });
});

describe('IPV6_V6ONLY', () => {
  it('with IPV6_V6ONLY on, an IPv4-mapped address cannot be bound (EINVAL); with it off it can', () => {
    const only = track(socket(AF_INET6, SOCK_DGRAM, 0));
    setsockopt(only, IPPROTO_IPV6, IPV6_V6ONLY, true);
    const mapped = { family: AF_INET6, address: '::ffff:127.0.0.1', port: 0 };
    const err = sysError(() => bind(only, mapped));
    expect(err.code).toBe('EINVAL');
    expect(err.errno).toBe(E.EINVAL);
    expect(err.syscall).toBe('bind');
    const dual = track(socket(AF_INET6, SOCK_DGRAM, 0));
    setsockopt(dual, IPPROTO_IPV6, IPV6_V6ONLY, false);
    expect(bind(dual, mapped)).toBe(0);
    expect(getsockname(dual)).toMatchObject({ address: '::ffff:127.0.0.1' });
  });

  it('is not an option of an AF_INET socket: ENOPROTOOPT', () => {
    const fd = tcp();
    const err = sysError(() => setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1));
    expect(err.code).toBe('ENOPROTOOPT');
    expect(err.syscall).toBe('setsockopt');
  });
});

describe('read-only options', () => {
  it.each([
    [AF_INET, SOCK_STREAM, 6],
    [AF_INET, SOCK_DGRAM, 17],
    [AF_INET6, SOCK_STREAM, 6],
    [AF_UNIX, SOCK_DGRAM, 0],
  ])('SO_TYPE, SO_DOMAIN, SO_PROTOCOL of socket(%i, %i)', (domain, type, proto) => {
    const fd = track(socket(domain, type, 0));
    expect(getsockopt(fd, SOL_SOCKET, SO_TYPE)).toBe(type);
    expect(getsockopt(fd, SOL_SOCKET, SO_DOMAIN)).toBe(domain);
    expect(getsockopt(fd, SOL_SOCKET, SO_PROTOCOL)).toBe(proto);
  });

  it('SO_TYPE cannot be set: ENOPROTOOPT, and it is unchanged', () => {
    const fd = tcp();
    const err = sysError(() => setsockopt(fd, SOL_SOCKET, SO_TYPE, SOCK_DGRAM));
    expect(err.code).toBe('ENOPROTOOPT');
    expect(err.errno).toBe(E.ENOPROTOOPT);
    expect(err.syscall).toBe('setsockopt');
    expect(err.message).toBe('setsockopt ENOPROTOOPT');
    expect(getsockopt(fd, SOL_SOCKET, SO_TYPE)).toBe(SOCK_STREAM);
  });

  it('SO_ACCEPTCONN is 0 until listen, then 1', () => {
    const fd = tcp();
    bind(fd, { family: AF_INET, address: '127.0.0.1', port: 0 });
    expect(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN)).toBe(0);
    listen(fd, 1);
    expect(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN)).toBe(1);
  });

  it('SO_ERROR is 0 on a fresh socket; after a refused non-blocking connect it is ECONNREFUSED once', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    expect(getsockopt(fd, SOL_SOCKET, SO_ERROR)).toBe(0);
    const port = refusedPort();
    expect(sysError(() => connectSync(fd, { family: AF_INET, address: '127.0.0.1', port })).code).toBe('EINPROGRESS');
    expect(pollSync([{ fd, events: POLLOUT }], 5000)).toBe(1);
    expect(getsockopt(fd, SOL_SOCKET, SO_ERROR)).toBe(E.ECONNREFUSED);
    expect(getsockopt(fd, SOL_SOCKET, SO_ERROR)).toBe(0);
  });
});

describe('raw bytes (Uint8Array value, getsockopt with buflen)', () => {
  it('SO_LINGER (struct linger, 8 bytes): set -> get round trip', () => {
    const fd = tcp();
    expect(getsockopt(fd, SOL_SOCKET, SO_LINGER, 8)).toEqual(linger(0, 0));
    expect(setsockopt(fd, SOL_SOCKET, SO_LINGER, linger(1, 7))).toBe(0);
    const got = getsockopt(fd, SOL_SOCKET, SO_LINGER, 8);
    expect(Buffer.isBuffer(got)).toBe(true);
    expect(got.length).toBe(8);
    expect(got).toEqual(linger(1, 7));
  });

  it('getsockopt returns optlen bytes when buflen is larger', () => {
    const fd = tcp();
    setsockopt(fd, SOL_SOCKET, SO_LINGER, linger(1, 3));
    expect(getsockopt(fd, SOL_SOCKET, SO_LINGER, 64)).toEqual(linger(1, 3));
  });

  it.each([['SO_RCVTIMEO', SO_RCVTIMEO], ['SO_SNDTIMEO', SO_SNDTIMEO]])(
    '%s (struct timeval, 16 bytes): set -> get round trip', (_name, optname) => {
      const fd = tcp();
      expect(getsockopt(fd, SOL_SOCKET, optname, 16)).toEqual(timeval(0, 0));
      // Kept in jiffies: 0.5 s is exact for HZ 100, 250, 300 and 1000.
      expect(setsockopt(fd, SOL_SOCKET, optname, timeval(2, 500_000))).toBe(0);
      expect(getsockopt(fd, SOL_SOCKET, optname, 16)).toEqual(timeval(2, 500_000));
    });

  it('SO_RCVTIMEO makes a blocking readSync fail with EAGAIN after the timeout', () => {
    const [a] = socketpair(AF_UNIX, SOCK_STREAM, 0).map(track);
    setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, timeval(0, 100_000));
    const t0 = performance.now();
    const err = sysError(() => readSync(a, Buffer.alloc(4)));
    const elapsed = performance.now() - t0;
    expect(err.code).toBe('EAGAIN');
    expect(err.syscall).toBe('read');
    expect(elapsed).toBeGreaterThanOrEqual(90);
    expect(elapsed).toBeLessThan(3000);
  });

  it('an int option as 4 raw bytes: set from an Int32Array, read with buflen 4', () => {
    const fd = tcp();
    expect(setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, new Int32Array([1]))).toBe(0);
    expect(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE)).toBe(1);
    const raw = getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, 4);
    expect(raw).toEqual(Buffer.from(new Int32Array([1]).buffer));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, new Uint8Array(new Int32Array([65536]).buffer));
    expect(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, 4).readInt32LE(0)).toBe(LE ? 131072 : 0);
  });

  it('a DataView window is passed as exactly its bytes', () => {
    const fd = tcp();
    const backing = Buffer.concat([Buffer.alloc(3, 0xff), linger(1, 9), Buffer.alloc(5, 0xff)]);
    setsockopt(fd, SOL_SOCKET, SO_LINGER, new DataView(backing.buffer, backing.byteOffset + 3, 8));
    expect(getsockopt(fd, SOL_SOCKET, SO_LINGER, 8)).toEqual(linger(1, 9));
  });

  it('a value of the wrong size fails with EINVAL', () => {
    const fd = tcp();
    const err = sysError(() => setsockopt(fd, SOL_SOCKET, SO_LINGER, Buffer.alloc(4)));
    expect(err.code).toBe('EINVAL');
    expect(err.errno).toBe(E.EINVAL);
    expect(err.syscall).toBe('setsockopt');
  });

  it('buflen 0 gives an empty Buffer', () => {
    const fd = tcp();
    expect(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 0)).toEqual(Buffer.alloc(0));
  });
});

describe('setsockopt(2)/getsockopt(2) errors', () => {
  it('an unknown optname fails with ENOPROTOOPT', () => {
    const fd = tcp();
    let err = sysError(() => getsockopt(fd, SOL_SOCKET, 9999));
    expect(err.code).toBe('ENOPROTOOPT');
    expect(err.errno).toBe(E.ENOPROTOOPT);
    expect(err.syscall).toBe('getsockopt');
    expect(err.message).toBe('getsockopt ENOPROTOOPT');
    err = sysError(() => setsockopt(fd, SOL_SOCKET, 9999, 1));
    expect(err.code).toBe('ENOPROTOOPT');
    expect(err.syscall).toBe('setsockopt');
    err = sysError(() => getsockopt(fd, IPPROTO_TCP, 9999, 8));
    expect(err.code).toBe('ENOPROTOOPT');
    expect(err.syscall).toBe('getsockopt');
  });

  it('a TCP option on a UDP socket fails with ENOPROTOOPT', () => {
    const fd = track(socket(AF_INET, SOCK_DGRAM, 0));
    expect(sysError(() => setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1)).code).toBe('ENOPROTOOPT');
  });

  it('a closed fd fails with EBADF', () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    expect(sysError(() => getsockopt(fd, SOL_SOCKET, SO_TYPE))).toMatchObject({
      code: 'EBADF', errno: E.EBADF, syscall: 'getsockopt', message: 'getsockopt EBADF',
    });
    expect(sysError(() => getsockopt(fd, SOL_SOCKET, SO_LINGER, 8))).toMatchObject({
      code: 'EBADF', syscall: 'getsockopt',
    });
    expect(sysError(() => setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1))).toMatchObject({
      code: 'EBADF', errno: E.EBADF, syscall: 'setsockopt', message: 'setsockopt EBADF',
    });
  });

  it('an fd that is not a socket fails with ENOTSOCK', () => {
    const file = path.join(path.dirname(unixPath()), 'sockopt-file');
    const fd = fs.openSync(file, 'w');
    try {
      expect(sysError(() => getsockopt(fd, SOL_SOCKET, SO_TYPE)).code).toBe('ENOTSOCK');
      expect(sysError(() => setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1)).code).toBe('ENOTSOCK');
    } finally {
      fs.closeSync(fd);
      fs.unlinkSync(file);
    }
  });

  it('SO_REUSEPORT lets two sockets bind the same UDP port', () => {
    const a = track(socket(AF_INET, SOCK_DGRAM, 0));
    const b = track(socket(AF_INET, SOCK_DGRAM, 0));
    setsockopt(a, SOL_SOCKET, SO_REUSEPORT, 1);
    setsockopt(b, SOL_SOCKET, SO_REUSEPORT, 1);
    bind(a, { family: AF_INET, address: '127.0.0.1', port: 0 });
    expect(bind(b, getsockname(a))).toBe(0);
    expect(getsockname(b)).toEqual(getsockname(a));
  });
});
