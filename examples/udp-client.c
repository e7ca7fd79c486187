/* udp-client.c — a UDP client: socket → sendto, then poll with a timeout
 * (UDP may lose a datagram: never wait forever) → recvfrom, per MESSAGE.
 * TypeScript twin: udp-client.ts (same calls in the same order, same output).
 * Usage: udp-client HOST PORT MESSAGE...   (HOST numeric: 127.0.0.1, ::1) */
#include <poll.h>

#include "common.h"

int main(int argc, char *argv[]) {
  if (argc < 4) {
    fprintf(stderr, "usage: udp-client HOST PORT MESSAGE...\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_storage server;
  socklen_t serverlen = inet_addr_of(argv[1], atoi(argv[2]), &server);

  int fd = socket(server.ss_family, SOCK_DGRAM, 0);
  if (fd == -1) die("socket");
  char buf[65536], text[ADDR_TEXT_LEN];
  for (int i = 3; i < argc; i++) {
    const char *msg = argv[i];
    if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&server,
               serverlen) == -1)
      die("sendto");
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int ready = poll(&pfd, 1, 5000);
    if (ready == -1) die("poll");
    if (ready == 0) {
      fprintf(stderr, "udp-client: no reply within 5 s\n");
      exit(1);
    }
    struct sockaddr_storage from;
    socklen_t fromlen = sizeof from;
    ssize_t n =
        recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
    if (n == -1) die("recvfrom");
    printf("reply of %zd bytes from %s: %.*s\n", n,
           addr_text((struct sockaddr *)&from, fromlen, text, sizeof text),
           (int)n, buf);
  }
  close(fd);
  return 0;
}
