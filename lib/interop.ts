// node:net and node:dgram interop. fdOf() gives the fd under a Node socket,
// for the calls Node has no method for (getsockopt TCP_INFO, setsockopt
// SO_RCVBUF on a server…). The fd stays Node's: Node closes it, and close()
// here refuses an fd that fdOf() gave out while its Node socket still has it.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { domains } from './sockaddr';
import { show } from './validate';

/** What Node keeps under a socket: its libuv handle wrap, whose `fd` is -1 (or -EBADF) before there is one. */
interface HandleWrap {
  fd?: number;
}

type NodeSocket = net.Socket | net.Server | dgram.Socket;

/** fds fdOf() gave out, and the Node socket each belongs to. */
const givenOut = new Map<number, WeakRef<NodeSocket>>();

function dgramHandle(socket: dgram.Socket): HandleWrap | null | undefined {
  // Node keeps it under a Symbol('state symbol'); the `_handle` getter is deprecated (DEP0112).
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = key === undefined ? undefined : (socket as unknown as Record<symbol, { handle?: HandleWrap | null }>)[key];
  return state?.handle;
}

function describeSocket(socket: unknown): { kind: string; handle: HandleWrap | null | undefined; missing: string } | undefined {
  if (socket instanceof net.Socket) {
    return { kind: 'net.Socket', handle: (socket as unknown as { _handle?: HandleWrap | null })._handle, missing: 'not connected yet, or destroyed' };
  }
  if (socket instanceof net.Server) {
    return { kind: 'net.Server', handle: (socket as unknown as { _handle?: HandleWrap | null })._handle, missing: 'not listening' };
  }
  if (socket instanceof dgram.Socket) {
    return { kind: 'dgram.Socket', handle: dgramHandle(socket), missing: "not bound yet (wait for 'listening'), or closed" };
  }
  return undefined;
}

function fdOfHandle(handle: HandleWrap | null | undefined): number {
  const fd = handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : -1;
}

/**
 * The fd of a connected `net.Socket`, a listening `net.Server` or a bound
 * `dgram.Socket`, for setsockopt()/getsockopt()/getsockname()… on it. Node
 * still owns the fd: it is non-blocking, Node reads and writes it and closes
 * it; never close() or watch() it (both throw here while Node's socket holds
 * it: Node polls it itself), and don't read or write it behind Node's back.
 * Not a C call: Node's handle's fd (`uv_fileno()`).
 * @throws TypeError for anything else, or when there is no fd (yet): not
 *   connected, not listening, not bound, closed — or on Windows, where sockets have none.
 */
export function fdOf(socket: NodeSocket): number {
  const d = describeSocket(socket);
  if (d === undefined) {
    throw new TypeError(`The "socket" argument must be a net.Socket, net.Server or dgram.Socket. Received ${show(socket)}`);
  }
  const fd = fdOfHandle(d.handle);
  if (fd < 0) {
    const platform = process.platform === 'win32' ? ' (Windows sockets have no fd)' : '';
    throw new TypeError(`The "socket" argument (a ${d.kind}) has no fd: ${d.missing}${platform}`);
  }
  givenOut.set(fd, new WeakRef(socket));
  domains.delete(fd);
  return fd;
}

/** The Node socket that owns `fd`, if fdOf() gave it out and that socket still has it. */
export function nodeOwnerOf(fd: number): string | undefined {
  const ref = givenOut.get(fd);
  if (ref === undefined) return undefined;
  const socket = ref.deref();
  const d = socket === undefined ? undefined : describeSocket(socket);
  if (d === undefined || fdOfHandle(d.handle) !== fd) {
    givenOut.delete(fd); // Node has closed it: the number may be ours now.
    return undefined;
  }
  return d.kind;
}
