// `npm run examples:build`: compiles every examples/*.c with the system C
// compiler ($CC, else cc) into build/examples/NAME, warnings as errors.
// Programs that include <sys/epoll.h> are Linux-only and skipped elsewhere.
// Usage: node scripts/build-examples.cjs [NAME...]   (default: all)
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const src = path.join(root, 'examples');
const out = path.join(root, 'build', 'examples');
const cc = process.env.CC || 'cc';
const flags = ['-Wall', '-Wextra', '-Werror', '-O2'];

const wanted = process.argv.slice(2);
const files = fs.readdirSync(src)
  .filter((f) => f.endsWith('.c'))
  .filter((f) => wanted.length === 0 || wanted.includes(path.basename(f, '.c')))
  .sort();
fs.mkdirSync(out, { recursive: true });

let failed = 0;
for (const file of files) {
  const name = path.basename(file, '.c');
  const text = fs.readFileSync(path.join(src, file), 'utf8');
  if (process.platform !== 'linux' && text.includes('<sys/epoll.h>')) {
    console.log(`skip ${file} (epoll is Linux-only)`);
    continue;
  }
  const args = [...flags, '-o', path.join(out, name), path.join(src, file)];
  try {
    execFileSync(cc, args, { stdio: 'inherit' });
    console.log(`cc ${file} -> build/examples/${name}`);
  } catch {
    console.error(`FAILED: ${cc} ${args.join(' ')}`);
    failed++;
  }
}
if (failed > 0) process.exit(1);
