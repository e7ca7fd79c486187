/* epoll-echo.c — a single-threaded TCP echo server on epoll(7) (Linux): the
 * kernel keeps the interest list, so each wait costs nothing per idle
 * connection. It accepts MAXCONN connections, closes the listener (closing
 * an fd takes it out of the epoll set), and exits when the last one is gone.
 * TypeScript twin: epoll-echo.ts (same calls in the same order, same output).
 * Usage: epoll-echo HOST PORT MAXCONN   (clients: tcp-client) */
#include <signal.h>
#include <sys/epoll.h>

#include "common.h"

#define MAXEVENTS 64

int main(int argc, char *argv[]) {
  if (argc != 4 || atoi(argv[3]) < 1) {
    fprintf(stderr, "usage: epoll-echo HOST PORT MAXCONN\n");
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

  int epfd = epoll_create1(0);
  if (epfd == -1) die("epoll_create1");
  /* data is ours to choose: the fd itself, to know which socket is ready. */
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev) == -1) die("epoll_ctl");
  int clients = 0, accepted = 0;
  long total = 0;
  char buf[4096];
  struct epoll_event events[MAXEVENTS];
  while (clients > 0 || accepted < maxconn) {
    int ready = epoll_wait(epfd, events, MAXEVENTS, 10000);
    if (ready == -1) die("epoll_wait");
    if (ready == 0) {
      fprintf(stderr, "epoll-echo: idle for 10 s, giving up\n");
      exit(1);
    }
    for (int i = 0; i < ready; i++) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        struct sockaddr_storage peer;
        socklen_t peerlen = sizeof peer;
        int conn = accept(listener, (struct sockaddr *)&peer, &peerlen);
        if (conn == -1) die("accept");
        printf("connection from %s\n",
               addr_text((struct sockaddr *)&peer, peerlen, text, sizeof text));
        struct epoll_event cev = {.events = EPOLLIN, .data.fd = conn};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, conn, &cev) == -1) die("epoll_ctl");
        clients++;
        if (++accepted == maxconn) close(listener);
      } else {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == -1) die("read");
        if (n == 0) { /* The client closed its end. */
          close(fd);
          clients--;
        } else {
          if (write(fd, buf, n) == -1) die("write");
          total += n;
        }
      }
    }
  }
  close(epfd);
  printf("served %d connections, echoed %ld bytes\n", accepted, total);
  return 0;
}
