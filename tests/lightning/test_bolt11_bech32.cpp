// BOLT11's envelope: bech32 (BIP-173 test vectors) and the 5-bit/8-bit regrouping.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "petalsln/util/error.hpp"
#include "util/bech32.hpp"

using namespace petalsln;
using Words = std::vector<std::uint8_t>;

TEST_CASE("bolt11 bech32: BIP-173 valid strings decode and re-encode") {
  for (const char* s : {"A12UEL5L", "a12uel5l",
                        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
                        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
                        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w", "?1ezyfcl"}) {
    CAPTURE(s);
    const auto b = util::bech32_decode(s);
    std::string lower = s;
    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    CHECK(util::bech32_encode(b.hrp, b.words) == lower);
  }
  const auto b = util::bech32_decode("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw");
  CHECK(b.hrp == "abcdef");
  Words all(32);
  for (std::uint8_t i = 0; i < 32; ++i) all[i] = i;
  CHECK(b.words == all);
}

TEST_CASE("bolt11 bech32: BIP-173 invalid strings are rejected with a reason") {
  const std::vector<std::pair<std::string, std::string>> cases{
      {std::string("\x20") + "1nwldj5", "character 32 at offset 0"},
      {std::string("\x7f") + "1axkwrx", "character 127 at offset 0"},
      {std::string("\x80") + "1eym55h", "character 128 at offset 0"},
      {"an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx", "more than 90"},
      {"pzry9x0s0muk", "no separator"},
      {"1pzry9x0s0muk", "empty human-readable part"},
      {"x1b4n0q5v", "'b' at offset 2 is not a bech32 character"},
      {"li1dgmt3", "shorter than the 6-character checksum"},
      {std::string("de1lg7wt") + "\xff", "character 255 at offset 8"},
      {"A1G7SGD8", "checksum is invalid"},
      {"10a06t8", "empty human-readable part"},
      {"1qzzfhee", "empty human-readable part"},
      {"a12UEL5L", "mixed upper and lower case"},
  };
  for (const auto& [text, why] : cases) {
    CAPTURE(text);
    try {
      (void)util::bech32_decode(text);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_format);
      CHECK_MESSAGE(std::string(e.what()).find(why) != std::string::npos, e.what());
    }
  }
}

TEST_CASE("bolt11 bech32: the length limit is the caller's") {
  const std::string long_one = util::bech32_encode("lnbc", Words(500, 7));
  CHECK_THROWS_AS(util::bech32_decode(long_one), Error);
  CHECK(util::bech32_decode(long_one, std::string::npos).words == Words(500, 7));
  CHECK_THROWS_AS(util::bech32_encode("", Words{}), Error);
  CHECK_THROWS_AS(util::bech32_encode("ABC", Words{}), Error);
  CHECK_THROWS_AS(util::bech32_encode("abc", Words{32}), Error);
}

TEST_CASE("bolt11 bech32: regrouping bits") {
  const std::vector<std::uint8_t> bytes{0xff, 0x00, 0xa5};
  const Words words = util::bytes_to_words(bytes.data(), bytes.size());
  CHECK(words == Words{31, 28, 0, 10, 10});  // 11111 11100 00000 01010 0101(0)
  CHECK(util::words_to_bytes(words.data(), words.size()) == bytes);
  CHECK(util::words_to_bytes_padded(words.data(), words.size()) == std::vector<std::uint8_t>{0xff, 0x00, 0xa5, 0x00});
  Words dirty = words;
  dirty.back() = 11;  // a padding bit set
  CHECK_THROWS_WITH_AS(util::words_to_bytes(dirty.data(), dirty.size(), "x"), "x: padding bits are not zero", Error);
  Words extra = words;
  extra.push_back(0);  // 9 leftover bits: a whole word too many
  CHECK_THROWS_WITH_AS(util::words_to_bytes(extra.data(), extra.size(), "x"), "x: a whole 5-bit word of padding", Error);
  CHECK(util::bytes_to_words(nullptr, 0).empty());
  CHECK(util::words_to_bytes_padded(Words{1}.data(), 1) == std::vector<std::uint8_t>{0x08});
}
