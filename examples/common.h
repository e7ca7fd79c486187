/* common.h — the few helpers the C examples share; common.ts is their
 * TypeScript counterpart. C has no address objects, so these do by hand what
 * bsd-sockets does in its C++ layer: text <-> struct sockaddr_*. */
#ifndef EXAMPLES_COMMON_H
#define EXAMPLES_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

/* Room for "[ffff:…]:65535" and for "@" plus a whole sun_path. */
#define ADDR_TEXT_LEN 128

/* What an uncaught SocketError does in the TypeScript twin: report, exit 1. */
static inline void die(const char *syscall) {
  perror(syscall);
  exit(1);
}

/* "127.0.0.1:8080", "[::1]:8080", "/tmp/x.sock", "@name" (an abstract
 * name) or "(unnamed)"; common.ts addrText() prints the same. */
static inline const char *addr_text(const struct sockaddr *sa, socklen_t len,
                                    char *buf, size_t size) {
  char ip[INET6_ADDRSTRLEN];
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
    snprintf(buf, size, "%s:%u", ip, ntohs(sin->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
    snprintf(buf, size, "[%s]:%u", ip, ntohs(sin6->sin6_port));
  } else if (sa->sa_family == AF_UNIX &&
             len > offsetof(struct sockaddr_un, sun_path)) {
    const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
    /* The kernel gives the length: an abstract name is not NUL-terminated. */
    int n = (int)(len - offsetof(struct sockaddr_un, sun_path));
    if (sun->sun_path[0] == '\0')
      snprintf(buf, size, "@%.*s", n - 1, sun->sun_path + 1);
    else
      snprintf(buf, size, "%.*s", (int)strnlen(sun->sun_path, n),
               sun->sun_path);
  } else {
    snprintf(buf, size, "(unnamed)");
  }
  return buf;
}

/* struct sockaddr_in or _in6 for a numeric host ("127.0.0.1", "::1") and a
 * port; returns its length. common.ts inetAddr() builds the same object. */
static inline socklen_t inet_addr_of(const char *host, int port,
                                     struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (strchr(host, ':') != NULL) {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
      fprintf(stderr, "not an IPv6 address: %s\n", host);
      exit(2);
    }
    return sizeof *sin6;
  }
  struct sockaddr_in *sin = (struct sockaddr_in *)ss;
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
    fprintf(stderr, "not an IPv4 address: %s\n", host);
    exit(2);
  }
  return sizeof *sin;
}

/* struct sockaddr_un for a path, or for an abstract name written "@name"
 * (Linux); returns its length, which for an abstract name counts every byte
 * and no terminating NUL. common.ts unixAddr() builds the same object. */
static inline socklen_t unix_addr_of(const char *name,
                                     struct sockaddr_un *sun) {
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  size_t n = strlen(name);
  if (n >= sizeof sun->sun_path) {
    fprintf(stderr, "too long for sun_path: %s\n", name);
    exit(2);
  }
  if (name[0] == '@') {
    memcpy(sun->sun_path + 1, name + 1, n - 1); /* sun_path[0] stays '\0'. */
    return offsetof(struct sockaddr_un, sun_path) + n;
  }
  memcpy(sun->sun_path, name, n);
  return offsetof(struct sockaddr_un, sun_path) + n + 1;
}

#endif /* EXAMPLES_COMMON_H */
