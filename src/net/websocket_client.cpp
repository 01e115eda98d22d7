#include "net/websocket_client.hpp"
#include "net/websocket_frame.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "petalsln/util/error.hpp"
#include "util/base64.hpp"
#include "util/random.hpp"
#include "util/utf8.hpp"

namespace petalsln::lightning {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxUrl = 2048;
constexpr std::size_t kMaxHandshakeResponse = 16 * 1024;
constexpr const char* kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 60'000 ? 60'000 : static_cast<int>(left);
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

WebSocketUrl WebSocketUrl::parse(std::string_view url) {
  if (url.size() > kMaxUrl) throw Error(ErrorCode::invalid_argument, "WebSocket URL is longer than 2048 characters");
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      throw Error(ErrorCode::invalid_argument, "WebSocket URL contains a space or control character");
    }
  }
  WebSocketUrl out;
  const std::size_t sep = url.find("://");
  const std::string scheme = lowered(url.substr(0, sep == std::string_view::npos ? 0 : sep));
  if (scheme == "ws") {
    out.tls = false;
  } else if (scheme == "wss") {
    out.tls = true;
  } else {
    throw Error(ErrorCode::invalid_argument, "relay URL must start with ws:// or wss://");
  }
  std::string_view rest = url.substr(sep + 3);
  if (rest.find('#') != std::string_view::npos) throw Error(ErrorCode::invalid_argument, "WebSocket URL must not have a fragment");
  const std::size_t path_at = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_at);
  out.target = path_at == std::string_view::npos ? "/" : std::string(rest.substr(path_at));
  if (!out.target.empty() && out.target[0] == '?') out.target = "/" + out.target;
  if (authority.find('@') != std::string_view::npos) {
    throw Error(ErrorCode::invalid_argument, "WebSocket URL must not carry user info");
  }
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) throw Error(ErrorCode::invalid_argument, "WebSocket URL has an unclosed '[' in its host");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw Error(ErrorCode::invalid_argument, "WebSocket URL has text after its IPv6 host");
      port_text = after.substr(1);
      if (port_text.empty()) throw Error(ErrorCode::invalid_argument, "WebSocket URL has an empty port");
    }
  } else {
    const std::size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) throw Error(ErrorCode::invalid_argument, "WebSocket URL has an empty port");
    }
  }
  if (out.host.empty()) throw Error(ErrorCode::invalid_argument, "WebSocket URL has no host");
  for (const char c : out.host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == ':' || c == '_';
    if (!ok) throw Error(ErrorCode::invalid_argument, "WebSocket URL host has a character outside [A-Za-z0-9.:_-]");
  }
  out.port = out.tls ? 443 : 80;
  if (!port_text.empty()) {
    unsigned long port = 0;
    for (const char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) throw Error(ErrorCode::invalid_argument, "WebSocket URL port must be 1 to 65535");
      port = port * 10 + static_cast<unsigned long>(c - '0');
    }
    if (port == 0 || port > 65535) throw Error(ErrorCode::invalid_argument, "WebSocket URL port must be 1 to 65535");
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

struct WebSocketClient::Impl {
  WebSocketUrl url;
  WebSocketOptions options;
  int fd = -1;
  SSL_CTX* ssl_ctx = nullptr;
  SSL* ssl = nullptr;
  std::string in;  // received bytes not yet parsed into frames
  bool open = false;
  bool close_sent = false;
  std::uint16_t peer_close = 0;
  WebSocketFrameReader reader{1};  // replaced once the options are known (constructor)

  ~Impl() { shutdown_transport(); }

  void shutdown_transport() noexcept {
    if (ssl != nullptr) {
      SSL_free(ssl);
      ssl = nullptr;
    }
    if (ssl_ctx != nullptr) {
      SSL_CTX_free(ssl_ctx);
      ssl_ctx = nullptr;
    }
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
    open = false;
  }

  [[noreturn]] void fail_io(const std::string& what) {
    shutdown_transport();
    throw Error(ErrorCode::io, "WebSocket " + url.host + ":" + std::to_string(url.port) + ": " + what);
  }

  // Waits for @p events on the socket until @p deadline. Returns false on timeout.
  bool wait(short events, Clock::time_point deadline) {
    for (;;) {
      pollfd p{fd, events, 0};
      const int r = ::poll(&p, 1, remaining_ms(deadline));
      if (r > 0) return true;
      if (r == 0) {
        if (Clock::now() >= deadline) return false;
        continue;
      }
      if (errno != EINTR) fail_io(std::string("poll failed: ") + std::strerror(errno));
    }
  }

  void connect_tcp(Clock::time_point deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int gai = ::getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &res);
    if (gai != 0) fail_io(std::string("cannot resolve host: ") + gai_strerror(gai));
    std::string last_error = "no address";
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
      fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      int r = ::connect(fd, a->ai_addr, a->ai_addrlen);
      if (r != 0 && errno == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        r = ::poll(&p, 1, remaining_ms(deadline));
        int err = 0;
        socklen_t len = sizeof err;
        if (r > 0 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
          r = 0;
        } else {
          last_error = r == 0 ? "connection timed out" : std::strerror(err != 0 ? err : errno);
          r = -1;
        }
      } else if (r != 0) {
        last_error = std::strerror(errno);
      }
      if (r == 0) break;
      ::close(fd);
      fd = -1;
    }
    ::freeaddrinfo(res);
    if (fd < 0) fail_io("cannot connect: " + last_error);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }

  void connect_tls(Clock::time_point deadline) {
    ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (ssl_ctx == nullptr) fail_io("cannot create a TLS context: " + openssl_error());
    SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
    const int loaded = options.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ssl_ctx)
                                               : SSL_CTX_load_verify_locations(ssl_ctx, options.ca_file.c_str(), nullptr);
    if (loaded != 1) fail_io("cannot load trusted certificates: " + openssl_error());
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, nullptr);
    ssl = SSL_new(ssl_ctx);
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) fail_io("cannot create a TLS session: " + openssl_error());
    in6_addr ip6{};
    in_addr ip4{};
    const bool is_ip = ::inet_pton(AF_INET, url.host.c_str(), &ip4) == 1 || ::inet_pton(AF_INET6, url.host.c_str(), &ip6) == 1;
    if (is_ip) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str()) != 1) fail_io("cannot set the IP to verify");
    } else {
      // SSL_set_tlsext_host_name() is a macro with an old-style cast; this is what it expands to.
      SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(url.host.c_str()));
      if (SSL_set1_host(ssl, url.host.c_str()) != 1) fail_io("cannot set the host name to verify");
    }
    for (;;) {
      ERR_clear_error();
      const int r = SSL_connect(ssl);
      if (r == 1) break;
      const int err = SSL_get_error(ssl, r);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (!wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) fail_io("TLS handshake timed out");
        continue;
      }
      const long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK) fail_io(std::string("TLS certificate not trusted: ") + X509_verify_cert_error_string(verify));
      fail_io("TLS handshake failed: " + openssl_error());
    }
  }

  // Writes all of @p data before @p deadline.
  void write_all(std::string_view data, Clock::time_point deadline) {
    std::size_t done = 0;
    while (done < data.size()) {
      if (ssl != nullptr) {
        ERR_clear_error();
        std::size_t n = 0;
        const int r = SSL_write_ex(ssl, data.data() + done, data.size() - done, &n);
        if (r == 1) {
          done += n;
          continue;
        }
        const int err = SSL_get_error(ssl, r);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) fail_io("TLS write failed: " + openssl_error());
        if (!wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) fail_io("send timed out");
      } else {
        const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n > 0) {
          done += static_cast<std::size_t>(n);
          continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          fail_io(std::string("send failed: ") + std::strerror(errno));
        }
        if (!wait(POLLOUT, deadline)) fail_io("send timed out");
      }
    }
  }

  // Appends what arrives to `in`. Returns false if nothing came before @p deadline.
  bool read_more(Clock::time_point deadline) {
    char buf[16384];
    for (;;) {
      if (ssl != nullptr) {
        ERR_clear_error();
        std::size_t n = 0;
        const int r = SSL_read_ex(ssl, buf, sizeof buf, &n);
        if (r == 1) {
          in.append(buf, n);
          return true;
        }
        const int err = SSL_get_error(ssl, r);
        if (err == SSL_ERROR_ZERO_RETURN) fail_io("connection closed without a close frame");
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) fail_io("TLS read failed: " + openssl_error());
        if (!wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) return false;
      } else {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
          in.append(buf, static_cast<std::size_t>(n));
          return true;
        }
        if (n == 0) fail_io("connection closed without a close frame");
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) fail_io(std::string("receive failed: ") + std::strerror(errno));
        if (!wait(POLLIN, deadline)) return false;
      }
    }
  }

  void handshake(Clock::time_point deadline) {
    std::array<std::uint8_t, 16> nonce{};
    util::random_bytes(nonce.data(), nonce.size());
    const std::string key = util::base64_encode(std::string_view(reinterpret_cast<const char*>(nonce.data()), nonce.size()));
    const bool default_port = url.port == (url.tls ? 443 : 80);
    const bool v6 = url.host.find(':') != std::string::npos;
    std::string host = v6 ? "[" + url.host + "]" : url.host;
    if (!default_port) host += ":" + std::to_string(url.port);
    const std::string request = "GET " + url.target + " HTTP/1.1\r\nHost: " + host +
                                "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                                "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    write_all(request, deadline);
    std::size_t end = std::string::npos;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      if (in.size() > kMaxHandshakeResponse) fail_io("handshake response headers exceed 16 KiB");
      if (!read_more(deadline)) fail_io("handshake timed out");
    }
    const std::string head = in.substr(0, end);
    in.erase(0, end + 4);  // frames the server sent right after the response stay buffered
    std::size_t line_end = head.find("\r\n");
    const std::string status = head.substr(0, line_end);
    if (status.rfind("HTTP/1.1 101", 0) != 0) {
      fail_io("server refused the WebSocket upgrade: \"" + status.substr(0, 80) + "\"");
    }
    std::string upgrade, connection, accept;
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) fail_io("malformed handshake response header");
      const std::string name = lowered(trimmed(line.substr(0, colon)));
      const std::string value = trimmed(line.substr(colon + 1));
      if (name == "upgrade") upgrade = lowered(value);
      if (name == "connection") connection = lowered(value);
      if (name == "sec-websocket-accept") accept = value;
      // We offered no extension or subprotocol, so a server must not choose one (RFC 6455 4.1).
      if (name == "sec-websocket-extensions" || name == "sec-websocket-protocol") {
        fail_io("server chose a WebSocket extension or subprotocol that was not offered");
      }
    }
    if (upgrade != "websocket") fail_io("handshake response lacks \"Upgrade: websocket\"");
    if (connection.find("upgrade") == std::string::npos) fail_io("handshake response lacks \"Connection: Upgrade\"");
    const std::string expected_input = key + kAcceptGuid;
    std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
    SHA1(reinterpret_cast<const unsigned char*>(expected_input.data()), expected_input.size(), digest.data());
    const std::string expected = util::base64_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
    if (accept != expected) fail_io("handshake response has a wrong Sec-WebSocket-Accept");
  }

  void send_frame(std::uint8_t opcode, std::string_view payload, Clock::time_point deadline) {
    if (!open) throw Error(ErrorCode::io, "WebSocket is closed");
    std::string frame;
    frame.reserve(payload.size() + 14);
    frame.push_back(static_cast<char>(0x80 | opcode));  // FIN: this client never fragments
    if (payload.size() < 126) {
      frame.push_back(static_cast<char>(0x80 | payload.size()));
    } else if (payload.size() <= 0xffff) {
      frame.push_back(static_cast<char>(0x80 | 126));
      frame.push_back(static_cast<char>(payload.size() >> 8));
      frame.push_back(static_cast<char>(payload.size() & 0xff));
    } else {
      frame.push_back(static_cast<char>(0x80 | 127));
      for (int shift = 56; shift >= 0; shift -= 8) frame.push_back(static_cast<char>((payload.size() >> shift) & 0xff));
    }
    // Client frames are masked with a fresh unpredictable key (RFC 6455 5.3).
    std::array<std::uint8_t, 4> mask{};
    util::random_bytes(mask.data(), mask.size());
    frame.append(reinterpret_cast<const char*>(mask.data()), mask.size());
    const std::size_t at = frame.size();
    frame.append(payload);
    for (std::size_t i = 0; i < payload.size(); ++i) frame[at + i] = static_cast<char>(frame[at + i] ^ mask[i % 4]);
    write_all(frame, deadline);
  }

  // Closes after a protocol violation by the peer, then throws Error(invalid_format).
  [[noreturn]] void protocol_error(std::uint16_t code, const std::string& what) {
    send_close_quietly(code);
    shutdown_transport();
    throw Error(ErrorCode::invalid_format, "WebSocket " + url.host + ":" + std::to_string(url.port) + ": " + what);
  }

  void send_close_quietly(std::uint16_t code) noexcept {
    if (!open || close_sent) return;
    close_sent = true;
    const char payload[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
    try {
      send_frame(kWsClose, std::string_view(payload, 2), Clock::now() + std::chrono::seconds(2));
    } catch (...) {
      // The connection is going away either way.
    }
  }

  // Parses the complete frames in `in` and handles them (pings answered, pongs skipped, a
  // close or a protocol violation ends the connection). Returns a message once one is complete.
  std::optional<WebSocketMessage> parse_frames() {
    using Kind = WebSocketFrameEvent::Kind;
    while (open) {
      WebSocketFrameEvent e = reader.next(in);
      switch (e.kind) {
        case Kind::need_more:
          return std::nullopt;
        case Kind::ping:
          send_frame(kWsPong, e.payload, Clock::now() + options.send_timeout);
          continue;
        case Kind::pong:
          continue;
        case Kind::violation:
          protocol_error(e.close_code, e.reason);
        case Kind::close:
          peer_close = e.close_code;
          send_close_quietly(peer_close == 1005 ? 1000 : peer_close);
          shutdown_transport();
          throw Error(ErrorCode::io, "WebSocket " + url.host + ":" + std::to_string(url.port) +
                                         ": closed by the server (code " + std::to_string(peer_close) + ")");
        case Kind::message:
          return std::move(e.message);
      }
    }
    return std::nullopt;
  }
};

WebSocketClient::WebSocketClient(const std::string& url, const WebSocketOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->url = WebSocketUrl::parse(url);
  impl_->options = options;
  if (impl_->options.max_message_bytes == 0) throw Error(ErrorCode::invalid_argument, "max_message_bytes must be positive");
  impl_->reader = WebSocketFrameReader(impl_->options.max_message_bytes);
  const auto deadline = Clock::now() + options.connect_timeout;
  impl_->connect_tcp(deadline);
  if (impl_->url.tls) impl_->connect_tls(deadline);
  impl_->open = true;
  try {
    impl_->handshake(deadline);
  } catch (...) {
    impl_->shutdown_transport();
    throw;
  }
}

WebSocketClient::~WebSocketClient() { close(1001); }

void WebSocketClient::send_text(std::string_view text) {
  if (text.size() > impl_->options.max_message_bytes) {
    throw Error(ErrorCode::invalid_argument, "WebSocket message is longer than " +
                                                 std::to_string(impl_->options.max_message_bytes) + " bytes");
  }
  if (util::find_invalid_utf8(text) != std::string_view::npos) {
    throw Error(ErrorCode::invalid_argument, "WebSocket text message is not valid UTF-8");
  }
  impl_->send_frame(kWsText, text, Clock::now() + impl_->options.send_timeout);
}

void WebSocketClient::send_ping(std::string_view payload) {
  if (payload.size() > 125) throw Error(ErrorCode::invalid_argument, "WebSocket ping payload is longer than 125 bytes");
  impl_->send_frame(kWsPing, payload, Clock::now() + impl_->options.send_timeout);
}

std::optional<WebSocketMessage> WebSocketClient::receive(std::chrono::milliseconds timeout) {
  if (!impl_->open) throw Error(ErrorCode::io, "WebSocket is closed");
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto m = impl_->parse_frames()) return m;
    if (!impl_->read_more(deadline)) return std::nullopt;
  }
}

void WebSocketClient::close(std::uint16_t code) noexcept {
  if (!impl_ || !impl_->open) return;
  impl_->send_close_quietly(code);
  // Give the server a moment to answer with its close frame (RFC 6455 7.1.1: it closes the TCP
  // connection first), without letting a silent server hold us up.
  try {
    const auto deadline = Clock::now() + std::chrono::milliseconds(500);
    while (impl_->open && Clock::now() < deadline) {
      if (!impl_->read_more(deadline)) break;
      if (impl_->in.size() > 4096) break;
    }
  } catch (...) {
    // The server closed the connection: what we waited for.
  }
  impl_->shutdown_transport();
}

bool WebSocketClient::is_open() const noexcept { return impl_->open; }

std::uint16_t WebSocketClient::peer_close_code() const noexcept { return impl_->peer_close; }

}  // namespace petalsln::lightning
