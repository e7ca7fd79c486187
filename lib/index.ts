// bsd-sockets: the BSD socket API for TypeScript. Public exports only.
export * from './constants';
export * from './calls';
export { CMSG_LEN, CMSG_SPACE, DEFAULT_CONTROLLEN } from './msg';
export type { Cmsg, CmsgInput, In6Pktinfo, InPktinfo, Msghdr, RecvMsghdr, RecvmsgResult } from './msg';
export { epoll_create1, epoll_ctl, epoll_wait, epoll_waitSync } from './epoll';
export type { EpollEvent } from './epoll';
export { watch } from './watch';
export type { Watcher, WatchListener } from './watch';
export { SocketError, AbortError } from './errors';
export type { CallOptions } from './async';
export type { Sockaddr, SockaddrIn, SockaddrIn6, SockaddrUn, SockaddrUnspec } from './sockaddr';
export { onTrace, formatTrace } from './trace';
export type { TraceRecord, TraceListener } from './trace';
export { threadpool } from './threadpool';
export { fdOf } from './interop';
export type { Linger, SockoptName, TcpInfo, Ucred } from './sockopt';
export type { ThreadpoolStats } from './threadpool';
