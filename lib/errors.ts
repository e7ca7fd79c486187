// The one place that builds errors from native results: SocketError for a
// failed system call, AbortError for an aborted async call.
import * as os from 'node:os';
import { native } from './binding';
import { type Sockaddr, addressText } from './sockaddr';

/** A failed system call: `code` ('ECONNREFUSED'), `errno` (positive, as C), `syscall`, and the address involved. */
export class SocketError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
  path?: string;

  constructor(message: string, fields: { code: string; errno: number; syscall: string; addr?: Sockaddr | null }) {
    super(message);
    this.name = 'SocketError';
    this.code = fields.code;
    this.errno = fields.errno;
    this.syscall = fields.syscall;
    const addr = fields.addr;
    const a = addr as { path?: unknown; address?: unknown; port?: unknown } | null | undefined;
    if (a && typeof a.path === 'string') this.path = a.path;
    else if (a && typeof a.address === 'string' && typeof a.port === 'number') {
      this.address = a.address;
      this.port = a.port;
    }
  }
}

/** Rejection of an async call whose AbortSignal fired (Node's shape: name, code, cause). */
export class AbortError extends Error {
  code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

const errnoNames = new Map<number, string>();

/** The C name of an errno value ('EAGAIN'); remembered, as EAGAIN comes at high rates. */
export function errnoName(errno: number): string {
  let name = errnoNames.get(errno);
  if (name === undefined) {
    name = native.errnoName(errno);
    if (name === undefined) return `E${errno}`;
    errnoNames.set(errno, name);  // Only the system's known errnos: a bounded set.
  }
  return name;
}


const { EAGAIN, EWOULDBLOCK } = os.constants.errno;

/**
 * `connect ECONNREFUSED 127.0.0.1:1`, Node's message shape. EAGAIN is the
 * flow control of non-blocking sockets — a server draining a socket meets it
 * on every readiness, 100,000 times a second — so it carries no stack trace,
 * whose capture would cost several times the system call itself.
 */
export function socketError(errno: number, syscall: string, addr?: Sockaddr | null): SocketError {
  const code = errnoName(errno);
  const place = addr ? addressText(addr) : undefined;
  const where = place !== undefined ? ` ${place}` : '';
  if (errno !== EAGAIN && errno !== EWOULDBLOCK) {
    return new SocketError(`${syscall} ${code}${where}`, { code, errno, syscall, addr });
  }
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new SocketError(`${syscall} ${code}${where}`, { code, errno, syscall, addr });
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Throws a SocketError for a negative native result; returns it otherwise. */
export function check(result: number, syscall: string, addr?: Sockaddr | null): number {
  if (result < 0) throw socketError(-result, syscall, addr);
  return result;
}
