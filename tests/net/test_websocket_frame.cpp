// WebSocket frame reassembly (WebSocketFrameReader), without a socket, and the relay message
// parser the Nostr relay connection reads through. Both were split out of their I/O classes
// so they can be fuzzed (fuzz/fuzz_websocket_frame.cpp, fuzz/fuzz_nwc.cpp).
#include <doctest/doctest.h>

#include <string>

#include "lightning/wallet/nwc/nostr_relay.hpp"
#include "net/websocket_frame.hpp"

using namespace petalsln::lightning;
using Kind = WebSocketFrameEvent::Kind;

namespace {

std::string frame(std::uint8_t b0, const std::string& payload) {
  std::string f(1, static_cast<char>(b0));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(payload.size()));
  } else {
    f += {static_cast<char>(126), static_cast<char>(payload.size() >> 8), static_cast<char>(payload.size() & 0xff)};
  }
  return f + payload;
}

}  // namespace

TEST_CASE("websocket frames: a text message, then nothing until more bytes arrive") {
  WebSocketFrameReader reader(1024);
  std::string in = frame(0x81, "hello") + frame(0x81, "wor").substr(0, 3);
  WebSocketFrameEvent e = reader.next(in);
  REQUIRE(e.kind == Kind::message);
  CHECK_FALSE(e.message.binary);
  CHECK(e.message.data == "hello");
  CHECK(reader.next(in).kind == Kind::need_more);
  CHECK(in.size() == 3);  // the partial frame stays buffered
  in += "or";
  e = reader.next(in);
  REQUIRE(e.kind == Kind::message);
  CHECK(e.message.data == "wor");
  CHECK(in.empty());
}

TEST_CASE("websocket frames: fragments join, with a ping between them; 16-bit lengths") {
  WebSocketFrameReader reader(4096);
  const std::string big(300, 'x');
  std::string in = frame(0x02, "ab") + frame(0x89, "p") + frame(0x00, big) + frame(0x80, "cd");
  WebSocketFrameEvent e = reader.next(in);
  REQUIRE(e.kind == Kind::ping);
  CHECK(e.payload == "p");
  e = reader.next(in);
  REQUIRE(e.kind == Kind::message);
  CHECK(e.message.binary);
  CHECK(e.message.data == "ab" + big + "cd");
  CHECK(reader.next(in).kind == Kind::need_more);
}

TEST_CASE("websocket frames: close codes") {
  WebSocketFrameReader reader(64);
  std::string in = frame(0x88, std::string("\x03\xe9", 2) + "going");
  WebSocketFrameEvent e = reader.next(in);
  REQUIRE(e.kind == Kind::close);
  CHECK(e.close_code == 1001);
  std::string empty = frame(0x88, "");
  CHECK(WebSocketFrameReader(64).next(empty).close_code == 1005);
}

TEST_CASE("websocket frames: protocol violations name the close code") {
  const auto violation = [](std::string in, std::size_t limit = 64) {
    WebSocketFrameReader reader(limit);
    WebSocketFrameEvent e = reader.next(in);
    while (e.kind == Kind::message || e.kind == Kind::ping || e.kind == Kind::pong) e = reader.next(in);
    return e.kind == Kind::violation ? e.close_code : 0;
  };
  CHECK(violation(frame(0xc1, "x")) == 1002);                       // reserved bit
  CHECK(violation(std::string("\x81\x81", 2) + "mask" + "x") == 1002);  // masked server frame
  CHECK(violation(frame(0x09, "p")) == 1002);                       // fragmented control frame
  CHECK(violation(frame(0x89, std::string(126, 'p'))) == 1002);     // control frame > 125 bytes
  CHECK(violation(frame(0x80, "x")) == 1002);                       // continuation of nothing
  CHECK(violation(frame(0x01, "a") + frame(0x81, "b")) == 1002);    // new message mid-message
  CHECK(violation(frame(0x83, "x")) == 1002);                       // unknown opcode
  CHECK(violation(frame(0x88, "x")) == 1002);                       // 1-byte close payload
  CHECK(violation(std::string("\x81\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10)) == 1002);  // 64-bit length, top bit
  CHECK(violation(frame(0x81, "\xff")) == 1007);                    // text not UTF-8
  CHECK(violation(frame(0x81, std::string(65, 'x'))) == 1009);      // above the limit
  CHECK(violation(frame(0x01, std::string(40, 'x')) + frame(0x80, std::string(40, 'x'))) == 1009);
}

TEST_CASE("relay messages: known types with their fields, anything else is other") {
  RelayMessage m = parse_relay_message(R"(["EVENT","sub",{"kind":1}])");
  CHECK(m.type == RelayMessage::Type::event);
  CHECK(m.subscription == "sub");
  CHECK(m.event["kind"] == 1);
  m = parse_relay_message(R"(["OK","ab",false,"blocked:\u0007"])");
  CHECK(m.type == RelayMessage::Type::ok);
  CHECK_FALSE(m.accepted);
  CHECK(m.text == "blocked:?");
  CHECK(parse_relay_message(R"(["EOSE","s"])").type == RelayMessage::Type::eose);
  CHECK(parse_relay_message(R"(["CLOSED","s","x"])").type == RelayMessage::Type::closed);
  CHECK(parse_relay_message(R"(["NOTICE"])").type == RelayMessage::Type::notice);
  for (const char* other : {"", "not json", "{}", "[]", "[1]", R"(["EVENT","s"])", R"(["OK","id","yes"])", R"(["AUTH","c"])"}) {
    CHECK(parse_relay_message(other).type == RelayMessage::Type::other);
  }
}
