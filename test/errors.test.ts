// SocketError: the exported class every failed system call throws (sync) or
// rejects with (async), its fields and Node-like message; AbortError's shape.
import { constants as osConstants } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as lib from '../lib/index';
import {
  AF_INET, AF_INET6, AF_UNIX, AbortError, SOCK_DGRAM, SOCK_STREAM, SocketError, accept, bind, close,
  connect, connectSync, errnoName, getsockname, listen, read, readSync, sendtoSync, socket,
  threadpool,
} from '../lib/index';
import { openFdsExceptWakeups } from './helpers/fds';
import { closeAll, listener, refusedPort, track, unixPath } from './helpers/pairs';

const E = osConstants.errno;

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return expect.fail('expected a throw');
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

describe('SocketError', () => {
  it('is exported and extends Error', () => {
    expect(typeof SocketError).toBe('function');
    expect(lib.SocketError).toBe(SocketError);
    expect(Object.getPrototypeOf(SocketError.prototype)).toBe(Error.prototype);
    const err = new SocketError('connect ECONNREFUSED 127.0.0.1:1', {
      code: 'ECONNREFUSED', errno: 111, syscall: 'connect', addr: { family: AF_INET, address: '127.0.0.1', port: 1 },
    });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(SocketError);
    expect(err.name).toBe('SocketError');
    expect(err.message).toBe('connect ECONNREFUSED 127.0.0.1:1');
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.errno).toBe(111);
    expect(err.syscall).toBe('connect');
    expect(err.address).toBe('127.0.0.1');
    expect(err.port).toBe(1);
    expect(err.path).toBeUndefined();
    expect(String(err)).toBe('SocketError: connect ECONNREFUSED 127.0.0.1:1');
    expect(err.stack).toMatch(/^SocketError: connect ECONNREFUSED 127\.0\.0\.1:1\n/);
  });

  it('takes a Unix address as path', () => {
    const err = new SocketError('bind EADDRINUSE /tmp/x', {
      code: 'EADDRINUSE', errno: 98, syscall: 'bind', addr: { family: AF_UNIX, path: '/tmp/x' },
    });
    expect(err.path).toBe('/tmp/x');
    expect(err.address).toBeUndefined();
    expect(err.port).toBeUndefined();
  });

  it('close of a closed fd throws EBADF: code, positive errno, syscall, message, no address', () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    const err = caught(() => close(fd)) as SocketError;
    expect(err).toBeInstanceOf(SocketError);
    expect(err).toBeInstanceOf(Error);
    expect(err.constructor).toBe(SocketError);
    expect(err.name).toBe('SocketError');
    expect(err.code).toBe('EBADF');
    expect(err.errno).toBe(E.EBADF);
    expect(err.errno).toBeGreaterThan(0);
    expect(err.syscall).toBe('close');
    expect(err.message).toBe('close EBADF');
    expect(err.address).toBeUndefined();
    expect(err.port).toBeUndefined();
    expect(err.path).toBeUndefined();
    // The stack points at the caller, not only at library internals.
    expect(err.stack).toContain('errors.test.ts');
  });

  it('connect ECONNREFUSED over IPv4: address, port and the Node-style message', () => {
    const port = refusedPort();
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    const err = caught(() => connectSync(fd, { family: AF_INET, address: '127.0.0.1', port })) as SocketError;
    expect(err).toBeInstanceOf(SocketError);
    expect(err).toMatchObject({
      name: 'SocketError', code: 'ECONNREFUSED', errno: E.ECONNREFUSED, syscall: 'connect',
      address: '127.0.0.1', port, message: `connect ECONNREFUSED 127.0.0.1:${port}`,
    });
    expect(err.path).toBeUndefined();
  });

  it('an IPv6 address is bracketed in the message', () => {
    const l = track(socket(AF_INET6, SOCK_STREAM, 0));
    bind(l, { family: AF_INET6, address: '::1', port: 0 });
    const { port } = getsockname(l) as { port: number };
    // Bound, not listening: refused.
    const fd = track(socket(AF_INET6, SOCK_STREAM, 0));
    const err = caught(() => connectSync(fd, { family: AF_INET6, address: '::1', port })) as SocketError;
    expect(err).toMatchObject({
      code: 'ECONNREFUSED', errno: E.ECONNREFUSED, syscall: 'connect', address: '::1', port,
      message: `connect ECONNREFUSED [::1]:${port}`,
    });
  });

  it('a Unix path is given as path and in the message', () => {
    const p = unixPath();
    const fd = track(socket(AF_UNIX, SOCK_STREAM, 0));
    const err = caught(() => connectSync(fd, { family: AF_UNIX, path: p })) as SocketError;
    expect(err).toMatchObject({
      code: 'ENOENT', errno: E.ENOENT, syscall: 'connect', path: p, message: `connect ENOENT ${p}`,
    });
    expect(err.address).toBeUndefined();
    expect(err.port).toBeUndefined();
  });

  it("an abstract name is shown with '@' in the message; path keeps the NUL", () => {
    const name = `\0bsd-sockets-errors-${process.pid}`;
    const fd = track(socket(AF_UNIX, SOCK_STREAM, 0));
    const err = caught(() => connectSync(fd, { family: AF_UNIX, path: name })) as SocketError;
    expect(err).toMatchObject({
      code: 'ECONNREFUSED', syscall: 'connect', path: name, message: `connect ECONNREFUSED @${name.slice(1)}`,
    });
  });

  it('bind EADDRINUSE names the address', () => {
    const l = listener('ipv4');
    const { port } = l.addr as { port: number };
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    const err = caught(() => bind(fd, l.addr)) as SocketError;
    expect(err).toMatchObject({
      code: 'EADDRINUSE', errno: E.EADDRINUSE, syscall: 'bind', address: '127.0.0.1', port,
      message: `bind EADDRINUSE 127.0.0.1:${port}`,
    });
  });

  it('sendto errors name the destination', () => {
    const fd = track(socket(AF_INET, SOCK_DGRAM, 0));
    const err = caught(() => sendtoSync(fd, Buffer.alloc(70_000), undefined, 0,
      { family: AF_INET, address: '127.0.0.1', port: 9 })) as SocketError;
    expect(err).toMatchObject({
      code: 'EMSGSIZE', errno: E.EMSGSIZE, syscall: 'sendto', address: '127.0.0.1', port: 9,
      message: 'sendto EMSGSIZE 127.0.0.1:9',
    });
  });

  it('calls without an address give just "syscall CODE"', () => {
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    const err = caught(() => listen(track(socket(AF_INET, SOCK_DGRAM, 0)), 1)) as SocketError;
    expect(err.message).toBe('listen EOPNOTSUPP');
    const err2 = caught(() => readSync(fd, Buffer.alloc(1))) as SocketError;
    expect(err2.message).toBe('read ENOTCONN');
  });

  it('errno is always the positive C value matching code', () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    const errs = [
      caught(() => close(fd)),
      caught(() => socket(12345, SOCK_STREAM, 0)),
      caught(() => readSync(fd, Buffer.alloc(1))),
      caught(() => connectSync(track(socket(AF_INET, SOCK_STREAM, 0)),
        { family: AF_INET, address: '127.0.0.1', port: refusedPort() })),
    ] as SocketError[];
    for (const err of errs) {
      expect(err).toBeInstanceOf(SocketError);
      expect(err.errno).toBeGreaterThan(0);
      expect(err.errno).toBe(E[err.code as keyof typeof E]);
    }
  });

  it('an async call rejects with a SocketError carrying the same fields', async () => {
    const port = refusedPort();
    const fd = track(socket(AF_INET, SOCK_STREAM, 0));
    const err = await connect(fd, { family: AF_INET, address: '127.0.0.1', port }).then(
      () => expect.fail('resolved'), (e: unknown) => e as SocketError);
    expect(err).toBeInstanceOf(SocketError);
    expect(err).toMatchObject({
      code: 'ECONNREFUSED', errno: E.ECONNREFUSED, syscall: 'connect', address: '127.0.0.1', port,
      message: `connect ECONNREFUSED 127.0.0.1:${port}`,
    });
  });

  it('an async call on a closed fd rejects with EBADF', async () => {
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    close(fd);
    const err = await read(fd, Buffer.alloc(4)).then(() => expect.fail('resolved'), (e: unknown) => e as SocketError);
    expect(err).toBeInstanceOf(SocketError);
    expect(err).toMatchObject({ code: 'EBADF', errno: E.EBADF, syscall: 'read', message: 'read EBADF' });
  });
});

describe('errnoName', () => {
  it('gives the C name of an errno value', () => {
    expect(errnoName(E.ECONNREFUSED)).toBe('ECONNREFUSED');
    expect(errnoName(E.EAGAIN)).toBe('EAGAIN');
    expect(errnoName(E.EPIPE)).toBe('EPIPE');
    expect(errnoName(E.EBADF)).toBe('EBADF');
  });

  it("gives 'E<n>' for an unknown value", () => {
    expect(errnoName(99999)).toBe('E99999');
  });
});

describe('AbortError', () => {
  it('is exported; an already-aborted signal rejects with name, code and cause', async () => {
    expect(new AbortError()).toBeInstanceOf(Error);
    const l = listener('ipv4');
    const reason = new Error('stop');
    const err = await accept(l.fd, { signal: AbortSignal.abort(reason) }).then(
      () => expect.fail('resolved'), (e: unknown) => e as AbortError & { cause: unknown });
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(SocketError);
    expect(err.name).toBe('AbortError');
    expect(err.code).toBe('ABORT_ERR');
    expect(err.cause).toBe(reason);
    expect(err.message).toBe('The operation was aborted');
  });
});
