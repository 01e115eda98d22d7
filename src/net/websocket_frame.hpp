#pragma once
// The receiving half of RFC 6455 framing, with no socket: bytes in, events out. The
// WebSocket client feeds it what it reads; keeping it pure lets it be tested and fuzzed
// without a server.

#include <cstddef>
#include <cstdint>
#include <string>

#include "net/websocket_client.hpp"

namespace petalsln::lightning {

/// Frame opcodes (RFC 6455 section 5.2).
enum WebSocketOpcode : std::uint8_t {
  kWsContinuation = 0,
  kWsText = 1,
  kWsBinary = 2,
  kWsClose = 8,
  kWsPing = 9,
  kWsPong = 10,
};

/// What the next complete frame at the front of the buffer amounted to.
struct WebSocketFrameEvent {
  enum class Kind {
    need_more,  ///< No complete frame (or message) yet: read more bytes.
    ping,       ///< A ping: answer with a pong carrying @ref payload.
    pong,       ///< A pong: nothing to do.
    close,      ///< The peer closed with @ref close_code (1005 if it sent none).
    message,    ///< A complete data message in @ref message.
    violation,  ///< The peer broke the protocol: close with @ref close_code, @ref reason says why.
  };
  Kind kind = Kind::need_more;
  std::string payload;           ///< ping: the bytes to echo.
  std::uint16_t close_code = 0;  ///< close, violation.
  std::string reason;            ///< violation: what was wrong.
  WebSocketMessage message;      ///< message.
};

/// Reassembles server-to-client frames into messages: unmasked frames, no extensions,
/// control frames of at most 125 bytes and never fragmented, data messages of at most
/// max_message_bytes over all their fragments, text valid UTF-8. Not thread-safe.
class WebSocketFrameReader {
 public:
  /// A reader that refuses data messages longer than @p max_message_bytes (> 0).
  explicit WebSocketFrameReader(std::size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  /// Consumes the first complete frame of @p in, if there is one, and returns what it
  /// means; the fragments of a message are consumed together, up to its last one. Leaves
  /// the incomplete frame at the front of @p in when it returns need_more. After a violation the
  /// connection is unusable (call no more).
  WebSocketFrameEvent next(std::string& in);

 private:
  // Consumes at most one frame; sets @p fragment when it was a non-final data fragment.
  WebSocketFrameEvent read_frame(std::string& in, bool& fragment);

  std::size_t max_message_bytes_;
  // A message arriving in fragments: opcode of its first frame and the bytes so far.
  bool in_message_ = false;
  bool message_binary_ = false;
  std::string message_;
};

}  // namespace petalsln::lightning
