/* showip.c — show the addresses getaddrinfo() gives for a host: one line per
 * result, in the resolver's order (after Beej's Guide, "showip.c").
 * TypeScript twin: showip.ts (same call, same output).
 * Usage: showip HOST   (tests use only 127.0.0.1, ::1 and localhost) */
#include <netdb.h>

#include "common.h"

int main(int argc, char *argv[]) {
  if (argc != 2) {
    fprintf(stderr, "usage: showip HOST\n");
    return 2;
  }
  struct addrinfo hints, *res, *p;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;     /* IPv4 or IPv6 */
  hints.ai_socktype = SOCK_STREAM; /* Else each address once per socket type. */

  int rc = getaddrinfo(argv[1], NULL, &hints, &res);
  if (rc != 0) {
    /* Not errno: getaddrinfo() returns an EAI_* code; see gai_strerror(). */
    fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(rc));
    return 1;
  }
  printf("IP addresses for %s:\n", argv[1]);
  for (p = res; p != NULL; p = p->ai_next) {
    char ip[INET6_ADDRSTRLEN];
    const void *a;
    const char *version;
    if (p->ai_family == AF_INET) {
      a = &((struct sockaddr_in *)p->ai_addr)->sin_addr;
      version = "IPv4";
    } else {
      a = &((struct sockaddr_in6 *)p->ai_addr)->sin6_addr;
      version = "IPv6";
    }
    inet_ntop(p->ai_family, a, ip, sizeof ip);
    printf("  %s: %s\n", version, ip);
  }
  freeaddrinfo(res);
  return 0;
}
