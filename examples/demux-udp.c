/* demux-udp.c — one UDP socket serves several clients. The kernel delivers
 * each datagram to the socket bound to its destination address and port, so
 * the server needs just one socket; recvfrom() tells the clients apart by
 * their source address, and each reply reaches the one socket it names.
 *   server: socket → bind → recvfrom/sendto, MAXMSG datagrams
 *   client: NCLIENTS sockets; each sendto → poll (5 s) → recvfrom → getsockname
 * TypeScript twin: demux-udp.ts (same calls in the same order, same output).
 * Usage: demux-udp server HOST PORT MAXMSG
 *        demux-udp client HOST PORT NCLIENTS */
#include <poll.h>

#include "common.h"

#define MAXCLIENTS 64

static void server(struct sockaddr_storage *addr, socklen_t addrlen,
                   int maxmsg) {
  int fd = socket(addr->ss_family, SOCK_DGRAM, 0);
  if (fd == -1) die("socket");
  if (bind(fd, (struct sockaddr *)addr, addrlen) == -1) die("bind");
  char text[ADDR_TEXT_LEN];
  addrlen = sizeof *addr;
  if (getsockname(fd, (struct sockaddr *)addr, &addrlen) == -1)
    die("getsockname");
  printf("listening on %s\n",
         addr_text((struct sockaddr *)addr, addrlen, text, sizeof text));

  char buf[1500], reply[1500];
  for (int i = 0; i < maxmsg; i++) {
    struct sockaddr_storage peer;
    socklen_t peerlen = sizeof peer;
    ssize_t n =
        recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &peerlen);
    if (n == -1) die("recvfrom");
    addr_text((struct sockaddr *)&peer, peerlen, text, sizeof text);
    printf("datagram from %s: %.*s\n", text, (int)n, buf);
    int len = snprintf(reply, sizeof reply, "you are %s", text);
    if (sendto(fd, reply, len, 0, (struct sockaddr *)&peer, peerlen) == -1)
      die("sendto");
  }
  close(fd);
}

static void client(struct sockaddr_storage *addr, socklen_t addrlen,
                   int nclients) {
  int fds[MAXCLIENTS];
  for (int i = 0; i < nclients; i++) {
    fds[i] = socket(addr->ss_family, SOCK_DGRAM, 0);
    if (fds[i] == -1) die("socket");
  }
  char buf[1500], text[ADDR_TEXT_LEN];
  for (int i = 0; i < nclients; i++) {
    int len = snprintf(buf, sizeof buf, "hello from client %d", i);
    if (sendto(fds[i], buf, len, 0, (struct sockaddr *)addr, addrlen) == -1)
      die("sendto");
  }
  for (int i = 0; i < nclients; i++) {
    struct pollfd pfd = {.fd = fds[i], .events = POLLIN};
    int ready = poll(&pfd, 1, 5000);
    if (ready == -1) die("poll");
    if (ready == 0) {
      fprintf(stderr, "demux-udp: no reply within 5 s\n");
      exit(1);
    }
    ssize_t n = recvfrom(fds[i], buf, sizeof buf, 0, NULL, NULL);
    if (n == -1) die("recvfrom");
    /* sendto() bound the socket to a port the kernel picked, on the
     * wildcard address (the route gives each datagram its source): ask. */
    struct sockaddr_storage local;
    socklen_t locallen = sizeof local;
    if (getsockname(fds[i], (struct sockaddr *)&local, &locallen) == -1)
      die("getsockname");
    printf("client %d at %s got: %.*s\n", i,
           addr_text((struct sockaddr *)&local, locallen, text, sizeof text),
           (int)n, buf);
  }
  for (int i = 0; i < nclients; i++) close(fds[i]);
}

int main(int argc, char *argv[]) {
  if (argc != 5 ||
      (strcmp(argv[1], "server") != 0 && strcmp(argv[1], "client") != 0) ||
      (strcmp(argv[1], "client") == 0 && atoi(argv[4]) > MAXCLIENTS)) {
    fprintf(stderr,
            "usage: demux-udp server HOST PORT MAXMSG | "
            "demux-udp client HOST PORT NCLIENTS (at most 64)\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_storage addr;
  socklen_t addrlen = inet_addr_of(argv[2], atoi(argv[3]), &addr);
  if (strcmp(argv[1], "server") == 0)
    server(&addr, addrlen, atoi(argv[4]));
  else
    client(&addr, addrlen, atoi(argv[4]));
  return 0;
}
