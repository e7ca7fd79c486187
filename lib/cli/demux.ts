// `lab demux`: how the transport layer hands each arriving segment to the
// right socket. UDP demultiplexes by destination address and port, so one
// server socket serves every peer; TCP by the 4-tuple (source and destination
// address and port), so accept() makes one socket per peer. The kernel's own
// tables (/proc/net/udp, /proc/net/tcp) show how many sockets the server has
// on its port. Everything stays on 127.0.0.1, with a timeout on every wait.
import {
  AF_INET, SOCK_DGRAM, SOCK_STREAM, type SockaddrIn, accept, bind, close, connect, getpeername,
  getsockname, listen, read, recvfrom, sendto, socket, write,
} from '../index';
import { kernelSocketsOnPort } from './proc';

const LOOPBACK = '127.0.0.1';
const TIMEOUT_MS = 2000;

export interface DemuxResult {
  lab: 'demux';
  udp: {
    server: { fd: number; address: string };
    clients: Array<{ fd: number; address: string }>;
    datagrams: Array<{ from: string; bytes: number; text: string; reply: number }>;
    /** Distinct senders the one server socket heard from. */
    peers: number;
    /** UDP sockets the kernel has on the server's port. */
    socketsOnPort: number;
  };
  tcp: {
    server: { fd: number; address: string };
    accepted: Array<{ fd: number; local: string; remote: string; text: string }>;
    /** TCP sockets the kernel has on the server's port: the listener plus one per connection. */
    socketsOnPort: number;
    listening: number;
    connected: number;
  };
  lesson: string[];
}

function text(a: SockaddrIn): string {
  return `${a.address}:${a.port}`;
}

function say(print: boolean, line = ''): void {
  if (print) process.stdout.write(line + '\n');
}

async function udpPart(peers: number, print: boolean): Promise<DemuxResult['udp']> {
  const fds: number[] = [];
  try {
    const server = socket(AF_INET, SOCK_DGRAM, 0);
    fds.push(server);
    bind(server, { family: AF_INET, address: LOOPBACK, port: 0 });
    const serverAddr = getsockname(server) as SockaddrIn;
    say(print, `UDP — demultiplexed by destination address and port: one socket serves every peer`);
    say(print, `  server: fd ${server} = socket(AF_INET, SOCK_DGRAM, 0); bind(fd ${server}, ${text(serverAddr)})`);

    const clients: Array<{ fd: number; address: string }> = [];
    for (let i = 1; i <= peers; i++) {
      const fd = socket(AF_INET, SOCK_DGRAM, 0);
      fds.push(fd);
      bind(fd, { family: AF_INET, address: LOOPBACK, port: 0 });
      clients.push({ fd, address: text(getsockname(fd) as SockaddrIn) });
      await sendto(fd, Buffer.from(`hello from client ${i}`), undefined, 0, serverAddr, { timeout: TIMEOUT_MS });
    }

    const datagrams: DemuxResult['udp']['datagrams'] = [];
    const buf = Buffer.alloc(1500);
    for (let i = 0; i < peers; i++) {
      const { nbytes, addr } = await recvfrom(server, buf, buf.length, 0, { timeout: TIMEOUT_MS });
      const from = text(addr as SockaddrIn);
      const msg = buf.toString('utf8', 0, nbytes);
      // The reply goes back out of the same socket, to the address recvfrom() named.
      const reply = Buffer.from(`hi ${from}`);
      await sendto(server, reply, undefined, 0, addr as SockaddrIn, { timeout: TIMEOUT_MS });
      datagrams.push({ from, bytes: nbytes, text: msg, reply: reply.length });
      say(print, `  recvfrom(fd ${server}) = ${nbytes} bytes "${msg}" from ${from}; sendto(fd ${server}, …, ${from})`);
    }
    // Each client gets the reply meant for it: the kernel matched the destination port.
    for (const c of clients) {
      const { nbytes } = await recvfrom(c.fd, buf, buf.length, 0, { timeout: TIMEOUT_MS });
      const got = buf.toString('utf8', 0, nbytes);
      if (got !== `hi ${c.address}`) throw new Error(`client ${c.address} got "${got}"`);
    }
    const onPort = kernelSocketsOnPort('udp', serverAddr.port);
    const peersSeen = new Set(datagrams.map((d) => d.from)).size;
    say(print, `  each client's own socket got the reply addressed to it (${clients.map((c) => c.address.split(':')[1]).join(', ')})`);
    say(print, `  /proc/net/udp, port ${serverAddr.port}: ${onPort.length} socket — one socket, ${peersSeen} peers`);
    return { server: { fd: server, address: text(serverAddr) }, clients, datagrams, peers: peersSeen, socketsOnPort: onPort.length };
  } finally {
    for (const fd of fds) close(fd);
  }
}

async function tcpPart(peers: number, print: boolean): Promise<DemuxResult['tcp']> {
  const fds: number[] = [];
  try {
    const server = socket(AF_INET, SOCK_STREAM, 0);
    fds.push(server);
    bind(server, { family: AF_INET, address: LOOPBACK, port: 0 });
    listen(server, peers);
    const serverAddr = getsockname(server) as SockaddrIn;
    say(print, `TCP — demultiplexed by the 4-tuple: accept() makes one socket per peer`);
    say(print, `  server: fd ${server} = socket(AF_INET, SOCK_STREAM, 0); bind(fd ${server}, ${text(serverAddr)}); listen(fd ${server}, ${peers})`);

    const clients: number[] = [];
    for (let i = 0; i < peers; i++) {
      const fd = socket(AF_INET, SOCK_STREAM, 0);
      fds.push(fd);
      clients.push(fd);
      await connect(fd, serverAddr, { timeout: TIMEOUT_MS });
    }
    const accepted: DemuxResult['tcp']['accepted'] = [];
    for (let i = 0; i < peers; i++) {
      const { fd } = await accept(server, { timeout: TIMEOUT_MS });
      fds.push(fd);
      const local = text(getsockname(fd) as SockaddrIn);
      const remote = text(getpeername(fd) as SockaddrIn);
      accepted.push({ fd, local, remote, text: '' });
      say(print, `  accept(fd ${server}) = fd ${fd}: ${local} ↔ ${remote}`);
    }
    say(print, `  ${accepted.length} sockets with the same local address ${text(serverAddr)}: the kernel tells them apart by the peer's address and port`);
    // Every client writes; each accepted socket reads only its own peer's bytes.
    for (const [i, fd] of clients.entries()) {
      await write(fd, Buffer.from(`hello from ${text(getsockname(fd) as SockaddrIn)} (client ${i + 1})`), undefined, { timeout: TIMEOUT_MS });
    }
    const buf = Buffer.alloc(256);
    for (const a of accepted) {
      const n = await read(a.fd, buf, buf.length, { timeout: TIMEOUT_MS });
      a.text = buf.toString('utf8', 0, n);
      if (!a.text.startsWith(`hello from ${a.remote} `)) throw new Error(`fd ${a.fd} (peer ${a.remote}) read "${a.text}"`);
      say(print, `  read(fd ${a.fd}) = "${a.text}"`);
    }
    const onPort = kernelSocketsOnPort('tcp', serverAddr.port);
    const listening = onPort.filter((s) => s.state === 'LISTEN').length;
    const connected = onPort.filter((s) => s.state === 'ESTABLISHED').length;
    say(print, `  /proc/net/tcp, port ${serverAddr.port}: ${onPort.length} sockets — ${listening} listening + ${connected} connected, one per peer`);
    return { server: { fd: server, address: text(serverAddr) }, accepted, socketsOnPort: onPort.length, listening, connected };
  } finally {
    for (const fd of fds.reverse()) close(fd);
  }
}

export async function runDemuxLab(opts: { peers: number; print: boolean }): Promise<DemuxResult> {
  const udp = await udpPart(opts.peers, opts.print);
  say(opts.print);
  const tcp = await tcpPart(opts.peers, opts.print);
  const lesson = [
    `UDP: ${udp.peers} peers, ${udp.socketsOnPort} server socket — a datagram is delivered by its destination address and port alone; recvfrom() says who sent it.`,
    `TCP: ${tcp.connected} peers, ${tcp.socketsOnPort} server sockets (${tcp.listening} listening + ${tcp.connected} connected) — a segment is delivered by source and destination address and port, so each connection has its own socket.`,
  ];
  say(opts.print);
  for (const l of lesson) say(opts.print, l);
  return { lab: 'demux', udp, tcp, lesson };
}
