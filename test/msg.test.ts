// sendmsg(2) and recvmsg(2) with ancillary data, each test over the sync and
// the async forms: SCM_RIGHTS (1 and 200 fds, counted in /proc/self/fd,
// close-on-exec, not inherited, usable), MSG_CTRUNC with no fd leaked,
// SCM_CREDENTIALS, IP_PKTINFO and IPV6_PKTINFO on loopback, a type decoded
// as raw bytes, MSG_TRUNC, scatter/gather, a destination in msg.name, partial
// stream sends, abort/timeout/close while blocked, and the trace. Bad
// arguments are in validation.test.ts and fuzz.test.ts.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AF_INET, AF_INET6, AF_UNIX, AbortError, CMSG_LEN, CMSG_SPACE, type Cmsg, DEFAULT_CONTROLLEN, FD_CLOEXEC, F_GETFD,
  F_GETFL, F_SETFL, O_NONBLOCK,
  IPPROTO_IP, IPPROTO_IPV6, IPV6_PKTINFO, IPV6_RECVPKTINFO, IP_PKTINFO, MSG_CTRUNC, MSG_DONTWAIT, MSG_TRUNC,
  MSG_WAITALL, type Msghdr, type RecvMsghdr, type RecvmsgResult, SCM_CREDENTIALS, SCM_RIGHTS, SOCK_DGRAM,
  SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_LINGER, SO_PASSCRED, SO_RCVTIMEO, SO_SNDTIMEO, type Sockaddr, SocketError, type TraceRecord, close,
  fcntl, onTrace, readSync, recvfromSync, recvmsg, recvmsgSync, sendmsg, sendmsgSync, setsockopt,
  socket, socketpair, threadpool, writeSync,
} from '../lib/index';
import { native } from '../lib/binding';
import { DIST_INDEX, requireDist } from './fixtures/child';
import { fdTargets, sleep } from './helpers/fds';
import { closeAll, fill, tcpPair, track, udpPair } from './helpers/pairs';

const E = os.constants.errno;
const linux = process.platform === 'linux';
const PROMPT_MS = 500;

afterEach(async () => {
  closeAll();
  for (let i = 0; i < 200 && threadpool().busy + threadpool().queued > 0; i++) await sleep(5);
  expect(threadpool()).toMatchObject({ busy: 0, queued: 0 });
});

// Under the sanitizer build, nothing the addon allocated is unreachable (-1: not an ASan build).
afterAll(() => {
  const leaks = native.leakCheck();
  if (leaks >= 0) expect(leaks, 'LeakSanitizer found leaks (see stderr)').toBe(0);
});

/** The fds open now that were not in `before`; libuv's lazily created wake-up eventfds apart. */
function newFds(before: Map<number, string>): number[] {
  return [...fdTargets()].filter(([fd, t]) => before.get(fd) !== t && t !== 'anon_inode:[eventfd]').map(([fd]) => fd).sort((a, b) => a - b);
}

/** The fds of every SCM_RIGHTS message in a result. */
function fdsOf(r: RecvmsgResult): number[] {
  return r.control.filter((c) => c.level === SOL_SOCKET && c.type === SCM_RIGHTS).flatMap((c) => c.data as number[]);
}

function rights(fds: number[]): Msghdr['control'] {
  return [{ level: SOL_SOCKET, type: SCM_RIGHTS, data: fds }];
}

/** The socket targets a freshly exec'd child has open. */
function childSocketTargets(): string[] {
  const r = spawnSync('sh', ['-c', 'for f in /proc/$$/fd/*; do readlink "$f"; done; true'], { encoding: 'utf8', timeout: 10_000 });
  expect(r.status).toBe(0);
  return r.stdout.split('\n').filter((l) => l.startsWith('socket:'));
}

function unixPair(type = SOCK_STREAM): [number, number] {
  const [a, b] = socketpair(AF_UNIX, type, 0);
  return [track(a), track(b)];
}

function loIfindex(): number {
  return Number(fs.readFileSync('/sys/class/net/lo/ifindex', 'utf8'));
}

interface Forms {
  send: (fd: number, msg: Msghdr, flags: number) => Promise<number>;
  recv: (fd: number, msg: RecvMsghdr, flags: number) => Promise<RecvmsgResult>;
}
const FORMS: [string, Forms][] = [
  ['sendmsgSync/recvmsgSync', { send: async (...a) => sendmsgSync(...a), recv: async (...a) => recvmsgSync(...a) }],
  ['sendmsg/recvmsg (worker thread)', { send: (...a) => sendmsg(...a), recv: (...a) => recvmsg(...a) }],
];

describe.each(FORMS)('%s', (_title, { send, recv }) => {
  describe('SCM_RIGHTS over a Unix socketpair', () => {
    it.each([1, 200])('passes %i fds: exactly that many new fds, close-on-exec, the same sockets, not inherited; closing them restores the fd table', async (n) => {
      const [a, b] = unixPair();
      const originals: number[] = [];
      for (let i = 0; i < n; i += 2) originals.push(...unixPair());
      originals.length = n;
      expect(await send(a, { iov: [Buffer.from('x')], control: rights(originals) }, 0)).toBe(1);
      const before = fdTargets();
      const buf = Buffer.alloc(4);
      const r = await recv(b, { iov: [buf], controllen: CMSG_SPACE(4 * n) }, 0);
      expect(r.nbytes).toBe(1);
      expect(buf.toString('utf8', 0, 1)).toBe('x');
      expect(r.flags & MSG_CTRUNC).toBe(0);
      expect(r.control).toHaveLength(1);
      expect(r.control[0]).toMatchObject({ level: SOL_SOCKET, type: SCM_RIGHTS });
      const got = fdsOf(r);
      expect(got).toHaveLength(n);
      expect(newFds(before)).toEqual([...got].sort((x, y) => x - y));
      const now = fdTargets();
      // The same open sockets, in the order sent.
      expect(got.map((fd) => now.get(fd))).toEqual(originals.map((fd) => before.get(fd)));
      for (const fd of got) expect(fcntl(fd, F_GETFD) & FD_CLOEXEC).toBe(FD_CLOEXEC);
      const inChild = new Set(childSocketTargets());
      for (const fd of got) expect(inChild.has(now.get(fd)!)).toBe(false);
      for (const fd of got) close(fd);
      expect(newFds(before)).toEqual([]);
      expect([...fdTargets()].filter(([, t]) => t !== 'anon_inode:[eventfd]')).toEqual([...before].filter(([, t]) => t !== 'anon_inode:[eventfd]'));
    });

    it('a received TCP socket works: bytes go both ways through it', async () => {
      const [a, b] = unixPair();
      const { client, server } = tcpPair('ipv4');
      await send(a, { iov: [Buffer.from('fd')], control: rights([client]) }, 0);
      close(client); // Only the received copy is left.
      const r = await recv(b, { iov: [Buffer.alloc(2)] }, 0);
      const [passed] = fdsOf(r);
      track(passed);
      expect(writeSync(passed, Buffer.from('ping'))).toBe(4);
      const got = Buffer.alloc(8);
      expect(readSync(server, got)).toBe(4);
      expect(got.toString('utf8', 0, 4)).toBe('ping');
      writeSync(server, Buffer.from('pong'));
      expect(readSync(passed, got)).toBe(4);
      expect(got.toString('utf8', 0, 4)).toBe('pong');
    });

    it('a control buffer too small: MSG_CTRUNC, the fds that fit are returned, none leaked', async () => {
      const [a, b] = unixPair();
      const originals = [...unixPair(), ...unixPair(), ...unixPair(), ...unixPair(), ...unixPair()];
      await send(a, { iov: [Buffer.from('1')], control: rights(originals) }, 0);
      await send(a, { iov: [Buffer.from('2')], control: rights(originals) }, 0);
      const before = fdTargets();
      // Room for 3 fds' worth (the kernel fits as many as the space allows).
      const r = await recv(b, { iov: [Buffer.alloc(1)], controllen: CMSG_SPACE(4 * 3) }, 0);
      expect(r.flags & MSG_CTRUNC).toBe(MSG_CTRUNC);
      const got = fdsOf(r);
      expect(got.length).toBeGreaterThanOrEqual(3);
      expect(got.length).toBeLessThan(originals.length);
      expect(newFds(before)).toEqual([...got].sort((x, y) => x - y));
      for (const fd of got) close(fd);
      // No room at all: nothing arrives, the kernel closes them all.
      const r2 = await recv(b, { iov: [Buffer.alloc(1)], controllen: 0 }, 0);
      expect(r2).toMatchObject({ nbytes: 1, control: [] });
      expect(r2.flags & MSG_CTRUNC).toBe(MSG_CTRUNC);
      expect(newFds(before)).toEqual([]);
    });

    it('fds sent as raw bytes (the escape hatch) arrive as fds', async () => {
      const [a, b] = unixPair();
      const [p] = unixPair();
      const raw = new Uint8Array(new Int32Array([p, p]).buffer);
      await send(a, { iov: [Buffer.from('r')], control: [{ level: SOL_SOCKET, type: SCM_RIGHTS, data: raw }] }, 0);
      const before = fdTargets();
      const got = fdsOf(await recv(b, { iov: [Buffer.alloc(1)] }, 0));
      expect(got).toHaveLength(2);
      for (const fd of got) expect(fdTargets().get(fd)).toBe(before.get(p));
      for (const fd of got) close(fd);
    });

    it('a closed fd in SCM_RIGHTS fails with EBADF; more than SCM_MAX_FD (253) with EINVAL; nothing is sent, no fd left open', async () => {
      const [a, b] = unixPair(SOCK_DGRAM);
      const [p, q] = unixPair();
      const closed = socket(AF_INET, SOCK_STREAM, 0);
      close(closed);
      const before = fdTargets();
      // `closed` is the lowest free number: a duplicate of p made first would take it.
      const e1 = await send(a, { iov: [Buffer.from('x')], control: rights([p, q, closed]) }, 0).catch((e: unknown) => e);
      expect(e1).toBeInstanceOf(SocketError);
      expect(e1).toMatchObject({ code: 'EBADF', syscall: 'sendmsg' });
      expect(newFds(before)).toEqual([]);
      if (linux) {
        const e2 = await send(a, { iov: [Buffer.from('x')], control: rights(Array(254).fill(p)) }, 0).catch((e: unknown) => e);
        expect(e2).toMatchObject({ code: 'EINVAL', syscall: 'sendmsg' });
      }
      expect(() => recvmsgSync(b, { iov: [Buffer.alloc(1)] }, MSG_DONTWAIT)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    });
  });

  describe.skipIf(!linux)('SCM_CREDENTIALS (Linux, SO_PASSCRED)', () => {
    it('reports the sender\'s pid, uid and gid, sent implicitly or explicitly', async () => {
      const [a, b] = unixPair(SOCK_DGRAM);
      setsockopt(b, SOL_SOCKET, SO_PASSCRED, 1);
      const me = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
      await send(a, { iov: [Buffer.from('implicit')] }, 0);
      await send(a, { iov: [Buffer.from('explicit')], control: [{ level: SOL_SOCKET, type: SCM_CREDENTIALS, data: me }] }, 0);
      for (const text of ['implicit', 'explicit']) {
        const buf = Buffer.alloc(16);
        const r = await recv(b, { iov: [buf] }, 0);
        expect(buf.toString('utf8', 0, r.nbytes)).toBe(text);
        expect(r.control).toEqual([{ level: SOL_SOCKET, type: SCM_CREDENTIALS, data: me }]);
      }
    });
  });

  describe.skipIf(!linux)('IP_PKTINFO / IPV6_PKTINFO on loopback', () => {
    it('IP_PKTINFO: the datagram\'s destination 127.0.0.1 and the ifindex of lo', async () => {
      const { a, b, addrA, addrB } = udpPair('ipv4');
      setsockopt(b, IPPROTO_IP, IP_PKTINFO, 1);
      await send(a, { iov: [Buffer.from('where')], name: addrB }, 0);
      const buf = Buffer.alloc(16);
      const r = await recv(b, { iov: [buf] }, 0);
      expect(r.nbytes).toBe(5);
      expect(r.addr).toEqual(addrA);
      expect(r.control).toEqual([{
        level: IPPROTO_IP, type: IP_PKTINFO, data: { ifindex: loIfindex(), address: '127.0.0.1', specDst: '127.0.0.1' },
      }]);
      // And as a sender: the source address chosen by pktinfo.
      await send(a, { iov: [Buffer.from('src')], name: addrB, control: [{ level: IPPROTO_IP, type: IP_PKTINFO, data: { ifindex: 0, specDst: '127.0.0.1' } }] }, 0);
      const r2 = await recv(b, { iov: [buf] }, 0);
      expect(r2.addr).toEqual(addrA);
    });

    it('IPV6_RECVPKTINFO: the destination ::1 and the ifindex of lo', async (ctx) => {
      let pair: ReturnType<typeof udpPair>;
      try {
        pair = udpPair('ipv6');
      } catch (err) {
        if ((err as SocketError).code === 'EADDRNOTAVAIL' || (err as SocketError).code === 'EAFNOSUPPORT') return ctx.skip();
        throw err;
      }
      const { a, b, addrA, addrB } = pair;
      setsockopt(b, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
      await send(a, { iov: [Buffer.from('six')], name: addrB }, 0);
      const r = await recv(b, { iov: [Buffer.alloc(8)] }, 0);
      expect(r.addr).toMatchObject({ family: AF_INET6, address: '::1', port: (addrA as { port: number }).port });
      expect(r.control).toEqual([{ level: IPPROTO_IPV6, type: IPV6_PKTINFO, data: { ifindex: loIfindex(), address: '::1' } }]);
    });

    it('a type bsd-sockets does not decode arrives as raw bytes (IP_TTL after IP_RECVTTL)', async () => {
      // Linux values from <linux/in.h>: IP_RECVTTL 12, IP_TTL 2; not exported.
      const IP_RECVTTL = 12;
      const IP_TTL = 2;
      const { a, b, addrB } = udpPair('ipv4');
      setsockopt(b, IPPROTO_IP, IP_RECVTTL, 1);
      await send(a, { iov: [Buffer.from('t')], name: addrB }, 0);
      const r = await recv(b, { iov: [Buffer.alloc(1)] }, 0);
      expect(r.control).toHaveLength(1);
      const [cm] = r.control as [Cmsg];
      expect(cm).toMatchObject({ level: IPPROTO_IP, type: IP_TTL });
      expect(Buffer.isBuffer(cm.data)).toBe(true);
      const ttl = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_default_ttl', 'utf8'));
      expect((cm.data as Buffer).readInt32LE(0)).toBe(ttl);
    });
  });

  describe('data', () => {
    it('MSG_TRUNC: a datagram larger than the iov is cut and flagged; with the MSG_TRUNC flag nbytes is its real length', async () => {
      const { a, b, addrB } = udpPair('ipv4');
      const big = Buffer.alloc(100, 7);
      await send(a, { iov: [big], name: addrB }, 0);
      await send(a, { iov: [big], name: addrB }, 0);
      const small = Buffer.alloc(10);
      const r = await recv(b, { iov: [small] }, 0);
      expect(r.nbytes).toBe(10);
      expect(r.flags & MSG_TRUNC).toBe(MSG_TRUNC);
      expect(small).toEqual(Buffer.alloc(10, 7));
      const r2 = await recv(b, { iov: [small] }, MSG_TRUNC);
      expect(r2.nbytes).toBe(100);
      expect(r2.flags & MSG_TRUNC).toBe(MSG_TRUNC);
    });

    it('scatter/gather: several views of different kinds, byte-exact, on UDP and on a Unix stream', async () => {
      const bytes = Buffer.from(Array.from({ length: 40 }, (_, i) => (i * 37 + 11) & 255));
      const ab = new ArrayBuffer(64);
      new Uint8Array(ab).set(bytes.subarray(0, 16), 8);
      const out = [new DataView(ab, 8, 16), new Uint16Array(bytes.buffer.slice(bytes.byteOffset + 16, bytes.byteOffset + 30)), bytes.subarray(30)];
      const check = async (sender: number, receiver: number, name?: Sockaddr) => {
        expect(await send(sender, { iov: out, name }, 0)).toBe(40);
        const into = [Buffer.alloc(5), new Uint8Array(new ArrayBuffer(30), 3, 17), Buffer.alloc(18)];
        const r = await recv(receiver, { iov: into }, 0);
        expect(r.nbytes).toBe(40);
        expect(Buffer.concat(into.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength))).subarray(0, 40)).toEqual(bytes);
      };
      const { a, b, addrB } = udpPair('ipv4');
      await check(a, b, addrB);
      const [x, y] = unixPair();
      await check(x, y);
    });

    it('msg.name: a datagram from an unconnected UDP socket reaches that address, from the sender\'s address', async () => {
      const { a, b, addrA, addrB } = udpPair('ipv4');
      await send(a, { iov: [Buffer.from('to b')], name: addrB }, 0);
      const buf = Buffer.alloc(8);
      const { nbytes, addr } = recvfromSync(b, buf, undefined, 0);
      expect(buf.toString('utf8', 0, nbytes)).toBe('to b');
      expect(addr).toEqual(addrA);
    });

    it('empty iov and zero-length datagrams; a connected TCP socket gives addr null', async () => {
      const [x, y] = unixPair(SOCK_DGRAM);
      expect(await send(x, { iov: [] }, 0)).toBe(0);
      expect(await recv(y, { iov: [Buffer.alloc(4)] }, 0)).toEqual({ nbytes: 0, addr: null, control: [], flags: 0 });
      const { client, server } = tcpPair('ipv4');
      await send(client, { iov: [Buffer.from('tcp')] }, 0);
      expect(await recv(server, { iov: [Buffer.alloc(8)] }, 0)).toMatchObject({ nbytes: 3, addr: null, control: [] });
    });
  });
});

describe('sendmsg() on a stream larger than the socket buffer', () => {
  it('sends every byte across waits, and the fds once, with the first byte', async () => {
    const [a, b] = unixPair();
    const [p] = unixPair();
    const parts = [Buffer.alloc(300_000, 1), Buffer.alloc(500_000, 2), Buffer.alloc(224_000, 3)];
    const total = 1_024_000;
    const sending = sendmsg(a, { iov: parts, control: rights([p]) }, 0);
    const before = fdTargets();
    const got = Buffer.alloc(total);
    const fds: number[] = [];
    let n = 0;
    for (let i = 0; i < 10_000 && n < total; i++) {
      const r = await recvmsg(b, { iov: [got.subarray(n)] }, 0, { timeout: 5000 });
      if (fds.length > 0) expect(fdsOf(r)).toEqual([]);
      fds.push(...fdsOf(r));
      n += r.nbytes;
    }
    expect(await sending).toBe(total);
    expect(n).toBe(total);
    expect(got.equals(Buffer.concat(parts))).toBe(true); // Not toEqual: element-wise over 1 MB is slow.
    expect(fds).toHaveLength(1);
    expect(fdTargets().get(fds[0])).toBe(before.get(p));
    close(fds[0]);
  });

  it('recvmsg() with MSG_WAITALL gathers across waits until the iov is full', async () => {
    const [a, b] = unixPair();
    const into = [Buffer.alloc(3), Buffer.alloc(5)];
    const receiving = recvmsg(b, { iov: into }, MSG_WAITALL, { timeout: 5000 });
    await sleep(20);
    writeSync(a, Buffer.from('abc'));
    await sleep(20);
    writeSync(a, Buffer.from('defgh'));
    const r = await receiving;
    expect(r.nbytes).toBe(8);
    expect(Buffer.concat(into).toString()).toBe('abcdefgh');
  });
});

describe('the fds sendmsg() passes are resolved at the call (duplicates, as the kernel takes its references)', () => {
  it('async sendmsg() rejects (never throws) with SocketError EBADF for a bad fd; sendmsgSync throws it', async () => {
    const [a] = unixPair();
    const closed = socket(AF_UNIX, SOCK_STREAM, 0);
    close(closed);
    let pending: Promise<number> | undefined;
    expect(() => {
      pending = sendmsg(a, { iov: [Buffer.from('x')], control: rights([closed]) }, 0);
    }).not.toThrow();
    await expect(pending).rejects.toSatisfy((e) => e instanceof SocketError && e.code === 'EBADF' && e.syscall === 'sendmsg');
    expect(() => sendmsgSync(a, { iov: [Buffer.from('x')], control: rights([closed]) }, 0)).toThrow(SocketError);
  });

  it('an fd close() has been called on, while a call of ours still holds it open, is EBADF (closed to the caller)', async () => {
    const [a, b] = unixPair();
    const [p] = unixPair();
    const blocked = recvmsg(p, { iov: [Buffer.alloc(1)] }, 0).catch((e: unknown) => e);
    for (let i = 0; i < 1000 && threadpool().busy < 1; i++) await sleep(1);
    close(p);
    const err = await sendmsg(a, { iov: [Buffer.from('x')], control: rights([p]) }, 0).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EBADF', syscall: 'sendmsg' });
    expect(await blocked).toMatchObject({ code: 'EBADF' });
    expect(() => recvmsgSync(b, { iov: [Buffer.alloc(1)] }, MSG_DONTWAIT)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
  });

  it('the duplicates are closed on every path: sent, failed, aborted while waiting for room', async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    track(a);
    track(b);
    const [p, q] = unixPair();
    const before = fdTargets();
    expect(await sendmsg(a, { iov: [Buffer.from('x')], control: rights([p, q]) }, 0)).toBe(1);
    expect(sendmsgSync(a, { iov: [Buffer.from('y')], control: rights([p, q]) }, 0)).toBe(1);
    expect(newFds(before)).toEqual([]);
    for (const r of [recvmsgSync(b, { iov: [Buffer.alloc(1)] }, 0), recvmsgSync(b, { iov: [Buffer.alloc(1)] }, 0)]) {
      for (const fd of fdsOf(r)) close(fd);
    }
    fill(a);
    fcntl(a, F_SETFL, fcntl(a, F_GETFL) & ~O_NONBLOCK);
    const ac = new AbortController();
    const pending = sendmsg(a, { iov: [Buffer.from('!')], control: rights([p, q]) }, 0, { signal: ac.signal }).catch((e: unknown) => e);
    for (let i = 0; i < 1000 && threadpool().busy < 1; i++) await sleep(1);
    expect(newFds(before)).toHaveLength(2); // The two duplicates, while it waits.
    ac.abort();
    expect(await pending).toBeInstanceOf(AbortError);
    expect(newFds(before)).toEqual([]);
  });
});

describe('the duplicates of a call aborted while still queued for a worker', () => {
  it('are closed before the rejection is seen', async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM, 0);
    track(a);
    track(b);
    const [p, q] = unixPair();
    // Every pool thread blocked in a read: the sendmsg waits in libuv's queue.
    const { size } = threadpool();
    const holders = Array.from({ length: size }, () => socketpair(AF_UNIX, SOCK_STREAM, 0).map(track));
    const reads = holders.map(([x]) => recvmsg(x, { iov: [Buffer.alloc(1)] }, 0));
    for (let i = 0; i < 1000 && threadpool().busy < size; i++) await sleep(1);
    const before = fdTargets();
    const ac = new AbortController();
    const pending = sendmsg(a, { iov: [Buffer.from('!')], control: rights([p, q]) }, 0, { signal: ac.signal }).catch((e: unknown) => e);
    expect(threadpool().queued).toBe(1);
    expect(newFds(before)).toHaveLength(2);
    ac.abort();
    expect(await pending).toBeInstanceOf(AbortError);
    expect(newFds(before)).toEqual([]);
    for (const [, y] of holders) writeSync(y, Buffer.from('.'));
    await Promise.all(reads);
    expect(() => recvmsgSync(b, { iov: [Buffer.alloc(1)] }, MSG_DONTWAIT)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
  });
});

describe('recvmsg(MSG_WAITALL) cut by a reset (peer SO_LINGER { 1, 0 } then close)', () => {
  it('gives the bytes it has, then ECONNRESET on the next recvmsg (as C): the gather does not consume the error', async () => {
    const { client, server } = tcpPair('ipv4');
    const into = [Buffer.alloc(60), Buffer.alloc(40)];
    const p = recvmsg(server, { iov: into }, MSG_WAITALL, { timeout: 5000 });
    writeSync(client, Buffer.alloc(40, 7));
    await sleep(50);
    writeSync(client, Buffer.alloc(5, 8)); // Queued when the reset comes: the gather takes it and stops.
    setsockopt(client, SOL_SOCKET, SO_LINGER, { onoff: 1, linger: 0 });
    close(client);
    const r = await p;
    expect(r.nbytes).toBe(45);
    expect(into[0].subarray(0, 45).equals(Buffer.concat([Buffer.alloc(40, 7), Buffer.alloc(5, 8)]))).toBe(true);
    const err = await recvmsg(server, { iov: [Buffer.alloc(8)] }, 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SocketError);
    expect(err).toMatchObject({ code: 'ECONNRESET', syscall: 'recvmsg' });
  });
});

describe('sendmsgSync/recvmsgSync on the main thread under signals', () => {
  /** Runs fn while SIGUSR2 reaches this process 4 times, 100 ms apart; returns its error and how long it took. */
  async function underSignals(fn: () => unknown): Promise<{ err: unknown; ms: number; signals: number }> {
    let signals = 0;
    const onSignal = () => {
      signals++;
    };
    process.on('SIGUSR2', onSignal);
    try {
      const child = spawn('sh', ['-c', `for i in 1 2 3 4; do sleep 0.1; kill -USR2 ${process.pid}; done`], { stdio: 'ignore' });
      const exited = once(child, 'exit');
      const t0 = performance.now();
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      const ms = performance.now() - t0;
      await exited;
      for (let i = 0; i < 100 && signals < 4; i++) await sleep(10);
      return { err, ms, signals };
    } finally {
      process.off('SIGUSR2', onSignal);
    }
  }

  // Restarting the whole 600 ms after the last signal (~400 ms) would take ~1000 ms.
  it('recvmsgSync keeps SO_RCVTIMEO across EINTR: EAGAIN after about 600 ms, not 600 ms after the last signal', async () => {
    const [a] = unixPair();
    setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, 600);
    const { err, ms, signals } = await underSignals(() => recvmsgSync(a, { iov: [Buffer.alloc(4)] }, 0));
    expect(signals).toBe(4);
    expect(err).toMatchObject({ code: 'EAGAIN', syscall: 'recvmsg' });
    expect(ms).toBeGreaterThanOrEqual(550);
    expect(ms).toBeLessThan(900);
  });

  it('sendmsgSync keeps SO_SNDTIMEO across EINTR on a full socket', async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    track(a);
    track(b);
    fill(a);
    fcntl(a, F_SETFL, fcntl(a, F_GETFL) & ~O_NONBLOCK);
    setsockopt(a, SOL_SOCKET, SO_SNDTIMEO, 600);
    const { err, ms, signals } = await underSignals(() => sendmsgSync(a, { iov: [Buffer.alloc(65536)] }, 0));
    expect(signals).toBe(4);
    expect(err).toMatchObject({ code: 'EAGAIN', syscall: 'sendmsg' });
    expect(ms).toBeGreaterThanOrEqual(550);
    expect(ms).toBeLessThan(900);
  });
});

describe('received fds reach the caller or are closed', () => {
  // Index 2: msg_control in the native result. (A setter on an index breaks
  // any script's push() that far, so the test keeps lib's own arrays shorter.)
  it('a setter on Array.prototype[2] takes nothing from a recvmsg result (defined, not assigned), sync and async', async () => {
    const [a, b] = unixPair();
    const sent = unixPair();
    let stolen: unknown;
    Object.defineProperty(Array.prototype, '2', {
      configurable: true,
      set(v: unknown) {
        stolen = v;
      },
    });
    const results: RecvmsgResult[] = [];
    try {
      sendmsgSync(a, { iov: [Buffer.from('x')], control: rights(sent) }, 0);
      results.push(recvmsgSync(b, { iov: [Buffer.alloc(1)] }, 0));
      sendmsgSync(a, { iov: [Buffer.from('y')], control: rights(sent) }, 0);
      results.push(await recvmsg(b, { iov: [Buffer.alloc(1)] }, 0));
    } finally {
      delete (Array.prototype as unknown as Record<string, unknown>)['2'];
    }
    expect(stolen).toBeUndefined();
    const targets = fdTargets();
    for (const r of results) {
      const got = fdsOf(r);
      expect(got).toHaveLength(2);
      for (const fd of got) track(fd);
      expect(got.map((fd) => targets.get(fd))).toEqual(sent.map((fd) => targets.get(fd)));
    }
  });

  it('a replaced Array.prototype[Symbol.iterator] cannot change a recvmsg result', async () => {
    const [a, b] = unixPair();
    const [p] = unixPair();
    const original = Array.prototype[Symbol.iterator];
    // Iterates nothing for any array holding an array at index 2 (as the native result does).
    Array.prototype[Symbol.iterator] = function (this: unknown[]) {
      return Array.isArray(this[2]) ? original.call([]) : original.call(this);
    };
    let r: RecvmsgResult;
    try {
      sendmsgSync(a, { iov: [Buffer.from('x')], control: rights([p]) }, 0);
      r = await recvmsg(b, { iov: [Buffer.alloc(1)] }, 0);
    } finally {
      Array.prototype[Symbol.iterator] = original;
    }
    expect(r.flags).toBe(0);
    expect(fdsOf(r)).toHaveLength(1);
    expect(fdTargets().get(fdsOf(r)[0])).toBe(fdTargets().get(p));
    close(fdsOf(r)[0]);
  });
});

// SO_PASSPIDFD is 76 and SCM_PIDFD 4 in the generic Linux ABI (x86-64, arm64).
describe.skipIf(!linux || !['x64', 'arm64'].includes(process.arch))('SCM_PIDFD (Linux 6.5+, SO_PASSPIDFD)', () => {
  const SO_PASSPIDFD = 76;
  const SCM_PIDFD = 4;

  it.each(FORMS)('%s: the sender\'s pidfd arrives as number[] (one fd, close-on-exec)', async (_title, { send, recv }) => {
    const [a, b] = unixPair();
    try {
      setsockopt(b, SOL_SOCKET, SO_PASSPIDFD, 1);
    } catch {
      return; // A kernel before 6.5.
    }
    const before = fdTargets();
    await send(a, { iov: [Buffer.from('x')] }, 0);
    const r = await recv(b, { iov: [Buffer.alloc(1)] }, 0);
    const cm = r.control.find((c) => c.level === SOL_SOCKET && c.type === SCM_PIDFD);
    expect(cm).toBeDefined();
    expect(Array.isArray(cm!.data)).toBe(true);
    const [pidfd] = cm!.data as number[];
    expect(cm!.data).toHaveLength(1);
    expect(newFds(before)).toEqual([pidfd]);
    expect(fdTargets().get(pidfd)).toMatch(/pidfd/);
    expect(fcntl(pidfd, F_GETFD) & FD_CLOEXEC).toBe(FD_CLOEXEC);
    expect(fs.readFileSync(`/proc/self/fdinfo/${pidfd}`, 'utf8')).toMatch(new RegExp(`^Pid:\\s+${process.pid}$`, 'm'));
    close(pidfd);
  });
});

describe('recvmsg() and sendmsg() blocked on a worker thread', () => {
  async function untilBusy(n: number): Promise<void> {
    for (let i = 0; i < 1000 && threadpool().busy < n; i++) await sleep(1);
    expect(threadpool().busy).toBe(n);
    await sleep(10);
  }

  it('an abort rejects with AbortError promptly and consumes nothing: the message and its fd come next', async () => {
    const [a, b] = unixPair();
    const [p] = unixPair();
    const ac = new AbortController();
    const pending = recvmsg(b, { iov: [Buffer.alloc(4)] }, 0, { signal: ac.signal }).catch((e: unknown) => e);
    await untilBusy(1);
    const t0 = performance.now();
    ac.abort(new Error('stop'));
    const err = await pending;
    expect(performance.now() - t0).toBeLessThan(PROMPT_MS);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).cause).toBe(ac.signal.reason);
    sendmsgSync(a, { iov: [Buffer.from('kept')], control: rights([p]) }, 0);
    const buf = Buffer.alloc(4);
    const r = recvmsgSync(b, { iov: [buf] }, 0);
    expect(buf.toString()).toBe('kept');
    expect(fdsOf(r)).toHaveLength(1);
    close(fdsOf(r)[0]);
  });

  it('sendmsg() waiting for room: close() of an fd it passes, and the reuse of its number, do not change what the peer receives (as C)', async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    track(b);
    let queued = 0;
    for (let i = 0; i < 10_000; i++) {
      try {
        queued += sendmsgSync(a, { iov: [Buffer.alloc(65536)] }, 0);
      } catch (err) {
        expect((err as SocketError).code).toBe('EAGAIN');
        break;
      }
    }
    expect(queued).toBeGreaterThan(0);
    fcntl(a, F_SETFL, fcntl(a, F_GETFL) & ~O_NONBLOCK); // Blocking: the async call waits for room.
    track(a);
    const [p, q] = socketpair(AF_UNIX, SOCK_STREAM, 0);
    track(q);
    const pTarget = fdTargets().get(p);
    let settled = false;
    const pending = sendmsg(a, { iov: [Buffer.from('!')], control: rights([p]) }, 0).finally(() => {
      settled = true;
    });
    await untilBusy(1);
    // C's kernel took its own reference to p's file at sendmsg entry: closing
    // p now, and another socket getting its number, change nothing sent.
    close(p);
    let reused = false;
    for (let i = 0; i < 64 && !reused; i++) reused = track(socket(AF_INET, SOCK_STREAM, 0)) === p;
    expect(reused).toBe(true);
    await sleep(20);
    expect(settled).toBe(false); // Still waiting for room: close(p) is not about this call.
    const buf = Buffer.alloc(65536);
    let drained = 0;
    for (let i = 0; i < 10_000 && drained < queued; i++) {
      const r = recvmsgSync(b, { iov: [buf.subarray(0, Math.min(buf.length, queued - drained))] }, 0);
      expect(r.control).toEqual([]);
      drained += r.nbytes;
    }
    expect(drained).toBe(queued);
    expect(await pending).toBe(1);
    const r = recvmsgSync(b, { iov: [buf] }, 0);
    expect(buf.toString('utf8', 0, r.nbytes)).toBe('!');
    const [got] = fdsOf(r);
    track(got);
    // The file p named at the call: its peer q hears what is written through it.
    expect(fdTargets().get(got)).toBe(pTarget);
    expect(writeSync(got, Buffer.from('same'))).toBe(4);
    const back = Buffer.alloc(4);
    expect(readSync(q, back)).toBe(4);
    expect(back.toString()).toBe('same');
  });

  it('opts.timeout rejects with SocketError ETIMEDOUT (syscall recvmsg)', async () => {
    const [, b] = unixPair();
    const t0 = performance.now();
    const err = await recvmsg(b, { iov: [Buffer.alloc(4)] }, 0, { timeout: 30 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SocketError);
    expect(err).toMatchObject({ code: 'ETIMEDOUT', errno: E.ETIMEDOUT, syscall: 'recvmsg' });
    expect(performance.now() - t0).toBeLessThan(30 + PROMPT_MS);
  });

  it('close(fd) settles it promptly with EBADF', async () => {
    const [, b] = unixPair();
    const pending = recvmsg(b, { iov: [Buffer.alloc(4)] }, 0).catch((e: unknown) => e);
    await untilBusy(1);
    close(b);
    const err = await pending;
    expect(err).toBeInstanceOf(SocketError);
    expect(err).toMatchObject({ code: 'EBADF', syscall: 'recvmsg' });
  });

  it('a non-blocking socket fails at once with EAGAIN, both forms', async () => {
    const [a, b] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    track(a);
    track(b);
    await expect(recvmsg(b, { iov: [Buffer.alloc(1)] }, 0)).rejects.toMatchObject({ code: 'EAGAIN', syscall: 'recvmsg' });
    expect(() => recvmsgSync(b, { iov: [Buffer.alloc(1)] }, 0)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
  });
});

describe('a recvmsg() result nobody receives', () => {
  beforeAll(() => {
    requireDist();
  });

  it('closes the fds it received: a worker_thread ends while its completed recvmsg() waits to settle', async () => {
    const before = fdTargets();
    const shared = new Int32Array(new SharedArrayBuffer(16));
    // The worker queues recvmsg(), sends it two fds, then keeps its event
    // loop busy until the pool thread has received them, and ends: the
    // result comes back while the environment is ending, where it cannot be
    // delivered (RecvmsgOp::Extra fails, or Discard at teardown).
    const worker = new Worker(`
      const { workerData } = require('node:worker_threads');
      const s = require(${JSON.stringify(DIST_INDEX)});
      const [a, b] = s.socketpair(s.AF_UNIX, s.SOCK_STREAM, 0);
      const [p, q] = s.socketpair(s.AF_UNIX, s.SOCK_STREAM, 0);
      workerData.set([a, b, p, q]);
      s.recvmsg(b, { iov: [Buffer.alloc(1)] }, 0).then((r) => { workerData[0] = -1; });
      s.sendmsgSync(a, { iov: [Buffer.from('x')], control: [{ level: s.SOL_SOCKET, type: s.SCM_RIGHTS, data: [p, q] }] }, 0);
      const t0 = Date.now();
      while (s.threadpool().busy + s.threadpool().queued > 0 && Date.now() - t0 < 2000) {}
      process.exit(0);
    `, { eval: true, workerData: shared });
    const code = await new Promise((resolve, reject) => {
      worker.once('exit', resolve);
      worker.once('error', reject);
    });
    expect(code).toBe(0);
    const [a, b, p, q] = shared;
    expect(a).toBeGreaterThanOrEqual(0); // The promise never resolved in the worker.
    for (const fd of [a, b, p, q]) track(fd);
    // The message was consumed by the worker's recvmsg()…
    expect(() => recvmsgSync(b, { iov: [Buffer.alloc(1)] }, MSG_DONTWAIT)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    // …and the two fds it brought were closed: only the worker's own four are new.
    expect(newFds(before)).toEqual([a, b, p, q].sort((x, y) => x - y));
  });
});

describe('recvmsgSync() in a worker_thread', () => {
  beforeAll(() => {
    requireDist();
  });

  it('blocks that thread until the message comes, and the fds it receives are the process\'s', async () => {
    const [a, b] = unixPair();
    const [p] = unixPair();
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const s = require(${JSON.stringify(DIST_INDEX)});
      parentPort.postMessage('waiting');
      const buf = Buffer.alloc(8);
      const r = s.recvmsgSync(workerData, { iov: [buf] }, 0);
      parentPort.postMessage({ nbytes: r.nbytes, text: buf.toString('utf8', 0, r.nbytes), control: r.control });
    `, { eval: true, workerData: b });
    const messages: unknown[] = [];
    const done = new Promise<void>((resolve, reject) => {
      worker.on('message', (m) => {
        messages.push(m);
        if (messages.length === 2) resolve();
      });
      worker.once('error', reject);
    });
    for (let i = 0; i < 500 && messages.length === 0; i++) await sleep(2);
    await sleep(20); // The worker is in recvmsgSync now.
    sendmsgSync(a, { iov: [Buffer.from('to you')], control: rights([p]) }, 0);
    await done;
    await worker.terminate();
    const { nbytes, text, control } = messages[1] as { nbytes: number; text: string; control: Cmsg[] };
    expect({ nbytes, text }).toEqual({ nbytes: 6, text: 'to you' });
    const [fd] = control[0].data as number[];
    track(fd);
    expect(fdTargets().get(fd)).toBe(fdTargets().get(p));
    expect(fcntl(fd, F_GETFD) & FD_CLOEXEC).toBe(FD_CLOEXEC);
  });
});

describe('trace', () => {
  it('records sendmsg and recvmsg with their C names, on the main thread (sync) and a worker (async)', async () => {
    const records: TraceRecord[] = [];
    const off = onTrace((r) => records.push(r));
    try {
      const { a, b, addrA, addrB } = udpPair('ipv4');
      sendmsgSync(a, { iov: [Buffer.from('ab')], name: addrB }, 0);
      recvmsgSync(b, { iov: [Buffer.alloc(4)] }, 0);
      await sendmsg(a, { iov: [Buffer.from('cd')], name: addrB }, 0);
      await recvmsg(b, { iov: [Buffer.alloc(4)] }, 0);
      const text = (addr: Sockaddr) => `127.0.0.1:${(addr as { port: number }).port}`;
      const mine = records.filter((r) => r.syscall === 'sendmsg' || r.syscall === 'recvmsg');
      expect(mine.map((r) => [r.syscall, r.args, r.result, r.detail, r.threadId === r.mainThreadId])).toEqual([
        ['sendmsg', [a, 2, 0, text(addrB)], 2, undefined, true],
        ['recvmsg', [b, 4, 0], 2, text(addrA), true],
        ['sendmsg', [a, 2, 0, text(addrB)], 2, undefined, false],
        ['recvmsg', [b, 4, 0], 2, text(addrA), false],
      ]);
    } finally {
      off();
    }
  });
});

describe('CMSG_SPACE / CMSG_LEN and the default control buffer', () => {
  it('are C\'s macros: header plus payload, CMSG_SPACE padded', () => {
    expect(CMSG_LEN(0)).toBeGreaterThanOrEqual(12);
    expect(CMSG_LEN(4)).toBe(CMSG_LEN(0) + 4);
    expect(CMSG_SPACE(4)).toBeGreaterThanOrEqual(CMSG_LEN(4));
    expect(CMSG_SPACE(4 * 253) % 4).toBe(0);
    // The default holds 32 fds, credentials and an IPv6 pktinfo.
    expect(CMSG_SPACE(4 * 32) + CMSG_SPACE(12) + CMSG_SPACE(20)).toBeLessThanOrEqual(DEFAULT_CONTROLLEN);
  });

  it('32 fds fit the default control buffer whole', async () => {
    const [a, b] = unixPair();
    const [p] = unixPair();
    sendmsgSync(a, { iov: [Buffer.from('a')], control: rights(Array(32).fill(p)) }, 0);
    const r = recvmsgSync(b, { iov: [Buffer.alloc(1)] }, 0);
    expect(r.flags & MSG_CTRUNC).toBe(0);
    expect(fdsOf(r)).toHaveLength(32);
    for (const fd of fdsOf(r)) close(fd);
  });
});
