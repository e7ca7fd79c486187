/* watch-echo.c — a single-threaded TCP echo server driven by readiness
 * callbacks, as watch-echo.ts is on libuv's poller. C has no libuv, so the
 * watch()/unwatch()/watch_run() used here are a small stand-in in watch.h,
 * built on poll(2) (libuv uses epoll on Linux, kqueue on macOS). Sockets are
 * non-blocking: a spurious wakeup gives EAGAIN and is ignored. It accepts
 * MAXCONN connections, closes the listener, and exits when the last one is
 * gone, as the event loop does once nothing is watched.
 * TypeScript twin: watch-echo.ts (same calls in the same order, same output).
 * Usage: watch-echo HOST PORT MAXCONN   (clients: tcp-client) */
#define _GNU_SOURCE /* accept4() */
#include <signal.h>

#include "common.h"
#include "watch.h"

static int maxconn, accepted, clients;
static long total;
static char buf[4096];

static void on_client(int fd, int revents) {
  (void)revents;
  ssize_t n = read(fd, buf, sizeof buf);
  if (n == -1 && errno == EAGAIN) return; /* Not ready after all. */
  if (n == -1) die("read");
  if (n == 0) { /* The client closed its end. */
    unwatch(fd);
    close(fd);
    clients--;
    if (accepted == maxconn && clients == 0)
      printf("served %d connections, echoed %ld bytes\n", accepted, total);
    return;
  }
  /* Small echoes fit the send buffer; a real server would keep the rest
   * and watch for POLLOUT. */
  if (write(fd, buf, n) == -1) die("write");
  total += n;
}

static void on_listener(int fd, int revents) {
  (void)revents;
  struct sockaddr_storage peer;
  socklen_t peerlen = sizeof peer;
  int conn = accept4(fd, (struct sockaddr *)&peer, &peerlen, SOCK_NONBLOCK);
  if (conn == -1 && errno == EAGAIN) return;
  if (conn == -1) die("accept4");
  char text[ADDR_TEXT_LEN];
  printf("connection from %s\n",
         addr_text((struct sockaddr *)&peer, peerlen, text, sizeof text));
  if (watch(conn, POLLIN, on_client) == -1) die("watch");
  clients++;
  if (++accepted == maxconn) {
    unwatch(fd);
    close(fd);
  }
}

int main(int argc, char *argv[]) {
  if (argc != 4 || atoi(argv[3]) < 1) {
    fprintf(stderr, "usage: watch-echo HOST PORT MAXCONN\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_storage addr;
  socklen_t addrlen = inet_addr_of(argv[1], atoi(argv[2]), &addr);
  maxconn = atoi(argv[3]);

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

  if (watch(listener, POLLIN, on_listener) == -1) die("watch");
  /* The event loop: in TypeScript, Node's own, after main() returns. */
  if (watch_run() == -1) die("poll");
  return 0;
}
