// NIP-44 v2 against the official vectors (paulmillr/nip44, nip44.vectors.json): every valid
// vector reproduces its conversation key, message keys, padded length and payload, and every
// invalid one is refused. Also NIP-04. (BIP-340 itself is tested in tests/util/test_schnorr.cpp.)
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "lightning/wallet/nwc/nip04.hpp"
#include "lightning/wallet/nwc/nip44.hpp"
#include "lightning/wallet/nwc/nostr_keys.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "test_support.hpp"
#include "util/sha256.hpp"

using namespace petalsln;
using namespace petalsln::lightning;
using nlohmann::json;

namespace {

const json& vectors() {
  static const json v = json::parse(test::slurp(std::string(PETALSLN_SOURCE_DIR) + "/tests/lightning/nip44_vectors.json"));
  return v;
}

template <std::size_t N>
std::array<std::uint8_t, N> arr(const std::string& hex) {
  std::array<std::uint8_t, N> out{};
  util::from_hex_into(hex, out.data(), N);
  return out;
}

template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& a) {
  return util::to_hex(a.data(), a.size());
}

std::string repeat(const std::string& pattern, std::size_t n) {
  std::string s;
  s.reserve(pattern.size() * n);
  for (std::size_t i = 0; i < n; ++i) s += pattern;
  return s;
}

}  // namespace

TEST_CASE("nip44: the vector file is the official one, complete") {
  const auto& v2 = vectors().at("v2");
  CHECK(v2.at("valid").at("get_conversation_key").size() == 35);
  CHECK(v2.at("valid").at("encrypt_decrypt").size() == 10);
  CHECK(v2.at("invalid").at("decrypt").size() == 12);
}

TEST_CASE("nip44: conversation keys of every valid vector") {
  for (const auto& v : vectors()["v2"]["valid"]["get_conversation_key"]) {
    CAPTURE(v.dump());
    const auto key = nip44::conversation_key(arr<32>(v["sec1"]), arr<32>(v["pub2"]));
    CHECK(hex(key) == v["conversation_key"].get<std::string>());
  }
}

TEST_CASE("nip44: invalid conversation key inputs are refused") {
  for (const auto& v : vectors()["v2"]["invalid"]["get_conversation_key"]) {
    CAPTURE(v["note"].get<std::string>());
    CHECK_THROWS_AS(nip44::conversation_key(arr<32>(v["sec1"]), arr<32>(v["pub2"])), Error);
  }
}

TEST_CASE("nip44: message keys") {
  const auto& mk = vectors()["v2"]["valid"]["get_message_keys"];
  const auto ck = arr<32>(mk["conversation_key"]);
  for (const auto& v : mk["keys"]) {
    const auto keys = nip44::message_keys(ck, arr<32>(v["nonce"]));
    CHECK(hex(keys.chacha_key) == v["chacha_key"].get<std::string>());
    CHECK(hex(keys.chacha_nonce) == v["chacha_nonce"].get<std::string>());
    CHECK(hex(keys.hmac_key) == v["hmac_key"].get<std::string>());
  }
}

TEST_CASE("nip44: calc_padded_len") {
  for (const auto& v : vectors()["v2"]["valid"]["calc_padded_len"]) {
    CHECK(nip44::padded_length(v[0].get<std::size_t>()) == v[1].get<std::size_t>());
  }
  CHECK_THROWS_AS(nip44::padded_length(0), Error);
  CHECK_THROWS_AS(nip44::encrypt(std::string(65536, 'a'), nip44::ConversationKey{}), Error);
}

TEST_CASE("nip44: encrypt and decrypt every valid vector, from both sides") {
  for (const auto& v : vectors()["v2"]["valid"]["encrypt_decrypt"]) {
    CAPTURE(v["plaintext"].get<std::string>());
    const auto sec1 = arr<32>(v["sec1"]);
    const auto sec2 = arr<32>(v["sec2"]);
    const auto ck = nip44::conversation_key(sec1, xonly_public_key(sec2));
    CHECK(hex(ck) == v["conversation_key"].get<std::string>());
    CHECK(nip44::conversation_key(sec2, xonly_public_key(sec1)) == ck);
    const auto nonce = arr<32>(v["nonce"]);
    const std::string payload = nip44::encrypt(v["plaintext"].get<std::string>(), ck, &nonce);
    CHECK(payload == v["payload"].get<std::string>());
    CHECK(nip44::decrypt(v["payload"].get<std::string>(), ck) == v["plaintext"].get<std::string>());
  }
}

TEST_CASE("nip44: long messages") {
  for (const auto& v : vectors()["v2"]["valid"]["encrypt_decrypt_long_msg"]) {
    const std::string plaintext = repeat(v["pattern"].get<std::string>(), v["repeat"].get<std::size_t>());
    const auto digest = util::sha256(plaintext);
    REQUIRE(util::to_hex(digest.data(), digest.size()) == v["plaintext_sha256"].get<std::string>());
    const auto ck = arr<32>(v["conversation_key"]);
    const auto nonce = arr<32>(v["nonce"]);
    const std::string payload = nip44::encrypt(plaintext, ck, &nonce);
    const auto pd = util::sha256(payload);
    CHECK(util::to_hex(pd.data(), pd.size()) == v["payload_sha256"].get<std::string>());
    CHECK(nip44::decrypt(payload, ck) == plaintext);
  }
}

TEST_CASE("nip44: plaintexts of invalid lengths are refused") {
  const nip44::ConversationKey ck{};
  for (const auto& len : vectors()["v2"]["invalid"]["encrypt_msg_lengths"]) {
    CHECK_THROWS_AS(nip44::encrypt(std::string(len.get<std::size_t>(), 'a'), ck), Error);
  }
}

TEST_CASE("nip44: every invalid payload is refused") {
  for (const auto& v : vectors()["v2"]["invalid"]["decrypt"]) {
    CAPTURE(v["note"].get<std::string>());
    try {
      nip44::decrypt(v["payload"].get<std::string>(), arr<32>(v["conversation_key"]));
      FAIL("decrypted an invalid payload");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_format);
    }
  }
}

TEST_CASE("nip44: a random nonce round-trips and a flipped byte is refused") {
  const auto ck = arr<32>("c41c775356fd92eadc63ff5a0dc1da211b268cbea22316767095b2871ea1412d");
  const std::string p1 = nip44::encrypt("hello", ck);
  const std::string p2 = nip44::encrypt("hello", ck);
  CHECK(p1 != p2);
  CHECK(nip44::decrypt(p1, ck) == "hello");
  std::string tampered = p1;
  tampered[60] = tampered[60] == 'A' ? 'B' : 'A';
  CHECK_THROWS_WITH_AS(nip44::decrypt(tampered, ck), doctest::Contains("MAC"), Error);
  auto other = ck;
  other[0] ^= 1;
  CHECK_THROWS_AS(nip44::decrypt(p1, other), Error);
}

// --- NIP-04 -----------------------------------------------------------------------------

TEST_CASE("nip04: round trip between two keys, and tampering is refused") {
  const auto a = arr<32>("0000000000000000000000000000000000000000000000000000000000000001");
  const auto b = arr<32>("0000000000000000000000000000000000000000000000000000000000000002");
  const std::string text = "{\"method\":\"get_balance\",\"params\":{}} \xf0\x9f\xa6\x84";
  const std::string c = nip04::encrypt(text, a, xonly_public_key(b));
  CHECK(c.find("?iv=") != std::string::npos);
  CHECK(nip04::decrypt(c, b, xonly_public_key(a)) == text);
  CHECK(nip04::decrypt(c, a, xonly_public_key(b)) == text);
  // A third party's key does not decrypt it (padding fails, or garbage comes out).
  const auto eve = arr<32>("0000000000000000000000000000000000000000000000000000000000000003");
  bool refused_or_garbage = false;
  try {
    refused_or_garbage = nip04::decrypt(c, eve, xonly_public_key(a)) != text;
  } catch (const Error& e) {
    refused_or_garbage = e.code() == ErrorCode::invalid_format;
  }
  CHECK(refused_or_garbage);
  CHECK_THROWS_AS(nip04::decrypt("no separator", b, xonly_public_key(a)), Error);
  CHECK_THROWS_AS(nip04::decrypt("AAAA?iv=AAAA", b, xonly_public_key(a)), Error);               // short iv
  CHECK_THROWS_AS(nip04::decrypt("!!!!?iv=AAAAAAAAAAAAAAAAAAAAAA==", b, xonly_public_key(a)), Error);  // not base64
  CHECK_THROWS_AS(nip04::decrypt("AAAA?iv=AAAAAAAAAAAAAAAAAAAAAA==", b, xonly_public_key(a)), Error);  // 3-byte ciphertext
}

TEST_CASE("nip04: a known ciphertext (fixed iv) decrypts to its plaintext") {
  // Checks the key is the unhashed ECDH x coordinate: with sec 1 and 2, the shared point is
  // 2G, and AES-256-CBC under its x coordinate is what the other side computes.
  const auto a = arr<32>("0000000000000000000000000000000000000000000000000000000000000001");
  const auto b = arr<32>("0000000000000000000000000000000000000000000000000000000000000002");
  CHECK(hex(ecdh_shared_x(a, xonly_public_key(b))) == "c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5");
  const std::array<std::uint8_t, 16> iv{};
  const std::string c = nip04::encrypt("x", a, xonly_public_key(b), &iv);
  CHECK(c.substr(c.size() - 28) == "?iv=AAAAAAAAAAAAAAAAAAAAAA==");
}
