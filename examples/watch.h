/* watch.h — for watch-echo.c: the part of libuv a C program has to write
 * itself. C has no libuv event loop, so this is a stand-in for bsd-sockets'
 * watch() (libuv's uv_poll_t): watch(fd, events, cb) registers a callback
 * for POLLIN/POLLOUT readiness, unwatch(fd) removes it, and watch_run() is
 * the event loop, built on poll(2), that calls them until nothing is
 * watched. (libuv itself uses epoll on Linux and kqueue on macOS.) */
#ifndef EXAMPLES_WATCH_H
#define EXAMPLES_WATCH_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>

#define WATCH_MAX 1024

typedef void watch_cb(int fd, int revents);

static struct pollfd watch_fds[WATCH_MAX];
static watch_cb *watch_cbs[WATCH_MAX];
static int watch_nfds;

/* Like uv_poll_init() + uv_poll_start(): also makes fd non-blocking. */
static int watch(int fd, int events, watch_cb *cb) {
  if (watch_nfds == WATCH_MAX) {
    errno = ENOMEM;
    return -1;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) return -1;
  watch_fds[watch_nfds].fd = fd;
  watch_fds[watch_nfds].events = events;
  watch_fds[watch_nfds].revents = 0;
  watch_cbs[watch_nfds] = cb;
  watch_nfds++;
  return 0;
}

/* Like uv_poll_stop(): call it before close(fd). */
static void unwatch(int fd) {
  for (int i = 0; i < watch_nfds; i++) {
    if (watch_fds[i].fd == fd) {
      watch_nfds--;
      watch_fds[i] = watch_fds[watch_nfds];
      watch_cbs[i] = watch_cbs[watch_nfds];
      return;
    }
  }
}

/* Like uv_run(): wait, call each ready fd's callback, until nothing is
 * watched. Callbacks may watch and unwatch; a callback's fd is looked up
 * again before each call, so an fd unwatched meanwhile is skipped. */
static int watch_run(void) {
  struct pollfd ready[WATCH_MAX];
  while (watch_nfds > 0) {
    int n = watch_nfds;
    memcpy(ready, watch_fds, n * sizeof ready[0]);
    if (poll(ready, n, -1) == -1) {
      if (errno == EINTR) continue;
      return -1;
    }
    for (int i = 0; i < n; i++) {
      if (ready[i].revents == 0) continue;
      for (int j = 0; j < watch_nfds; j++) {
        if (watch_fds[j].fd == ready[i].fd) {
          watch_cbs[j](ready[i].fd, ready[i].revents);
          break;
        }
      }
    }
  }
  return 0;
}

#endif /* EXAMPLES_WATCH_H */
