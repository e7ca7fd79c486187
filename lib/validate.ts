// Argument checks before any system call: TypeError for a wrong type,
// RangeError for a value out of range, naming the argument and the value.
import * as net from 'node:net';
import { isArrayBuffer } from 'node:util/types';
import { markAsUntransferable } from 'node:worker_threads';
import { native } from './binding';
import type { Sockaddr } from './sockaddr';

const { AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC } = native.constants;
export const INT32_MAX = 2 ** 31 - 1;

/** A received value, quoted for an error message. */
export function show(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 40 ? value.slice(0, 40) + '…' : value}'`;
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  if (ArrayBuffer.isView(value)) return `an instance of ${value.constructor.name}`;
  return Array.isArray(value) ? 'an array' : 'an object';
}

export function validateInt(value: unknown, name: string, min = -(2 ** 31), max = INT32_MAX): number {
  if (typeof value !== 'number') {
    throw new TypeError(`The "${name}" argument must be of type number. Received ${show(value)}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `The value of "${name}" is out of range. It must be an integer >= ${min} and <= ${max}. Received ${show(value)}`,
    );
  }
  return value;
}

export function validateFd(fd: unknown, name = 'fd'): number {
  return validateInt(fd, name, 0, INT32_MAX);
}

export function validateFlags(flags: unknown, name = 'flags'): number {
  return flags === undefined ? 0 : validateInt(flags, name);
}

// The engine's own getters, taken once: a view's `buffer` or `byteLength`
// read through the view can be shadowed (Object.defineProperty) or come
// from a spoofed prototype, and then every check below would judge a decoy
// while the addon uses the real memory. Each works on views of any realm.
const uncurry = <T>(getter: (() => T) | undefined): ((self: unknown) => T) =>
  Function.prototype.call.bind(getter as () => T) as (self: unknown) => T;
const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
const getter = (proto: object, key: PropertyKey) => Object.getOwnPropertyDescriptor(proto, key)?.get;
const typedArrayTag = uncurry<string | undefined>(getter(typedArrayProto, Symbol.toStringTag));
const typedArrayBuffer = uncurry<ArrayBufferLike>(getter(typedArrayProto, 'buffer'));
const typedArrayByteLength = uncurry<number>(getter(typedArrayProto, 'byteLength'));
const dataViewBuffer = uncurry<ArrayBufferLike>(getter(DataView.prototype, 'buffer'));
const dataViewByteLength = uncurry<number>(getter(DataView.prototype, 'byteLength'));
const arrayBufferByteLength = uncurry<number>(getter(ArrayBuffer.prototype, 'byteLength'));
const arrayBufferResizable = getter(ArrayBuffer.prototype, 'resizable') && uncurry<boolean>(getter(ArrayBuffer.prototype, 'resizable'));
const sharedGrowable = getter(SharedArrayBuffer.prototype, 'growable') && uncurry<boolean>(getter(SharedArrayBuffer.prototype, 'growable'));

/** The memory under an ArrayBufferView, and its size, as the engine (and the addon) sees them. */
function viewBytes(view: ArrayBufferView): { backing: ArrayBufferLike; byteLength: number } {
  return typedArrayTag(view) !== undefined
    ? { backing: typedArrayBuffer(view), byteLength: typedArrayByteLength(view) }
    : { backing: dataViewBuffer(view), byteLength: dataViewByteLength(view) };
}

function isDetached(buffer: ArrayBuffer): boolean {
  if (arrayBufferByteLength(buffer) !== 0) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

/**
 * Checks `buf` is an ArrayBufferView a worker thread may safely use and
 * returns how many bytes to use: `nbytes`, or all of them.
 */
export function validateBuffer(buf: unknown, nbytes: unknown, name = 'buf', nbytesName = 'nbytes'): number {
  if (!ArrayBuffer.isView(buf)) {
    throw new TypeError(
      `The "${name}" argument must be an instance of Buffer, TypedArray or DataView. Received ${show(buf)}`,
    );
  }
  const { backing, byteLength } = viewBytes(buf);
  if (isArrayBuffer(backing)) {
    // A worker thread may be writing into it while JS shrinks it.
    if (arrayBufferResizable?.(backing)) throw resizableError(name);
    if (isDetached(backing)) throw new TypeError(`The "${name}" argument is backed by a detached ArrayBuffer`);
  } else if (sharedGrowable?.(backing)) {
    throw resizableError(name);
  }
  if (nbytes === undefined) return byteLength;
  return validateInt(nbytes, nbytesName, 0, byteLength);
}

function resizableError(name: string): TypeError {
  return new TypeError(`The "${name}" argument must not be backed by a resizable or growable buffer`);
}

function validatePort(port: unknown, name: string): void {
  validateInt(port, `${name}.port`, 0, 65535);
}

/** Checks a socket address object (see sockaddr.ts) before it reaches the kernel. */
export function validateSockaddr(addr: unknown, name = 'addr', allowUnspec = false): Sockaddr {
  if (addr === null || typeof addr !== 'object') {
    throw new TypeError(`The "${name}" argument must be a socket address object. Received ${show(addr)}`);
  }
  const a = addr as Record<string, unknown>;
  const family = validateInt(a.family, `${name}.family`);
  if (family === AF_INET || family === AF_INET6) {
    const ipv6 = family === AF_INET6;
    if (typeof a.address !== 'string') {
      throw new TypeError(`The "${name}.address" property must be of type string. Received ${show(a.address)}`);
    }
    if (ipv6 ? !net.isIPv6(a.address) || a.address.includes('%') : !net.isIPv4(a.address)) {
      throw new TypeError(
        `The "${name}.address" property must be an ${ipv6 ? 'IPv6' : 'IPv4'} address. Received ${show(a.address)}`,
      );
    }
    validatePort(a.port, name);
    if (ipv6) {
      if (a.flowinfo !== undefined) validateInt(a.flowinfo, `${name}.flowinfo`, 0, 2 ** 32 - 1);
      if (a.scopeId !== undefined) validateInt(a.scopeId, `${name}.scopeId`, 0, 2 ** 32 - 1);
    }
  } else if (family === AF_UNIX) {
    if (typeof a.path !== 'string') {
      throw new TypeError(`The "${name}.path" property must be of type string. Received ${show(a.path)}`);
    }
    const abstract = a.path.startsWith('\0');
    const room = abstract ? native.sunPathSize : native.sunPathSize - 1;
    const bytes = Buffer.byteLength(a.path);
    if (bytes > room) {
      throw new RangeError(
        `The "${name}.path" property is too long for sun_path: ${bytes} bytes, at most ${room}`,
      );
    }
    if (!abstract && a.path.includes('\0')) {
      throw new TypeError(`The "${name}.path" property must not contain NUL bytes (except a leading one)`);
    }
  } else if (allowUnspec && family === AF_UNSPEC) {
    // Only the family means anything: other fields are neither sent nor shown.
    return { family: AF_UNSPEC } as Sockaddr;
  } else {
    throw new RangeError(
      `The "${name}.family" property must be AF_INET, AF_INET6 or AF_UNIX. Received ${show(family)}`,
    );
  }
  return addr as Sockaddr;
}

/** An address whose family differs from the socket's own is a TypeError, not a kernel error. */
export function validateFamily(addr: Sockaddr, domain: number | undefined, name = 'addr'): void {
  if (domain !== undefined && addr.family !== domain && addr.family !== AF_UNSPEC) {
    throw new TypeError(
      `The "${name}.family" (${addr.family}) does not match the socket's domain (${domain})`,
    );
  }
}

export function validateFunction(value: unknown, name: string): void {
  if (typeof value !== 'function') {
    throw new TypeError(`The "${name}" argument must be of type function. Received ${show(value)}`);
  }
}

/**
 * A worker thread reads or writes `buf` after this returns: its memory must
 * not move away. A transfer (postMessage, structuredClone with `transfer`)
 * would detach the ArrayBuffer and free the memory under the worker; marked
 * untransferable, it is copied instead, as Node's pooled Buffers are.
 * (Node ≥ 22 also has ArrayBuffer.prototype.transfer(), which older V8
 * versions let move even an untransferable buffer: never call it on a
 * buffer an async call is using.)
 */
export function keepForWorker(buf: ArrayBufferView): void {
  const { backing } = viewBytes(buf);
  if (isArrayBuffer(backing)) markAsUntransferable(backing);
}
