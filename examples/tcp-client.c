/* tcp-client.c — a TCP client: socket → connect → write, then
 * shutdown(SHUT_WR) and read until the server closes; prints what came back.
 * TypeScript twin: tcp-client.ts (same calls in the same order, same output).
 * Usage: tcp-client HOST PORT MESSAGE   (HOST numeric: 127.0.0.1, ::1) */
#include <signal.h>

#include "common.h"

int main(int argc, char *argv[]) {
  if (argc != 4) {
    fprintf(stderr, "usage: tcp-client HOST PORT MESSAGE\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_storage server;
  socklen_t serverlen = inet_addr_of(argv[1], atoi(argv[2]), &server);
  const char *msg = argv[3];

  int fd = socket(server.ss_family, SOCK_STREAM, 0);
  if (fd == -1) die("socket");
  if (connect(fd, (struct sockaddr *)&server, serverlen) == -1) die("connect");
  struct sockaddr_storage local;
  socklen_t locallen = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &locallen) == -1)
    die("getsockname");
  char to[ADDR_TEXT_LEN], from[ADDR_TEXT_LEN];
  printf("connected to %s from %s\n",
         addr_text((struct sockaddr *)&server, serverlen, to, sizeof to),
         addr_text((struct sockaddr *)&local, locallen, from, sizeof from));

  ssize_t n = write(fd, msg, strlen(msg));
  if (n == -1) die("write");
  printf("sent %zd bytes\n", n);
  /* Half-close: the server reads end-of-stream, echoes the rest, closes. */
  if (shutdown(fd, SHUT_WR) == -1) die("shutdown");

  static char buf[65536];
  size_t total = 0;
  while ((n = read(fd, buf + total, sizeof buf - total)) > 0) total += n;
  if (n == -1) die("read");
  printf("received %zu bytes: %.*s\n", total, (int)total, buf);
  close(fd);
  return 0;
}
