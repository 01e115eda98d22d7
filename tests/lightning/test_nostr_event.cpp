// Nostr events (NIP-01 serialization, ids, signatures, strict parsing) and
// nostr+walletconnect:// URIs.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "lightning/wallet/nwc/nostr_event.hpp"
#include "net/websocket_client.hpp"
#include "lightning/wallet/nwc/nwc_wallet.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"

using namespace petalsln;
using namespace petalsln::lightning;
using nlohmann::json;

namespace {

NostrSecretKey key(std::uint8_t last) {
  NostrSecretKey k{};
  k[31] = last;
  return k;
}

NostrEvent sample() {
  NostrEvent e;
  e.kind = 23194;
  e.created_at = 1700000000;
  e.tags = {{"p", std::string(64, 'a')}, {"encryption", "nip44_v2"}};
  e.content = "hi";
  sign_event(e, key(7));
  return e;
}

}  // namespace

TEST_CASE("nostr: serialization escapes exactly what NIP-01 lists") {
  NostrEvent e;
  e.pubkey = xonly_public_key(key(1));
  e.created_at = 12;
  e.kind = 1;
  e.tags = {{"t", "a\"b"}};
  e.content = std::string("\n\"\\\r\t\b\f/\x01") + "\xc3\xbc";
  CHECK(serialize_for_id(e) == "[0,\"" + util::to_hex(e.pubkey.data(), 32) +
                                   "\",12,1,[[\"t\",\"a\\\"b\"]],\"\\n\\\"\\\\\\r\\t\\b\\f/\x01\xc3\xbc\"]");
  e.content = "\xff";
  CHECK_THROWS_AS(serialize_for_id(e), Error);
}

TEST_CASE("nostr: signed events verify; any change breaks them") {
  const NostrEvent e = sample();
  CHECK(verify_event(e));
  CHECK(e.pubkey == xonly_public_key(key(7)));
  NostrEvent c = e;
  c.content = "hj";
  CHECK_FALSE(verify_event(c));
  c = e;
  c.tags[1][1] = "nip04";
  CHECK_FALSE(verify_event(c));
  c = e;
  c.sig[10] ^= 1;
  CHECK_FALSE(verify_event(c));
  // Re-hashed but signed by nobody: the id matches, the signature does not.
  c = e;
  c.created_at += 1;
  c.id = compute_event_id(c);
  CHECK_FALSE(verify_event(c));
}

TEST_CASE("nostr: parse_event round-trips and refuses malformed fields") {
  const NostrEvent e = sample();
  const json j = e.to_json();
  const NostrEvent p = parse_event(j);
  CHECK(p.id == e.id);
  CHECK(p.tags == e.tags);
  CHECK(verify_event(p));
  CHECK(p.tag_value("encryption") == std::optional<std::string>("nip44_v2"));
  CHECK_FALSE(p.tag_value("e").has_value());

  const auto refuses = [&](const char* field, json value, const char* says) {
    json bad = j;
    bad[field] = std::move(value);
    CAPTURE(field);
    CHECK_THROWS_WITH_AS(parse_event(bad), doctest::Contains(says), Error);
  };
  refuses("id", j["id"].get<std::string>().substr(2), "64 hex digits");
  refuses("pubkey", "AB" + j["pubkey"].get<std::string>().substr(2), "lower-case hex");
  refuses("sig", 5, "must be a string");
  refuses("kind", 70000, "kind");
  refuses("kind", -1, "kind");
  refuses("created_at", 1.5, "created_at");
  refuses("created_at", "1", "created_at");
  refuses("tags", json::array({json::array({"p", 1})}), "array of strings");
  refuses("tags", json::array({"p"}), "array of strings");
  refuses("content", json::object(), "content");
  json missing = j;
  missing.erase("sig");
  CHECK_THROWS_WITH_AS(parse_event(missing), doctest::Contains("sig"), Error);

  NostrEventLimits small;
  small.max_tags = 1;
  CHECK_THROWS_WITH_AS(parse_event(j, small), doctest::Contains("more than 1 tags"), Error);
  small = {};
  small.max_content_bytes = 1;
  CHECK_THROWS_WITH_AS(parse_event(j, small), doctest::Contains("content is longer"), Error);
}

TEST_CASE("websocket: URL parsing") {
  auto u = WebSocketUrl::parse("wss://relay.example.com/path?x=1");
  CHECK(u.tls);
  CHECK(u.host == "relay.example.com");
  CHECK(u.port == 443);
  CHECK(u.target == "/path?x=1");
  u = WebSocketUrl::parse("WS://[::1]:7000");
  CHECK_FALSE(u.tls);
  CHECK(u.host == "::1");
  CHECK(u.port == 7000);
  CHECK(u.target == "/");
  CHECK(WebSocketUrl::parse("ws://h?q").target == "/?q");
  for (const char* bad : {"http://h/", "ws://", "ws://h:", "ws://h:0", "ws://h:65536", "ws://u@h", "ws://h/#f",
                          "ws://h h", "ws://[::1", "ws://h\x01"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(WebSocketUrl::parse(bad), Error);
  }
}

TEST_CASE("nwc: URI parsing") {
  const std::string pk = util::to_hex(xonly_public_key(key(9)).data(), 32);
  const std::string secret = std::string(62, '0') + "0b";
  const NwcUri u = NwcUri::parse("nostr+walletconnect://" + pk + "?relay=wss%3A%2F%2Frelay.example%2Fv1&relay=ws://127.0.0.1:7&secret=" +
                                 secret + "&lud16=a%40b.c&other=1");
  CHECK(u.relays == std::vector<std::string>{"wss://relay.example/v1", "ws://127.0.0.1:7"});
  CHECK(u.secret == key(11));
  CHECK(u.lud16 == "a@b.c");
  CHECK(u.describe() == "nostr+walletconnect://" + pk + "?relay=wss://relay.example/v1&relay=ws://127.0.0.1:7");
  CHECK(NwcUri::parse("nostr+walletconnect:" + pk + "?relay=ws://h&secret=" + secret).relays.size() == 1);

  const auto refuses = [&](const std::string& uri, const char* says) {
    CAPTURE(uri);
    try {
      NwcUri::parse(uri);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_argument);
      CHECK(std::string(e.what()).find(says) != std::string::npos);
      CHECK(std::string(e.what()).find(secret.substr(0, 60)) == std::string::npos);
    }
  };
  const std::string q = "?relay=ws://h&secret=" + secret;
  refuses("nostr+walletconnect://" + pk.substr(1) + q, "64 hex digits");
  refuses("nostr+walletconnect://" + std::string(64, 'f') + q, "not a point");
  refuses("nostr+walletconnect://" + pk + "?secret=" + secret, "missing 'relay'");
  refuses("nostr+walletconnect://" + pk + "?relay=ws://h", "missing 'secret'");
  refuses("nostr+walletconnect://" + pk + "?relay=https://h&secret=" + secret, "ws:// or wss://");
  refuses("nostr+walletconnect://" + pk + "?relay=ws://h&secret=" + secret.substr(0, 63), "64 hex digits");
  refuses("nostr+walletconnect://" + pk + "?relay=ws://h&secret=" + std::string(64, '0'), "not a valid secp256k1");
  refuses("nostr+walletconnect://" + pk + q + "&secret=" + secret, "more than one");
  refuses("nostr+walletconnect://" + pk + "?relay=ws%3&secret=" + secret, "percent-escape");
  refuses("lnbits://" + pk + q, "not a nostr+walletconnect");
}

TEST_CASE("nwc: open_wallet knows the scheme and describe() hides the secret") {
  const std::string pk = util::to_hex(xonly_public_key(key(9)).data(), 32);
  const std::string secret = std::string(62, '0') + "0b";
  const auto w = open_wallet("nostr+walletconnect://" + pk + "?relay=ws://127.0.0.1:9&secret=" + secret);
  CHECK(w->describe().find(secret) == std::string::npos);
  CHECK(w->describe().find(pk) != std::string::npos);
  CHECK_THROWS_AS(open_wallet("nostr+walletconnect://" + pk + "?relay=ws://127.0.0.1:9"), Error);
}
