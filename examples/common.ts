// The few helpers the TypeScript examples share; common.h is their C counterpart.
import { AF_INET, AF_INET6, AF_UNIX, type Sockaddr } from 'bsd-sockets';

/** What die() does in C: report the error (a SocketError names its syscall) and exit 1. */
export function die(err: unknown): void {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
}

/**
 * "127.0.0.1:8080", "[::1]:8080", "/tmp/x.sock", "@name" (an abstract name)
 * or "(unnamed)"; common.h addr_text() prints the same.
 */
export function addrText(addr: Sockaddr | null): string {
  if (addr === null) return '(unnamed)';
  if ('path' in addr) {
    if (addr.path === '') return '(unnamed)';
    return addr.path.startsWith('\0') ? `@${addr.path.slice(1)}` : addr.path;
  }
  return addr.family === AF_INET6 ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
}

/** The address object for a numeric host ("127.0.0.1", "::1") and a port; common.h inet_addr_of(). */
export function inetAddr(host: string, port: number): Sockaddr {
  return { family: host.includes(':') ? AF_INET6 : AF_INET, address: host, port };
}

/** The address object for a path, or for an abstract name written "@name" (Linux); common.h unix_addr_of(). */
export function unixAddr(name: string): Sockaddr {
  return { family: AF_UNIX, path: name.startsWith('@') ? `\0${name.slice(1)}` : name };
}
