// Struct-valued socket options, typed: SO_RCVTIMEO/SO_SNDTIMEO in ms (struct
// timeval), SO_LINGER as { onoff, linger }, and on Linux the read-only
// SO_PEERCRED ({ pid, uid, gid }) and TCP_INFO. Each round-trips through
// set/get and through the raw-bytes form, and does what the kernel does with
// it: a timeout fails a blocking call with EAGAIN, { 1, 0 } resets the
// connection, TCP_INFO describes a live connection, SO_PEERCRED names the peer.
import { spawn } from 'node:child_process';
import { endianness } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_UNIX, IPPROTO_TCP, MSG_DONTWAIT, POLLIN, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, SO_KEEPALIVE,
  SO_LINGER, SO_PEERCRED, SO_RCVTIMEO, SO_SNDTIMEO, SocketError, TCP_ESTABLISHED, TCP_INFO, TCP_LISTEN,
  type TraceRecord, accept, bind, close, getsockname, getsockopt, listen, onTrace, pollSync, read, readSync,
  sendSync, setsockopt, socket, socketpair, threadpool, writeSync,
} from '../lib/index';
import { openFdsExceptWakeups as openFds } from './helpers/fds';
import { closeAll, listener, tcpPair, track, unixPath } from './helpers/pairs';
import { sysError, throwsWithoutSyscall } from './helpers/errors';

const LE = endianness() === 'LE';
const linux = process.platform === 'linux';

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

/** struct linger { int l_onoff; int l_linger; }. */
function lingerBytes(onoff: number, secs: number): Buffer {
  return Buffer.from(new Int32Array([onoff, secs]).buffer);
}

function tcp(): number {
  return track(socket(AF_INET, SOCK_STREAM, 0));
}

let baseline: number[];

beforeAll(() => {
  close(socket(AF_INET, SOCK_STREAM, 0));
  baseline = openFds();
});

afterEach(() => {
  closeAll();
  expect(threadpool().busy).toBe(0);
});

afterAll(() => {
  expect(openFds()).toEqual(baseline);
});

describe.each([['SO_RCVTIMEO', SO_RCVTIMEO], ['SO_SNDTIMEO', SO_SNDTIMEO]] as const)('%s in milliseconds', (_name, opt) => {
  it('is 0 (no timeout) by default; 1500 reads back as 1500; 0 clears it', () => {
    const fd = tcp();
    expect(getsockopt(fd, SOL_SOCKET, opt)).toBe(0);
    expect(setsockopt(fd, SOL_SOCKET, opt, 1500)).toBe(0);
    expect(getsockopt(fd, SOL_SOCKET, opt)).toBe(1500);
    expect(setsockopt(fd, SOL_SOCKET, opt, 0)).toBe(0);
    expect(getsockopt(fd, SOL_SOCKET, opt)).toBe(0);
  });

  it('a huge timeout stored as raw bytes reads back huge (saturated), and a call still waits for data', async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, 0);
    try {
      // tv_sec * 1e6 overflows int64: must not wrap to a short (or negative) timeout.
      const tv = Buffer.alloc(16);
      if (LE) tv.writeBigInt64LE(18_446_744_073_710n, 0);
      else tv.writeBigInt64BE(18_446_744_073_710n, 0);
      setsockopt(a, SOL_SOCKET, opt, tv);
      expect(getsockopt(a, SOL_SOCKET, opt)).toBeGreaterThan(1e12);
      if (opt === SO_RCVTIMEO) {
        const p = read(a, Buffer.alloc(4));
        await new Promise((resolve) => setTimeout(resolve, 600));
        writeSync(b, Buffer.from('late'));
        expect(await p).toBe(4);
      }
    } finally {
      close(a);
      close(b);
    }
  });

  it('is the same struct timeval as the raw bytes, both ways', () => {
    const fd = tcp();
    setsockopt(fd, SOL_SOCKET, opt, 2500);
    expect(getsockopt(fd, SOL_SOCKET, opt, 16)).toEqual(timeval(2, 500_000));
    // Kept in clock ticks: 0.5 s is exact for HZ 100, 250 and 1000.
    setsockopt(fd, SOL_SOCKET, opt, timeval(0, 500_000));
    expect(getsockopt(fd, SOL_SOCKET, opt)).toBe(500);
  });

  it('fractional ms are kept to the microsecond; the kernel rounds up to its clock tick (at most 10 ms)', () => {
    const fd = tcp();
    setsockopt(fd, SOL_SOCKET, opt, 0.0001); // 0.1 µs: at least 1 µs, never "no timeout".
    const tick = getsockopt(fd, SOL_SOCKET, opt);
    expect(tick).toBeGreaterThan(0);
    expect(tick).toBeLessThanOrEqual(10);
    setsockopt(fd, SOL_SOCKET, opt, 1000.5);
    const got = getsockopt(fd, SOL_SOCKET, opt);
    expect(got).toBeGreaterThanOrEqual(1000.5);
    expect(got).toBeLessThanOrEqual(1000.5 + tick);
  });

  it('the largest value is 2^31-1 ms (the async driver waits at most that long)', () => {
    const fd = tcp();
    expect(setsockopt(fd, SOL_SOCKET, opt, 2 ** 31 - 1)).toBe(0);
    // Kept in clock ticks: within one tick of what was set.
    expect(Math.abs(getsockopt(fd, SOL_SOCKET, opt) - (2 ** 31 - 1))).toBeLessThanOrEqual(10);
  });

  it.each([[-1], [-0.001], [NaN], [Infinity], [2 ** 31], [-Infinity]])('%s is a RangeError, before any system call', (bad) => {
    const fd = tcp();
    throwsWithoutSyscall(() => setsockopt(fd, SOL_SOCKET, opt, bad), RangeError,
      /^The value of "value" for SO_(RCV|SND)TIMEO is out of range\. It must be >= 0 and <= 2147483647 \(milliseconds\)\./);
    expect(getsockopt(fd, SOL_SOCKET, opt)).toBe(0);
  });

  it.each([['true', true], ["'5'", '5'], ['{}', {}], ['null', null], ['5n', 5n]])('%s is a TypeError naming the option', (_s, bad) => {
    const fd = tcp();
    throwsWithoutSyscall(() => setsockopt(fd, SOL_SOCKET, opt, bad as never), TypeError,
      /^The "value" argument for SO_(RCV|SND)TIMEO must be of type number \(milliseconds\) or a Uint8Array/);
  });
});

describe('SO_RCVTIMEO / SO_SNDTIMEO time out a blocking call with EAGAIN', () => {
  it('readSync on an empty socket fails with EAGAIN after about SO_RCVTIMEO', () => {
    const [a] = socketpair(AF_UNIX, SOCK_STREAM, 0).map(track);
    setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, 150);
    const t0 = performance.now();
    const err = sysError(() => readSync(a, Buffer.alloc(4)));
    const elapsed = performance.now() - t0;
    expect(err).toMatchObject({ code: 'EAGAIN', syscall: 'read' });
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(3000);
  });

  it('the async read() honours the same timeout (its worker reads the option too)', async () => {
    const [a] = socketpair(AF_UNIX, SOCK_STREAM, 0).map(track);
    setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, 150);
    const t0 = performance.now();
    const err = await read(a, Buffer.alloc(4)).then(() => undefined, (e: unknown) => e);
    const elapsed = performance.now() - t0;
    expect(err).toBeInstanceOf(SocketError);
    expect(err).toMatchObject({ code: 'EAGAIN', syscall: 'read' });
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(3000);
  });

  it('sendSync on a full socket fails with EAGAIN after about SO_SNDTIMEO', () => {
    const [a] = socketpair(AF_UNIX, SOCK_STREAM, 0).map(track);
    const chunk = Buffer.alloc(65536);
    // Fill the send buffer without blocking (bounded: a few MB at most).
    for (let i = 0; i < 1000; i++) {
      try {
        sendSync(a, chunk, undefined, MSG_DONTWAIT);
      } catch (err) {
        expect((err as SocketError).code).toBe('EAGAIN');
        break;
      }
    }
    setsockopt(a, SOL_SOCKET, SO_SNDTIMEO, 150);
    const t0 = performance.now();
    const err = sysError(() => writeSync(a, chunk));
    const elapsed = performance.now() - t0;
    expect(err).toMatchObject({ code: 'EAGAIN', syscall: 'write' });
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(3000);
  });
});

describe('SO_LINGER as { onoff, linger }', () => {
  it('its fields are the object\'s own even with setters on Object.prototype', () => {
    const fd = tcp();
    setsockopt(fd, SOL_SOCKET, SO_LINGER, { onoff: 1, linger: 7 });
    const taken: unknown[] = [];
    for (const key of ['onoff', 'linger']) {
      Object.defineProperty(Object.prototype, key, { configurable: true, set: (v) => taken.push(v) });
    }
    let got: unknown;
    try {
      got = getsockopt(fd, SOL_SOCKET, SO_LINGER);
    } finally {
      for (const key of ['onoff', 'linger']) delete (Object.prototype as Record<string, unknown>)[key];
    }
    expect(taken).toEqual([]);
    expect(got).toEqual({ onoff: 1, linger: 7 });
  });

  it('is { onoff: 0, linger: 0 } by default; { 1, 7 } reads back as { 1, 7 }; off again', () => {
    const fd = tcp();
    expect(getsockopt(fd, SOL_SOCKET, SO_LINGER)).toEqual({ onoff: 0, linger: 0 });
    expect(setsockopt(fd, SOL_SOCKET, SO_LINGER, { onoff: 1, linger: 7 })).toBe(0);
    expect(getsockopt(fd, SOL_SOCKET, SO_LINGER)).toEqual({ onoff: 1, linger: 7 });
    setsockopt(fd, SOL_SOCKET, SO_LINGER, { onoff: 0, linger: 0 });
    // Linux turns lingering off but keeps the last l_linger: the kernel's value, unaltered.
    expect(getsockopt(fd, SOL_SOCKET, SO_LINGER).onoff).toBe(0);
  });

  it('is the same struct linger as the raw bytes, both ways; onoff may be a boolean', () => {
    const fd = tcp();
    setsockopt(fd, SOL_SOCKET, SO_LINGER, { onoff: true, linger: 3 } as never);
    expect(getsockopt(fd, SOL_SOCKET, SO_LINGER, 8)).toEqual(lingerBytes(1, 3));
    setsockopt(fd, SOL_SOCKET, SO_LINGER, lingerBytes(1, 9));
    expect(getsockopt(fd, SOL_SOCKET, SO_LINGER)).toEqual({ onoff: 1, linger: 9 });
  });

  it.each([
    ['a number', 5, TypeError, /^The "value" argument for SO_LINGER must be an object \{ onoff, linger \} or a Uint8Array\. Received 5$/],
    ['null', null, TypeError, /SO_LINGER must be an object/],
    ['no linger', { onoff: 1 }, TypeError, /"value\.linger"/],
    ["onoff '1'", { onoff: '1', linger: 0 }, TypeError, /"value\.onoff"/],
    ['linger -1', { onoff: 1, linger: -1 }, RangeError, /"value\.linger" is out of range/],
    ['linger 1.5', { onoff: 1, linger: 1.5 }, RangeError, /"value\.linger" is out of range/],
  ] as const)('%s is rejected before any system call', (_s, bad, type, message) => {
    const fd = tcp();
    throwsWithoutSyscall(() => setsockopt(fd, SOL_SOCKET, SO_LINGER, bad as never), type, message);
  });

  it('{ onoff: 1, linger: 0 }: close() resets the connection, and the peer reads ECONNRESET', () => {
    const { client, server } = tcpPair('ipv4');
    setsockopt(client, SOL_SOCKET, SO_LINGER, { onoff: 1, linger: 0 });
    close(client);
    expect(pollSync([{ fd: server, events: POLLIN }], 5000)).toBe(1);
    expect(sysError(() => readSync(server, Buffer.alloc(16)))).toMatchObject({ code: 'ECONNRESET', syscall: 'read' });
  });

  it('without it, close() is an orderly shutdown: the peer reads 0 (end of stream)', () => {
    const { client, server } = tcpPair('ipv4');
    close(client);
    expect(readSync(server, Buffer.alloc(16))).toBe(0);
  });
});

describe.skipIf(!linux)('TCP_INFO (Linux, read-only)', () => {
  it('is exported from the headers, with the tcpi_state values', () => {
    expect(typeof TCP_INFO).toBe('number');
    expect(typeof TCP_ESTABLISHED).toBe('number');
    expect(TCP_LISTEN).not.toBe(TCP_ESTABLISHED);
  });

  it('on a connected loopback socket: ESTABLISHED, with sane rtt, rto, MSS and window', () => {
    const { client, server } = tcpPair('ipv4');
    const msg = Buffer.alloc(10_000, 7);
    expect(writeSync(client, msg)).toBe(msg.length);
    let got = 0;
    const buf = Buffer.alloc(msg.length);
    for (let i = 0; i < 100 && got < msg.length; i++) got += readSync(server, buf.subarray(got));
    expect(got).toBe(msg.length);
    for (const fd of [client, server]) {
      const info = getsockopt(fd, IPPROTO_TCP, TCP_INFO);
      expect(info.state).toBe(TCP_ESTABLISHED);
      expect(info.rtt).toBeGreaterThan(0); // µs; loopback: well under a second.
      expect(info.rtt).toBeLessThan(1_000_000);
      expect(info.rto).toBeGreaterThanOrEqual(info.rtt);
      expect(info.sndMss).toBeGreaterThanOrEqual(536);
      expect(info.sndMss).toBeLessThanOrEqual(65536);
      expect(info.sndCwnd).toBeGreaterThan(0);
      expect(info.totalRetrans).toBe(0);
      expect(info.lastDataSent).toBeLessThan(60_000); // ms ago.
      expect(Object.values(info).every((v) => Number.isInteger(v) && v >= 0)).toBe(true);
    }
  });

  it('its first byte is tcpi_state in the raw form too; a listener is TCP_LISTEN', () => {
    const l = listener('ipv4');
    expect(getsockopt(l.fd, IPPROTO_TCP, TCP_INFO).state).toBe(TCP_LISTEN);
    expect(getsockopt(l.fd, IPPROTO_TCP, TCP_INFO, 8)[0]).toBe(TCP_LISTEN);
  });

  it('on a UDP socket the kernel refuses it: EOPNOTSUPP', () => {
    const fd = track(socket(AF_INET, SOCK_DGRAM, 0));
    expect(sysError(() => getsockopt(fd, IPPROTO_TCP, TCP_INFO))).toMatchObject({ code: 'EOPNOTSUPP', syscall: 'getsockopt' });
  });

  it('setsockopt is a TypeError naming it (before any system call); raw bytes still reach the kernel (ENOPROTOOPT)', () => {
    const fd = tcp();
    throwsWithoutSyscall(() => setsockopt(fd, IPPROTO_TCP, TCP_INFO, 1 as never), TypeError,
      /^The "optname" argument TCP_INFO is read-only/);
    expect(sysError(() => setsockopt(fd, IPPROTO_TCP, TCP_INFO, new Uint8Array(8)))).toMatchObject({ code: 'ENOPROTOOPT' });
  });
});

describe.skipIf(!linux)('SO_PEERCRED (Linux, read-only)', () => {
  it('of a socketpair is this process: { pid, uid, gid }', () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, 0).map(track);
    const me = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
    expect(getsockopt(a, SOL_SOCKET, SO_PEERCRED)).toEqual(me);
    expect(getsockopt(b, SOL_SOCKET, SO_PEERCRED)).toEqual(me);
  });

  it('of an accepted Unix connection is the connecting child process', async () => {
    const path = unixPath();
    const l = track(socket(AF_UNIX, SOCK_STREAM, 0));
    bind(l, { family: AF_UNIX, path });
    listen(l, 1);
    // The peer: a node:net client in a child process, connected until its stdin ends.
    const child = spawn(process.execPath, ['-e', `
      require('node:net').connect(${JSON.stringify(path)});
      process.stdin.on('end', () => process.exit(0)).resume();
      setTimeout(() => process.exit(3), 15000);`], { stdio: ['pipe', 'ignore', 'inherit'] });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const conn = track((await accept(l, { timeout: 10_000 })).fd);
      expect(getsockopt(conn, SOL_SOCKET, SO_PEERCRED)).toEqual({ pid: child.pid, uid: process.getuid!(), gid: process.getgid!() });
      expect(child.pid).not.toBe(process.pid);
    } finally {
      child.stdin!.end();
    }
    expect(await exited).toBe(0);
  });

  it('setsockopt is a TypeError naming it', () => {
    const [a] = socketpair(AF_UNIX, SOCK_STREAM, 0).map(track);
    throwsWithoutSyscall(() => setsockopt(a, SOL_SOCKET, SO_PEERCRED, { pid: 1, uid: 0, gid: 0 } as never), TypeError,
      /^The "optname" argument SO_PEERCRED is read-only/);
  });
});

describe('options this platform lacks, and the raw form', () => {
  it('an option constant the platform does not define is undefined: a TypeError that says so', () => {
    const fd = tcp();
    const absent = (undefined as unknown) as number;
    throwsWithoutSyscall(() => getsockopt(fd, IPPROTO_TCP, absent), TypeError,
      /^The "optname" argument must be of type number\. Received undefined \(an option constant this platform does not define/);
    throwsWithoutSyscall(() => setsockopt(fd, IPPROTO_TCP, absent, 1), TypeError, /this platform does not define/);
  });

  it('a number the kernel does not know as an option is its ENOPROTOOPT, as in C', () => {
    const fd = tcp();
    expect(sysError(() => getsockopt(fd, IPPROTO_TCP, 9999))).toMatchObject({ code: 'ENOPROTOOPT', syscall: 'getsockopt' });
  });

  it('int options are untouched by the struct table', () => {
    const fd = tcp();
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, true);
    expect(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE)).toBe(1);
  });

  it('a typed get is traced with its value', () => {
    const fd = tcp();
    setsockopt(fd, SOL_SOCKET, SO_LINGER, { onoff: 1, linger: 2 });
    const records: TraceRecord[] = [];
    const off = onTrace((r) => records.push(r));
    try {
      getsockopt(fd, SOL_SOCKET, SO_LINGER);
    } finally {
      off();
    }
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ syscall: 'getsockopt', args: [fd, SOL_SOCKET, SO_LINGER], result: 0 });
    expect(records[0].detail).toBe('{"onoff":1,"linger":2}');
  });

  it('a typed set is traced with the value as checked (extra fields and booleans normalised)', () => {
    const fd = tcp();
    const records: TraceRecord[] = [];
    const off = onTrace((r) => records.push(r));
    try {
      setsockopt(fd, SOL_SOCKET, SO_LINGER, { onoff: true, linger: 2, extra: 1n } as never);
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, 1.25);
    } finally {
      off();
    }
    expect(records.map((r) => r.args[3])).toEqual(['{"onoff":1,"linger":2}', '1.25']);
    expect(records.every((r) => r.result === 0)).toBe(true);
  });

  it('the typed options of one socket are independent of each other', () => {
    const fd = tcp();
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, 1000);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, 2000);
    setsockopt(fd, SOL_SOCKET, SO_LINGER, { onoff: 1, linger: 4 });
    bind(fd, { family: AF_INET, address: '127.0.0.1', port: 0 });
    expect(getsockname(fd)).toMatchObject({ family: AF_INET, address: '127.0.0.1' });
    expect([getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO), getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO)]).toEqual([1000, 2000]);
    expect(getsockopt(fd, SOL_SOCKET, SO_LINGER)).toEqual({ onoff: 1, linger: 4 });
  });
});
