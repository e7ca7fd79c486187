// read(2) and write(2) through readSync/writeSync: round trips, nbytes,
// ArrayBufferView offsets, EOF, half-close, and the kernel's errors (EPIPE
// without SIGPIPE, EAGAIN, EBADF, ENOTCONN, ECONNRESET).
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { constants as osConstants, endianness } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_UNIX, F_GETFL, F_SETFL, O_NONBLOCK, POLLERR, POLLHUP, POLLOUT, SHUT_RD, SHUT_WR,
  type PollFd, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_LINGER, SO_RCVTIMEO, SO_SNDTIMEO, SocketError, close,
  fcntl, pollSync, readSync, setsockopt, shutdown, socket, socketpair, writeSync,
} from '../lib/index';
import { openFds } from './helpers/fds';
import { FAMILIES, closeAll, tcpPair, track, unixPath } from './helpers/pairs';
import { sysError } from './helpers/errors';

const E = osConstants.errno;

/** struct timeval (64-bit) for SO_RCVTIMEO/SO_SNDTIMEO. */
function timeval(ms: number): Buffer {
  const b = Buffer.alloc(16);
  const le = endianness() === 'LE';
  const secs = BigInt(Math.floor(ms / 1000));
  const usecs = BigInt((ms % 1000) * 1000);
  if (le) {
    b.writeBigInt64LE(secs, 0);
    b.writeBigInt64LE(usecs, 8);
  } else {
    b.writeBigInt64BE(secs, 0);
    b.writeBigInt64BE(usecs, 8);
  }
  return b;
}

/** A blocking call on fd that would hang (a bug) fails with EAGAIN after 5 s instead. */
function guard(fd: number): number {
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeval(5000));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, timeval(5000));
  return fd;
}

type Kind = 'ipv4' | 'ipv6' | 'unix' | 'socketpair';
const KINDS: Kind[] = [...FAMILIES, 'socketpair'];

/** A connected stream pair [a, b]; both tracked and guarded. */
function streamPair(kind: Kind): [number, number] {
  if (kind === 'socketpair') {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, 0).map(track);
    return [guard(a), guard(b)];
  }
  const { client, server } = tcpPair(kind);
  return [guard(client), guard(server)];
}

/** Reads exactly n bytes (the data is already queued, so each read returns at once). */
function readExactly(fd: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const r = readSync(fd, out.subarray(got));
    if (r === 0) throw new Error(`EOF after ${got} of ${n} bytes`);
    got += r;
  }
  return out;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Script lines that load this checkout's lib/ (TypeScript) in a plain node process. */
const LOAD_LIB = `
const fs = require('node:fs');
const ts = require(${JSON.stringify(path.join(ROOT, 'node_modules', 'typescript'))});
require.extensions['.ts'] = (m, filename) => m._compile(ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
  fileName: filename,
  compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
}).outputText, filename);
const s = require(${JSON.stringify(path.join(ROOT, 'lib', 'index.ts'))});
`;

let baseline: number[];

beforeAll(() => {
  close(socket(AF_INET, SOCK_STREAM, 0));
  baseline = openFds();
});

afterEach(closeAll);

afterAll(() => {
  expect(openFds()).toEqual(baseline);
});

describe.each(KINDS)('read(2) and write(2) over %s', (kind) => {
  it('writeSync returns the bytes written and readSync returns them, both ways', () => {
    const [a, b] = streamPair(kind);
    const buf = Buffer.alloc(64, 0xee);
    expect(writeSync(a, Buffer.from('hello, world'))).toBe(12);
    expect(readSync(b, buf)).toBe(12);
    expect(buf.toString('latin1', 0, 12)).toBe('hello, world');
    expect(buf[12]).toBe(0xee);
    expect(writeSync(b, Buffer.from([0, 1, 2, 255]))).toBe(4);
    expect(readSync(a, buf)).toBe(4);
    expect([...buf.subarray(0, 4)]).toEqual([0, 1, 2, 255]);
  });

  it('nbytes defaults to byteLength; an explicit nbytes writes only that many bytes', () => {
    const [a, b] = streamPair(kind);
    const data = Buffer.from('abcdefgh');
    expect(writeSync(a, data, 3)).toBe(3);
    expect(writeSync(a, data)).toBe(8);
    expect(readExactly(b, 11).toString('latin1')).toBe('abcabcdefgh');
  });

  it('readSync with nbytes reads at most nbytes and leaves the rest queued and the buffer tail untouched', () => {
    const [a, b] = streamPair(kind);
    writeSync(a, Buffer.from('0123456789'));
    const buf = Buffer.alloc(10, 0x2e);
    expect(readSync(b, buf, 4)).toBe(4);
    expect(buf.toString('latin1')).toBe('0123......');
    expect(readSync(b, buf)).toBe(6);
    expect(buf.toString('latin1', 0, 6)).toBe('456789');
  });

  it('nbytes 0 writes nothing and returns 0; reading 0 bytes with data queued returns 0', () => {
    const [a, b] = streamPair(kind);
    expect(writeSync(a, Buffer.from('xyz'), 0)).toBe(0);
    expect(writeSync(a, Buffer.alloc(0))).toBe(0);
    writeSync(a, Buffer.from('q'));
    expect(readSync(b, Buffer.alloc(4), 0)).toBe(0);
    const buf = Buffer.alloc(4);
    expect(readSync(b, buf)).toBe(1);
    expect(buf.toString('latin1', 0, 1)).toBe('q');
  });

  it('returns 0 at EOF once the peer has closed, after the queued data, and again after that', () => {
    const [a, b] = streamPair(kind);
    writeSync(a, Buffer.from('bye'));
    close(a);
    const buf = Buffer.alloc(8);
    expect(readSync(b, buf)).toBe(3);
    expect(buf.toString('latin1', 0, 3)).toBe('bye');
    expect(readSync(b, buf)).toBe(0);
    expect(readSync(b, buf)).toBe(0);
  });

  it('shutdown(SHUT_WR): the peer reads 0 but can still write back; the shut side gets EPIPE', () => {
    const [a, b] = streamPair(kind);
    writeSync(a, Buffer.from('last'));
    expect(shutdown(a, SHUT_WR)).toBe(0);
    const buf = Buffer.alloc(8);
    expect(readSync(b, buf)).toBe(4);
    expect(readSync(b, buf)).toBe(0);
    expect(writeSync(b, Buffer.from('back'))).toBe(4);
    expect(readSync(a, buf)).toBe(4);
    expect(buf.toString('latin1', 0, 4)).toBe('back');
    const err = sysError(() => writeSync(a, Buffer.from('more')));
    expect(err.code).toBe('EPIPE');
    expect(err.errno).toBe(E.EPIPE);
    expect(err.syscall).toBe('write');
    expect(err.message).toBe('write EPIPE');
  });

  it('shutdown(SHUT_RD): reads on the shut side return 0', () => {
    const [a] = streamPair(kind);
    expect(shutdown(a, SHUT_RD)).toBe(0);
    expect(readSync(a, Buffer.alloc(4))).toBe(0);
  });

  it('writeSync fails with EPIPE once the peer is gone, and the process gets no SIGPIPE', () => {
    const [a, b] = streamPair(kind);
    close(b);
    let err: SocketError | undefined;
    // TCP accepts the first write (the peer then answers with RST); a Unix socket fails at once.
    for (let i = 0; i < 50 && err === undefined; i++) {
      try {
        expect(writeSync(a, Buffer.from('x'))).toBe(1);
        expect(kind === 'ipv4' || kind === 'ipv6').toBe(true);
        const fds: PollFd[] = [{ fd: a, events: POLLOUT }];
        pollSync(fds, 100);
      } catch (e) {
        err = e as SocketError;
      }
    }
    expect(err).toBeInstanceOf(SocketError);
    expect(err!.code).toBe('EPIPE');
    expect(err!.errno).toBe(E.EPIPE);
    expect(err!.syscall).toBe('write');
    // Still alive: a SIGPIPE would have killed this process. And it keeps failing the same way.
    expect(process.pid).toBeGreaterThan(0);
    expect(sysError(() => writeSync(a, Buffer.from('y'))).code).toBe('EPIPE');
  });

  it('readSync fails with EAGAIN on an empty non-blocking socket', () => {
    const [a] = streamPair(kind);
    fcntl(a, F_SETFL, fcntl(a, F_GETFL) | O_NONBLOCK);
    const err = sysError(() => readSync(a, Buffer.alloc(4)));
    expect(err.code).toBe('EAGAIN');
    expect(err.errno).toBe(E.EAGAIN);
    expect(err.syscall).toBe('read');
    expect(err.message).toBe('read EAGAIN');
  });
});

describe('ArrayBufferView arguments', () => {
  it('a Buffer subarray writes the bytes of its window only', () => {
    const [a, b] = streamPair('socketpair');
    const whole = Buffer.from('xxABCDyy');
    expect(writeSync(a, whole.subarray(2, 6))).toBe(4);
    expect(readExactly(b, 4).toString('latin1')).toBe('ABCD');
  });

  it('a DataView with a byte offset writes from its offset', () => {
    const [a, b] = streamPair('socketpair');
    const ab = new Uint8Array([10, 11, 12, 13, 14, 15, 16, 17]).buffer;
    const view = new DataView(ab, 3, 4);
    expect(writeSync(a, view)).toBe(4);
    expect([...readExactly(b, 4)]).toEqual([13, 14, 15, 16]);
    expect(writeSync(a, view, 2)).toBe(2);
    expect([...readExactly(b, 2)]).toEqual([13, 14]);
  });

  it('a Uint16Array with an offset writes byteLength bytes from its byteOffset; nbytes counts bytes', () => {
    const [a, b] = streamPair('socketpair');
    const bytes = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const u16 = new Uint16Array(bytes.buffer, 2, 3); // Bytes 2..7.
    expect(u16.byteLength).toBe(6);
    expect(writeSync(a, u16)).toBe(6);
    expect([...readExactly(b, 6)]).toEqual([2, 3, 4, 5, 6, 7]);
    expect(writeSync(a, u16, 3)).toBe(3);
    expect([...readExactly(b, 3)]).toEqual([2, 3, 4]);
  });

  it('a Float64Array round-trips its bytes exactly', () => {
    const [a, b] = streamPair('socketpair');
    const src = new Float64Array([Math.PI, -0, Number.MAX_VALUE]);
    expect(writeSync(a, src)).toBe(24);
    const dst = new Float64Array(3);
    expect(readSync(b, dst)).toBe(24);
    expect(Object.is(dst[1], -0)).toBe(true);
    expect([...dst]).toEqual([Math.PI, -0, Number.MAX_VALUE]);
  });

  it('readSync into a view with an offset fills that window and nothing around it', () => {
    const [a, b] = streamPair('socketpair');
    writeSync(a, Buffer.from('DATA'));
    const backing = new Uint8Array(12).fill(0x2e);
    const u16 = new Uint16Array(backing.buffer, 4, 2); // Bytes 4..7.
    expect(readSync(b, u16)).toBe(4);
    expect(Buffer.from(backing).toString('latin1')).toBe('....DATA....');

    writeSync(a, Buffer.from('xy'));
    const dv = new DataView(backing.buffer, 9, 3);
    expect(readSync(b, dv, 2)).toBe(2);
    expect(Buffer.from(backing).toString('latin1')).toBe('....DATA.xy.');
  });

  it('reads into a subarray of a pooled Buffer do not touch its neighbours', () => {
    const [a, b] = streamPair('socketpair');
    const big = Buffer.alloc(32, 0x2d);
    writeSync(a, Buffer.from('0123456789'));
    expect(readSync(b, big.subarray(10, 14))).toBe(4);
    expect(big.toString('latin1')).toBe('----------0123------------------');
    expect(readSync(b, big.subarray(20), 6)).toBe(6);
    expect(big.toString('latin1')).toBe('----------0123------456789------');
  });
});

describe('read(2) and write(2) errors', () => {
  it('EPIPE, not SIGPIPE, even in a process where SIGPIPE is not ignored', () => {
    // Node ignores SIGPIPE; adding and removing a listener restores SIG_DFL
    // (libuv). A plain write(2) afterwards is the control: it must kill the child.
    const script = `${LOAD_LIB}
const f = () => {};
process.on('SIGPIPE', f);
process.off('SIGPIPE', f);
const [a, b] = s.socketpair(s.AF_UNIX, s.SOCK_STREAM, 0);
s.close(b);
for (const call of [() => s.writeSync(a, Buffer.from('x')), () => s.sendSync(a, Buffer.from('x'), undefined, 0)]) {
  try { call(); console.log('no error'); } catch (e) { console.log(e.code, e.syscall); }
}
fs.writeSync(a, 'x');
console.log('not killed');
`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('EPIPE write\nEPIPE send\n');
    expect(r.signal).toBe('SIGPIPE');
  });

  it('fail with EBADF on a closed fd', () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    let err = sysError(() => readSync(fd, Buffer.alloc(4)));
    expect(err.code).toBe('EBADF');
    expect(err.errno).toBe(E.EBADF);
    expect(err.syscall).toBe('read');
    expect(err.message).toBe('read EBADF');
    err = sysError(() => writeSync(fd, Buffer.alloc(4)));
    expect(err.code).toBe('EBADF');
    expect(err.errno).toBe(E.EBADF);
    expect(err.syscall).toBe('write');
    expect(err.message).toBe('write EBADF');
  });

  it('readSync on an unconnected TCP socket fails with ENOTCONN; writeSync with EPIPE', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    const err = sysError(() => readSync(fd, Buffer.alloc(4)));
    expect(err.code).toBe('ENOTCONN');
    expect(err.errno).toBe(E.ENOTCONN);
    expect(err.syscall).toBe('read');
    expect(err.message).toBe('read ENOTCONN');
    const werr = sysError(() => writeSync(fd, Buffer.alloc(4)));
    expect(werr.code).toBe('EPIPE');
    expect(werr.syscall).toBe('write');
  });

  it('writeSync on an unconnected Unix stream socket fails with ENOTCONN', () => {
    const fd = track(socket(AF_UNIX, SOCK_STREAM, 0));
    const err = sysError(() => writeSync(fd, Buffer.alloc(4)));
    expect(err.code).toBe('ENOTCONN');
    expect(err.errno).toBe(E.ENOTCONN);
    expect(err.syscall).toBe('write');
  });

  it('readSync fails with ECONNRESET after the peer aborts (SO_LINGER 0)', () => {
    const [a, b] = streamPair('ipv4');
    const linger = Buffer.alloc(8);
    linger.writeInt32LE(1, 0);
    linger.writeInt32LE(0, 4);
    setsockopt(b, SOL_SOCKET, SO_LINGER, linger);
    close(b);
    const err = sysError(() => readSync(a, Buffer.alloc(4)));
    expect(err.code).toBe('ECONNRESET');
    expect(err.errno).toBe(E.ECONNRESET);
    expect(err.syscall).toBe('read');
    const fds: PollFd[] = [{ fd: a, events: POLLOUT }];
    expect(pollSync(fds, 0)).toBe(1);
    expect(fds[0].revents! & (POLLHUP | POLLERR)).toBe(POLLHUP);
  });

  it('writeSync on a full non-blocking socket writes what fits, then fails with EAGAIN', () => {
    const [a] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0).map(track);
    const chunk = Buffer.alloc(64 * 1024, 1);
    let total = 0;
    let err: SocketError | undefined;
    for (let i = 0; i < 1000 && err === undefined; i++) {
      try {
        const n = writeSync(a, chunk);
        expect(n).toBeGreaterThan(0);
        expect(n).toBeLessThanOrEqual(chunk.length);
        total += n;
      } catch (e) {
        err = e as SocketError;
      }
    }
    expect(total).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(SocketError);
    expect(err!.code).toBe('EAGAIN');
    expect(err!.syscall).toBe('write');
  });

  it('a signal during a blocking readSync is retried, not reported as EINTR', async () => {
    const [a, b] = streamPair('socketpair');
    // With SO_RCVTIMEO set, Linux returns EINTR even under SA_RESTART.
    setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, timeval(600));
    let signals = 0;
    const onSignal = () => {
      signals++;
    };
    process.on('SIGUSR2', onSignal);
    try {
      const child = spawn('sh', ['-c', `sleep 0.2; kill -USR2 ${process.pid}`], { stdio: 'ignore' });
      const exited = once(child, 'exit');
      const err = sysError(() => readSync(a, Buffer.alloc(4)));
      expect(err.code).toBe('EAGAIN');
      expect(err.syscall).toBe('read');
      await exited;
      for (let i = 0; i < 100 && signals === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(signals).toBe(1);
      // The socket is intact: data written now is read whole.
      writeSync(b, Buffer.from('after'));
      const buf = Buffer.alloc(8);
      expect(readSync(a, buf)).toBe(5);
      expect(buf.toString('latin1', 0, 5)).toBe('after');
    } finally {
      process.off('SIGUSR2', onSignal);
    }
  });

  it('shutdown fails with ENOTCONN on an unconnected TCP socket', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    const err = sysError(() => shutdown(fd, SHUT_WR));
    expect(err.code).toBe('ENOTCONN');
    expect(err.errno).toBe(E.ENOTCONN);
    expect(err.syscall).toBe('shutdown');
    expect(err.message).toBe('shutdown ENOTCONN');
  });

  it('work on fds that are not sockets (plain read(2)/write(2) on a file)', () => {
    const file = path.join(path.dirname(unixPath()), 'rw-file');
    let fd = fs.openSync(file, 'w');
    try {
      expect(writeSync(fd, Buffer.from('file data'))).toBe(9);
    } finally {
      fs.closeSync(fd);
    }
    fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(16);
      expect(readSync(fd, buf)).toBe(9);
      expect(buf.toString('latin1', 0, 9)).toBe('file data');
      expect(readSync(fd, buf)).toBe(0);
    } finally {
      fs.closeSync(fd);
      fs.unlinkSync(file);
    }
  });
});
