// The twins cannot drift apart: for every examples/NAME.c and its
// examples/NAME.ts, the ordered list of socket calls found by a simple scan
// (comments and string literals removed; `fooSync` counts as `foo`, accept4
// as accept; method calls such as `watcher.close()` are not calls) must be
// the same. Only the .c and .ts files are scanned: the C helpers in common.h
// and watch.h stand in for what bsd-sockets and libuv do for TypeScript.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const examples = path.join(__dirname, '..', 'examples');

/** The calls the scan looks for, by their C names. */
const SOCKET_CALLS = new Set([
  'socket', 'socketpair', 'bind', 'listen', 'accept', 'connect',
  'read', 'write', 'recv', 'send', 'recvfrom', 'sendto', 'recvmsg', 'sendmsg',
  'poll', 'epoll_create1', 'epoll_ctl', 'epoll_wait', 'getaddrinfo',
  'getsockname', 'getpeername', 'setsockopt', 'getsockopt', 'shutdown', 'close', 'fcntl',
  'watch',
]);

/** C names that are the same call for the comparison. */
const ALIASES: Record<string, string> = { accept4: 'accept' };

/**
 * Blanks out comments and string/char literals, keeping line structure; the
 * expressions inside a template literal's `${…}` stay, since calls there count.
 */
function stripCommentsAndStrings(src: string): string {
  let out = '';
  let i = 0;
  // Open template literals: each entry is the `{` depth at which its `${` began.
  const templates: number[] = [];
  let depth = 0;
  const blank = (s: string): string => s.replace(/[^\n]/g, ' ');

  const skipTemplateText = (): void => {
    // At the first character of template text; stop after the closing ` or at `${`.
    let j = i;
    while (j < src.length) {
      if (src[j] === '\\') j += 2;
      else if (src[j] === '`') {
        j++;
        templates.pop();
        break;
      } else if (src[j] === '$' && src[j + 1] === '{') {
        j += 2;
        depth++;
        break;
      } else j++;
    }
    out += blank(src.slice(i, j));
    i = j;
  };

  while (i < src.length) {
    const c = src[i];
    const next = src[i + 1];
    if (c === '/' && next === '/') {
      const end = src.indexOf('\n', i);
      const j = end === -1 ? src.length : end;
      out += blank(src.slice(i, j));
      i = j;
    } else if (c === '/' && next === '*') {
      const end = src.indexOf('*/', i + 2);
      const j = end === -1 ? src.length : end + 2;
      out += blank(src.slice(i, j));
      i = j;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < src.length && src[j] !== c && src[j] !== '\n') j += src[j] === '\\' ? 2 : 1;
      j = Math.min(j + 1, src.length);
      out += blank(src.slice(i, j));
      i = j;
    } else if (c === '`') {
      templates.push(depth);
      out += ' ';
      i++;
      skipTemplateText();
    } else if (c === '{') {
      depth++;
      out += c;
      i++;
    } else if (c === '}') {
      depth--;
      i++;
      if (templates.length > 0 && depth === templates[templates.length - 1]) {
        out += ' ';
        skipTemplateText();
      } else {
        out += c;
      }
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The ordered socket calls in a C or TypeScript source. */
function socketCalls(src: string): string[] {
  const code = stripCommentsAndStrings(src);
  const calls: string[] = [];
  // A name followed by `(`, not a member (`.close(`, `?.close(`, `->fn(`).
  for (const m of code.matchAll(/(?<![\w$.]|->)([A-Za-z_]\w*)\s*\(/g)) {
    let name = m[1].replace(/Sync$/, '');
    name = ALIASES[name] ?? name;
    if (SOCKET_CALLS.has(name)) calls.push(name);
  }
  return calls;
}

const cFiles = fs.readdirSync(examples).filter((f) => f.endsWith('.c')).sort();
const names = cFiles.map((f) => path.basename(f, '.c'));
const read = (file: string): string => fs.readFileSync(path.join(examples, file), 'utf8');

describe('the socket-call scan', () => {
  it('ignores comments, strings and char literals', () => {
    const src = '// close(fd)\n/* read(fd, buf) */ printf("write(%d)", \'(\'); socket(1);';
    expect(socketCalls(src)).toEqual(['socket']);
  });

  it('treats fooSync as foo and accept4 as accept', () => {
    expect(socketCalls('acceptSync(l); accept4(l, 0, 0, 0); epoll_waitSync(e, 1, 0); readSync(fd, b);'))
      .toEqual(['accept', 'accept', 'epoll_wait', 'read']);
  });

  it('counts calls inside a template literal\'s ${…}, not its text', () => {
    expect(socketCalls('console.log(`read( ${addrText(getsockname(fd))} close(x) ${`${getpeername(fd)}`}`); bind(fd, a);'))
      .toEqual(['getsockname', 'getpeername', 'bind']);
  });

  it('ignores method calls and names that merely contain a call name', () => {
    expect(socketCalls('w.close(); w?.close(); p->close(); unwatch(fd); read_all(fd); close(fd);')).toEqual(['close']);
  });

  it('tells apart twins whose calls differ in order', () => {
    const c = 'fd = socket(AF_INET, SOCK_STREAM, 0); bind(fd, a, n); listen(fd, 5);';
    const ts = 'const fd = socket(AF_INET, SOCK_STREAM, 0); listen(fd, 5); bind(fd, a);';
    expect(socketCalls(ts)).not.toEqual(socketCalls(c));
  });
});

describe('examples/: C and TypeScript twins', () => {
  it('has a TypeScript twin for every C example and a C twin for every TypeScript one', () => {
    expect(names.length).toBeGreaterThanOrEqual(13);
    for (const name of names) expect(fs.existsSync(path.join(examples, `${name}.ts`)), `${name}.ts`).toBe(true);
    const tsNames = fs.readdirSync(examples).filter((f) => f.endsWith('.ts')).map((f) => path.basename(f, '.ts'));
    expect(tsNames.filter((n) => n !== 'common' && !names.includes(n))).toEqual([]);
  });

  it.each(names)('%s.c names its TypeScript twin, and %s.ts says in its first line which C file it mirrors', (name) => {
    expect(read(`${name}.c`)).toContain(`TypeScript twin: ${name}.ts`);
    expect(read(`${name}.ts`).split('\n')[0]).toMatch(new RegExp(`^// Mirrors ${name}\\.c\\b`));
  });

  it.each(names)('%s.ts makes the same socket calls in the same order as %s.c', (name) => {
    const c = socketCalls(read(`${name}.c`));
    const ts = socketCalls(read(`${name}.ts`));
    expect(c.length).toBeGreaterThan(0);
    expect(ts).toEqual(c);
  });
});
