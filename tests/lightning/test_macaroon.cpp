// Macaroons: the HMAC chain against published vectors, the version-2 binary format against
// libmacaroons' own test data, base64 forms, and verification (right/wrong key, tampering).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "petalsln/lightning/macaroon.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "test_support.hpp"

using namespace petalsln;

namespace {

std::string sig_hex(const Macaroon& m) { return util::to_hex(m.signature().data(), m.signature().size()); }

// A checker that accepts exactly the listed predicates (libmacaroons' "exact" satisfier).
Macaroon::CaveatChecker exact(std::vector<std::string> allowed) {
  return [allowed = std::move(allowed)](std::string_view p) {
    for (const auto& a : allowed) {
      if (a == p) return Verdict::pass();
    }
    return Verdict::fail("unknown caveat " + std::string(p));
  };
}

// libmacaroons' README / pymacaroons' example (copied test vectors).
constexpr const char* kBankKey = "this is our super secret key; only we should know it";
constexpr const char* kBankId = "we used our secret key";
constexpr const char* kBankLocation = "http://mybank/";

// libmacaroons test/unit/*.vtest and serialization_* (copied test vectors), key "this is the key".
constexpr const char* kVecKey = "this is the key";
constexpr const char* kVecRoot = "AgETaHR0cDovL2V4YW1wbGUub3JnLwIFa2V5aWQAAAYgfN7nklEcW8b1KEhYBd_psk54XijiqZMB-dcRxgnjjvc";
constexpr const char* kVecOneCaveat =
    "AgETaHR0cDovL2V4YW1wbGUub3JnLwIFa2V5aWQAAhRhY2NvdW50ID0gMzczNTkyODU1OQAABiD1SAf23G7fiL8PcwazgiVio2JTPb9zObphdl2"
    "kvSWdhw";
constexpr const char* kVecTwoCaveats =
    "AgETaHR0cDovL2V4YW1wbGUub3JnLwIFa2V5aWQAAhRhY2NvdW50ID0gMzczNTkyODU1OQACDHVzZXIgPSBhbGljZQAABiBL6WfNHqDGsmuvakq"
    "U7psFsViG2guoXoxCqTyNDhJe_A";
constexpr const char* kVecUtf8Caveat =
    "AgETaHR0cDovL2V4YW1wbGUub3JnLwIFa2V5aWQAAghFc2NyaXbDoQAABiA28icxdxYyvr3OoMwDhimCgQMffNNHvjyOENsQuU45WA";
constexpr const char* kVecBinaryCaveat =
    "AgETaHR0cDovL2V4YW1wbGUub3JnLwIFa2V5aWQAAgWVHQDGIQAABiBPkB3BYU0h9p6DutSg9yqVkEfzSuU43WQ_bOJkNFcKow";

}  // namespace

TEST_CASE("macaroon signature chain matches the libmacaroons/pymacaroons example") {
  Macaroon m = Macaroon::mint(kBankKey, kBankId, kBankLocation);
  CHECK(sig_hex(m) == "e3d9e02908526c4c0039ae15114115d97fdd68bf2ba379b342aaf0f617d0552f");
  CHECK(m.location() == kBankLocation);
  CHECK(m.identifier() == kBankId);
  CHECK(m.caveats().empty());

  Macaroon a = m;
  a.add_first_party_caveat("test = caveat");
  CHECK(sig_hex(a) == "197bac7a044af33332865b9266e26d493bdd668a660e44d88ce1a998c23dbd67");

  Macaroon b = m;
  b.add_first_party_caveat("account = 3735928559");
  CHECK(sig_hex(b) == "1efe4763f290dbce0c1d08477367e11f4eee456a64933cf662d79772dbb82128");
  CHECK(b.caveats() == std::vector<std::string>{"account = 3735928559"});
}

TEST_CASE("macaroon v2 binary matches libmacaroons' serialization vectors byte for byte") {
  Macaroon root = Macaroon::mint(kVecKey, "keyid", "http://example.org/");
  CHECK(root.to_base64(MacaroonBase64::url_safe_unpadded) == kVecRoot);

  Macaroon one = root;
  one.add_first_party_caveat("account = 3735928559");
  CHECK(one.to_base64(MacaroonBase64::url_safe_unpadded) == kVecOneCaveat);

  Macaroon two = one;
  two.add_first_party_caveat("user = alice");
  CHECK(two.to_base64(MacaroonBase64::url_safe_unpadded) == kVecTwoCaveats);

  // serialization_4 / _6 carry a UTF-8 caveat and a binary one (with a zero byte).
  const Macaroon utf8 = Macaroon::from_base64(kVecUtf8Caveat);
  CHECK(utf8.caveats() == std::vector<std::string>{"Escriv\xc3\xa1"});
  CHECK(utf8.to_base64(MacaroonBase64::url_safe_unpadded) == kVecUtf8Caveat);
  const Macaroon binary = Macaroon::from_base64(kVecBinaryCaveat);
  REQUIRE(binary.caveats().size() == 1);
  CHECK(binary.caveats()[0] == std::string("\x95\x1d\x00\xc6\x21", 5));
  CHECK(binary.to_base64(MacaroonBase64::url_safe_unpadded) == kVecBinaryCaveat);
}

TEST_CASE("macaroon verification follows libmacaroons' vtest cases") {
  const Macaroon root = Macaroon::from_base64(kVecRoot);
  CHECK(root.verify(kVecKey, exact({})).ok);                      // root_v2_1
  CHECK_FALSE(root.verify("this is not the key", exact({})).ok);  // root_v2_2

  const Macaroon one = Macaroon::from_base64(kVecOneCaveat);
  CHECK(one.verify(kVecKey, exact({"account = 3735928559"})).ok);        // caveat_v2_1
  CHECK_FALSE(one.verify(kVecKey, exact({"account = 0000000000"})).ok);  // caveat_v2_2
  CHECK_FALSE(one.verify(kVecKey, exact({})).ok);                        // caveat_v2_3

  const Macaroon two = Macaroon::from_base64(kVecTwoCaveats);
  CHECK(two.verify(kVecKey, exact({"account = 3735928559", "user = alice"})).ok);  // caveat_v2_4
  CHECK_FALSE(two.verify(kVecKey, exact({"account = 3735928559"})).ok);           // caveat_v2_5
  CHECK_FALSE(two.verify(kVecKey, exact({"user = alice"})).ok);                   // caveat_v2_6
  CHECK_FALSE(two.verify(kVecKey, exact({"user = Escriv\xc3\xa1"})).ok);          // caveat_v2_7
}

TEST_CASE("macaroon base64 forms round-trip and import accepts every form") {
  Macaroon m = Macaroon::mint("root key", std::string("id\0\xff", 4), "loc");
  m.add_first_party_caveat("a=1");
  m.add_first_party_caveat("b=2");
  const std::string std_pad = m.to_base64();
  const std::string std_raw = m.to_base64(MacaroonBase64::standard_unpadded);
  const std::string url_pad = m.to_base64(MacaroonBase64::url_safe);
  const std::string url_raw = m.to_base64(MacaroonBase64::url_safe_unpadded);
  for (const auto& text : {std_pad, std_raw, url_pad, url_raw}) {
    CAPTURE(text);
    CHECK(Macaroon::from_base64(text) == m);
  }
  CHECK(std_raw.find('=') == std::string::npos);
  CHECK(url_pad.find('+') == std::string::npos);
  CHECK(url_pad.find('/') == std::string::npos);
  CHECK(Macaroon::deserialize(m.serialize()) == m);
  CHECK(Macaroon::deserialize(m.serialize()).serialize() == m.serialize());
}

TEST_CASE("macaroon base64 import rejects bad text with invalid_format") {
  const std::string good = Macaroon::mint("k", "id").to_base64();
  for (const std::string& bad : {std::string("!!!!"), good + "A", " " + good, good.substr(0, good.size() - 6),
                                 std::string(""), std::string("AgE=AgE=")}) {
    CAPTURE(bad);
    try {
      (void)Macaroon::from_base64(bad);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_format);
    }
  }
  CHECK_THROWS_AS(Macaroon::from_base64(std::string(100000, 'A')), Error);
}

TEST_CASE("macaroon verification: wrong key, tampering and re-signing fail") {
  const std::string key = "0123456789abcdef0123456789abcdef";
  Macaroon m = Macaroon::mint(key, "token-id", "petalsln");
  m.add_first_party_caveat("service=petalsln");
  m.add_first_party_caveat("credit=100");
  const auto all = exact({"service=petalsln", "credit=100"});
  REQUIRE(m.verify(key, all).ok);
  CHECK(m.signature_valid(key));
  CHECK_FALSE(m.verify("0123456789abcdef0123456789abcdeF", all).ok);
  CHECK_FALSE(m.verify("", all).ok);

  // Flip one byte of the identifier, of a caveat, of the signature: each breaks the chain.
  const std::string bytes = m.serialize();
  auto flipped = [&](std::string_view needle, std::size_t at) {
    std::string b = bytes;
    const std::size_t pos = b.find(needle);
    REQUIRE(pos != std::string::npos);
    b[pos + at] = static_cast<char>(b[pos + at] ^ 0x01);
    return Macaroon::deserialize(b);
  };
  const Macaroon bad_id = flipped("token-id", 3);
  CHECK_FALSE(bad_id.verify(key, all).ok);
  const Macaroon bad_caveat = flipped("credit=100", 7);  // now "credit=000"
  CHECK_FALSE(bad_caveat.verify(key, exact({"service=petalsln", bad_caveat.caveats()[1]})).ok);
  std::string sig_flip = bytes;
  sig_flip.back() = static_cast<char>(sig_flip.back() ^ 0x80);
  CHECK_FALSE(Macaroon::deserialize(sig_flip).verify(key, all).ok);

  // Removing a caveat (and keeping the signature) fails; so does an attacker's own mint.
  Macaroon fewer = Macaroon::mint(key, "token-id", "petalsln");
  fewer.add_first_party_caveat("service=petalsln");
  Macaroon forged = Macaroon::deserialize(bytes);
  CHECK(forged == m);
  Macaroon resigned = Macaroon::mint("attacker's key", "token-id", "petalsln");
  resigned.add_first_party_caveat("service=petalsln");
  resigned.add_first_party_caveat("credit=100");
  CHECK(resigned.verify("attacker's key", all).ok);
  CHECK_FALSE(resigned.verify(key, all).ok);
  CHECK(resigned.verify(key, all).reason.find("signature") != std::string::npos);
}

TEST_CASE("macaroon verification demands that every caveat pass") {
  const std::string key = "k";
  Macaroon m = Macaroon::mint(key, "id");
  m.add_first_party_caveat("a");
  m.add_first_party_caveat("b");
  int calls = 0;
  const Verdict v = m.verify(key, [&](std::string_view p) {
    ++calls;
    return p == "a" ? Verdict::pass() : Verdict::fail("b is not allowed");
  });
  CHECK_FALSE(v.ok);
  CHECK(v.reason == "caveat 2 not satisfied: b is not allowed");
  CHECK(calls == 2);
  // A checker that throws fails the caveat; a missing checker fails any caveat.
  CHECK_FALSE(m.verify(key, [](std::string_view) -> Verdict { throw Error(ErrorCode::internal, "boom"); }).ok);
  CHECK_FALSE(m.verify(key, nullptr).ok);
  CHECK(Macaroon::mint(key, "id").verify(key, nullptr).ok);  // no caveats: nothing to check
  // Caveats of a forged macaroon never reach the checker.
  calls = 0;
  CHECK_FALSE(m.verify("other", [&](std::string_view) {
                 ++calls;
                 return Verdict::pass();
               }).ok);
  CHECK(calls == 0);
}

TEST_CASE("macaroon builders enforce their limits") {
  CHECK_THROWS_AS(Macaroon::mint("", "id"), Error);
  CHECK_THROWS_AS(Macaroon::mint("k", ""), Error);
  CHECK_THROWS_AS(Macaroon::mint("k", std::string(Macaroon::max_identifier_size + 1, 'i')), Error);
  CHECK_THROWS_AS(Macaroon::mint("k", "id", std::string(Macaroon::max_location_size + 1, 'l')), Error);
  Macaroon m = Macaroon::mint("k", "id");
  CHECK_THROWS_AS(m.add_first_party_caveat(""), Error);
  CHECK_THROWS_AS(m.add_first_party_caveat(std::string(Macaroon::max_caveat_size + 1, 'c')), Error);
  for (std::size_t i = 0; i < Macaroon::max_caveats; ++i) m.add_first_party_caveat("c" + std::to_string(i));
  try {
    m.add_first_party_caveat("one too many");
    FAIL("65th caveat accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
  }
  // The largest macaroon the builders allow still parses.
  CHECK(Macaroon::deserialize(m.serialize()) == m);
}
