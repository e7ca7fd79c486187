/* unix-stream.c — a Unix-domain stream echo server and its client in one
 * program. NAME is a filesystem path, or "@name" for a Linux abstract name
 * (no file; gone with the socket).
 *   server: socket → bind → listen → accept → read/write, MAXCONN times
 *   client: socket → connect → write → shutdown → read until EOF
 * TypeScript twin: unix-stream.ts (same calls in the same order, same output).
 * Usage: unix-stream server NAME MAXCONN | unix-stream client NAME MESSAGE */
#include <signal.h>

#include "common.h"

static void server(const char *name, int maxconn) {
  struct sockaddr_un addr;
  socklen_t addrlen = unix_addr_of(name, &addr);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd == -1) die("socket");
  if (bind(fd, (struct sockaddr *)&addr, addrlen) == -1) die("bind");
  if (listen(fd, SOMAXCONN) == -1) die("listen");
  char text[ADDR_TEXT_LEN];
  addrlen = sizeof addr;
  if (getsockname(fd, (struct sockaddr *)&addr, &addrlen) == -1)
    die("getsockname");
  printf("listening on %s\n",
         addr_text((struct sockaddr *)&addr, addrlen, text, sizeof text));

  for (int i = 0; i < maxconn; i++) {
    struct sockaddr_un peer;
    socklen_t peerlen = sizeof peer;
    int conn = accept(fd, (struct sockaddr *)&peer, &peerlen);
    if (conn == -1) die("accept");
    /* A client that did not bind() is unnamed. */
    printf("connection from %s\n",
           addr_text((struct sockaddr *)&peer, peerlen, text, sizeof text));
    char buf[4096];
    ssize_t n;
    long total = 0;
    while ((n = read(conn, buf, sizeof buf)) > 0) {
      if (write(conn, buf, n) == -1) die("write");
      total += n;
    }
    if (n == -1) die("read");
    printf("echoed %ld bytes\n", total);
    close(conn);
  }
  close(fd);
  /* A path outlives its socket: remove it. An abstract name is already gone. */
  if (name[0] != '@') unlink(name);
}

static void client(const char *name, const char *msg) {
  struct sockaddr_un addr;
  socklen_t addrlen = unix_addr_of(name, &addr);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd == -1) die("socket");
  if (connect(fd, (struct sockaddr *)&addr, addrlen) == -1) die("connect");
  char text[ADDR_TEXT_LEN];
  printf("connected to %s\n",
         addr_text((struct sockaddr *)&addr, addrlen, text, sizeof text));

  ssize_t n = write(fd, msg, strlen(msg));
  if (n == -1) die("write");
  printf("sent %zd bytes\n", n);
  if (shutdown(fd, SHUT_WR) == -1) die("shutdown");

  static char buf[65536];
  size_t total = 0;
  while ((n = read(fd, buf + total, sizeof buf - total)) > 0) total += n;
  if (n == -1) die("read");
  printf("received %zu bytes: %.*s\n", total, (int)total, buf);
  close(fd);
}

int main(int argc, char *argv[]) {
  if (argc != 4 ||
      (strcmp(argv[1], "server") != 0 && strcmp(argv[1], "client") != 0)) {
    fprintf(stderr,
            "usage: unix-stream server NAME MAXCONN | "
            "unix-stream client NAME MESSAGE\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  if (strcmp(argv[1], "server") == 0)
    server(argv[2], atoi(argv[3]));
  else
    client(argv[2], argv[3]);
  return 0;
}
