// getaddrinfo(3), sync and async, on numeric hosts and 'localhost' only
// (/etc/hosts): no name here ever needs DNS.
import * as fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, AI_CANONNAME, AI_NUMERICHOST, AI_NUMERICSERV, AI_PASSIVE, IPPROTO_TCP,
  IPPROTO_UDP, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, SocketError, type Addrinfo, acceptSync, close,
  connectSync, getaddrinfo, getaddrinfoSync, getpeername, socket, threadpool,
} from '../lib/index';
import { openFdsExceptWakeups } from './helpers/fds';
import { sysError } from './helpers/errors';
import { closeAll, listener, track } from './helpers/pairs';

const NUMERIC = AI_NUMERICHOST | AI_NUMERICSERV;

let baseline: number[];

beforeAll(() => {
  close(socket(AF_INET, SOCK_STREAM, 0));
  getaddrinfoSync('127.0.0.1', '80', { flags: NUMERIC });
  baseline = openFdsExceptWakeups();
});

afterEach(() => {
  closeAll();
  expect(threadpool().busy).toBe(0);
});

afterAll(() => {
  expect(openFdsExceptWakeups()).toEqual(baseline);
});

describe('getaddrinfoSync', () => {
  it("('127.0.0.1', '80', NUMERICHOST|NUMERICSERV, SOCK_STREAM) gives exactly one TCP address", () => {
    const list = getaddrinfoSync('127.0.0.1', '80', { flags: NUMERIC, socktype: SOCK_STREAM });
    expect(list).toEqual([
      { family: AF_INET, socktype: SOCK_STREAM, protocol: IPPROTO_TCP, addr: { family: AF_INET, address: '127.0.0.1', port: 80 } },
    ]);
    expect('canonname' in list[0]).toBe(false);
  });

  it("('::1', '443') gives a sockaddr_in6 with flowinfo and scopeId 0", () => {
    expect(getaddrinfoSync('::1', '443', { flags: NUMERIC, socktype: SOCK_DGRAM })).toEqual([
      {
        family: AF_INET6, socktype: SOCK_DGRAM, protocol: IPPROTO_UDP,
        addr: { family: AF_INET6, address: '::1', port: 443, flowinfo: 0, scopeId: 0 },
      },
    ]);
  });

  it('without a socktype hint gives one entry per socket type (glibc: stream, datagram, raw)', () => {
    const addr = { family: AF_INET, address: '127.0.0.1', port: 7 };
    expect(getaddrinfoSync('127.0.0.1', '7', { flags: NUMERIC })).toEqual([
      { family: AF_INET, socktype: SOCK_STREAM, protocol: IPPROTO_TCP, addr },
      { family: AF_INET, socktype: SOCK_DGRAM, protocol: IPPROTO_UDP, addr },
      { family: AF_INET, socktype: SOCK_RAW, protocol: 0, addr },
    ]);
  });

  it('service null gives port 0; hints may be omitted', () => {
    expect(getaddrinfoSync('127.0.0.1', null, { flags: AI_NUMERICHOST, socktype: SOCK_STREAM })).toEqual([
      { family: AF_INET, socktype: SOCK_STREAM, protocol: IPPROTO_TCP, addr: { family: AF_INET, address: '127.0.0.1', port: 0 } },
    ]);
    const list = getaddrinfoSync('127.0.0.1', '9');
    expect(list.map((ai) => ai.addr)).toEqual(list.map(() => ({ family: AF_INET, address: '127.0.0.1', port: 9 })));
  });

  it('node null with AI_PASSIVE gives the wildcard addresses; without it, loopback', () => {
    const passive = getaddrinfoSync(null, '8080', { flags: AI_PASSIVE | AI_NUMERICSERV, socktype: SOCK_STREAM });
    expect(passive.map((ai) => ai.addr)).toEqual(expect.arrayContaining([
      { family: AF_INET, address: '0.0.0.0', port: 8080 },
      { family: AF_INET6, address: '::', port: 8080, flowinfo: 0, scopeId: 0 },
    ]));
    expect(passive).toHaveLength(2);
    const active = getaddrinfoSync(null, '8080', { flags: AI_NUMERICSERV, family: AF_INET, socktype: SOCK_STREAM });
    expect(active.map((ai) => ai.addr)).toEqual([{ family: AF_INET, address: '127.0.0.1', port: 8080 }]);
  });

  it('family AF_INET6 restricts the answer', () => {
    const list = getaddrinfoSync(null, '1', { flags: AI_NUMERICSERV, family: AF_INET6, socktype: SOCK_STREAM });
    expect(list.map((ai) => ai.addr)).toEqual([{ family: AF_INET6, address: '::1', port: 1, flowinfo: 0, scopeId: 0 }]);
  });

  it("'localhost' resolves from /etc/hosts to 127.0.0.1", () => {
    expect(fs.readFileSync('/etc/hosts', 'utf8')).toMatch(/^127\.0\.0\.1\s.*\blocalhost\b/m);
    expect(getaddrinfoSync('localhost', '80', { family: AF_INET, socktype: SOCK_STREAM })).toEqual([
      { family: AF_INET, socktype: SOCK_STREAM, protocol: IPPROTO_TCP, addr: { family: AF_INET, address: '127.0.0.1', port: 80 } },
    ]);
  });

  it('a named service is looked up locally (http = 80)', () => {
    const list = getaddrinfoSync('127.0.0.1', 'http', { flags: AI_NUMERICHOST, socktype: SOCK_STREAM });
    expect(list.map((ai) => ai.addr)).toEqual([{ family: AF_INET, address: '127.0.0.1', port: 80 }]);
  });

  it('AI_CANONNAME sets canonname on the first entry', () => {
    const list = getaddrinfoSync('127.0.0.1', '80', { flags: NUMERIC | AI_CANONNAME, socktype: SOCK_STREAM });
    expect(list).toHaveLength(1);
    expect(list[0].canonname).toBe('127.0.0.1');
  });

  it('a "%scope" suffix on a numeric IPv6 host sets scopeId', () => {
    const [ai] = getaddrinfoSync('::1%1', '80', { flags: NUMERIC, socktype: SOCK_STREAM });
    expect(ai.addr).toEqual({ family: AF_INET6, address: '::1', port: 80, flowinfo: 0, scopeId: 1 });
  });

  it('its addresses can be given straight to socket() and connectSync()', () => {
    const l = listener('ipv4');
    const { port } = l.addr as { port: number };
    const [ai] = getaddrinfoSync('127.0.0.1', String(port), { flags: NUMERIC, socktype: SOCK_STREAM });
    const fd = track(socket(ai.family, ai.socktype, ai.protocol));
    expect(connectSync(fd, ai.addr)).toBe(0);
    expect(getpeername(fd)).toEqual(l.addr);
    track(acceptSync(l.fd).fd);
  });

  it('EAI_NONAME for a non-numeric node with AI_NUMERICHOST: code, errno, syscall, message', () => {
    const err = sysError(() => getaddrinfoSync('not-an-ip', null, { flags: AI_NUMERICHOST }));
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('SocketError');
    expect(err.code).toBe('EAI_NONAME');
    expect(err.syscall).toBe('getaddrinfo');
    expect(err.errno).toBe(2); // glibc: EAI_NONAME = -2.
    expect(err.message).toBe('getaddrinfo EAI_NONAME not-an-ip: Name or service not known');
  });

  it('EAI_NONAME for a named service with AI_NUMERICSERV', () => {
    const err = sysError(() => getaddrinfoSync('127.0.0.1', 'http', { flags: NUMERIC }));
    expect(err.code).toBe('EAI_NONAME');
    expect(err.syscall).toBe('getaddrinfo');
  });

  it('EAI_NONAME when node and service are both null', () => {
    const err = sysError(() => getaddrinfoSync(null, null));
    expect(err.code).toBe('EAI_NONAME');
    expect(err.message).toBe('getaddrinfo EAI_NONAME: Name or service not known');
  });

  it.each([
    ['EAI_BADFLAGS', { flags: 0xffff }, 1, 'Bad value for ai_flags'],
    ['EAI_FAMILY', { family: 12345 }, 6, 'ai_family not supported'],
    ['EAI_SOCKTYPE', { socktype: 12345 }, 7, 'ai_socktype not supported'],
  ])('%s for bad hints, with the gai_strerror message', (code, hints, errno, text) => {
    const err = sysError(() => getaddrinfoSync('127.0.0.1', '80', hints));
    expect(err.code).toBe(code);
    expect(err.errno).toBe(errno);
    expect(err.syscall).toBe('getaddrinfo');
    expect(err.message).toBe(`getaddrinfo ${code} 127.0.0.1: ${text}`);
  });

  it('EAI_SERVICE for an unknown service name', () => {
    const err = sysError(() => getaddrinfoSync('127.0.0.1', 'no-such-service-xyz', { flags: AI_NUMERICHOST }));
    expect(err.code).toBe('EAI_SERVICE');
    expect(err.errno).toBe(8);
  });

  it('EAI_ADDRFAMILY for an IPv6 host with family AF_INET; the message keeps the host intact', () => {
    const err = sysError(() => getaddrinfoSync('::1', '80', { flags: NUMERIC, family: AF_INET }));
    expect(err.code).toBe('EAI_ADDRFAMILY');
    expect(err.errno).toBe(9);
    expect(err.syscall).toBe('getaddrinfo');
    expect(err.message).toBe('getaddrinfo EAI_ADDRFAMILY ::1: Address family for hostname not supported');
  });
});

describe('getaddrinfo (the Promise twin)', () => {
  it('resolves to the same list as getaddrinfoSync', async () => {
    const hints = { flags: NUMERIC, socktype: SOCK_STREAM };
    const list: Addrinfo[] = await getaddrinfo('127.0.0.1', '80', hints);
    expect(list).toEqual(getaddrinfoSync('127.0.0.1', '80', hints));
    expect(await getaddrinfo('::1', null, { flags: AI_NUMERICHOST, socktype: SOCK_DGRAM })).toEqual([
      {
        family: AF_INET6, socktype: SOCK_DGRAM, protocol: IPPROTO_UDP,
        addr: { family: AF_INET6, address: '::1', port: 0, flowinfo: 0, scopeId: 0 },
      },
    ]);
  });

  it('resolves several lookups in flight at once', async () => {
    const ports = [1, 2, 3, 4, 5, 6, 7, 8];
    const lists = await Promise.all(ports.map((p) => getaddrinfo('127.0.0.1', String(p), { flags: NUMERIC, socktype: SOCK_STREAM })));
    expect(lists.map((l) => (l[0].addr as { port: number }).port)).toEqual(ports);
  });

  it('rejects with EAI_NONAME as a SocketError', async () => {
    const p = getaddrinfo('not-an-ip', null, { flags: AI_NUMERICHOST });
    expect(p).toBeInstanceOf(Promise);
    const err = await p.then(() => expect.fail('resolved'), (e: unknown) => e as SocketError);
    expect(err).toBeInstanceOf(SocketError);
    expect(err.code).toBe('EAI_NONAME');
    expect(err.errno).toBe(2);
    expect(err.syscall).toBe('getaddrinfo');
    expect(err.message).toBe('getaddrinfo EAI_NONAME not-an-ip: Name or service not known');
  });

  it('rejects, never throws, on bad arguments', async () => {
    let p: Promise<unknown> | undefined;
    expect(() => {
      p = getaddrinfo(42 as unknown as string, null);
    }).not.toThrow();
    await expect(p).rejects.toThrow(TypeError);
    await expect(p).rejects.toThrow(/"node"/);
  });
});
