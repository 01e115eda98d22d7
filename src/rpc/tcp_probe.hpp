#pragma once
// Why a TCP connection to an endpoint fails, asked of the kernel directly. gRPC reports an
// unreachable server as UNAVAILABLE with the text of whichever connection attempt it saw
// last, which is sometimes its own artifact ("tcp handshaker shutdown" when it re-resolves
// and drops an attempt) rather than the cause a user can act on ("connection refused").

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

namespace petalsln::rpc {

/// Tries one TCP connection to @p endpoint ("host:port", "[v6]:port") within @p timeout and
/// returns why it failed, in lower case ("connection refused", "no route to host",
/// "connection timed out", "cannot resolve host"), or "" when it connected (the server is
/// there; the failure was above TCP).
inline std::string tcp_connect_error(const std::string& endpoint, std::chrono::milliseconds timeout) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) return "not a host:port endpoint";
  std::string host = endpoint.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), endpoint.c_str() + colon + 1, &hints, &found) != 0 || found == nullptr) return "cannot resolve host";
  int error = ETIMEDOUT;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    error = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0 ? 0 : errno;
    if (error == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      error = ETIMEDOUT;
      if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
        socklen_t len = sizeof error;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
      }
    }
    ::close(fd);
    if (error == 0) break;
  }
  ::freeaddrinfo(found);
  if (error == 0) return "";
  std::string text = std::strerror(error);
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace petalsln::rpc
