// The WebSocket client (Boost.Beast underneath) against a loopback server run by the test that
// writes raw frames, so that malformed ones can be sent too: reassembly of fragments and of
// frames split across reads, pings, close codes, the protocol violations and the size limit
// (each answered with the close code RFC 6455 names), and failed opening handshakes.
// tests/nwc/test_nwc.py runs the same client against npm `ws` over ws:// and wss://.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "net/websocket_client.hpp"
#include "petalsln/util/error.hpp"
#include "util/base64.hpp"

using petalsln::Error;
using petalsln::ErrorCode;
using namespace petalsln::lightning;
using namespace std::chrono_literals;

namespace {

// A server frame (never masked) with @p b0 as its first byte: FIN, reserved bits, opcode.
std::string frame(std::uint8_t b0, const std::string& payload) {
  std::string f(1, static_cast<char>(b0));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(payload.size()));
  } else {
    f += {static_cast<char>(126), static_cast<char>(payload.size() >> 8), static_cast<char>(payload.size() & 0xff)};
  }
  return f + payload;
}

// The Sec-WebSocket-Accept value for @p key (RFC 6455 4.2.2).
std::string accept_for(const std::string& key) {
  const std::string in = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  return petalsln::util::base64_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

// The upgrade reply a conforming server sends; "{accept}" is replaced by the right value.
const std::string kUpgrade =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n";

// One client frame as the server received it (unmasked).
struct ClientFrame {
  int opcode = 0;
  std::string payload;
};

// Serves one WebSocket connection on 127.0.0.1: answers the upgrade with @p upgrade_reply (or
// never, if nullopt), then writes whatever send() is given and records the client's frames.
// It answers the client's close frame with a close frame and ends the connection, as RFC 6455
// asks of a server, unless @p answers_close is false.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::optional<std::string> upgrade_reply = kUpgrade, bool answers_close = true)
      : reply_(std::move(upgrade_reply)), answers_close_(answers_close) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd_, 1) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/"; }

  // Writes @p bytes to the client once the upgrade is done.
  void send(const std::string& bytes) {
    std::unique_lock<std::mutex> lock(mutex_);
    REQUIRE(changed_.wait_for(lock, 5s, [&] { return conn_fd_ >= 0; }));
    write_all(bytes);
  }

  // Waits up to 5 s for a client frame with @p opcode; returns it (nullopt if none came).
  std::optional<ClientFrame> wait_for(int opcode) {
    std::unique_lock<std::mutex> lock(mutex_);
    std::optional<ClientFrame> found;
    changed_.wait_for(lock, 5s, [&] {
      for (const auto& f : frames_) {
        if (f.opcode == opcode) found = f;
      }
      return found.has_value();
    });
    return found;
  }

  // The code of the client's close frame (0 if none came within 5 s, 1005 if it had none).
  int client_close_code() {
    const auto close = wait_for(8);
    if (!close) return 0;
    if (close->payload.size() < 2) return 1005;
    return (static_cast<std::uint8_t>(close->payload[0]) << 8) | static_cast<std::uint8_t>(close->payload[1]);
  }

 private:
  void write_all(const std::string& bytes) {
    for (std::size_t off = 0; off < bytes.size();) {
      const ssize_t n = ::send(conn_fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }

  // Reads from @p fd into @p in for up to 100 ms. Returns false once the peer is gone.
  static bool read_some(int fd, std::string& in) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) return true;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  void serve() {
    int fd = -1;
    while (!stop_ && fd < 0) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) fd = ::accept(listen_fd_, nullptr, nullptr);
    }
    if (fd < 0) return;
    std::string in;
    bool alive = true;
    while (alive && !stop_ && in.find("\r\n\r\n") == std::string::npos) alive = read_some(fd, in);
    if (alive && reply_ && !stop_) {
      std::string reply = *reply_;
      const std::size_t at = reply.find("{accept}");
      if (at != std::string::npos) reply.replace(at, 8, accept_for(header(in, "sec-websocket-key")));
      in.erase(0, in.find("\r\n\r\n") + 4);
      std::lock_guard<std::mutex> lock(mutex_);
      conn_fd_ = fd;
      write_all(reply);
      changed_.notify_all();
    }
    // Without a reply the client is left waiting (until it gives up and disconnects).
    while (alive && !stop_) alive = read_some(fd, in) && (!reply_ || read_frames(in));
    std::lock_guard<std::mutex> lock(mutex_);
    ::close(fd);
    conn_fd_ = -1;
  }

  // Records the complete client frames in @p in. Returns false after a close frame (answered).
  bool read_frames(std::string& in) {
    while (in.size() >= 2) {
      const auto b1 = static_cast<std::uint8_t>(in[1]);
      std::size_t len = b1 & 0x7f, at = 2;
      if (len == 126) {
        if (in.size() < 4) return true;
        len = static_cast<std::size_t>((static_cast<std::uint8_t>(in[2]) << 8) | static_cast<std::uint8_t>(in[3]));
        at = 4;
      }
      if (len == 127 || (b1 & 0x80) == 0) return false;  // the tests send nothing longer; clients mask
      if (in.size() < at + 4 + len) return true;
      ClientFrame f{static_cast<std::uint8_t>(in[0]) & 0x0f, in.substr(at + 4, len)};
      for (std::size_t i = 0; i < len; ++i) f.payload[i] = static_cast<char>(f.payload[i] ^ in[at + i % 4]);
      in.erase(0, at + 4 + len);
      std::lock_guard<std::mutex> lock(mutex_);
      frames_.push_back(f);
      changed_.notify_all();
      if (f.opcode == 8 && answers_close_) {
        write_all(frame(0x88, f.payload.substr(0, 2)));
        ::shutdown(conn_fd_, SHUT_WR);
        return false;
      }
    }
    return true;
  }

  // The value of header @p name (lower case) in the request @p request.
  static std::string header(const std::string& request, const std::string& name) {
    std::string lowered = request;
    for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::size_t at = lowered.find("\r\n" + name + ":");
    if (at == std::string::npos) return {};
    const std::size_t start = request.find_first_not_of(' ', at + name.size() + 3);
    return request.substr(start, request.find("\r\n", start) - start);
  }

  std::optional<std::string> reply_;
  bool answers_close_;
  int listen_fd_ = -1;
  int conn_fd_ = -1;  // set once the upgrade reply went out; guarded by mutex_
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<ClientFrame> frames_;
  std::thread thread_;
};

WebSocketOptions limit(std::size_t max_message_bytes) {
  WebSocketOptions o;
  o.max_message_bytes = max_message_bytes;
  o.connect_timeout = 3s;
  return o;
}

// What receive() threw when @p bytes arrived, and the close code the client sent back.
struct Violation {
  ErrorCode error = ErrorCode::io;
  int close_code = 0;
  bool operator==(const Violation& o) const { return error == o.error && close_code == o.close_code; }
};

Violation violation(const std::string& bytes, std::size_t max_message_bytes = 64) {
  ScriptedServer server;
  WebSocketClient ws(server.url(), limit(max_message_bytes));
  server.send(bytes);
  for (int i = 0; i < 4; ++i) {  // messages before the bad frame, if any, come out first
    try {
      if (!ws.receive(3s)) break;
    } catch (const Error& e) {
      CHECK_FALSE(ws.is_open());
      return {e.code(), server.client_close_code()};
    }
  }
  FAIL("no error for a bad frame");
  return {};
}

std::string thrown_by_connect(const std::optional<std::string>& upgrade_reply, ErrorCode expected = ErrorCode::io) {
  ScriptedServer server(upgrade_reply);
  WebSocketOptions options = limit(1024);
  options.connect_timeout = 300ms;
  try {
    WebSocketClient ws(server.url(), options);
  } catch (const Error& e) {
    CHECK(e.code() == expected);
    return e.what();
  }
  FAIL("connected");
  return {};
}

}  // namespace

TEST_CASE("websocket: a text message, then nothing until the rest of a split frame arrives") {
  ScriptedServer server;
  WebSocketClient ws(server.url(), limit(1024));
  server.send(frame(0x81, "hello") + frame(0x81, "wor").substr(0, 3));
  auto m = ws.receive(3s);
  REQUIRE(m);
  CHECK_FALSE(m->binary);
  CHECK(m->data == "hello");
  CHECK_FALSE(ws.receive(100ms));  // the partial frame stays buffered
  server.send("or");
  m = ws.receive(3s);
  REQUIRE(m);
  CHECK(m->data == "wor");
  CHECK(ws.is_open());
}

TEST_CASE("websocket: fragments join, a ping between them is answered; 16-bit lengths") {
  ScriptedServer server;
  WebSocketClient ws(server.url(), limit(4096));
  const std::string big(300, 'x');
  server.send(frame(0x02, "ab") + frame(0x89, "p") + frame(0x00, big) + frame(0x80, "cd"));
  const auto m = ws.receive(3s);
  REQUIRE(m);
  CHECK(m->binary);
  CHECK(m->data == "ab" + big + "cd");
  const auto pong = server.wait_for(10);
  REQUIRE(pong);
  CHECK(pong->payload == "p");
}

TEST_CASE("websocket: the server's close code is reported and echoed") {
  ScriptedServer server;
  WebSocketClient ws(server.url(), limit(64));
  server.send(frame(0x88, std::string("\x03\xe9", 2) + "going"));
  CHECK_THROWS_WITH_AS(ws.receive(3s), doctest::Contains("closed by the server (code 1001)"), Error);
  CHECK(ws.peer_close_code() == 1001);
  CHECK_FALSE(ws.is_open());
  CHECK(server.client_close_code() == 1001);
  CHECK_THROWS_AS(ws.receive(10ms), Error);

  ScriptedServer silent_code;
  WebSocketClient ws2(silent_code.url(), limit(64));
  silent_code.send(frame(0x88, ""));
  CHECK_THROWS_AS(ws2.receive(3s), Error);
  CHECK(ws2.peer_close_code() == 1005);  // none sent
  CHECK(silent_code.client_close_code() == 1000);
}

TEST_CASE("websocket: protocol violations close with the code RFC 6455 names") {
  const Violation protocol{ErrorCode::invalid_format, 1002};
  const Violation too_big{ErrorCode::invalid_format, 1009};
  CHECK(violation(frame(0xc1, "x")) == protocol);                       // reserved bit
  CHECK(violation(std::string("\x81\x81", 2) + "mask" + "x") == protocol);  // masked server frame
  CHECK(violation(frame(0x09, "p")) == protocol);                       // fragmented control frame
  CHECK(violation(frame(0x89, std::string(126, 'p'))) == protocol);     // control frame > 125 bytes
  CHECK(violation(frame(0x80, "x")) == protocol);                       // continuation of nothing
  CHECK(violation(frame(0x01, "a") + frame(0x81, "b")) == protocol);    // new message mid-message
  CHECK(violation(frame(0x83, "x")) == protocol);                       // unknown opcode
  CHECK(violation(frame(0x88, "x")) == protocol);                       // 1-byte close payload
  CHECK(violation(frame(0x81, "\xff")) == Violation{ErrorCode::invalid_format, 1007});  // text not UTF-8
  CHECK(violation(frame(0x81, std::string(65, 'x'))) == too_big);       // above the limit
  CHECK(violation(frame(0x01, std::string(40, 'x')) + frame(0x80, std::string(40, 'x'))) == too_big);
  // A 64-bit length with its top bit set: Beast measures it against the limit first (the
  // hand-written reader called it a protocol error, 1002).
  CHECK(violation(std::string("\x81\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10)) == too_big);
}

TEST_CASE("websocket: a server that breaks the protocol and then ignores the close is left soon") {
  ScriptedServer server(kUpgrade, false);
  WebSocketClient ws(server.url(), limit(64));
  server.send(frame(0x83, "x"));
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH_AS(ws.receive(30s), doctest::Contains("did not end the connection"), Error);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(server.client_close_code() == 1002);
}

TEST_CASE("websocket: the error names the size limit and bad UTF-8") {
  ScriptedServer server;
  WebSocketClient ws(server.url(), limit(1000));
  server.send(frame(0x81, std::string(1001, 'x')).substr(0, 200));
  CHECK_THROWS_WITH_AS(ws.receive(3s), doctest::Contains("exceeds 1000 bytes"), Error);
  ScriptedServer utf8;
  WebSocketClient ws2(utf8.url(), limit(1000));
  utf8.send(frame(0x81, "h\xc3\x28"));
  CHECK_THROWS_WITH_AS(ws2.receive(3s), doctest::Contains("UTF-8"), Error);
}

TEST_CASE("websocket: sends are masked text frames and pings; bad ones are refused before sending") {
  ScriptedServer server;
  WebSocketClient ws(server.url(), limit(16));
  ws.send_text("ünï");
  ws.send_ping("are you there");
  const auto text = server.wait_for(1);
  REQUIRE(text);
  CHECK(text->payload == "ünï");
  const auto ping = server.wait_for(9);
  REQUIRE(ping);
  CHECK(ping->payload == "are you there");
  const auto code_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::internal;
  };
  CHECK(code_of([&] { ws.send_text(std::string(17, 'x')); }) == ErrorCode::invalid_argument);
  CHECK(code_of([&] { ws.send_text("\xff"); }) == ErrorCode::invalid_argument);
  CHECK(code_of([&] { ws.send_ping(std::string(126, 'p')); }) == ErrorCode::invalid_argument);
  ws.close();
  CHECK_FALSE(ws.is_open());
  CHECK(server.client_close_code() == 1000);
  CHECK(code_of([&] { ws.send_text("late"); }) == ErrorCode::io);
}

TEST_CASE("websocket: failed opening handshakes are io errors that say why") {
  CHECK(thrown_by_connect("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n")
            .find("Sec-WebSocket-Accept") != std::string::npos);
  CHECK(thrown_by_connect("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n").find("403") != std::string::npos);
  const std::string extension = kUpgrade.substr(0, kUpgrade.size() - 2) + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
  CHECK(thrown_by_connect(extension).find("extension") != std::string::npos);
  CHECK(thrown_by_connect(std::nullopt).find("handshake timed out") != std::string::npos);
}
