// Load: 1,000 concurrent TCP connections (all open at once), each sending
// 1,000 framed messages of 16..1024 bytes that are echoed back, every byte
// checked: the SHA-256 of each connection's stream as the client sent it, as
// the server received it and as the client got it back must all agree. Once
// through the async API (a pool thread per blocked call: UV_THREADPOOL_SIZE
// 1024 in both child processes), once through watch() (one thread, non-
// blocking calls). And UDP at a high rate: a burst of datagrams whose loss
// is counted (sent - received, each datagram's content checked) and must
// equal the kernel's own drop count for the receiving socket (/proc/net/udp)
// — reported, never hidden.
//
// A "message" is a framed record in a connection's byte stream
// ([u32 length][u32 seq][payload]), not a system call: the clients pipeline,
// gathering consecutive whole messages into one write() of at most 16 KiB
// (about 30 messages) while reading the echo concurrently, and the servers
// echo whatever one read() returns. So 1,000,000 messages (520 MB each way)
// take about 33,000 client write() calls per test, not 1,000,000; the log line
// gives each process's read()/write() counts. The async client keeps at most
// 64 KiB per connection unanswered so that no write blocks (see
// fixtures/rel-load.cjs); the watch() client writes until the socket is full.
// On a 2-CPU machine each TCP test takes about 5–10 s (11–17 s against the
// ASan build, so test:asan runs the full figures too).
//
// LOAD_CONNECTIONS, LOAD_ASYNC_MESSAGES, LOAD_WATCH_MESSAGES and
// LOAD_UDP_DATAGRAMS scale it down (or up).
import { afterEach, describe, expect, it } from 'vitest';
import { Child, fixture, killChildren } from './fixtures/child';

const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 1000);
const ASYNC_MESSAGES = Number(process.env.LOAD_ASYNC_MESSAGES ?? 1000);
const WATCH_MESSAGES = Number(process.env.LOAD_WATCH_MESSAGES ?? 1000);
const UDP_DATAGRAMS = Number(process.env.LOAD_UDP_DATAGRAMS ?? 200_000);
const LIMIT_MS = 60_000;

afterEach(async () => {
  await killChildren();
});

/** The byte count of the stream of connection `id` (its u32 id, then each message), as rel-load.cjs makes it. */
function streamBytes(connections: number, messages: number): number {
  let total = 0;
  for (let id = 0; id < connections; id++) {
    total += 4;
    for (let seq = 0; seq < messages; seq++) total += 16 + ((id * 7919 + seq * 104729) % 1009);
  }
  return total;
}

async function echo(mode: 'async' | 'watch', messages: number): Promise<void> {
  const env = { UV_THREADPOOL_SIZE: '1024' };
  const server = new Child(fixture('rel-load.cjs'), { args: [`server-${mode}`, String(CONNECTIONS)], env, timeoutMs: LIMIT_MS });
  const { port } = (await server.event('listening', 10_000)) as { port: number };
  const clients = new Child(fixture('rel-load.cjs'), {
    args: [`clients-${mode}`, String(port), String(CONNECTIONS), String(messages)], env, timeoutMs: LIMIT_MS,
  });
  const [c, s] = await Promise.all([
    clients.message((m) => m.event === 'done' || m.event === 'error', LIMIT_MS),
    server.message((m) => m.event === 'done' || m.event === 'error', LIMIT_MS),
  ]);
  expect(c.event, String(c.message)).toBe('done');
  expect(s.event, String(s.message)).toBe('done');
  const [cExit, sExit] = await Promise.all([clients.exited, server.exited]);
  expect(cExit.code).toBe(0);
  expect(sExit.code).toBe(0);
  expect(sExit.stderr).toBe('');

  const bytes = streamBytes(CONNECTIONS, messages);
  expect(c).toMatchObject({
    connections: CONNECTIONS, messages: CONNECTIONS * messages, bytes, mismatches: 0,
    threadpool: { busy: 0, queued: 0 }, sockets: 0,
  });
  // What came back is what was sent, connection by connection ...
  expect(c.digestRecv).toBe(c.digestSent);
  // ... and it is what the server received.
  expect(s).toMatchObject({
    connections: CONNECTIONS, ids: [0, CONNECTIONS - 1], bytesIn: bytes, digest: c.digestSent,
    allOpen: CONNECTIONS, threadpool: { busy: 0, queued: 0 }, sockets: 0,
    // The server makes one blocking call per connection at most: 1,000 + the
    // accept fit in the pool, so it never warned. (The clients' reads and
    // writes together may outnumber the pool for a moment, and they do warn.)
    warnings: [],
  });
  if (mode === 'watch') {
    expect(c.warnings).toEqual([]);
  }
  const echoS = (c.echoMs as number) / 1000;
  const calls = (m: Record<string, unknown>): string => `${m.writes as number} write() + ${m.reads as number} read()`;
  console.log(
    `load (${mode}): ${CONNECTIONS} concurrent connections x ${messages} messages = ${CONNECTIONS * messages} messages, ` +
      `${(bytes / 1e6).toFixed(1)} MB each way, byte-exact (SHA-256 per connection); all connected in ` +
      `${(c.connectMs as number).toFixed(0)} ms, echoed in ${echoS.toFixed(1)} s: ` +
      `${Math.round((CONNECTIONS * messages) / echoS)} messages/s, ${(bytes / 1e6 / echoS).toFixed(1)} MB/s each way; ` +
      `clients ${calls(c)} calls (${((CONNECTIONS * messages) / (c.writes as number)).toFixed(1)} messages per write), server ${calls(s)}`,
  );
}

describe('load: 1,000 concurrent TCP connections, every byte checked', () => {
  it(`async API (UV_THREADPOOL_SIZE=1024): ${CONNECTIONS} connections x ${ASYNC_MESSAGES} messages echoed byte-exact`, async () => {
    await echo('async', ASYNC_MESSAGES);
  }, LIMIT_MS + 10_000);

  it(`watch(): ${CONNECTIONS} connections x ${WATCH_MESSAGES} messages echoed byte-exact`, async () => {
    await echo('watch', WATCH_MESSAGES);
  }, LIMIT_MS + 10_000);
});

describe('load: UDP at a high rate', () => {
  it(`a burst of ${UDP_DATAGRAMS} datagrams: every one received intact or counted lost, and the count is the kernel's`, async () => {
    const recv = new Child(fixture('rel-load.cjs'), { args: ['udp-recv'], timeoutMs: LIMIT_MS });
    const { port, rcvbuf } = (await recv.event('listening', 10_000)) as { port: number; rcvbuf: number };
    const sender = new Child(fixture('rel-load.cjs'), { args: ['udp-send', String(port), String(UDP_DATAGRAMS)], timeoutMs: LIMIT_MS });
    const [s, r] = await Promise.all([
      sender.message((m) => m.event === 'done' || m.event === 'error', LIMIT_MS),
      recv.message((m) => m.event === 'done' || m.event === 'error', LIMIT_MS),
    ]);
    expect(s.event, String(s.message)).toBe('done');
    expect(r.event, String(r.message)).toBe('done');
    expect((await sender.exited).code).toBe(0);
    expect((await recv.exited).code).toBe(0);
    expect(s).toMatchObject({ sent: UDP_DATAGRAMS, acked: true });
    const received = r.received as number;
    const lost = r.lost as number;
    // Nothing corrupted, nothing twice; every datagram accounted for.
    expect(r).toMatchObject({ sent: UDP_DATAGRAMS, duplicates: 0, corrupt: 0, threadpool: { busy: 0, queued: 0 } });
    expect(received + lost).toBe(UDP_DATAGRAMS);
    expect(received).toBeGreaterThan(0);
    // Loopback loses a datagram only when the receive buffer is full, and the
    // kernel counts each such drop on the socket: the loss we counted is
    // exactly that, but for END markers of the sender's that were dropped too
    // (it repeats END until acknowledged; the one that arrived was not).
    const drops = r.drops as number;
    expect(drops).toBeGreaterThanOrEqual(lost);
    expect(drops - lost).toBeLessThanOrEqual((s.ends as number) - 1);
    const sendS = (s.ms as number) / 1000;
    console.log(
      `load (udp): ${UDP_DATAGRAMS} datagrams (12..1211 bytes, ${((s.bytes as number) / 1e6).toFixed(1)} MB) sent in ` +
        `${sendS.toFixed(2)} s (${Math.round(UDP_DATAGRAMS / sendS)}/s); received ${received} intact ` +
        `(${((r.bytes as number) / 1e6).toFixed(1)} MB, async recvfrom then non-blocking drain, ${r.waits as number} waits), ` +
        `lost ${lost} (${((100 * lost) / UDP_DATAGRAMS).toFixed(1)}%); the kernel's drop count ${drops} ` +
        `(${drops - lost} of the sender's ${s.ends as number} END markers among them) ` +
        `(SO_RCVBUF ${rcvbuf}); 0 corrupt, 0 duplicated`,
    );
  }, LIMIT_MS + 10_000);
});
