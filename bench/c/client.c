/* The one load generator for every server in `npm run bench` (bench/run.ts):
 * the same C client drives the C, node:net/dgram and bsd-sockets servers, so
 * the figures compare the servers alone. Prints one line: "<value> <unit>".
 *
 *   client pingpong PORT SIZE COUNT     round trips/s, one message in flight
 *   client bulk PORT TOTAL CHUNK        MB/s sent until the server's 1-byte ack
 *   client udp PORT SIZE COUNT          request/response datagrams/s
 *   client connrate PORT COUNT          connect + server close + EOF, per s
 *   client echo PORT CONNS ROUNDS SIZE  messages/s, CONNS connections (epoll)
 *   client idle PORT COUNT WARM BATCH   COUNT idle connections held open
 *
 * idle talks to its driver (bench/run.ts) by lines: it opens and closes WARM
 * connections (the server's code paths run once before the baseline), prints
 * "warm" and waits for a line on stdin; then opens COUNT connections, BATCH
 * at a time, each served (one byte sent and its echo read, so a connection
 * left in the listen backlog does not count), prints "ready COUNT SECONDS"
 * and holds them until the next line on stdin; then closes them all (with a
 * reset: no TIME_WAIT left behind) and prints "closed".
 *
 * Loopback only (127.0.0.1). Every wait is bounded by SO_RCVTIMEO / epoll /
 * poll timeouts so a broken server fails the run instead of hanging it. */
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in server;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void timeouts(int fd) {
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeouts(fd);
  if (connect(fd, (struct sockaddr *)&server, sizeof server) < 0)
    die("connect");
  return fd;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("send");
    p += w;
    n -= (size_t)w;
  }
}

static void read_all(int fd, char *p, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) die(r == 0 ? "recv: server closed" : "recv");
    p += r;
    n -= (size_t)r;
  }
}

static void pingpong(size_t size, long count) {
  int fd = dial();
  char *buf = calloc(1, size);
  write_all(fd, buf, size); /* Warm up: one round trip before the clock. */
  read_all(fd, buf, size);
  double t0 = now();
  for (long i = 0; i < count; i++) {
    write_all(fd, buf, size);
    read_all(fd, buf, size);
  }
  printf("%.0f round-trips/s\n", count / (now() - t0));
  close(fd);
}

static void bulk(long total, size_t chunk) {
  int fd = dial();
  char *buf = calloc(1, chunk);
  double t0 = now();
  for (long sent = 0; sent < total; sent += (long)chunk)
    write_all(fd, buf, chunk);
  shutdown(fd, SHUT_WR);
  char ack;
  read_all(fd, &ack, 1);
  printf("%.1f MB/s\n", total / 1e6 / (now() - t0));
  close(fd);
}

static void udp(size_t size, long count) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char *buf = calloc(1, size);
  double t0 = now();
  for (long i = 0; i < count; i++) {
    if (sendto(fd, buf, size, 0, (struct sockaddr *)&server, sizeof server) < 0)
      die("sendto");
    if (recvfrom(fd, buf, size, 0, NULL, NULL) < 0)
      die("recvfrom (a datagram lost?)");
  }
  printf("%.0f round-trips/s\n", count / (now() - t0));
  close(fd);
}

static void connrate(long count) {
  double t0 = now();
  for (long i = 0; i < count; i++) {
    int fd = dial();
    char c;
    if (recv(fd, &c, 1, 0) != 0) die("expected EOF from the server");
    close(fd);
  }
  printf("%.0f connections/s\n", count / (now() - t0));
}

static void echo(int conns, long rounds, size_t size) {
  int *fds = calloc((size_t)conns, sizeof(int));
  long *left = calloc((size_t)conns, sizeof(long));
  size_t *got = calloc((size_t)conns, sizeof(size_t));
  char *buf = calloc(1, size);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  /* Establish every connection (one round trip each) before the clock. */
  for (int i = 0; i < conns; i++) {
    fds[i] = dial();
    write_all(fds[i], buf, size);
  }
  for (int i = 0; i < conns; i++) read_all(fds[i], buf, size);
  struct epoll_event ev = {.events = EPOLLIN};
  for (int i = 0; i < conns; i++) {
    ev.data.u32 = (uint32_t)i;
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    left[i] = rounds;
  }
  double t0 = now();
  for (int i = 0; i < conns; i++) write_all(fds[i], buf, size);
  int active = conns;
  struct epoll_event events[256];
  while (active > 0) {
    int n = epoll_wait(ep, events, 256, 10000);
    if (n <= 0) die("epoll_wait (server stalled)");
    for (int k = 0; k < n; k++) {
      int i = (int)events[k].data.u32;
      ssize_t r = recv(fds[i], buf, size - got[i], MSG_DONTWAIT);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) die("recv");
      got[i] += (size_t)r;
      if (got[i] < size) continue;
      got[i] = 0;
      if (--left[i] > 0) {
        write_all(fds[i], buf, size);
      } else {
        epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
        active--;
      }
    }
  }
  printf("%.0f messages/s\n", (double)conns * rounds / (now() - t0));
  for (int i = 0; i < conns; i++) close(fds[i]);
}

/* Waits (at most `seconds`) for a line from the driver on stdin; EOF or a
 * timeout ends the wait too (the driver is gone or stuck). */
static void await_line(int seconds) {
  double end = now() + seconds;
  for (;;) {
    int left_ms = (int)((end - now()) * 1000);
    struct pollfd p = {.fd = 0, .events = POLLIN};
    if (left_ms <= 0 || poll(&p, 1, left_ms) <= 0) {
      fprintf(stderr, "client idle: no word from the driver in %d s\n",
              seconds);
      return;
    }
    char c;
    if (read(0, &c, 1) != 1 || c == '\n') return;
  }
}

/* Closes with a reset (SO_LINGER 0): tens of thousands of connections per
 * run would otherwise leave as many TIME_WAIT entries behind. */
static void reset_close(int fd) {
  struct linger l = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

/* Opens fds[0..n) in batches: connect a batch, send one byte on each, read
 * each one's echo, so every connection has been accepted and served. */
static void open_served(int *fds, int n, int batch) {
  for (int first = 0; first < n; first += batch) {
    int last = first + batch < n ? first + batch : n;
    for (int i = first; i < last; i++) {
      fds[i] = dial();
      char c = (char)i;
      write_all(fds[i], &c, 1);
    }
    for (int i = first; i < last; i++) {
      char c;
      read_all(fds[i], &c, 1);
      if (c != (char)i) {
        fprintf(stderr, "client idle: connection %d echoed a wrong byte\n", i);
        exit(1);
      }
    }
  }
}

static void idle(int count, int warm, int batch) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
      lim.rlim_cur < (rlim_t)count + 16) {
    fprintf(stderr,
            "client idle: %d connections need %d fds; RLIMIT_NOFILE is %ld\n",
            count, count + 16, (long)lim.rlim_cur);
    exit(1);
  }
  if (batch < 1) batch = 1;
  int n = count > warm ? count : warm;
  int *fds = calloc((size_t)n, sizeof(int));
  open_served(fds, warm, batch);
  for (int i = 0; i < warm; i++) reset_close(fds[i]);
  printf("warm\n");
  fflush(stdout);
  await_line(60);
  double t0 = now();
  open_served(fds, count, batch);
  printf("ready %d %.3f\n", count, now() - t0);
  fflush(stdout);
  await_line(120);
  for (int i = 0; i < count; i++) reset_close(fds[i]);
  printf("closed\n");
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: client MODE PORT ...\n");
    return 2;
  }
  server.sin_family = AF_INET;
  server.sin_port = htons((uint16_t)atoi(argv[2]));
  inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
  const char *mode = argv[1];
  if (!strcmp(mode, "pingpong") && argc == 5)
    pingpong((size_t)atol(argv[3]), atol(argv[4]));
  else if (!strcmp(mode, "bulk") && argc == 5)
    bulk(atol(argv[3]), (size_t)atol(argv[4]));
  else if (!strcmp(mode, "udp") && argc == 5)
    udp((size_t)atol(argv[3]), atol(argv[4]));
  else if (!strcmp(mode, "connrate") && argc == 4)
    connrate(atol(argv[3]));
  else if (!strcmp(mode, "echo") && argc == 6)
    echo(atoi(argv[3]), atol(argv[4]), (size_t)atol(argv[5]));
  else if (!strcmp(mode, "idle") && argc == 6)
    idle(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
  else {
    fprintf(stderr, "bad arguments for %s\n", mode);
    return 2;
  }
  return 0;
}
