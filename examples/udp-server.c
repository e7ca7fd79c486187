/* udp-server.c — a UDP echo server: socket → bind → recvfrom/sendto. One
 * socket serves every client; each datagram carries its source address, and
 * the reply goes back to it. Answers MAXMSG datagrams, then exits.
 * TypeScript twin: udp-server.ts (same calls in the same order, same output).
 * Usage: udp-server HOST PORT MAXMSG  (numeric HOST; PORT 0: kernel picks) */
#include "common.h"

int main(int argc, char *argv[]) {
  if (argc != 4) {
    fprintf(stderr, "usage: udp-server HOST PORT MAXMSG\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_storage addr;
  socklen_t addrlen = inet_addr_of(argv[1], atoi(argv[2]), &addr);
  int maxmsg = atoi(argv[3]);

  int fd = socket(addr.ss_family, SOCK_DGRAM, 0);
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
    struct sockaddr_storage peer;
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
  return 0;
}
