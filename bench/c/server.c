/* The C servers of `npm run bench` (bench/run.ts), the baseline every other
 * implementation is compared with. Binds 127.0.0.1 port 0, prints the port,
 * serves, and exits after 120 s at the latest (alarm) or when killed.
 *
 *   server pingpong   TCP echo of one connection at a time with blocking
 *                     read/write: C's plainest server
 *   server echo       TCP echo of many connections on one thread with epoll
 *                     (the 1,000-connection workload)
 *   server bulk       reads until EOF, then sends a 1-byte ack
 *   server udp        echoes each datagram to its sender
 *   server connrate   accepts and closes at once
 *   server noop N     times N poll(NULL, 0, 0) calls: "<ns> ns/call" */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int bound(int type) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    perror("bind");
    exit(1);
  }
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  if ((type & SOCK_STREAM) == SOCK_STREAM) listen(fd, 4096);
  printf("%d\n", ntohs(a.sin_port));
  fflush(stdout);
  return fd;
}

static void echo(void) {
  int lfd = bound(SOCK_STREAM | SOCK_NONBLOCK);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  static char buf[65536];
  struct epoll_event events[256];
  for (;;) {
    int n = epoll_wait(ep, events, 256, -1);
    for (int k = 0; k < n; k++) {
      int fd = events[k].data.fd;
      if (fd == lfd) {
        int c;
        while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
               0) {
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          ev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        close(fd);
        continue;
      }
      /* Echoes are small: the socket buffer takes them whole. */
      if (send(fd, buf, (size_t)r, MSG_NOSIGNAL) < 0) close(fd);
    }
  }
}

static void pingpong(void) {
  int lfd = bound(SOCK_STREAM);
  static char buf[65536];
  for (;;) {
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) continue;
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ssize_t r;
    while ((r = read(c, buf, sizeof buf)) > 0) {
      if (send(c, buf, (size_t)r, MSG_NOSIGNAL) < 0) break;
    }
    close(c);
  }
}

static void bulk(void) {
  int lfd = bound(SOCK_STREAM);
  static char buf[65536];
  for (;;) {
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) continue;
    while (read(c, buf, sizeof buf) > 0) {
    }
    send(c, "!", 1, MSG_NOSIGNAL);
    close(c);
  }
}

static void udp(void) {
  int fd = bound(SOCK_DGRAM);
  char buf[65536];
  struct sockaddr_storage from;
  for (;;) {
    socklen_t len = sizeof from;
    ssize_t r =
        recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
    if (r >= 0) sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&from, len);
  }
}

static void connrate(void) {
  int lfd = bound(SOCK_STREAM);
  for (;;) {
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c >= 0) close(c);
  }
}

static void noop(long n) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) poll(NULL, 0, 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.1f ns/call\n",
         ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n);
}

int main(int argc, char **argv) {
  alarm(120);
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "pingpong"))
    pingpong();
  else if (!strcmp(mode, "echo"))
    echo();
  else if (!strcmp(mode, "bulk"))
    bulk();
  else if (!strcmp(mode, "udp"))
    udp();
  else if (!strcmp(mode, "connrate"))
    connrate();
  else if (!strcmp(mode, "noop") && argc == 3)
    noop(atol(argv[2]));
  else {
    fprintf(stderr, "usage: server pingpong|echo|bulk|udp|connrate|noop N\n");
    return 2;
  }
  return 0;
}
