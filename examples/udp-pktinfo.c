/* udp-pktinfo.c — a UDP echo server that learns, for each datagram, the
 * address it was sent to and the interface it arrived on (IP_PKTINFO,
 * IPV6_PKTINFO), and replies from that same address: what a DNS or DHCP
 * server bound to the wildcard address needs on a host with several
 * addresses. socket → setsockopt → bind → recvmsg/sendmsg, MAXMSG times.
 * TypeScript twin: udp-pktinfo.ts (same calls in the same order, same output).
 * Usage: udp-pktinfo HOST PORT MAXMSG  (numeric HOST; PORT 0: kernel picks) */
#define _GNU_SOURCE /* struct in_pktinfo, struct in6_pktinfo (glibc). */
#include "common.h"

int main(int argc, char *argv[]) {
  if (argc != 4) {
    fprintf(stderr, "usage: udp-pktinfo HOST PORT MAXMSG\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_storage addr;
  socklen_t addrlen = inet_addr_of(argv[1], atoi(argv[2]), &addr);
  int maxmsg = atoi(argv[3]);
  int v6 = addr.ss_family == AF_INET6;

  int fd = socket(addr.ss_family, SOCK_DGRAM, 0);
  if (fd == -1) die("socket");
  int one = 1;
  if (v6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one)
         : setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one))
    die("setsockopt");
  if (bind(fd, (struct sockaddr *)&addr, addrlen) == -1) die("bind");
  char text[ADDR_TEXT_LEN];
  addrlen = sizeof addr;
  if (getsockname(fd, (struct sockaddr *)&addr, &addrlen) == -1)
    die("getsockname");
  printf("listening on %s\n",
         addr_text((struct sockaddr *)&addr, addrlen, text, sizeof text));

  static char buf[65536];
  /* Room for the larger of the two, aligned as struct cmsghdr needs. */
  union {
    char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
    struct cmsghdr align;
  } control;
  for (int i = 0; i < maxmsg; i++) {
    struct sockaddr_storage peer;
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {0};
    msg.msg_name = &peer;
    msg.msg_namelen = sizeof peer;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    ssize_t n = recvmsg(fd, &msg, 0);
    if (n == -1) die("recvmsg");
    char dst[INET6_ADDRSTRLEN] = "?";
    int ifindex = 0;
    struct in_pktinfo pi = {0};
    struct in6_pktinfo pi6 = {0};
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL;
         c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        memcpy(&pi, CMSG_DATA(c), sizeof pi);
        inet_ntop(AF_INET, &pi.ipi_addr, dst, sizeof dst);
        ifindex = pi.ipi_ifindex;
      } else if (c->cmsg_level == IPPROTO_IPV6 &&
                 c->cmsg_type == IPV6_PKTINFO) {
        memcpy(&pi6, CMSG_DATA(c), sizeof pi6);
        inet_ntop(AF_INET6, &pi6.ipi6_addr, dst, sizeof dst);
        ifindex = (int)pi6.ipi6_ifindex;
      }
    }
    printf(
        "datagram of %zd bytes from %s to %s on ifindex %d: %.*s\n", n,
        addr_text((struct sockaddr *)&peer, msg.msg_namelen, text, sizeof text),
        dst, ifindex, (int)n, buf);

    /* The reply leaves from the address the datagram came to, on the same
     * interface: the same control message, turned around. */
    memset(&control, 0, sizeof control);
    struct msghdr reply = {0};
    iov.iov_len = n;
    reply.msg_name = &peer;
    reply.msg_namelen = msg.msg_namelen;
    reply.msg_iov = &iov;
    reply.msg_iovlen = 1;
    reply.msg_control = control.buf;
    struct cmsghdr *c = (struct cmsghdr *)control.buf;
    if (v6) {
      struct in6_pktinfo out = {.ipi6_addr = pi6.ipi6_addr,
                                .ipi6_ifindex = pi6.ipi6_ifindex};
      reply.msg_controllen = CMSG_SPACE(sizeof out);
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof out);
      memcpy(CMSG_DATA(c), &out, sizeof out);
    } else {
      struct in_pktinfo out = {.ipi_ifindex = pi.ipi_ifindex,
                               .ipi_spec_dst = pi.ipi_addr};
      reply.msg_controllen = CMSG_SPACE(sizeof out);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof out);
      memcpy(CMSG_DATA(c), &out, sizeof out);
    }
    if (sendmsg(fd, &reply, 0) == -1) die("sendmsg");
  }
  close(fd);
  return 0;
}
