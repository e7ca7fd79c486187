// The package as a user loads it: by name, from a child process whose cwd is
// the repo (Node resolves a package's own name through its package.json
// "exports"), with require() and with import (named and default exports, the
// ESM wrapper scripts/esm-wrapper.cjs writes over the CommonJS build). A
// missing addon fails at load with lib/binding.ts's message naming the build
// commands. The constants API.md promises are exported by name, as numbers.
// Runs the built package (dist/, as `npm ci` or `npm run prepare` leaves it).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as lib from '../lib/index';

const root = path.join(__dirname, '..');
/** No child may take longer; a hung one is killed and its test fails. */
const CHILD_TIMEOUT_MS = 15_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** node with args, cwd the repo unless given; env is the test's own plus `env` (undefined deletes). */
function node(args: string[], env: Record<string, string | undefined> = {}, cwd = root): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, env: childEnv, timeout: CHILD_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The constants of /work/shared/API.md's "Constants" section, copied here:
 * that file is outside the repository, so a test that parsed it would fail
 * in any other checkout. Update both together.
 */
const API_CONSTANTS = [
  'AF_INET', 'AF_INET6', 'AF_UNIX', 'AF_UNSPEC',
  'SOCK_STREAM', 'SOCK_DGRAM', 'SOCK_SEQPACKET', 'SOCK_RAW', 'SOCK_NONBLOCK', 'SOCK_CLOEXEC',
  'IPPROTO_IP', 'IPPROTO_IPV6', 'IPPROTO_TCP', 'IPPROTO_UDP',
  'SOL_SOCKET', 'SO_REUSEADDR', 'SO_REUSEPORT', 'SO_KEEPALIVE', 'SO_BROADCAST', 'SO_RCVBUF', 'SO_SNDBUF', 'SO_ERROR',
  'SO_TYPE', 'SO_RCVTIMEO', 'SO_SNDTIMEO', 'SO_LINGER',
  'TCP_NODELAY', 'IPV6_V6ONLY',
  'MSG_PEEK', 'MSG_DONTWAIT', 'MSG_WAITALL', 'MSG_NOSIGNAL', 'MSG_TRUNC',
  'SHUT_RD', 'SHUT_WR', 'SHUT_RDWR',
  'POLLIN', 'POLLOUT', 'POLLERR', 'POLLHUP', 'POLLNVAL',
  'F_GETFL', 'F_SETFL', 'O_NONBLOCK', 'F_GETFD', 'F_SETFD', 'FD_CLOEXEC',
  'SOMAXCONN',
];
/** API.md: "and on Linux". */
const API_CONSTANTS_LINUX = [
  'EPOLLIN', 'EPOLLOUT', 'EPOLLERR', 'EPOLLHUP', 'EPOLLET', 'EPOLL_CTL_ADD', 'EPOLL_CTL_MOD', 'EPOLL_CTL_DEL',
];

/** What the child below reports about the package it loaded by name. */
interface Loaded {
  requireResolved: string;
  importResolved: string;
  cjs: string[];
  esm: string[];
  defaultIsRequired: boolean;
  notShared: string[];
  types: Record<string, string>;
  integers: string[];
}

// An ES module (--input-type=module, cwd the repo): import by name, named and
// default, and require() by name through createRequire from the cwd.
const LOAD_BY_NAME = `
import * as m from 'bsd-sockets';
import d from 'bsd-sockets';
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/');
const c = require('bsd-sockets');
const names = (o) => Object.keys(o).filter((k) => k !== 'default' && k !== '__esModule').sort();
console.log(JSON.stringify({
  requireResolved: require.resolve('bsd-sockets'),
  importResolved: import.meta.resolve('bsd-sockets'),
  cjs: names(c),
  esm: names(m),
  defaultIsRequired: d === c,
  notShared: names(c).filter((k) => m[k] !== c[k] || d[k] !== c[k]),
  types: Object.fromEntries(names(c).map((k) => [k, typeof c[k]])),
  integers: names(c).filter((k) => Number.isInteger(c[k])),
}));
`;

describe('the package by name', () => {
  let loaded: Loaded;

  beforeAll(async () => {
    const r = await node(['--input-type=module', '-e', LOAD_BY_NAME]);
    expect(r, r.stderr).toMatchObject({ code: 0 });
    loaded = JSON.parse(r.stdout) as Loaded;
  }, CHILD_TIMEOUT_MS + 5_000);

  it('require() resolves to dist/index.js and import to dist/index.mjs, through "exports"', () => {
    expect(loaded.requireResolved).toBe(path.join(root, 'dist', 'index.js'));
    expect(loaded.importResolved).toBe(pathToFileURL(path.join(root, 'dist', 'index.mjs')).href);
  });

  it('plain CommonJS require(\'bsd-sockets\') (node -e) loads it too', async () => {
    const r = await node(['-e', "const m = require('bsd-sockets'); console.log(typeof m.socket, typeof m.connectSync, typeof m.AF_INET)"]);
    expect(r).toEqual({ code: 0, stdout: 'function function number\n', stderr: '' });
  });

  it('import * and require() give the same names, and every one the same value (one instance)', () => {
    expect(loaded.esm).toEqual(loaded.cjs);
    expect(loaded.notShared).toEqual([]);
    expect(loaded.cjs).toEqual(expect.arrayContaining(['socket', 'bind', 'connect', 'connectSync', 'getaddrinfo', 'SocketError']));
  });

  it('the default export is the CommonJS module itself', () => {
    expect(loaded.defaultIsRequired).toBe(true);
  });

  it('exports what lib/index.ts exports (dist/ is built from these sources)', () => {
    expect(loaded.cjs).toEqual(Object.keys(lib).filter((k) => k !== 'default').sort());
  });

  it('every constant API.md names is exported by name and is an integer', () => {
    const expected = [...API_CONSTANTS, ...(process.platform === 'linux' ? API_CONSTANTS_LINUX : [])];
    const missing = expected.filter((name) => !loaded.esm.includes(name));
    expect(missing, 'not exported').toEqual([]);
    expect(Object.fromEntries(expected.map((name) => [name, loaded.types[name]]))).toEqual(
      Object.fromEntries(expected.map((name) => [name, 'number'])));
    expect(expected.filter((name) => !loaded.integers.includes(name)), 'not integers').toEqual([]);
  });
});

describe('no addon built', () => {
  let tmp: string;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bsd-sockets-package-'));
  });

  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** lib/binding.ts's message, with the places it looked. */
  function expectNotBuilt(r: Run, lookedFor: string[]): void {
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      `bsd-sockets: the native addon is not built (looked for ${lookedFor.join(', ')}). ` +
        'Run `npm run build` (node-gyp) or `npm run build:cmake` (cmake-js).',
    );
  }

  it('the default places (a copy of dist/ with no build/ next to it): require() fails naming both and the build commands', async () => {
    // lib/binding.ts looks in ../build and ../build-cmake from dist/: a copy
    // of dist/ alone is a package whose addon was never built, without
    // touching this checkout's build/.
    const pkg = path.join(tmp, 'pkg');
    fs.cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true });
    const r = await node(['-e', `require(${JSON.stringify(path.join(pkg, 'dist', 'index.js'))})`], { BSD_SOCKETS_ADDON: undefined }, tmp);
    expectNotBuilt(r, [
      path.join(pkg, 'build', 'Release', 'bsd_sockets.node'),
      path.join(pkg, 'build-cmake', 'Release', 'bsd_sockets.node'),
    ]);
  });

  it.each([
    ['require', ['-e', "require('bsd-sockets')"]],
    ['import', ['--input-type=module', '-e', "import 'bsd-sockets'"]],
  ])('BSD_SOCKETS_ADDON naming a missing file: %s(\'bsd-sockets\') fails with the same message', async (_how, args) => {
    const missing = path.join(tmp, 'no-such-dir', 'bsd_sockets.node');
    expectNotBuilt(await node(args, { BSD_SOCKETS_ADDON: missing }), [missing]);
  });
});
