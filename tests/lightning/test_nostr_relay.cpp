// The relay message parser NostrRelay reads through (split out of its I/O class so it can be
// fuzzed without a socket: fuzz/fuzz_nwc.cpp).
#include <doctest/doctest.h>

#include "lightning/wallet/nwc/nostr_relay.hpp"

using namespace petalsln::lightning;

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
