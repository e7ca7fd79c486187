// The C and TypeScript twins in examples/ interoperate on the wire: each
// pair runs both ways — the TypeScript server against the C client and the C
// server against the TypeScript client — on 127.0.0.1, ::1 or Unix sockets
// in a temp dir (and Linux abstract names), and every line of output is
// checked exactly; the kernel-chosen ports are read from the programs' own
// output. The C side is built first with `npm run examples:build`'s script.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AF_INET, SOCK_STREAM, type SockaddrIn, bind, close, getsockname, socket } from '../lib/index';

const root = path.join(__dirname, '..');
const bin = path.join(root, 'build', 'examples');
const linux = process.platform === 'linux';
/** No example run may take longer; a hung one is killed and its test fails. */
const RUN_TIMEOUT_MS = 15_000;

type Lang = 'c' | 'ts';

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();

/** One example program, started as `build/examples/NAME` or `node --import tsx examples/NAME.ts`. */
class Program {
  stdout = '';
  stderr = '';
  readonly exit: Promise<Exit>;
  private readonly child: ChildProcess;
  private exited = false;

  constructor(readonly lang: Lang, readonly name: string, args: string[]) {
    const [cmd, argv] = lang === 'c'
      ? [path.join(bin, name), args]
      : [process.execPath, ['--import', 'tsx', path.join(root, 'examples', `${name}.ts`), ...args]];
    this.child = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(this.child);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.stdout += d; });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr += d; });
    this.exit = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.child.on('close', (code, signal) => {
        clearTimeout(timer);
        running.delete(this.child);
        this.exited = true;
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  /** Waits for the server's first line, `listening on ADDR`, and returns ADDR. */
  async listening(): Promise<string> {
    for (;;) {
      const m = /^listening on (.*)\n/.exec(this.stdout);
      if (m) return m[1];
      if (this.exited) {
        throw new Error(`${this.lang} ${this.name} exited before listening:\n${this.stdout}${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Waits for the exit, expects status 0 and nothing on stderr, and returns stdout. */
  async success(): Promise<string> {
    const e = await this.exit;
    expect({ program: `${this.lang} ${this.name}`, code: e.code, signal: e.signal, stderr: e.stderr })
      .toEqual({ program: `${this.lang} ${this.name}`, code: 0, signal: null, stderr: '' });
    return e.stdout;
  }
}

const run = (lang: Lang, name: string, ...args: string[]): Program => new Program(lang, name, args);
const portOf = (addrText: string): string => addrText.slice(addrText.lastIndexOf(':') + 1);
/** addr_text()/addrText() of host and port: "127.0.0.1:80", "[::1]:80". */
const hostPort = (host: string, port: string | number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const lines = (...ls: string[]): string => ls.map((l) => `${l}\n`).join('');

/** Matches `re` against `text`, failing the test with the text when it does not. */
function match(text: string, re: RegExp): RegExpExecArray {
  const m = re.exec(text);
  expect(m, `${re} in:\n${text}`).not.toBeNull();
  return m!;
}

let tmp: string;
let counter = 0;
const tmpPath = (): string => path.join(tmp, `s${counter++}.sock`);
const abstractName = (): string => `@bsd-sockets-examples-${process.pid}-${counter++}`;

beforeAll(() => {
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run prepare` (the examples import bsd-sockets by name)');
  }
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build-examples.cjs')], { cwd: root, stdio: 'pipe' });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bsd-sockets-examples-'));
}, 120_000);

afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const DIRECTIONS: Array<{ server: Lang; client: Lang; title: string }> = [
  { server: 'ts', client: 'c', title: 'TypeScript server, C client' },
  { server: 'c', client: 'ts', title: 'C server, TypeScript client' },
];
const HOSTS = ['127.0.0.1', '::1'];

describe.each(DIRECTIONS)('$title', ({ server, client }) => {
  describe.each(HOSTS)('on %s', (host) => {
    it('tcp-server / tcp-client: echo byte-exact, two connections in turn', async () => {
      const srv = run(server, 'tcp-server', host, '0', '2');
      const saddr = await srv.listening();
      expect(saddr).toMatch(new RegExp(`^${esc(hostPort(host, ''))}\\d+$`));
      // The second message spans many 4096-byte reads and is not ASCII: counts are bytes.
      const messages = ['hello, world', `${'é'.repeat(10_000)}!`];
      const peers: string[] = [];
      for (const msg of messages) {
        const out = await run(client, 'tcp-client', host, portOf(saddr), msg).success();
        const [, local] = match(out, new RegExp(`^connected to ${esc(saddr)} from (${esc(hostPort(host, ''))}\\d+)\n`));
        const n = Buffer.byteLength(msg);
        expect(out).toBe(lines(`connected to ${saddr} from ${local}`, `sent ${n} bytes`, `received ${n} bytes: ${msg}`));
        peers.push(local);
      }
      expect(await srv.success()).toBe(lines(
        `listening on ${saddr}`,
        `connection from ${peers[0]}`, 'echoed 12 bytes to ' + peers[0],
        `connection from ${peers[1]}`, `echoed 20001 bytes to ${peers[1]}`,
      ));
    });

    it('udp-server / udp-client: each datagram echoed to its source address', async () => {
      const srv = run(server, 'udp-server', host, '0', '3');
      const saddr = await srv.listening();
      const out = await run(client, 'udp-client', host, portOf(saddr), 'one', 'two', 'thréé').success();
      expect(out).toBe(lines(
        `reply of 3 bytes from ${saddr}: one`,
        `reply of 3 bytes from ${saddr}: two`,
        `reply of 7 bytes from ${saddr}: thréé`,
      ));
      const sout = await srv.success();
      const [, peer] = match(sout, /^listening on .*\nreceived 3 bytes from (\S+): one\n/);
      expect(peer).toMatch(new RegExp(`^${esc(hostPort(host, ''))}\\d+$`));
      expect(sout).toBe(lines(
        `listening on ${saddr}`,
        `received 3 bytes from ${peer}: one`,
        `received 3 bytes from ${peer}: two`,
        `received 7 bytes from ${peer}: thréé`,
      ));
    });

    it('udp-pktinfo / udp-client: each datagram\'s destination address and interface; the reply leaves from it', async () => {
      const srv = run(server, 'udp-pktinfo', host, '0', '2');
      const saddr = await srv.listening();
      const out = await run(client, 'udp-client', host, portOf(saddr), 'one', 'twö').success();
      // udp-client checks nothing itself: the reply's source is what it prints.
      expect(out).toBe(lines(`reply of 3 bytes from ${saddr}: one`, `reply of 4 bytes from ${saddr}: twö`));
      const sout = await srv.success();
      const [, peer] = match(sout, /^listening on .*\ndatagram of 3 bytes from (\S+) to /);
      expect(peer).toMatch(new RegExp(`^${esc(hostPort(host, ''))}\\d+$`));
      const lo = linux ? fs.readFileSync('/sys/class/net/lo/ifindex', 'utf8').trim() : match(sout, /on ifindex (\d+)/)[1];
      expect(sout).toBe(lines(
        `listening on ${saddr}`,
        `datagram of 3 bytes from ${peer} to ${host} on ifindex ${lo}: one`,
        `datagram of 4 bytes from ${peer} to ${host} on ifindex ${lo}: twö`,
      ));
    });

    it('fd-passing: the child serves on the listening socket the parent created and passed it (SCM_RIGHTS)', async () => {
      const name = tmpPath();
      const child = run(server, 'fd-passing', 'child', name, '2');
      expect(await child.listening()).toBe(name);
      const pout = await run(client, 'fd-passing', 'parent', host, '0', name).success();
      const [, saddr] = match(pout, /^listening on (\S+)\n/);
      expect(saddr).toMatch(new RegExp(`^${esc(hostPort(host, ''))}\\d+$`));
      expect(pout).toBe(lines(`listening on ${saddr}`, `passed it to ${name}`));
      // The parent has exited: only the child's copy of the socket is left, and it serves.
      const messages = ['handed over', 'ünïcödé '.repeat(1000)];
      const peers: string[] = [];
      for (const msg of messages) {
        const out = await run(client, 'tcp-client', host, portOf(saddr), msg).success();
        const [, local] = match(out, new RegExp(`^connected to ${esc(saddr)} from (\\S+)\n`));
        const n = Buffer.byteLength(msg);
        expect(out).toBe(lines(`connected to ${saddr} from ${local}`, `sent ${n} bytes`, `received ${n} bytes: ${msg}`));
        peers.push(local);
      }
      expect(await child.success()).toBe(lines(
        `listening on ${name}`,
        `received a listening socket on ${saddr}`,
        `connection from ${peers[0]}`, `echoed ${Buffer.byteLength(messages[0])} bytes`,
        `connection from ${peers[1]}`, `echoed ${Buffer.byteLength(messages[1])} bytes`,
      ));
      expect(fs.existsSync(name)).toBe(false);
    });

    it('demux-udp: one server socket, several clients told apart by source address', async () => {
      const srv = run(server, 'demux-udp', 'server', host, '0', '3');
      const saddr = await srv.listening();
      const out = await run(client, 'demux-udp', 'client', host, portOf(saddr), '3').success();
      // An unbound client's sendto() binds it to the wildcard address; the
      // server sees the loopback source the kernel put in each datagram.
      const wildcard = host.includes(':') ? '::' : '0.0.0.0';
      const ports = [...out.matchAll(/^client \d at \S+:(\d+) got/gm)].map((m) => m[1]);
      expect(new Set(ports).size).toBe(3);
      expect(ports).not.toContain(portOf(saddr));
      expect(out).toBe(lines(...ports.map((p, i) => `client ${i} at ${hostPort(wildcard, p)} got: you are ${hostPort(host, p)}`)));
      expect(await srv.success()).toBe(lines(
        `listening on ${saddr}`,
        ...ports.map((p, i) => `datagram from ${hostPort(host, p)}: hello from client ${i}`),
      ));
    });

    it('demux-tcp: several connections on one port, each with its own 4-tuple', async () => {
      const srv = run(server, 'demux-tcp', 'server', host, '0', '3');
      const saddr = await srv.listening();
      const out = await run(client, 'demux-tcp', 'client', host, portOf(saddr), '3').success();
      const peers = [...out.matchAll(/^connection \d: (\S+) <-> /gm)].map((m) => m[1]);
      expect(new Set(peers).size).toBe(3);
      expect(out).toBe(lines(
        ...peers.map((p, i) => `connection ${i}: ${p} <-> ${saddr}`),
        ...peers.map((_, i) => `connection ${i} got: you are connection ${i}`),
      ));
      for (const p of peers) expect(p).toMatch(new RegExp(`^${esc(hostPort(host, ''))}\\d+$`));
      expect(await srv.success()).toBe(lines(
        `listening on ${saddr}`,
        ...peers.map((p, i) => `connection ${i}: ${saddr} <-> ${p}`),
        ...peers.map((_, i) => `connection ${i} says: hello from connection ${i}`),
      ));
    });

    describe.each(['poll-echo', 'epoll-echo', 'watch-echo'])('%s', (name) => {
      it.skipIf(name === 'epoll-echo' && !linux)('echoes three concurrent tcp-clients from one thread', async () => {
        const srv = run(server, name, host, '0', '3');
        const saddr = await srv.listening();
        const messages = ['first', 'second: ünïcödé', `third ${'x'.repeat(9000)}`];
        const outs = await Promise.all(messages.map((m) => run(client, 'tcp-client', host, portOf(saddr), m).success()));
        const peers = outs.map((out, i) => {
          const [, local] = match(out, new RegExp(`^connected to ${esc(saddr)} from (\\S+)\n`));
          const n = Buffer.byteLength(messages[i]);
          expect(out).toBe(lines(`connected to ${saddr} from ${local}`, `sent ${n} bytes`, `received ${n} bytes: ${messages[i]}`));
          return local;
        });
        const total = messages.reduce((sum, m) => sum + Buffer.byteLength(m), 0);
        const sout = (await srv.success()).split('\n');
        // Connections are accepted in whatever order they arrive.
        expect(sout[0]).toBe(`listening on ${saddr}`);
        expect(sout.slice(1, 4).sort()).toEqual(peers.map((p) => `connection from ${p}`).sort());
        expect(sout.slice(4)).toEqual([`served 3 connections, echoed ${total} bytes`, '']);
      });
    });
  });

  const unixNames: Array<{ title: string; serverName: () => string }> = [
    { title: 'a path in a temp dir', serverName: tmpPath },
    ...(linux ? [{ title: 'an abstract name', serverName: abstractName }] : []),
  ];
  describe.each(unixNames)('Unix domain, server at $title', ({ serverName }) => {
    it('unix-stream: echo byte-exact from unnamed clients; the path is removed', async () => {
      const name = serverName();
      const srv = run(server, 'unix-stream', 'server', name, '2');
      expect(await srv.listening()).toBe(name);
      for (const msg of ['over a Unix socket', 'ünïcödé '.repeat(2000)]) {
        const n = Buffer.byteLength(msg);
        expect(await run(client, 'unix-stream', 'client', name, msg).success())
          .toBe(lines(`connected to ${name}`, `sent ${n} bytes`, `received ${n} bytes: ${msg}`));
      }
      expect(await srv.success()).toBe(lines(
        `listening on ${name}`,
        'connection from (unnamed)', 'echoed 18 bytes',
        'connection from (unnamed)', `echoed ${Buffer.byteLength('ünïcödé '.repeat(2000))} bytes`,
      ));
      if (!name.startsWith('@')) expect(fs.existsSync(name)).toBe(false);
    });

    it('unix-dgram: replies reach the client by the name it bound', async () => {
      const name = serverName();
      // The client binds the other kind of name: a path if the server has an abstract one.
      const clientName = name.startsWith('@') ? tmpPath() : linux ? abstractName() : tmpPath();
      const srv = run(server, 'unix-dgram', 'server', name, '2');
      expect(await srv.listening()).toBe(name);
      expect(await run(client, 'unix-dgram', 'client', name, clientName, 'ping', 'pöng').success())
        .toBe(lines(`reply of 4 bytes from ${name}: ping`, `reply of 5 bytes from ${name}: pöng`));
      expect(await srv.success()).toBe(lines(
        `listening on ${name}`,
        `received 4 bytes from ${clientName}: ping`,
        `received 5 bytes from ${clientName}: pöng`,
      ));
      for (const n of [name, clientName]) if (!n.startsWith('@')) expect(fs.existsSync(n)).toBe(false);
    });
  });
});

describe('reuseport: several processes, each with its own SO_REUSEPORT socket on one port', () => {
  const NPROC = 3;
  const NCONN = 30;
  it.each((['c', 'ts'] as const).flatMap((lang) => HOSTS.map((host) => [lang, host] as const)))(
    '%s on %s: every connection is accepted by one of the processes, and the counts agree from both sides', async (lang, host) => {
      const out = await run(lang, 'reuseport', host, '0', String(NPROC), String(NCONN)).success();
      const [first, ...rest] = out.split('\n').filter((l) => l !== '');
      expect(first).toMatch(new RegExp(`^${NPROC} processes listening on ${esc(hostPort(host, ''))}\\d+$`));
      // The parent's view (in worker order), then each worker's own count (in exit order).
      const served = rest.slice(0, NPROC).map((l, i) => Number(match(l, new RegExp(`^worker ${i} served (\\d+) of ${NCONN} connections$`))[1]));
      const accepted = new Map(rest.slice(NPROC).map((l) => {
        const [, i, n] = match(l, /^worker (\d+) accepted (\d+) connections$/);
        return [Number(i), Number(n)];
      }));
      expect(rest).toHaveLength(2 * NPROC);
      expect(served.reduce((a, b) => a + b, 0)).toBe(NCONN);
      expect([...accepted.keys()].sort()).toEqual(served.map((_, i) => i));
      served.forEach((n, i) => expect(accepted.get(i)).toBe(n));
      // Linux spreads them by a hash of the 4-tuple: all 30 on one of 3 has a probability of 3^-29.
      if (linux) expect(served.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    });
});

describe('showip: getaddrinfo()', () => {
  it.each([
    ['127.0.0.1', lines('IP addresses for 127.0.0.1:', '  IPv4: 127.0.0.1')],
    ['::1', lines('IP addresses for ::1:', '  IPv6: ::1')],
  ])('prints %s the same from C and TypeScript', async (host, expected) => {
    const [c, ts] = await Promise.all([run('c', 'showip', host).success(), run('ts', 'showip', host).success()]);
    expect(c).toBe(expected);
    expect(ts).toBe(expected);
  });

  // Only where /etc/hosts names localhost: the lookup must never reach DNS.
  const hostsHasLocalhost = /^127\.0\.0\.1\s.*\blocalhost\b/m.test(fs.readFileSync('/etc/hosts', 'utf8'));
  it.skipIf(!hostsHasLocalhost)('prints localhost the same from C and TypeScript, in the resolver\'s order', async () => {
    const [c, ts] = await Promise.all([run('c', 'showip', 'localhost').success(), run('ts', 'showip', 'localhost').success()]);
    expect(c).toMatch(/^IP addresses for localhost:\n( {2}IPv[46]: \S+\n)+$/);
    expect(c).toMatch(/ {2}IPv4: 127\.0\.0\.1\n| {2}IPv6: ::1\n/);
    expect(ts).toBe(c);
  });
});

describe('every example, run without arguments', () => {
  const names = fs.readdirSync(path.join(root, 'examples'))
    .filter((f) => f.endsWith('.c'))
    .map((f) => path.basename(f, '.c'))
    .filter((n) => linux || n !== 'epoll-echo');

  it.each(names)('%s prints the same usage line from C and TypeScript and exits 2', async (name) => {
    const [c, ts] = await Promise.all([run('c', name).exit, run('ts', name).exit]);
    expect(c.code).toBe(2);
    expect(c.stdout).toBe('');
    expect(c.stderr).toMatch(new RegExp(`^usage: ${name} .*\n$`));
    expect({ code: ts.code, stdout: ts.stdout, stderr: ts.stderr }).toEqual({ code: c.code, stdout: c.stdout, stderr: c.stderr });
  });
});

describe('a failing call', () => {
  it.each(['c', 'ts'] as const)('%s tcp-client to a port with no listener exits 1 with connect\'s error', async (lang) => {
    // A TCP socket bound but not listening holds the port: connect() is refused, no race.
    const fd = socket(AF_INET, SOCK_STREAM, 0);
    try {
      bind(fd, { family: AF_INET, address: '127.0.0.1', port: 0 });
      const port = (getsockname(fd) as SockaddrIn).port;
      const e = await run(lang, 'tcp-client', '127.0.0.1', String(port), 'x').exit;
      expect(e.code).toBe(1);
      expect(e.stdout).toBe('');
      // perror() in C; the SocketError's message in TypeScript.
      expect(e.stderr).toBe(lang === 'c' ? 'connect: Connection refused\n' : `connect ECONNREFUSED 127.0.0.1:${port}\n`);
    } finally {
      close(fd);
    }
  });
});
