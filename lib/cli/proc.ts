// What the kernel says about this process, read from /proc (Linux): its
// sockets by protocol, its OS threads, its resident memory, and the UDP
// counters of /proc/net/snmp. Every read is synchronous and cheap enough to
// repeat a few times a second.
import * as fs from 'node:fs';
import { IPPROTO_TCP, IPPROTO_UDP, SOL_SOCKET, SO_PROTOCOL, getsockopt } from '../index';

export interface SocketCount {
  tcp: number;
  udp: number;
  /** Unix sockets and others (the IPC channel to the parent is one). */
  other: number;
}

/**
 * Sockets open in this process, by protocol: every fd listed in
 * /proc/self/fd, asked for its SO_PROTOCOL with getsockopt() (ENOTSOCK for
 * files and pipes). fds are process-wide, so this sees every thread's sockets.
 */
export function countSockets(): SocketCount {
  const count: SocketCount = { tcp: 0, udp: 0, other: 0 };
  let fds: string[];
  try {
    fds = fs.readdirSync('/proc/self/fd');
  } catch {
    return count;
  }
  for (const name of fds) {
    let protocol: number;
    try {
      protocol = getsockopt(Number(name), SOL_SOCKET, SO_PROTOCOL);
    } catch {
      continue; // ENOTSOCK (not a socket) or EBADF (closed meanwhile).
    }
    // Only IPv4/IPv6 sockets carry these protocol numbers; a Unix socket's is 0.
    if (protocol === IPPROTO_TCP) count.tcp++;
    else if (protocol === IPPROTO_UDP) count.udp++;
    else count.other++;
  }
  return count;
}

/** OS threads of this process: the entries of /proc/self/task. */
export function countThreads(): number {
  try {
    return fs.readdirSync('/proc/self/task').length;
  } catch {
    return 0;
  }
}

/** Resident set size in bytes. */
export function rssBytes(): number {
  return process.memoryUsage.rss();
}

export interface KernelSocket {
  local: string;
  remote: string;
  /** TCP state name (LISTEN, ESTABLISHED…); UDP unconnected sockets show CLOSE (07). */
  state: string;
  inode: string;
}

const TCP_STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT',
  'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING'];

function hexAddress(field: string): string {
  // IPv4 only here: "0100007F:1F90" is 127.0.0.1:8080, the address in host byte order.
  const [ip, port] = field.split(':');
  if (ip.length !== 8) return field;
  const bytes = [6, 4, 2, 0].map((i) => parseInt(ip.slice(i, i + 2), 16));
  return `${bytes.join('.')}:${parseInt(port, 16)}`;
}

/** Inodes of this process's sockets (/proc/self/fd links read `socket:[inode]`). */
function ownSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const name of fs.readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // Closed meanwhile.
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]);
  }
  return inodes;
}

/**
 * This process's IPv4 sockets (tcp or udp) whose local port is `port`, as
 * /proc/net lists them. (Other processes' sockets may share the port number:
 * a client elsewhere can have it as its own ephemeral port.)
 */
export function kernelSocketsOnPort(table: 'tcp' | 'udp', port: number): KernelSocket[] {
  const own = ownSocketInodes();
  let text: string;
  try {
    text = fs.readFileSync(`/proc/self/net/${table}`, 'latin1');
  } catch {
    return [];
  }
  const out: KernelSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const local = hexAddress(f[1]);
    if (!local.endsWith(`:${port}`) || !own.has(f[9])) continue;
    out.push({ local, remote: hexAddress(f[2]), state: TCP_STATES[parseInt(f[3], 16)] ?? f[3], inode: f[9] });
  }
  return out;
}

/** The "Udp:" counters of /proc/net/snmp by name (InDatagrams, InErrors, InCsumErrors…). */
export function udpCounters(): Record<string, number> {
  const text = fs.readFileSync('/proc/net/snmp', 'latin1');
  const lines = text.split('\n').filter((l) => l.startsWith('Udp:'));
  if (lines.length < 2) throw new Error('/proc/net/snmp has no Udp: counters');
  const names = lines[0].split(/\s+/).slice(1);
  const values = lines[1].split(/\s+/).slice(1).map(Number);
  const out: Record<string, number> = {};
  names.forEach((name, i) => {
    out[name] = values[i];
  });
  return out;
}
