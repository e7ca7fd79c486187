// Socket options whose value is a C struct (struct timeval, struct linger,
// struct tcp_info, struct ucred), read and written as JS numbers and objects.
#pragma once

#include <cstdint>

namespace bsd {

// SO_RCVTIMEO or SO_SNDTIMEO of `fd` in microseconds (0: no timeout);
// -errno when it has none (not a socket). The typed getsockopt and the
// async driver's deadline (wait.h SocketTimeoutMs) both read it here.
int64_t SocketTimeoutUs(int fd, int optname);

}  // namespace bsd
