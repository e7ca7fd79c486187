// Every ```js snippet in README.md runs as written (as an ES module that
// imports 'bsd-sockets' by name, resolved through the package's own exports)
// and prints what the ```text block right after it shows, numbers aside
// (ports and fds differ from run to run).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const snippets = [...readme.matchAll(/```js\n([\s\S]*?)```\n(?:\n```text\n([\s\S]*?)```)?/g)]
  .map((m) => ({ code: m[1], output: m[2] }));
const anyNumber = (text: string) => text.replace(/\d+/g, 'N');

describe('README.md', () => {
  it('has runnable snippets', () => {
    expect(snippets.length).toBeGreaterThan(0);
  });

  it.each(snippets.map((snippet, i) => [i, snippet] as const))('snippet %i runs and prints its output', (i, { code, output }) => {
    expect(output, 'a ```text block with its output right after it').toBeDefined();
    const file = path.join(root, `.readme-snippet-${process.pid}-${i}.mjs`);
    fs.writeFileSync(file, code);
    try {
      const out = execFileSync(process.execPath, [file], { timeout: 10_000, encoding: 'utf8' });
      expect(anyNumber(out)).toBe(anyNumber(output!));
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
