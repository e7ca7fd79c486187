/* demux-tcp.c — a TCP server with several connections open at once. Every
 * accepted socket shares the listening socket's local address and port; the
 * kernel tells the connections apart by the whole 4-tuple (local address and
 * port, peer address and port): getsockname() + getpeername() print it.
 *   server: socket → bind → listen → NCONN × (accept → getsockname →
 *           getpeername), then on each: read → write → close
 *   client: NCONN × (socket → connect → getsockname → getpeername), then on
 *           each: write → read → close
 * TypeScript twin: demux-tcp.ts (same calls in the same order, same output).
 * Usage: demux-tcp server HOST PORT NCONN | demux-tcp client HOST PORT NCONN */
#include <signal.h>

#include "common.h"

#define MAXCONN 64

/* Prints "connection I: LOCAL <-> PEER" for a connected socket. */
static void print_tuple(int i, int fd) {
  struct sockaddr_storage local, peer;
  socklen_t locallen = sizeof local, peerlen = sizeof peer;
  if (getsockname(fd, (struct sockaddr *)&local, &locallen) == -1)
    die("getsockname");
  if (getpeername(fd, (struct sockaddr *)&peer, &peerlen) == -1)
    die("getpeername");
  char l[ADDR_TEXT_LEN], p[ADDR_TEXT_LEN];
  printf("connection %d: %s <-> %s\n", i,
         addr_text((struct sockaddr *)&local, locallen, l, sizeof l),
         addr_text((struct sockaddr *)&peer, peerlen, p, sizeof p));
}

static void server(struct sockaddr_storage *addr, socklen_t addrlen,
                   int nconn) {
  int fd = socket(addr->ss_family, SOCK_STREAM, 0);
  if (fd == -1) die("socket");
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
    die("setsockopt");
  if (bind(fd, (struct sockaddr *)addr, addrlen) == -1) die("bind");
  if (listen(fd, SOMAXCONN) == -1) die("listen");
  char text[ADDR_TEXT_LEN];
  addrlen = sizeof *addr;
  if (getsockname(fd, (struct sockaddr *)addr, &addrlen) == -1)
    die("getsockname");
  printf("listening on %s\n",
         addr_text((struct sockaddr *)addr, addrlen, text, sizeof text));

  int conns[MAXCONN];
  for (int i = 0; i < nconn; i++) {
    struct sockaddr_storage peer;
    socklen_t peerlen = sizeof peer;
    conns[i] = accept(fd, (struct sockaddr *)&peer, &peerlen);
    if (conns[i] == -1) die("accept");
    print_tuple(i, conns[i]);
  }
  char buf[1500];
  for (int i = 0; i < nconn; i++) {
    ssize_t n = read(conns[i], buf, sizeof buf);
    if (n == -1) die("read");
    printf("connection %d says: %.*s\n", i, (int)n, buf);
    int len = snprintf(buf, sizeof buf, "you are connection %d", i);
    if (write(conns[i], buf, len) == -1) die("write");
    close(conns[i]);
  }
  close(fd);
}

static void client(struct sockaddr_storage *addr, socklen_t addrlen,
                   int nconn) {
  int fds[MAXCONN];
  for (int i = 0; i < nconn; i++) {
    fds[i] = socket(addr->ss_family, SOCK_STREAM, 0);
    if (fds[i] == -1) die("socket");
    if (connect(fds[i], (struct sockaddr *)addr, addrlen) == -1) die("connect");
    print_tuple(i, fds[i]);
  }
  char buf[1500];
  for (int i = 0; i < nconn; i++) {
    int len = snprintf(buf, sizeof buf, "hello from connection %d", i);
    if (write(fds[i], buf, len) == -1) die("write");
    ssize_t n = read(fds[i], buf, sizeof buf);
    if (n == -1) die("read");
    printf("connection %d got: %.*s\n", i, (int)n, buf);
    close(fds[i]);
  }
}

int main(int argc, char *argv[]) {
  if (argc != 5 ||
      (strcmp(argv[1], "server") != 0 && strcmp(argv[1], "client") != 0) ||
      atoi(argv[4]) > MAXCONN) {
    fprintf(stderr,
            "usage: demux-tcp server HOST PORT NCONN | "
            "demux-tcp client HOST PORT NCONN (NCONN at most 64)\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_storage addr;
  socklen_t addrlen = inet_addr_of(argv[2], atoi(argv[3]), &addr);
  if (strcmp(argv[1], "server") == 0)
    server(&addr, addrlen, atoi(argv[4]));
  else
    client(&addr, addrlen, atoi(argv[4]));
  return 0;
}
