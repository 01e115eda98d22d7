// L402: the identifier, the challenge and the token (format, parse, attacks), preimage checks.
#include <doctest/doctest.h>

#include <string>

#include "petalsln/lightning/l402.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "test_support.hpp"
#include "util/sha256.hpp"

using namespace petalsln;

namespace {

const std::string kRootKey(32, '\x42');
const std::string kPeer = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
constexpr const char* kInvoice = "lnbcrt10u1pjtest0pp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqsp5zyg3zyg3zyg3";

L402Token::Preimage preimage_of(std::uint8_t fill) {
  L402Token::Preimage p{};
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::uint8_t>(fill + i);
  return p;
}

L402Identifier::Bytes32 hash_of(const L402Token::Preimage& p) {
  return util::sha256(std::string_view(reinterpret_cast<const char*>(p.data()), p.size()));
}

L402Terms terms() {
  L402Terms t;
  t.model = "tiny-llama3";
  t.peer = kPeer;
  t.block_begin = 0;
  t.block_end = 4;
  t.credit = 1000;
  t.expires = 2000000000;
  return t;
}

L402Request request() {
  L402Request r;
  r.model = "tiny-llama3";
  r.peer = kPeer;
  r.block_begin = 0;
  r.block_end = 4;
  r.now = 1700000000;
  return r;
}

L402Token paid_token(std::uint8_t fill = 7) {
  const L402Token::Preimage preimage = preimage_of(fill);
  const L402Identifier id = L402Identifier::random_for(hash_of(preimage));
  return L402Token{mint_l402_macaroon(kRootKey, id, terms()), preimage};
}

template <class F>
ErrorCode error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("no error");
  return ErrorCode::internal;
}

}  // namespace

TEST_CASE("L402 identifier encodes version, payment hash and token id") {
  L402Identifier id;
  for (std::size_t i = 0; i < 32; ++i) {
    id.payment_hash[i] = static_cast<std::uint8_t>(i);
    id.token_id[i] = static_cast<std::uint8_t>(0xff - i);
  }
  const std::string bytes = id.encode();
  REQUIRE(bytes.size() == 66);
  CHECK(util::to_hex(bytes.substr(0, 4)) == "00000001");  // version 0 big-endian, then the hash
  CHECK(static_cast<unsigned char>(bytes[34]) == 0xff);   // token id starts at byte 34
  CHECK(L402Identifier::decode(bytes) == id);

  CHECK(error_of([&] { L402Identifier::decode(bytes.substr(0, 65)); }) == ErrorCode::invalid_format);
  CHECK(error_of([&] { L402Identifier::decode(bytes + "x"); }) == ErrorCode::invalid_format);
  CHECK(error_of([&] { L402Identifier::decode(""); }) == ErrorCode::invalid_format);
  CHECK(error_of([&] { L402Identifier::decode("\x00"); }) == ErrorCode::invalid_format);
  std::string v1 = bytes;
  v1[1] = '\x01';
  CHECK(error_of([&] { L402Identifier::decode(v1); }) == ErrorCode::unsupported);
  L402Identifier bad = id;
  bad.version = 1;
  CHECK(error_of([&] { (void)bad.encode(); }) == ErrorCode::unsupported);

  const L402Identifier a = L402Identifier::random_for(id.payment_hash);
  const L402Identifier b = L402Identifier::random_for(id.payment_hash);
  CHECK(a.payment_hash == id.payment_hash);
  CHECK(a.token_id != b.token_id);
}

TEST_CASE("L402 challenge formats as Aperture does and parses back") {
  const L402Token t = paid_token();
  const L402Challenge c{t.macaroon, kInvoice};
  const std::string header = c.to_header();
  CHECK(header == "L402 macaroon=\"" + t.macaroon.to_base64() + "\", invoice=\"" + kInvoice + "\"");
  CHECK(c.to_header(L402Scheme::lsat).rfind("LSAT macaroon=\"", 0) == 0);
  const L402Challenge back = L402Challenge::parse(header);
  CHECK(back.macaroon == t.macaroon);
  CHECK(back.invoice == kInvoice);
  CHECK(L402Challenge::parse(c.to_header(L402Scheme::lsat)).macaroon == t.macaroon);
  CHECK_THROWS_AS(L402Challenge({t.macaroon, "not an invoice"}).to_header(), Error);
  CHECK_THROWS_AS(L402Challenge({t.macaroon, ""}).to_header(), Error);
}

TEST_CASE("L402 challenge parsing is tolerant of case, order, whitespace and quoting") {
  const Macaroon mac = paid_token().macaroon;
  const std::string b64 = mac.to_base64();
  const std::string url = mac.to_base64(MacaroonBase64::url_safe_unpadded);
  const std::string inv = kInvoice;
  const std::string forms[] = {
      "lsat macaroon=\"" + b64 + "\", invoice=\"" + inv + "\"",
      "  L402   invoice=\"" + inv + "\" ,macaroon=\"" + b64 + "\"  ",
      "L402\tMacaroon = \"" + url + "\",\tINVOICE= \"" + inv + "\"",
      "L402 macaroon=" + b64 + ", invoice=" + inv,
      "L402 realm=\"petalsln\", macaroon=\"" + b64 + "\", , invoice=\"" + inv + "\", extra=x",
      "L402 macaroon=\"" + b64.substr(0, 4) + "\\" + b64.substr(4) + "\", invoice=\"" + inv + "\"",
  };
  for (const auto& h : forms) {
    CAPTURE(h);
    const L402Challenge c = L402Challenge::parse(h);
    CHECK(c.macaroon == mac);
    CHECK(c.invoice == inv);
  }
}

TEST_CASE("L402 challenge parsing rejects malformed headers with reasons") {
  const std::string b64 = paid_token().macaroon.to_base64();
  const std::string inv = kInvoice;
  auto code = [](const std::string& h) { return error_of([&] { L402Challenge::parse(h); }); };
  CHECK(code("Bearer macaroon=\"" + b64 + "\", invoice=\"" + inv + "\"") == ErrorCode::unsupported);
  CHECK(code("L402") == ErrorCode::invalid_format);
  CHECK(code("") == ErrorCode::invalid_format);
  CHECK(code("L402 invoice=\"" + inv + "\"") == ErrorCode::invalid_format);
  CHECK(code("L402 macaroon=\"" + b64 + "\"") == ErrorCode::invalid_format);
  CHECK(code("L402 macaroon=\"\", invoice=\"" + inv + "\"") == ErrorCode::invalid_format);
  CHECK(code("L402 macaroon=\"" + b64 + "\", macaroon=\"" + b64 + "\", invoice=\"" + inv + "\"") ==
        ErrorCode::invalid_format);
  CHECK(code("L402 macaroon=\"" + b64 + "\", invoice=\"" + inv) == ErrorCode::invalid_format);  // unterminated
  CHECK(code("L402 macaroon \"" + b64 + "\", invoice=\"" + inv + "\"") == ErrorCode::invalid_format);
  CHECK(code("L402 macaroon=\"" + b64 + "\" invoice=\"" + inv + "\"") == ErrorCode::invalid_format);
  CHECK(code("L402 macaroon=\"AGIAJEemVQUTEyNCR0exk7ek90Cg==\", invoice=\"" + inv + "\"") ==
        ErrorCode::invalid_format);  // the spec's placeholder is no v2 macaroon
  CHECK(code("L402 macaroon=\"" + b64 + "!\", invoice=\"" + inv + "\"") == ErrorCode::invalid_format);
  CHECK(code("L402 macaroon=\"" + b64 + "\", invoice=\"bc1qxyz\"") == ErrorCode::invalid_format);
  CHECK(code("L402 macaroon=\"" + b64 + "\", invoice=\"lnbc1 00\"") == ErrorCode::invalid_format);
  CHECK(code("L402 macaroon=\"" + b64 + "\", invoice=\"ln" + std::string(9000, 'q') + "\"") ==
        ErrorCode::invalid_format);
  CHECK(code("L402 macaroon=\"" + std::string(kL402MaxHeaderSize, 'A') + "\"") == ErrorCode::invalid_format);
  try {
    L402Challenge::parse("L402 macaroon=\"" + b64 + "\"");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "L402 challenge: no invoice parameter");
  }
}

TEST_CASE("L402 token formats as Aperture does and parses back") {
  const L402Token t = paid_token();
  const std::string header = t.to_header();
  CHECK(header == "L402 " + t.macaroon.to_base64() + ":" + util::to_hex(t.preimage.data(), t.preimage.size()));
  for (const std::string& h :
       {header, t.to_header(L402Scheme::lsat), "  l402  " + header.substr(5) + " ",
        "LSAT " + t.macaroon.to_base64(MacaroonBase64::url_safe_unpadded) + ":" +
            util::to_hex(t.preimage.data(), t.preimage.size()),
        "L402 " + t.macaroon.to_base64() + " : " + util::to_hex(t.preimage.data(), t.preimage.size())}) {
    CAPTURE(h);
    const L402Token back = L402Token::parse(h);
    CHECK(back.macaroon == t.macaroon);
    CHECK(back.preimage == t.preimage);
  }
  // Upper-case hex is read too (hex is case-insensitive), and written lower-case.
  std::string upper = header;
  for (std::size_t i = upper.rfind(':') + 1; i < upper.size(); ++i) {
    if (upper[i] >= 'a' && upper[i] <= 'f') upper[i] = static_cast<char>(upper[i] - 'a' + 'A');
  }
  CHECK(L402Token::parse(upper).preimage == t.preimage);
}

TEST_CASE("L402 token parsing rejects malformed headers") {
  const L402Token t = paid_token();
  const std::string b64 = t.macaroon.to_base64();
  const std::string hex = util::to_hex(t.preimage.data(), t.preimage.size());
  auto code = [](const std::string& h) { return error_of([&] { L402Token::parse(h); }); };
  CHECK(code("Bearer " + b64 + ":" + hex) == ErrorCode::unsupported);
  CHECK(code("L402 " + b64 + "," + b64 + ":" + hex) == ErrorCode::unsupported);  // several macaroons
  CHECK(code("L402 " + b64) == ErrorCode::invalid_format);                       // no preimage
  CHECK(code("L402 :" + hex) == ErrorCode::invalid_format);                      // no macaroon
  CHECK(code("L402 " + b64 + ":") == ErrorCode::invalid_format);
  CHECK(code("L402 " + b64 + ":" + hex.substr(2)) == ErrorCode::invalid_format);  // 31 bytes
  CHECK(code("L402 " + b64 + ":" + hex + "00") == ErrorCode::invalid_format);     // 33 bytes
  CHECK(code("L402 " + b64 + ":" + hex.substr(0, 62) + "zz") == ErrorCode::invalid_format);
  CHECK(code("L402 " + b64 + ":MTIzNDEyMzQxMjM0") == ErrorCode::invalid_format);  // old base64 preimage
  CHECK(code("L402 " + b64.substr(1) + ":" + hex) == ErrorCode::invalid_format);  // bad base64
  CHECK(code("L402 " + b64 + "@:" + hex) == ErrorCode::invalid_format);
  CHECK(code("L402 " + std::string(kL402MaxHeaderSize, 'A') + ":" + hex) == ErrorCode::invalid_format);
  CHECK(code("L402") == ErrorCode::invalid_format);
  try {
    L402Token::parse("L402 " + b64 + ":" + hex.substr(2));
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "L402 token: the preimage must be 64 hex digits (32 bytes), got 62 characters");
  }
}

TEST_CASE("L402 token preimage must hash to the identifier's payment hash") {
  L402Token t = paid_token();
  CHECK(t.preimage_matches());
  CHECK(t.identifier().payment_hash == hash_of(t.preimage));
  CHECK(t.verify(kRootKey, request()).ok);

  L402Token wrong = t;
  wrong.preimage[31] ^= 1;
  CHECK_FALSE(wrong.preimage_matches());
  const Verdict v = wrong.verify(kRootKey, request());
  CHECK_FALSE(v.ok);
  CHECK(v.reason == "the preimage does not pay the token's payment hash");

  // A macaroon whose identifier is not an L402 identifier is no token at all.
  const L402Token plain{Macaroon::mint(kRootKey, "just an id"), t.preimage};
  CHECK_FALSE(plain.preimage_matches());
  CHECK_FALSE(plain.verify(kRootKey, request()).ok);
  CHECK(plain.verify(kRootKey, request()).reason.rfind("not an L402 macaroon", 0) == 0);
}

TEST_CASE("L402 token verification refuses forged, re-signed and foreign tokens") {
  const L402Token t = paid_token();
  L402Terms granted;
  REQUIRE(t.verify(kRootKey, request(), &granted).ok);
  CHECK(granted.credit == 1000);
  CHECK(granted.block_begin == 0);
  CHECK(granted.block_end == 4);
  CHECK(granted.expires == 2000000000);

  // Re-signed: the attacker mints the same identifier and caveats under its own key.
  const L402Token resigned{mint_l402_macaroon("attacker", t.identifier(), terms()), t.preimage};
  CHECK_FALSE(resigned.verify(kRootKey, request()).ok);
  // Forged: the preimage of another payment, with that payment's hash in a new identifier.
  const L402Token other = paid_token(99);
  const L402Token mixed{t.macaroon, other.preimage};
  CHECK_FALSE(mixed.verify(kRootKey, request()).ok);
  // A token round-tripped through its header still verifies; a tampered header does not.
  CHECK(L402Token::parse(t.to_header()).verify(kRootKey, request()).ok);
  std::string bytes = t.macaroon.serialize();
  bytes[bytes.find("credit=1000") + 7] = '9';  // credit=9000
  const L402Token tampered{Macaroon::deserialize(bytes), t.preimage};
  CHECK_FALSE(tampered.verify(kRootKey, request()).ok);
  // Another server, model, block range, or an expired token.
  L402Request r = request();
  r.peer = std::string(64, 'a');
  CHECK_FALSE(t.verify(kRootKey, r).ok);
  r = request();
  r.model = "other-model";
  CHECK_FALSE(t.verify(kRootKey, r).ok);
  r = request();
  r.block_end = 5;
  CHECK_FALSE(t.verify(kRootKey, r).ok);
  r = request();
  r.now = 2000000000;
  CHECK_FALSE(t.verify(kRootKey, r).ok);
  CHECK(t.verify(kRootKey, r).reason.find("expired") != std::string::npos);
}
