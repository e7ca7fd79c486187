/* unix-dgram.c — a Unix-domain datagram echo server and its client in one
 * program. A datagram client must bind() a name of its own, or the server
 * has no address to answer. Each NAME is a filesystem path, or "@name" for a
 * Linux abstract name.
 *   server: socket → bind → recvfrom/sendto, MAXMSG datagrams
 *   client: socket → bind → sendto → poll (5 s) → recvfrom, per MESSAGE
 * TypeScript twin: unix-dgram.ts (same calls in the same order, same output).
 * Usage: unix-dgram server NAME MAXMSG
 *        unix-dgram client NAME CLIENTNAME MESSAGE... */
#include <poll.h>

#include "common.h"

static void server(const char *name, int maxmsg) {
  struct sockaddr_un addr;
  socklen_t addrlen = unix_addr_of(name, &addr);
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (fd == -1) die("socket");
  if (bind(fd, (struct sockaddr *)&addr, addrlen) == -1) die("bind");
  char text[ADDR_TEXT_LEN];
  addrlen = sizeof addr;
  if (getsockname(fd, (struct sockaddr *)&addr, &addrlen) == -1)
    die("getsockname");
  printf("listening on %s\n",
         addr_text((struct sockaddr *)&addr, addrlen, text, sizeof text));

  char buf[65536];
  for (int i = 0; i < maxmsg; i++) {
    struct sockaddr_un peer;
    socklen_t peerlen = sizeof peer;
    ssize_t n =
        recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &peerlen);
    if (n == -1) die("recvfrom");
    printf("received %zd bytes from %s: %.*s\n", n,
           addr_text((struct sockaddr *)&peer, peerlen, text, sizeof text),
           (int)n, buf);
    if (sendto(fd, buf, n, 0, (struct sockaddr *)&peer, peerlen) == -1)
      die("sendto");
  }
  close(fd);
  if (name[0] != '@') unlink(name);
}

static void client(const char *name, const char *myname, int nmsg,
                   char *msgs[]) {
  struct sockaddr_un addr, me;
  socklen_t addrlen = unix_addr_of(name, &addr);
  socklen_t melen = unix_addr_of(myname, &me);
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (fd == -1) die("socket");
  if (bind(fd, (struct sockaddr *)&me, melen) == -1) die("bind");
  char buf[65536], text[ADDR_TEXT_LEN];
  for (int i = 0; i < nmsg; i++) {
    if (sendto(fd, msgs[i], strlen(msgs[i]), 0, (struct sockaddr *)&addr,
               addrlen) == -1)
      die("sendto");
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int ready = poll(&pfd, 1, 5000);
    if (ready == -1) die("poll");
    if (ready == 0) {
      fprintf(stderr, "unix-dgram: no reply within 5 s\n");
      exit(1);
    }
    struct sockaddr_un from;
    socklen_t fromlen = sizeof from;
    ssize_t n =
        recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
    if (n == -1) die("recvfrom");
    printf("reply of %zd bytes from %s: %.*s\n", n,
           addr_text((struct sockaddr *)&from, fromlen, text, sizeof text),
           (int)n, buf);
  }
  close(fd);
  if (myname[0] != '@') unlink(myname);
}

int main(int argc, char *argv[]) {
  int is_server = argc == 4 && strcmp(argv[1], "server") == 0;
  int is_client = argc >= 5 && strcmp(argv[1], "client") == 0;
  if (!is_server && !is_client) {
    fprintf(stderr,
            "usage: unix-dgram server NAME MAXMSG | "
            "unix-dgram client NAME CLIENTNAME MESSAGE...\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (is_server)
    server(argv[2], atoi(argv[3]));
  else
    client(argv[2], argv[3], argc - 4, argv + 4);
  return 0;
}
