// Fuzzes WebSocket frame reassembly (the bytes a Nostr relay, or anything posing as one,
// sends). The input is split into chunks at the positions its first byte suggests, so
// frames that arrive in pieces are exercised too.
#include <string>

#include "fuzz_common.hpp"
#include "net/websocket_frame.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace petalsln::lightning;
  using Kind = WebSocketFrameEvent::Kind;
  if (size < 2) return 0;
  // A small limit, so the size checks (and their arithmetic) are reached by short inputs.
  const std::size_t max_message = 1 + data[0] * 4u;
  const std::size_t chunk = 1 + (data[1] & 0x3f);
  WebSocketFrameReader reader(max_message);
  std::string in;
  for (std::size_t at = 2; at < size; at += chunk) {
    in.append(reinterpret_cast<const char*>(data + at), std::min(chunk, size - at));
    for (;;) {
      const std::size_t before = in.size();
      const WebSocketFrameEvent e = reader.next(in);
      if (e.kind == Kind::violation || e.kind == Kind::close) return 0;  // the connection ends here
      if (e.kind == Kind::message) {
        petalsln::fuzz::require(e.message.data.size() <= max_message, "WebSocket message above the limit");
      }
      if (e.kind == Kind::need_more) break;
      petalsln::fuzz::require(in.size() < before, "WebSocket reader returned an event without consuming bytes");
    }
  }
  return 0;
}
