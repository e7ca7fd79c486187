/* reuseport.c — SO_REUSEPORT: several processes each make their own
 * listening socket, bound to the same address, and the kernel spreads the
 * incoming connections over them (Linux: by a hash of each connection's
 * 4-tuple). The parent forks NPROC workers, then connects NCONN times
 * itself; each reply names the worker that accepted it. The counts per
 * process are printed from both sides, and agree.
 * TypeScript twin: reuseport.ts (same calls in the same order, same output).
 * Usage: reuseport HOST PORT NPROC NCONN  (numeric HOST; PORT 0: the kernel
 * picks; NPROC from 1 to 16) */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "common.h"

#define MAXPROC 16
/* A worker that hears nothing for this long gives up; so does the parent. */
#define IDLE_MS 10000

static int port_of(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
  return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* One worker process: its own socket with SO_REUSEPORT, bound to the shared
 * address. It tells the parent its port on ctl, then accepts until the
 * parent shuts ctl down (end of stream). */
static void worker(int index, struct sockaddr_storage *addr, socklen_t addrlen,
                   int ctl) {
  int fd = socket(addr->ss_family, SOCK_STREAM, 0);
  if (fd == -1) die("socket");
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1)
    die("setsockopt");
  if (bind(fd, (struct sockaddr *)addr, addrlen) == -1) die("bind");
  if (listen(fd, SOMAXCONN) == -1) die("listen");
  struct sockaddr_storage bound;
  socklen_t boundlen = sizeof bound;
  if (getsockname(fd, (struct sockaddr *)&bound, &boundlen) == -1)
    die("getsockname");
  char msg[32];
  int len = snprintf(msg, sizeof msg, "%d", port_of(&bound));
  if (write(ctl, msg, len) == -1) die("write");

  int accepted = 0;
  for (;;) {
    struct pollfd fds[2] = {{fd, POLLIN, 0}, {ctl, POLLIN, 0}};
    int n = poll(fds, 2, IDLE_MS);
    if (n == -1) die("poll");
    if (n == 0 || fds[1].revents != 0) break; /* Idle, or the parent is done. */
    int conn = accept(fd, NULL, NULL);
    if (conn == -1) die("accept");
    accepted++;
    len = snprintf(msg, sizeof msg, "worker %d", index);
    if (write(conn, msg, len) == -1) die("write");
    close(conn);
  }
  printf("worker %d accepted %d connections\n", index, accepted);
  close(fd);
  close(ctl);
  exit(0);
}

int main(int argc, char *argv[]) {
  if (argc != 5 || atoi(argv[3]) < 1 || atoi(argv[3]) > MAXPROC) {
    fprintf(stderr,
            "usage: reuseport HOST PORT NPROC NCONN (NPROC from 1 to 16)\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_storage addr;
  socklen_t addrlen = inet_addr_of(argv[1], atoi(argv[2]), &addr);
  int nproc = atoi(argv[3]);
  int nconn = atoi(argv[4]);

  /* ctl[0] stays here, every worker shares ctl[1]. */
  int ctl[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, ctl) == -1) die("socketpair");
  struct timeval timeout = {IDLE_MS / 1000, 0};
  if (setsockopt(ctl[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) ==
      -1)
    die("setsockopt");
  pid_t pids[MAXPROC];
  for (int i = 0; i < nproc; i++) {
    pids[i] = fork();
    if (pids[i] == -1) die("fork");
    if (pids[i] == 0) worker(i, &addr, addrlen, ctl[1]);
    /* One worker at a time: the first learns the port (PORT 0), the rest
     * share it. */
    char msg[32];
    ssize_t n = read(ctl[0], msg, sizeof msg - 1);
    if (n == -1) die("read");
    msg[n] = '\0';
    addrlen = inet_addr_of(argv[1], atoi(msg), &addr);
  }
  close(ctl[1]);
  char text[ADDR_TEXT_LEN];
  addr_text((struct sockaddr *)&addr, addrlen, text, sizeof text);
  printf("%d processes listening on %s\n", nproc, text);

  int served[MAXPROC] = {0};
  for (int c = 0; c < nconn; c++) {
    int fd = socket(addr.ss_family, SOCK_STREAM, 0);
    if (fd == -1) die("socket");
    if (connect(fd, (struct sockaddr *)&addr, addrlen) == -1) die("connect");
    char reply[32];
    size_t got = 0;
    ssize_t n;
    while ((n = read(fd, reply + got, sizeof reply - 1 - got)) > 0) got += n;
    if (n == -1) die("read");
    reply[got] = '\0';
    int index;
    if (sscanf(reply, "worker %d", &index) != 1 || index < 0 ||
        index >= nproc) {
      fprintf(stderr, "unexpected reply: %s\n", reply);
      return 1;
    }
    served[index]++;
    close(fd);
  }
  for (int i = 0; i < nproc; i++)
    printf("worker %d served %d of %d connections\n", i, served[i], nconn);
  /* The workers read end of stream on ctl, print their count and exit. */
  if (shutdown(ctl[0], SHUT_WR) == -1) die("shutdown");
  for (int i = 0; i < nproc; i++) waitpid(pids[i], NULL, 0);
  close(ctl[0]);
  return 0;
}
