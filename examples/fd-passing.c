/* fd-passing.c — hand a listening TCP socket to another process with
 * SCM_RIGHTS, as a supervisor hands sockets to its workers.
 *   child:  socket → bind → listen on the Unix socket NAME → accept →
 *           recvmsg (the TCP listener arrives as a new fd) → accept →
 *           read/write echo, MAXCONN connections
 *   parent: socket → bind → listen on HOST:PORT → socket → connect to NAME →
 *           sendmsg (the listener's fd, with one byte) → close; the child
 *           serves on the socket the parent created, after the parent is gone.
 * TypeScript twin: fd-passing.ts (same calls in the same order, same output).
 * Usage: fd-passing child NAME MAXCONN | fd-passing parent HOST PORT NAME */
#include <signal.h>

#include "common.h"

#ifndef MSG_CMSG_CLOEXEC
#define MSG_CMSG_CLOEXEC 0 /* Not Linux: no atomic close-on-exec here. */
#endif

static void child(const char *name, int maxconn) {
  struct sockaddr_un addr;
  socklen_t addrlen = unix_addr_of(name, &addr);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd == -1) die("socket");
  if (bind(fd, (struct sockaddr *)&addr, addrlen) == -1) die("bind");
  if (listen(fd, 1) == -1) die("listen");
  char text[ADDR_TEXT_LEN];
  printf("listening on %s\n",
         addr_text((struct sockaddr *)&addr, addrlen, text, sizeof text));

  int conn = accept(fd, NULL, NULL);
  if (conn == -1) die("accept");
  /* One byte of data carries the control message; the buffer has room for
   * exactly one fd (CMSG_SPACE), aligned as struct cmsghdr needs. */
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  /* MSG_CMSG_CLOEXEC: the received fd is close-on-exec, as bsd-sockets
   * always makes it. */
  ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
  if (n == -1) die("recvmsg");
  int lfd = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL;
       c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      memcpy(&lfd, CMSG_DATA(c), sizeof lfd);
  }
  if (lfd == -1) {
    fprintf(stderr, "no fd received\n");
    exit(1);
  }
  close(conn);
  close(fd);
  if (name[0] != '@') unlink(name);

  struct sockaddr_storage laddr;
  socklen_t laddrlen = sizeof laddr;
  if (getsockname(lfd, (struct sockaddr *)&laddr, &laddrlen) == -1)
    die("getsockname");
  printf("received a listening socket on %s\n",
         addr_text((struct sockaddr *)&laddr, laddrlen, text, sizeof text));

  for (int i = 0; i < maxconn; i++) {
    struct sockaddr_storage peer;
    socklen_t peerlen = sizeof peer;
    int c = accept(lfd, (struct sockaddr *)&peer, &peerlen);
    if (c == -1) die("accept");
    printf("connection from %s\n",
           addr_text((struct sockaddr *)&peer, peerlen, text, sizeof text));
    char buf[4096];
    long total = 0;
    while ((n = read(c, buf, sizeof buf)) > 0) {
      if (write(c, buf, n) == -1) die("write");
      total += n;
    }
    if (n == -1) die("read");
    printf("echoed %ld bytes\n", total);
    close(c);
  }
  close(lfd);
}

static void parent(const char *host, int port, const char *name) {
  struct sockaddr_storage addr;
  socklen_t addrlen = inet_addr_of(host, port, &addr);
  int lfd = socket(addr.ss_family, SOCK_STREAM, 0);
  if (lfd == -1) die("socket");
  if (bind(lfd, (struct sockaddr *)&addr, addrlen) == -1) die("bind");
  if (listen(lfd, SOMAXCONN) == -1) die("listen");
  char text[ADDR_TEXT_LEN];
  addrlen = sizeof addr;
  if (getsockname(lfd, (struct sockaddr *)&addr, &addrlen) == -1)
    die("getsockname");
  printf("listening on %s\n",
         addr_text((struct sockaddr *)&addr, addrlen, text, sizeof text));

  struct sockaddr_un child_addr;
  socklen_t child_len = unix_addr_of(name, &child_addr);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd == -1) die("socket");
  if (connect(fd, (struct sockaddr *)&child_addr, child_len) == -1)
    die("connect");
  char byte = 'L';
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof lfd);
  memcpy(CMSG_DATA(c), &lfd, sizeof lfd);
  if (sendmsg(fd, &msg, 0) == -1) die("sendmsg");
  printf("passed it to %s\n", addr_text((struct sockaddr *)&child_addr,
                                        child_len, text, sizeof text));
  close(fd);
  /* The child's copy keeps the socket open and listening. */
  close(lfd);
}

int main(int argc, char *argv[]) {
  int is_child = argc == 4 && strcmp(argv[1], "child") == 0;
  int is_parent = argc == 5 && strcmp(argv[1], "parent") == 0;
  if (!is_child && !is_parent) {
    fprintf(stderr,
            "usage: fd-passing child NAME MAXCONN | "
            "fd-passing parent HOST PORT NAME\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  if (is_child)
    child(argv[2], atoi(argv[3]));
  else
    parent(argv[2], atoi(argv[3]), argv[4]);
  return 0;
}
