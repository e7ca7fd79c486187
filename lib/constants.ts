// Typed re-export of the constants the addon read from this platform's
// headers at build time. Values are never written here; a name the platform
// lacks (EPOLL* outside Linux) is undefined.
import { native } from './binding';
import type { Linger, SockoptName, TcpInfo, Ucred } from './sockopt';

const c = native.constants;

export const {
  AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC,
  SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_RAW, SOCK_NONBLOCK, SOCK_CLOEXEC,
  IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP,
  SOL_SOCKET, SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, SO_RCVBUF, SO_SNDBUF,
  SO_ERROR, SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN,
  SO_PASSCRED,
  TCP_NODELAY, IPV6_V6ONLY,
  TCP_ESTABLISHED, TCP_SYN_SENT, TCP_SYN_RECV, TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_TIME_WAIT, TCP_CLOSE,
  TCP_CLOSE_WAIT, TCP_LAST_ACK, TCP_LISTEN, TCP_CLOSING,
  SCM_RIGHTS, SCM_CREDENTIALS, IP_PKTINFO, IPV6_PKTINFO, IPV6_RECVPKTINFO, IOV_MAX,
  MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_NOSIGNAL, MSG_TRUNC, MSG_OOB, MSG_CTRUNC, MSG_EOR, MSG_CMSG_CLOEXEC,
  SHUT_RD, SHUT_WR, SHUT_RDWR,
  POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL, POLLRDHUP,
  F_GETFL, F_SETFL, F_GETFD, F_SETFD, O_NONBLOCK, FD_CLOEXEC, SOMAXCONN,
  AI_PASSIVE, AI_CANONNAME, AI_NUMERICHOST, AI_NUMERICSERV, AI_ADDRCONFIG, AI_V4MAPPED,
  INADDR_ANY, INADDR_LOOPBACK,
  EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP, EPOLLET, EPOLLONESHOT,
  EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL, EPOLL_CLOEXEC,
} = c as Record<string, number>;

// Struct-valued options: their type tells getsockopt() what it returns.
// SO_PEERCRED and TCP_INFO are Linux-only (undefined elsewhere).
export const SO_RCVTIMEO = c.SO_RCVTIMEO as SockoptName<number>;
export const SO_SNDTIMEO = c.SO_SNDTIMEO as SockoptName<number>;
export const SO_LINGER = c.SO_LINGER as SockoptName<Linger>;
export const SO_PEERCRED = c.SO_PEERCRED as SockoptName<Ucred>;
export const TCP_INFO = c.TCP_INFO as SockoptName<TcpInfo>;

/** Every constant by name, as a frozen object. */
export const constants: Readonly<Record<string, number>> = Object.freeze({ ...c });
