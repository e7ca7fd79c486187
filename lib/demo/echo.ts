// `npm run demo`: a TCP echo server and client talking over loopback, both in
// this process, with every socket call traced as strace would show it.
//   server: socket -> bind -> listen -> accept -> read -> write -> close
//   client: socket -> connect -> write -> read -> close
import {
  AF_INET, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR,
  accept, bind, close, connect, formatTrace, getsockname, listen, onTrace, read, setsockopt, socket, write,
} from '../index';

async function main(): Promise<void> {
  const blocking = new Set(['accept', 'connect', 'read', 'write']);
  let onWorker = 0;
  let onMain = 0;
  const stop = onTrace((r) => {
    console.log('  ' + formatTrace(r));
    if (blocking.has(r.syscall)) {
      if (r.threadId === r.mainThreadId) onMain++;
      else onWorker++;
    }
  });
  const messages = ['hello, socket', 'the kernel routes by the 4-tuple', 'bye'];

  console.log('server: socket, bind to 127.0.0.1 port 0 (the kernel picks), listen');
  const server = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(server, SOL_SOCKET, SO_REUSEADDR, 1);
  bind(server, { family: AF_INET, address: '127.0.0.1', port: 0 });
  listen(server, 16);
  const { port } = getsockname(server) as { port: number };

  const serve = (async () => {
    const { fd, addr } = await accept(server, { timeout: 5000 });
    console.log(`server: accepted fd ${fd} from ${JSON.stringify(addr)}`);
    const buf = Buffer.alloc(1024);
    for (;;) {
      const n = await read(fd, buf, buf.length, { timeout: 5000 });
      if (n === 0) break; // The client closed: end of stream.
      await write(fd, buf, n);
    }
    close(fd);
  })();

  console.log(`client: socket, connect to 127.0.0.1:${port}`);
  const client = socket(AF_INET, SOCK_STREAM, 0);
  await connect(client, { family: AF_INET, address: '127.0.0.1', port }, { timeout: 5000 });
  const reply = Buffer.alloc(1024);
  for (const text of messages) {
    const out = Buffer.from(text);
    await write(client, out);
    let got = 0;
    while (got < out.length) got += await read(client, reply.subarray(got), out.length - got, { timeout: 5000 });
    console.log(`client: sent "${text}", echoed "${reply.toString('utf8', 0, got)}"`);
  }
  close(client);
  await serve;
  close(server);
  stop();
  console.log(`done: ${onWorker} blocking calls ran on libuv worker threads, ${onMain} on the main thread.`);
  if (onMain > 0 || onWorker === 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
