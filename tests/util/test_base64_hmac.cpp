// util: base64 (RFC 4648 vectors, strictness, alphabets, padding) and HMAC-SHA256 (RFC 4231).
#include <doctest/doctest.h>

#include <string>

#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "test_support.hpp"
#include "util/base64.hpp"
#include "util/hmac.hpp"

using namespace petalsln;
using util::Base64Alphabet;
using util::Base64Padding;

namespace {

std::string decode_error(std::string_view text, Base64Alphabet a = Base64Alphabet::standard,
                         Base64Padding p = Base64Padding::optional) {
  try {
    (void)util::base64_decode(text, a, p, "test");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_format);
    return e.what();
  }
  return "accepted";
}

std::string hmac_hex(std::string_view key, std::string_view msg) {
  const auto d = util::hmac_sha256(key, msg);
  return util::to_hex(d.data(), d.size());
}

}  // namespace

TEST_CASE("base64 encodes the RFC 4648 test vectors") {
  const char* vectors[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},    {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& v : vectors) {
    CHECK(util::base64_encode(v[0]) == v[1]);
    CHECK(util::base64_decode(v[1]) == v[0]);
    std::string raw = v[1];
    raw.erase(raw.find_last_not_of('=') + 1);
    CHECK(util::base64_encode(v[0], Base64Alphabet::standard, Base64Padding::unpadded) == raw);
    CHECK(util::base64_decode(raw) == v[0]);
  }
}

TEST_CASE("base64 alphabets differ only in the last two characters") {
  const std::string bytes("\xfb\xff\xbf\x3e", 4);
  CHECK(util::base64_encode(bytes) == "+/+/Pg==");
  CHECK(util::base64_encode(bytes, Base64Alphabet::url_safe) == "-_-_Pg==");
  CHECK(util::base64_encode(bytes, Base64Alphabet::url_safe, Base64Padding::unpadded) == "-_-_Pg");
  CHECK(util::base64_decode("-_-_Pg", Base64Alphabet::url_safe) == bytes);
  CHECK(util::base64_decode("+/+/Pg==", Base64Alphabet::either) == bytes);
  CHECK(util::base64_decode("-_-_Pg", Base64Alphabet::either) == bytes);
  // Each alphabet alone refuses the other's characters; `either` refuses a mixture.
  CHECK(decode_error("-_-_Pg").find("URL-safe") != std::string::npos);
  CHECK(decode_error("+/+/Pg==", Base64Alphabet::url_safe).find("standard") != std::string::npos);
  CHECK(decode_error("+_-/Pg", Base64Alphabet::either).find("mixes") != std::string::npos);
  CHECK_THROWS_AS(util::base64_encode("x", Base64Alphabet::either), Error);
  CHECK_THROWS_AS(util::base64_encode("x", Base64Alphabet::standard, Base64Padding::optional), Error);
}

TEST_CASE("base64 decoding is strict and says why") {
  CHECK(decode_error("Zg=", Base64Alphabet::standard) == "test: wrong padding: 1 '=' where 2 belong");
  CHECK(decode_error("Zm9v=").find("wrong padding") != std::string::npos);
  CHECK(decode_error("Zg", Base64Alphabet::standard, Base64Padding::padded) == "test: missing '=' padding");
  CHECK(decode_error("Zg==", Base64Alphabet::standard, Base64Padding::unpadded) == "test: unexpected '=' padding");
  CHECK(decode_error("Zm9vY").find("not a valid base64 length") != std::string::npos);
  CHECK(decode_error("Zm 9v") == "test: invalid base64 character byte 0x20 at offset 2");
  CHECK(decode_error("Zm9v\n").find("offset 4") != std::string::npos);
  CHECK(decode_error("Z=g=").find("'='") != std::string::npos);
  CHECK(decode_error("Zh==").find("non-zero unused bits") != std::string::npos);  // "Zg==" is the canonical 'f'
  CHECK(decode_error("Zm9=").find("non-zero unused bits") != std::string::npos);
  CHECK(decode_error("====").find("'='") != std::string::npos);
  CHECK(decode_error("Zg===").find("padding") != std::string::npos);
  CHECK(util::base64_decode("Zg==", Base64Alphabet::standard, Base64Padding::padded) == "f");
  CHECK(util::base64_decode("Zg", Base64Alphabet::standard, Base64Padding::unpadded) == "f");
}

TEST_CASE("base64 round-trips every byte value in every form") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    const std::string bytes = all.substr(0, n) + all.substr(256 - n % 7);
    for (auto a : {Base64Alphabet::standard, Base64Alphabet::url_safe}) {
      for (auto p : {Base64Padding::padded, Base64Padding::unpadded}) {
        const std::string text = util::base64_encode(bytes, a, p);
        CHECK(util::base64_decode(text, a, p) == bytes);
        CHECK(util::base64_decode(text, Base64Alphabet::either, Base64Padding::optional) == bytes);
      }
    }
  }
}

TEST_CASE("HMAC-SHA256 matches the RFC 4231 test cases") {
  CHECK(hmac_hex(std::string(20, '\x0b'), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(hmac_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hmac_hex(std::string(20, '\xaa'), std::string(50, '\xdd')) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  CHECK(hmac_hex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First") ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(hmac_hex("", "") == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}
