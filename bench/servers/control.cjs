// The control channel of the idle-10k workload (bench/run.ts), on when
// BENCH_CONTROL=1: the driver writes "gc" on stdin, the server collects
// garbage (started with --expose-gc) and answers with one line,
// "gc <process.memoryUsage() as JSON>", on stdout. node.cjs and bsd.cjs load
// this same file, so both servers carry the same extra handle and code.
'use strict';

if (process.env.BENCH_CONTROL === '1') {
  let text = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    text += chunk;
    for (let nl; (nl = text.indexOf('\n')) >= 0; text = text.slice(nl + 1)) {
      if (text.slice(0, nl) !== 'gc') continue;
      // Twice: objects freed by the first (weak callbacks) go in the second.
      if (typeof globalThis.gc === 'function') {
        globalThis.gc();
        globalThis.gc();
      }
      process.stdout.write(`gc ${JSON.stringify(process.memoryUsage())}\n`);
    }
  });
}
