// `lab checksum`: the transport layer's error check, shown for real. A raw
// socket — socket(AF_INET, SOCK_RAW, IPPROTO_UDP): we write the UDP header,
// the kernel adds the IP header — sends hand-built datagrams to a UDP socket
// on 127.0.0.1, some with a correct checksum and some with a bit flipped
// after the checksum was computed, as noise on a wire would. The receiving
// socket gets exactly the good ones; the kernel drops the others and counts
// them in /proc/net/snmp (Udp: InCsumErrors). Raw sockets need root or
// CAP_NET_RAW: without it the lab says so and ends cleanly.
import {
  AF_INET, IPPROTO_UDP, MSG_DONTWAIT, SOCK_DGRAM, SOCK_RAW, type SockaddrIn, SocketError, bind, close,
  getsockname, recvfrom, recvfromSync, sendtoSync, socket,
} from '../index';
import { udpCounters } from './proc';

const LOOPBACK = '127.0.0.1';
/** How long the receiver waits for one more datagram before it concludes none is coming. */
const QUIET_MS = 300;
/** …and, once the intact ones are in, for anything more. */
const LAST_MS = 60;

export interface ChecksumResult {
  lab: 'checksum';
  /** ok: the lesson showed; no-permission: no CAP_NET_RAW; unsupported: no /proc/net/snmp; failed: counts did not match. */
  status: 'ok' | 'no-permission' | 'unsupported' | 'failed';
  message: string;
  receiver?: string;
  sent?: Array<{ payload: string; checksum: string; corrupted: boolean }>;
  received?: string[];
  /** Datagrams for the receiver's port that the raw socket itself saw: all of them, good or bad. */
  rawSaw?: number;
  counters?: { before: Record<string, number>; after: Record<string, number>; delta: Record<string, number> };
  lesson?: string[];
  /** Measurements made: more than one when other traffic moved the system-wide counter. */
  attempts?: number;
}

function ipBytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

/** The Internet checksum (RFC 768, RFC 1071) of a UDP datagram, over the IPv4 pseudo-header. */
function udpChecksum(src: string, dst: string, udp: Buffer): number {
  let sum = 0;
  const add16 = (hi: number, lo: number) => {
    sum += (hi << 8) | lo;
  };
  const [s, d] = [ipBytes(src), ipBytes(dst)];
  add16(s[0], s[1]);
  add16(s[2], s[3]);
  add16(d[0], d[1]);
  add16(d[2], d[3]);
  add16(0, IPPROTO_UDP);
  add16(udp.length >> 8, udp.length & 0xff);
  for (let i = 0; i < udp.length; i += 2) add16(udp[i], i + 1 < udp.length ? udp[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  return c === 0 ? 0xffff : c; // 0 would mean "no checksum" in IPv4.
}

/** A UDP header + payload with its checksum; `corrupt` flips one payload bit afterwards. */
function datagram(srcPort: number, dstPort: number, payload: string, corrupt: boolean): { bytes: Buffer; checksum: number } {
  const data = Buffer.from(payload);
  const udp = Buffer.alloc(8 + data.length);
  udp.writeUInt16BE(srcPort, 0);
  udp.writeUInt16BE(dstPort, 2);
  udp.writeUInt16BE(udp.length, 4);
  data.copy(udp, 8);
  const checksum = udpChecksum(LOOPBACK, LOOPBACK, udp);
  udp.writeUInt16BE(checksum, 6);
  if (corrupt) udp[8] ^= 0x04; // One bit, after the checksum was computed.
  return { bytes: udp, checksum };
}

const hex = (n: number) => `0x${n.toString(16).padStart(4, '0')}`;

/**
 * Reads what is queued on the raw socket without blocking (bounded: other UDP
 * traffic on the host arrives there too); true once `match` accepts a datagram.
 */
function drain(raw: number, buf: Buffer, match: (n: number) => boolean): boolean {
  for (let i = 0; i < 10_000; i++) {
    let n: number;
    try {
      n = recvfromSync(raw, buf, buf.length, MSG_DONTWAIT).nbytes;
    } catch {
      return false; // EAGAIN: nothing more queued.
    }
    if (match(n)) return true;
  }
  return false;
}

/** One measurement: fresh receiver and source sockets, the datagrams, and the counters around them. */
async function measure(raw: number, good: number, bad: number, lines: string[]): Promise<ChecksumResult> {
  const say = (line = '') => lines.push(line);
  const fds: number[] = [];
  try {
    const before = udpCounters();
    const receiver = socket(AF_INET, SOCK_DGRAM, 0);
    fds.push(receiver);
    bind(receiver, { family: AF_INET, address: LOOPBACK, port: 0 });
    const dst = getsockname(receiver) as SockaddrIn;
    // A bound socket owns the source port the hand-made datagrams claim.
    const source = socket(AF_INET, SOCK_DGRAM, 0);
    fds.push(source);
    bind(source, { family: AF_INET, address: LOOPBACK, port: 0 });
    const srcPort = (getsockname(source) as SockaddrIn).port;

    say(`raw: fd ${raw} = socket(AF_INET, SOCK_RAW, IPPROTO_UDP) — we write the UDP header, the kernel the IP header`);
    say(`receiver: fd ${receiver} = socket(AF_INET, SOCK_DGRAM, 0) bound to ${LOOPBACK}:${dst.port}`);

    // Good and corrupted datagrams, interleaved.
    const plan: boolean[] = [];
    for (let g = 0, b = 0; g < good || b < bad;) {
      if (g < good) {
        plan.push(false);
        g++;
      }
      if (b < bad) {
        plan.push(true);
        b++;
      }
    }
    const sent: NonNullable<ChecksumResult['sent']> = [];
    const buf = Buffer.alloc(2048);
    // The raw socket gets a copy of every UDP datagram on this host before UDP checks it.
    let rawSaw = 0;
    const ours = (n: number) => {
      const ihl = (buf[0] & 0x0f) * 4;
      return n >= ihl + 8 && buf.readUInt16BE(ihl) === srcPort && buf.readUInt16BE(ihl + 2) === dst.port;
    };
    let goodN = 0;
    let badN = 0;
    for (const corrupt of plan) {
      const payload = corrupt ? `datagram ${++badN} (corrupted)` : `datagram ${++goodN} (intact)`;
      const { bytes, checksum } = datagram(srcPort, dst.port, payload, corrupt);
      // For a raw socket the port in the address is unused: the UDP header carries it.
      drain(raw, buf, () => false);
      sendtoSync(raw, bytes, bytes.length, 0, { family: AF_INET, address: LOOPBACK, port: 0 });
      // Loopback delivers within sendto(): the raw socket already has its copy (before UDP's check).
      if (drain(raw, buf, ours)) rawSaw++;
      const onWire = bytes.subarray(8).toString('latin1');
      sent.push({ payload: onWire, checksum: hex(checksum), corrupted: corrupt });
      say(`  sendto(raw) ${bytes.length} bytes, checksum ${hex(checksum)}: "${onWire}"${corrupt ? '  ← one bit flipped after the checksum' : ''}`);
    }

    // Receive until nothing more arrives (bounded in count and time).
    const received: string[] = [];
    for (let i = 0; i < plan.length + 1; i++) {
      try {
        // The intact ones are expected at once; after them, a short wait shows nothing else comes.
        const { nbytes } = await recvfrom(receiver, buf, buf.length, 0, { timeout: i < good ? QUIET_MS : LAST_MS });
        received.push(buf.toString('latin1', 0, nbytes));
      } catch (e) {
        if (e instanceof SocketError && e.code === 'ETIMEDOUT') break;
        throw e;
      }
    }
    for (const r of received) say(`  recvfrom(receiver) = "${r}"`);
    if (received.length === 0) say('  recvfrom(receiver): nothing arrived');

    const after = udpCounters();
    const delta: Record<string, number> = {};
    for (const k of Object.keys(after)) delta[k] = after[k] - (before[k] ?? 0);
    const goodPayloads = sent.filter((x) => !x.corrupted).map((x) => x.payload);
    const exact = received.length === goodPayloads.length && received.every((r, i) => r === goodPayloads[i]);
    say(`/proc/net/snmp Udp: InCsumErrors ${before.InCsumErrors} → ${after.InCsumErrors} (+${delta.InCsumErrors}), ` +
      `InErrors +${delta.InErrors}, InDatagrams +${delta.InDatagrams}`);
    say(`the raw socket itself saw ${rawSaw} of the ${plan.length} datagrams: they all arrived; UDP threw the corrupted ones away`);
    const lesson = [
      `Sent ${good} intact and ${bad} corrupted datagrams: the receiving socket got ${received.length}` +
        `${exact ? ', exactly the intact ones' : ` (expected the ${good} intact ones)`}, and the kernel counted ` +
        `${delta.InCsumErrors} checksum error${delta.InCsumErrors === 1 ? '' : 's'} (InCsumErrors).`,
      'UDP checks, and drops what fails: it does not repair or resend. Recovering lost data is left to the application, or to TCP.',
    ];
    const ok = exact && delta.InCsumErrors === bad;
    return {
      lab: 'checksum', status: ok ? 'ok' : 'failed',
      message: ok ? 'the kernel delivered exactly the intact datagrams and counted the corrupted ones'
        : exact ? `InCsumErrors rose by ${delta.InCsumErrors}, not ${bad}: other UDP traffic on this machine moved the counter`
          : `the receiver got ${received.length} datagrams, not the ${good} intact ones`,
      receiver: `${LOOPBACK}:${dst.port}`, sent, received, rawSaw, counters: { before, after, delta }, lesson, attempts: 1,
    };
  } finally {
    for (const fd of fds) close(fd);
  }
}

/** Attempts when only the counter is off: it is system-wide, so other traffic can move it. */
const ATTEMPTS = 3;

export async function runChecksumLab(opts: { good: number; bad: number; print: boolean }): Promise<ChecksumResult> {
  const { print } = opts;
  const say = (line = '') => {
    if (print) process.stdout.write(line + '\n');
  };
  try {
    udpCounters();
  } catch (e) {
    const message = `this lab needs Linux's /proc/net/snmp (${(e as Error).message})`;
    say(message);
    return { lab: 'checksum', status: 'unsupported', message };
  }

  let raw: number;
  try {
    raw = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
  } catch (e) {
    if (e instanceof SocketError && (e.code === 'EPERM' || e.code === 'EACCES')) {
      const message = `socket(AF_INET, SOCK_RAW, IPPROTO_UDP) failed with ${e.code}: raw sockets need root or ` +
        'CAP_NET_RAW. Run it as root (sudo npx bsd-sockets lab checksum) to see the kernel drop corrupted datagrams.';
      say(message);
      return { lab: 'checksum', status: 'no-permission', message };
    }
    throw e;
  }
  try {
    let result: ChecksumResult | null = null;
    let lines: string[] = [];
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      lines = [];
      result = await measure(raw, opts.good, opts.bad, lines);
      result.attempts = attempt;
      // Retry only when the datagrams were right and the shared counter was not.
      if (result.status === 'ok' || !result.message.startsWith('InCsumErrors')) break;
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 400));
    }
    const r = result as ChecksumResult;
    for (const line of lines) say(line);
    if (r.attempts && r.attempts > 1) say(`(attempt ${r.attempts}: the counter is system-wide and other traffic moved it before)`);
    say();
    for (const l of r.lesson ?? []) say(l);
    if (r.status !== 'ok') say(`failed: ${r.message}`);
    return r;
  } finally {
    close(raw);
  }
}
