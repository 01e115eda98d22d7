#include "net/websocket_frame.hpp"

#include <utility>

#include "util/utf8.hpp"

namespace petalsln::lightning {
namespace {

WebSocketFrameEvent violation(std::uint16_t code, std::string reason) {
  WebSocketFrameEvent e;
  e.kind = WebSocketFrameEvent::Kind::violation;
  e.close_code = code;
  e.reason = std::move(reason);
  return e;
}

WebSocketFrameEvent event(WebSocketFrameEvent::Kind kind) {
  WebSocketFrameEvent e;
  e.kind = kind;
  return e;
}

}  // namespace

WebSocketFrameEvent WebSocketFrameReader::next(std::string& in) {
  for (;;) {
    bool fragment = false;
    WebSocketFrameEvent e = read_frame(in, fragment);
    if (!fragment) return e;
    // A non-final fragment was consumed: the message continues in the frames after it.
  }
}

WebSocketFrameEvent WebSocketFrameReader::read_frame(std::string& in, bool& fragment) {
  using Kind = WebSocketFrameEvent::Kind;
  if (in.size() < 2) return event(Kind::need_more);
  const auto b0 = static_cast<std::uint8_t>(in[0]);
  const auto b1 = static_cast<std::uint8_t>(in[1]);
  const bool fin = (b0 & 0x80) != 0;
  const std::uint8_t opcode = b0 & 0x0f;
  if ((b0 & 0x70) != 0) return violation(1002, "frame has reserved bits set (no extension was negotiated)");
  if ((b1 & 0x80) != 0) return violation(1002, "server frames must not be masked");
  std::uint64_t len = b1 & 0x7f;
  std::size_t header = 2;
  if (len == 126) {
    if (in.size() < 4) return event(Kind::need_more);
    len = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(in[2])) << 8) | static_cast<std::uint8_t>(in[3]);
    header = 4;
  } else if (len == 127) {
    if (in.size() < 10) return event(Kind::need_more);
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<std::uint8_t>(in[static_cast<std::size_t>(2 + i)]);
    header = 10;
    if ((len >> 63) != 0) return violation(1002, "frame length has its most significant bit set");
  }
  const bool control = (opcode & 0x08) != 0;
  if (control && (!fin || len > 125)) return violation(1002, "control frame fragmented or longer than 125 bytes");
  if (!control && len > max_message_bytes_ - (in_message_ ? message_.size() : 0)) {
    return violation(1009, "message exceeds " + std::to_string(max_message_bytes_) + " bytes");
  }
  if (in.size() - header < len) return event(Kind::need_more);
  std::string payload = in.substr(header, static_cast<std::size_t>(len));
  in.erase(0, header + static_cast<std::size_t>(len));
  switch (opcode) {
    case kWsPing: {
      WebSocketFrameEvent e = event(Kind::ping);
      e.payload = std::move(payload);
      return e;
    }
    case kWsPong:
      return event(Kind::pong);
    case kWsClose: {
      if (payload.size() == 1) return violation(1002, "close frame with a 1-byte payload");
      WebSocketFrameEvent e = event(Kind::close);
      e.close_code = payload.size() >= 2 ? static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                                                       static_cast<std::uint8_t>(payload[1]))
                                         : 1005;
      return e;
    }
    case kWsText:
    case kWsBinary:
      if (in_message_) return violation(1002, "new message started before the fragmented one ended");
      in_message_ = true;
      message_binary_ = opcode == kWsBinary;
      message_ = std::move(payload);
      break;
    case kWsContinuation:
      if (!in_message_) return violation(1002, "continuation frame without a message to continue");
      message_ += payload;
      break;
    default:
      return violation(1002, "unknown opcode " + std::to_string(opcode));
  }
  if (!fin) {
    fragment = true;
    return event(Kind::need_more);
  }
  in_message_ = false;
  if (!message_binary_ && util::find_invalid_utf8(message_) != std::string_view::npos) {
    return violation(1007, "text message is not valid UTF-8");
  }
  WebSocketFrameEvent e = event(Kind::message);
  e.message = WebSocketMessage{message_binary_, std::move(message_)};
  message_.clear();
  return e;
}

}  // namespace petalsln::lightning
