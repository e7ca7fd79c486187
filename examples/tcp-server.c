/* tcp-server.c — an iterative TCP echo server: socket → bind → listen →
 * accept → read/write, one connection at a time. It serves MAXCONN
 * connections, then exits.
 * TypeScript twin: tcp-server.ts (same calls in the same order, same output).
 * Usage: tcp-server HOST PORT MAXCONN  (numeric HOST; PORT 0: kernel picks) */
#include <signal.h>

#include "common.h"

int main(int argc, char *argv[]) {
  if (argc != 4) {
    fprintf(stderr, "usage: tcp-server HOST PORT MAXCONN\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* bsd-sockets never raises SIGPIPE (a gone peer is EPIPE); nor do we. */
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_storage addr;
  socklen_t addrlen = inet_addr_of(argv[1], atoi(argv[2]), &addr);
  int maxconn = atoi(argv[3]);

  int fd = socket(addr.ss_family, SOCK_STREAM, 0);
  if (fd == -1) die("socket");
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
    die("setsockopt");
  if (bind(fd, (struct sockaddr *)&addr, addrlen) == -1) die("bind");
  if (listen(fd, SOMAXCONN) == -1) die("listen");
  char text[ADDR_TEXT_LEN];
  addrlen = sizeof addr;
  if (getsockname(fd, (struct sockaddr *)&addr, &addrlen) == -1)
    die("getsockname");
  printf("listening on %s\n",
         addr_text((struct sockaddr *)&addr, addrlen, text, sizeof text));

  for (int i = 0; i < maxconn; i++) {
    struct sockaddr_storage peer;
    socklen_t peerlen = sizeof peer;
    int conn = accept(fd, (struct sockaddr *)&peer, &peerlen);
    if (conn == -1) die("accept");
    addr_text((struct sockaddr *)&peer, peerlen, text, sizeof text);
    printf("connection from %s\n", text);
    char buf[4096];
    ssize_t n;
    long total = 0;
    while ((n = read(conn, buf, sizeof buf)) > 0) {
      if (write(conn, buf, n) == -1) die("write");
      total += n;
    }
    if (n == -1) die("read");
    printf("echoed %ld bytes to %s\n", total, text);
    close(conn);
  }
  close(fd);
  return 0;
}
