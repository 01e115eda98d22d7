#pragma once
// A small blocking WebSocket client on Boost.Beast: ws:// over TCP and wss:// over TLS
// (OpenSSL through Boost.Asio, verified against the system's trust store or a CA file, with
// the host name or IP address checked). Enough for Nostr relays: text and binary messages,
// fragmentation, ping/pong, close, a limit on message size, and a deadline on every wait.
// Beast's headers stay in the .cpp (they are heavy to compile); this header is all callers see.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace petalsln::lightning {

/// The parts of a ws:// or wss:// URL.
struct WebSocketUrl {
  bool tls = false;        ///< wss://
  std::string host;        ///< Host name or IP address (IPv6 without brackets).
  std::uint16_t port = 0;  ///< Explicit port, or 80 / 443.
  std::string target;      ///< Path and query, "/" when absent.

  /// Parses @p url: scheme ws or wss (any case), a host, an optional port 1..65535, an
  /// optional path and query; no user info, no fragment, at most 2048 characters, no spaces
  /// or control characters. Throws Error(invalid_argument) naming what is wrong.
  static WebSocketUrl parse(std::string_view url);
};

/// Connection settings.
struct WebSocketOptions {
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};  ///< TCP, TLS and upgrade handshake together.
  std::chrono::milliseconds send_timeout{std::chrono::seconds(10)};     ///< Per send().
  std::size_t max_message_bytes = 1u << 20;  ///< Longer messages (all fragments together) close the connection.
  std::string ca_file;  ///< PEM file of trusted CAs for wss:// instead of the system store (tests).
};

/// One received data message.
struct WebSocketMessage {
  bool binary = false;  ///< Opcode 2; text (opcode 1, valid UTF-8) otherwise.
  std::string data;
};

/// A client connection. Not thread-safe: one user at a time (callers hold their own lock).
class WebSocketClient {
 public:
  /// Connects to @p url and completes the opening handshake (Sec-WebSocket-Accept checked).
  /// Throws Error(invalid_argument) for a bad URL, Error(io) if the server cannot be reached,
  /// the certificate does not verify, the handshake fails or @p options.connect_timeout passes.
  WebSocketClient(const std::string& url, const WebSocketOptions& options = {});
  ~WebSocketClient();
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  /// Sends @p text as one masked text frame. Throws Error(io) if the connection is closed or
  /// fails, Error(invalid_argument) if @p text is not UTF-8 or exceeds max_message_bytes.
  void send_text(std::string_view text);

  /// Sends a ping with @p payload (at most 125 bytes). Throws like send_text().
  void send_ping(std::string_view payload = {});

  /// Waits up to @p timeout for the next data message, answering pings and skipping pongs
  /// meanwhile. Returns nullopt if none completed in time (a partial message stays buffered).
  /// Throws Error(io) once the peer closed the connection or it failed, Error(invalid_format)
  /// (after closing with 1002/1007/1009) if the peer broke the protocol or the size limit.
  std::optional<WebSocketMessage> receive(std::chrono::milliseconds timeout);

  /// Sends a close frame with @p code (if still open), waits briefly for the peer's, and
  /// shuts the connection. Never throws.
  void close(std::uint16_t code = 1000) noexcept;

  /// True until the connection is closed by either side or fails.
  bool is_open() const noexcept;

  /// The close code the peer sent (0 if none yet, 1005 if it sent none).
  std::uint16_t peer_close_code() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace petalsln::lightning
