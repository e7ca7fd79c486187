// Every ```js snippet in README.md runs as written (as an ES module that
// imports 'bsd-sockets' by name, resolved through the package's own exports).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const snippets = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

describe('README.md', () => {
  it('has runnable snippets', () => {
    expect(snippets.length).toBeGreaterThan(0);
  });

  it.each(snippets.map((code, i) => [i, code]))('snippet %i runs', (i, code) => {
    const file = path.join(root, `.readme-snippet-${process.pid}-${i}.mjs`);
    fs.writeFileSync(file, code as string);
    try {
      const out = execFileSync(process.execPath, [file], { timeout: 10_000, encoding: 'utf8' });
      expect(out).toMatch(/^5 bytes from 127\.0\.0\.1:\d+: hello\n$/);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
