#pragma once
// Helpers shared by the BOLT11 tests: the spec's vectors, hex conversions, and a way to
// re-wrap a hand-made data part in a valid bech32 envelope.

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/util/hex.hpp"
#include "test_support.hpp"
#include "util/bech32.hpp"

namespace petalsln::test {

/// The BOLT #11 examples with the fields the specification lists for them.
inline const nlohmann::json& bolt11_vectors() {
  static const nlohmann::json v =
      nlohmann::json::parse(slurp(std::string(PETALSLN_SOURCE_DIR) + "/tests/lightning/bolt11_vectors.json"));
  return v;
}

/// The key every specification example is signed with.
inline Bolt11SecretKey spec_key() {
  Bolt11SecretKey k{};
  util::from_hex_into(bolt11_vectors().at("priv_key").get<std::string>(), k.data(), k.size());
  return k;
}

template <std::size_t N>
std::array<std::uint8_t, N> hex_array(const std::string& hex) {
  std::array<std::uint8_t, N> out{};
  util::from_hex_into(hex, out.data(), out.size());
  return out;
}

template <typename Bytes>
std::string hex_of(const Bytes& bytes) {
  return util::to_hex(bytes.data(), bytes.size());
}

/// A signed regtest invoice with fixed, recognisable fields (key 0x01 repeated).
inline Bolt11Params sample_params() {
  Bolt11Params p;
  p.network = Bolt11Network::regtest;
  p.amount_msat = 123456;
  p.timestamp = 1700000000;
  p.payment_hash = hex_array<32>(std::string(64, 'a'));
  p.payment_secret = hex_array<32>(std::string(64, 'b'));
  p.description = "block-tokens for a test";
  p.expiry = 600;
  return p;
}

/// The secret key 0x0101...01.
inline Bolt11SecretKey sample_key() {
  Bolt11SecretKey k{};
  k.fill(1);
  return k;
}

/// Replaces the character at @p index of @p invoice's data part and fixes the checksum, so
/// that only what lies under the checksum (fields, signature) sees the change.
inline std::string tamper(const std::string& invoice, std::size_t index, std::uint8_t word) {
  auto b = util::bech32_decode(invoice, std::string::npos);
  b.words.at(index) = word;
  return util::bech32_encode(b.hrp, b.words);
}

/// Returns @p invoice with its human-readable part replaced by @p hrp (checksum recomputed).
inline std::string with_hrp(const std::string& invoice, const std::string& hrp) {
  const auto b = util::bech32_decode(invoice, std::string::npos);
  return util::bech32_encode(hrp, b.words);
}

}  // namespace petalsln::test
