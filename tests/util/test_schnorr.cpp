// util's BIP-340: the BIP's own test vectors (bip-0340/test-vectors.csv), key checks, and
// errors that never show the secret. Also the shared secp256k1 context.
#include <doctest/doctest.h>

#include <array>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "test_support.hpp"
#include "util/schnorr.hpp"
#include "util/secp256k1_context.hpp"

using namespace petalsln;

namespace {

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

struct Bip340Vector {
  std::string index, secret, pubkey, aux, message, signature, result, comment;
};

std::vector<Bip340Vector> bip340_vectors() {
  std::istringstream in(test::slurp(std::string(PETALSLN_SOURCE_DIR) + "/tests/util/bip340_test_vectors.csv"));
  std::string line;
  std::getline(in, line);  // header
  std::vector<Bip340Vector> out;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream ls(line);
    while (std::getline(ls, cell, ',')) cells.push_back(cell);
    while (cells.size() < 8) cells.emplace_back();
    out.push_back({cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7]});
  }
  return out;
}

const char* const kSecretHex = "b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfef";
const char* const kCurveOrderHex = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";

}  // namespace

TEST_CASE("bip340: the BIP's test vectors sign and verify as published") {
  const auto vs = bip340_vectors();
  REQUIRE(vs.size() == 19);
  int signed_count = 0;
  for (const auto& v : vs) {
    CAPTURE(v.index);
    CAPTURE(v.comment);
    const std::string message = util::from_hex(v.message);
    const bool expected = v.result == "TRUE";
    if (!v.secret.empty()) {
      const auto sk = arr<32>(v.secret);
      CHECK(util::to_hex(v.pubkey.empty() ? "" : util::from_hex(v.pubkey)) == hex(util::xonly_public_key(sk)));
      const auto aux = arr<32>(v.aux);
      CHECK(util::to_hex(util::from_hex(v.signature)) == hex(util::schnorr_sign(sk, message, &aux)));
      ++signed_count;
    }
    // Public keys that are no curve point cannot even be held as keys: verification is false.
    const util::XOnlyPublicKey pk = arr<32>(v.pubkey);
    CHECK(util::schnorr_verify(pk, message, arr<64>(v.signature)) == expected);
  }
  CHECK(signed_count == 8);
}

TEST_CASE("bip340: a fresh signature verifies; another message or key does not") {
  const auto sk = arr<32>(kSecretHex);
  const auto pk = util::xonly_public_key(sk);
  const auto sig = util::schnorr_sign(sk, "message");
  CHECK(util::schnorr_verify(pk, "message", sig));
  CHECK_FALSE(util::schnorr_verify(pk, "messagf", sig));
  CHECK_FALSE(util::schnorr_verify(util::xonly_public_key(arr<32>(std::string(63, '0') + "3")), "message", sig));
  // Fresh auxiliary randomness: signing twice gives two different valid signatures.
  const auto again = util::schnorr_sign(sk, "message");
  CHECK(again != sig);
  CHECK(util::schnorr_verify(pk, "message", again));
  auto flipped = sig;
  flipped[63] ^= 1;
  CHECK_FALSE(util::schnorr_verify(pk, "message", flipped));
}

TEST_CASE("bip340: the x-only public key of 1 is the generator's x coordinate") {
  const auto one = arr<32>(std::string(63, '0') + "1");
  CHECK(hex(util::xonly_public_key(one)) == "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
}

TEST_CASE("bip340: secret keys must be in 1..n-1; errors never show them") {
  CHECK(util::is_valid_secret_key(arr<32>(kSecretHex)));
  CHECK_FALSE(util::is_valid_secret_key(util::SecretKey{}));
  CHECK_FALSE(util::is_valid_secret_key(arr<32>(kCurveOrderHex)));
  for (const auto& bad : {util::SecretKey{}, arr<32>(kCurveOrderHex)}) {
    try {
      (void)util::xonly_public_key(bad);
      FAIL("an invalid secret key was accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_argument);
      CHECK(std::string(e.what()).find("not a valid secp256k1 secret key") != std::string::npos);
      CHECK(std::string(e.what()).find(hex(bad)) == std::string::npos);
    }
    CHECK_THROWS_AS(util::schnorr_sign(bad, "message"), Error);
  }
}

TEST_CASE("bip340: x-only public keys must be the x coordinate of a curve point") {
  CHECK(util::is_valid_xonly_public_key(util::xonly_public_key(arr<32>(kSecretHex))));
  // x = 5 has no point on secp256k1 (5^3 + 7 = 132 is not a square mod p); x >= p is no field element.
  CHECK_FALSE(util::is_valid_xonly_public_key(arr<32>(std::string(63, '0') + "5")));
  CHECK_FALSE(util::is_valid_xonly_public_key(arr<32>(std::string(64, 'f'))));
  const auto sig = util::schnorr_sign(arr<32>(kSecretHex), "message");
  CHECK_FALSE(util::schnorr_verify(arr<32>(std::string(64, 'f')), "message", sig));
}

TEST_CASE("secp256k1 context: one shared context, the same from every thread") {
  const secp256k1_context* main_ctx = util::secp256k1_ctx();
  REQUIRE(main_ctx != nullptr);
  CHECK(util::secp256k1_ctx() == main_ctx);
  std::vector<const secp256k1_context*> seen(4, nullptr);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&seen, i] { seen[i] = util::secp256k1_ctx(); });
  }
  for (auto& t : threads) t.join();
  for (const auto* ctx : seen) CHECK(ctx == main_ctx);
}
