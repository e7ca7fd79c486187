/* poll-echo.c — a single-threaded TCP echo server on poll(2): one thread
 * waits on the listening socket and every connection at once, then makes
 * the calls poll() reported ready, which return at once. It accepts MAXCONN
 * connections, closes the listener, and exits when the last one is gone.
 * TypeScript twin: poll-echo.ts (same calls in the same order, same output).
 * Usage: poll-echo HOST PORT MAXCONN   (clients: tcp-client) */
#include <poll.h>
#include <signal.h>

#include "common.h"

int main(int argc, char *argv[]) {
  if (argc != 4 || atoi(argv[3]) < 1 || atoi(argv[3]) > 1000) {
    fprintf(stderr, "usage: poll-echo HOST PORT MAXCONN (1 to 1000)\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_storage addr;
  socklen_t addrlen = inet_addr_of(argv[1], atoi(argv[2]), &addr);
  int maxconn = atoi(argv[3]);

  int listener = socket(addr.ss_family, SOCK_STREAM, 0);
  if (listener == -1) die("socket");
  int one = 1;
  if (setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
    die("setsockopt");
  if (bind(listener, (struct sockaddr *)&addr, addrlen) == -1) die("bind");
  if (listen(listener, SOMAXCONN) == -1) die("listen");
  char text[ADDR_TEXT_LEN];
  addrlen = sizeof addr;
  if (getsockname(listener, (struct sockaddr *)&addr, &addrlen) == -1)
    die("getsockname");
  printf("listening on %s\n",
         addr_text((struct sockaddr *)&addr, addrlen, text, sizeof text));

  struct pollfd fds[1 + maxconn]; /* fds[0]: the listener; then clients. */
  fds[0].fd = listener;
  fds[0].events = POLLIN;
  int nfds = 1, accepted = 0;
  long total = 0;
  char buf[4096];
  while (nfds > 1 || accepted < maxconn) {
    int ready = poll(fds, nfds, 10000);
    if (ready == -1) die("poll");
    if (ready == 0) {
      fprintf(stderr, "poll-echo: idle for 10 s, giving up\n");
      exit(1);
    }
    /* Backwards, so that moving the last entry into a freed slot is safe. */
    for (int i = nfds - 1; i >= 0; i--) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == listener) {
        struct sockaddr_storage peer;
        socklen_t peerlen = sizeof peer;
        int conn = accept(listener, (struct sockaddr *)&peer, &peerlen);
        if (conn == -1) die("accept");
        printf("connection from %s\n",
               addr_text((struct sockaddr *)&peer, peerlen, text, sizeof text));
        fds[nfds].fd = conn;
        fds[nfds].events = POLLIN;
        fds[nfds].revents = 0;
        nfds++;
        if (++accepted == maxconn) {
          close(listener);
          fds[0].fd = -1; /* poll() skips a negative fd. */
        }
      } else {
        ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n == -1) die("read");
        if (n == 0) { /* The client closed its end. */
          close(fds[i].fd);
          fds[i] = fds[--nfds];
        } else {
          if (write(fds[i].fd, buf, n) == -1) die("write");
          total += n;
        }
      }
    }
  }
  printf("served %d connections, echoed %ld bytes\n", accepted, total);
  return 0;
}
