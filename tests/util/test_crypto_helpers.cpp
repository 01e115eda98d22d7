// util: hex, SHA-256 and tagged hashes, secure random bytes, constant-time comparison.
#include <doctest/doctest.h>

#include <array>
#include <string>

#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "test_support.hpp"
#include "util/random.hpp"
#include "util/secure_compare.hpp"
#include "util/secure_wipe.hpp"
#include "util/sha256.hpp"

using namespace petalsln;

namespace {

std::string digest_hex(const util::Sha256Digest& d) { return util::to_hex(d.data(), d.size()); }

}  // namespace

TEST_CASE("hex round-trips and validates") {
  CHECK(util::to_hex(std::string("\x00\x01\xab\xff", 4)) == "0001abff");
  CHECK(util::from_hex("0001ABff") == std::string("\x00\x01\xab\xff", 4));
  CHECK(util::from_hex("").empty());
  CHECK_THROWS_AS(util::from_hex("abc"), Error);
  try {
    util::from_hex("00zz", "peer id");
    FAIL("bad hex accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_format);
    CHECK(std::string(e.what()) == "peer id: not a hex digit at offset 2");
  }
  std::array<std::uint8_t, 2> out{{7, 7}};
  CHECK_THROWS_AS(util::from_hex_into("0102ff", out.data(), out.size()), Error);
  CHECK_THROWS_AS(util::from_hex_into("01g2", out.data(), out.size()), Error);
  CHECK(out == std::array<std::uint8_t, 2>{{7, 7}});  // untouched on failure
  util::from_hex_into("01fe", out.data(), out.size());
  CHECK(out == std::array<std::uint8_t, 2>{{1, 0xfe}});
}

TEST_CASE("SHA-256 matches FIPS 180 examples, whole and incremental") {
  CHECK(digest_hex(util::sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(digest_hex(util::sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  CHECK(digest_hex(util::sha256(two_blocks)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  util::Sha256 h;
  h.update(two_blocks.substr(0, 5)).update(two_blocks.substr(5));
  CHECK(digest_hex(h.finish()) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK_THROWS_AS(h.finish(), Error);
}

TEST_CASE("tagged hashes follow BIP-340's construction and separate domains") {
  const util::Sha256Digest tag = util::sha256("petalsln/test");
  util::Sha256 h;
  h.update(tag.data(), tag.size()).update(tag.data(), tag.size()).update("message");
  CHECK(util::tagged_hash("petalsln/test", "message") == h.finish());
  CHECK(util::tagged_hash("petalsln/test", "message") != util::tagged_hash("petalsln/other", "message"));
  CHECK(util::tagged_hash("petalsln/test", "message") != util::sha256("message"));
}

TEST_CASE("random bytes differ between calls") {
  std::array<std::uint8_t, 32> a{}, b{};
  util::random_bytes(a.data(), a.size());
  util::random_bytes(b.data(), b.size());
  CHECK(a != b);
  util::random_bytes(nullptr, 0);  // nothing to do
}

TEST_CASE("secure_equal compares bytes and lengths; secure_wipe zeroes") {
  CHECK(util::secure_equal(std::string("abc"), std::string("abc")));
  CHECK_FALSE(util::secure_equal(std::string("abc"), std::string("abd")));
  CHECK_FALSE(util::secure_equal(std::string("abc"), std::string("abcd")));
  CHECK(util::secure_equal(std::string(), std::string()));
  std::array<std::uint8_t, 4> secret{{1, 2, 3, 4}};
  util::secure_wipe(secret.data(), secret.size());
  CHECK(secret == std::array<std::uint8_t, 4>{});
}
