// Socket address objects: what bind/connect/sendto take and what
// accept/recvfrom/getsockname/getpeername give back (struct sockaddr_*).
import { native } from './binding';

/** struct sockaddr_in. */
export interface SockaddrIn {
  family: number; // AF_INET
  address: string;
  port: number;
}

/** struct sockaddr_in6 (flowinfo and scopeId default to 0). */
export interface SockaddrIn6 {
  family: number; // AF_INET6
  address: string;
  port: number;
  flowinfo?: number;
  scopeId?: number;
}

/**
 * struct sockaddr_un: a filesystem path; '' is the unnamed address; a leading
 * '\0' makes an abstract name (Linux), whose every byte counts.
 */
export interface SockaddrUn {
  family: number; // AF_UNIX
  path: string;
}

/** AF_UNSPEC: connect() with it dissolves a datagram socket's association. */
export interface SockaddrUnspec {
  family: number; // AF_UNSPEC
}

export type Sockaddr = SockaddrIn | SockaddrIn6 | SockaddrUn;

/**
 * The domain of each socket this library created, to reject a mismatched
 * address early. An fd fdOf() gives out is Node's: its number may have been
 * ours before, so its entry is dropped there.
 */
export const domains = new Map<number, number>();

/** An address as text for traces and messages: 127.0.0.1:80, [::1]:80, a path, @abstract, unnamed. */
export function addressText(addr: unknown): string | undefined {
  if (addr === null || typeof addr !== 'object') return undefined;
  const a = addr as { family?: unknown; path?: unknown; address?: unknown; port?: unknown };
  if (a.family === native.constants.AF_UNIX && typeof a.path === 'string') {
    return a.path === '' ? 'unnamed' : a.path.startsWith('\0') ? `@${a.path.slice(1)}` : a.path;
  }
  if (typeof a.address !== 'string' || typeof a.port !== 'number') return undefined;
  return a.family === native.constants.AF_INET6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
