// BOLT11: every example of the specification decodes to the fields it lists, re-encodes to
// the same string, and (signed again with the spec's key) reproduces its signature; every
// invalid example is rejected with the reason.
#include <doctest/doctest.h>

#include <cctype>
#include <string>

#include "bolt11_test_support.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;
using petalsln::test::bolt11_vectors;
using petalsln::test::hex_of;
using nlohmann::json;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void check_route_hints(const Bolt11Invoice& inv, const json& expected) {
  REQUIRE(inv.route_hints.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    REQUIRE(inv.route_hints[i].size() == expected[i].size());
    for (std::size_t j = 0; j < expected[i].size(); ++j) {
      const auto& hop = inv.route_hints[i][j];
      const auto& e = expected[i][j];
      CHECK(hex_of(hop.pubkey) == e.at("pubkey").get<std::string>());
      CHECK(format_short_channel_id(hop.short_channel_id) == e.at("short_channel_id").get<std::string>());
      CHECK(hop.fee_base_msat == e.at("fee_base_msat").get<std::uint32_t>());
      CHECK(hop.fee_proportional_millionths == e.at("fee_proportional_millionths").get<std::uint32_t>());
      CHECK(hop.cltv_expiry_delta == e.at("cltv_expiry_delta").get<std::uint16_t>());
    }
  }
}

void check_fallbacks(const Bolt11Invoice& inv, const json& expected) {
  REQUIRE(inv.fallback_addresses.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(inv.fallback_addresses[i].version == expected[i].at("version").get<int>());
    CHECK(hex_of(inv.fallback_addresses[i].program) == expected[i].at("program").get<std::string>());
  }
}

void check_optional_text(const std::optional<std::string>& got, const json& v, const char* key) {
  if (v.contains(key)) {
    REQUIRE(got.has_value());
    CHECK(*got == v.at(key).get<std::string>());
  } else {
    CHECK_FALSE(got.has_value());
  }
}

void check_fields(const Bolt11Invoice& inv, const json& v) {
  CHECK(std::string(to_string(inv.network)) == v.at("network").get<std::string>());
  if (v.at("amount_msat").is_null()) {
    CHECK_FALSE(inv.amount_msat.has_value());
  } else {
    REQUIRE(inv.amount_msat.has_value());
    CHECK(*inv.amount_msat == v.at("amount_msat").get<std::uint64_t>());
  }
  CHECK(inv.timestamp == v.at("timestamp").get<std::uint64_t>());
  CHECK(hex_of(inv.payment_hash) == v.at("payment_hash").get<std::string>());
  CHECK(hex_of(inv.payment_secret) == v.at("payment_secret").get<std::string>());
  check_optional_text(inv.description, v, "description");
  CHECK(inv.description_hash.has_value() == v.contains("description_hash"));
  if (inv.description_hash) CHECK(hex_of(*inv.description_hash) == v.at("description_hash").get<std::string>());
  CHECK(inv.expiry_seconds() == v.at("expiry").get<std::uint64_t>());
  CHECK(inv.min_final_cltv_expiry_delta() == v.at("min_final_cltv_expiry").get<std::uint64_t>());
  CHECK(inv.features == v.at("features").get<std::vector<std::uint16_t>>());
  check_fallbacks(inv, v.at("fallback_addresses"));
  check_route_hints(inv, v.at("route_hints"));
  CHECK(inv.metadata.has_value() == v.contains("metadata"));
  if (inv.metadata) CHECK(hex_of(*inv.metadata) == v.at("metadata").get<std::string>());
  CHECK(inv.signature_valid);
  REQUIRE(inv.payee.has_value());
  CHECK(hex_of(*inv.payee) == v.at("payee").get<std::string>());
  CHECK_FALSE(inv.payee_node_id.has_value());
  CHECK(inv.extra_fields.empty());
}

void check_signature(const Bolt11Invoice& inv, const json& v) {
  if (!v.contains("signature")) return;
  CHECK(hex_of(inv.signature) == v.at("signature").get<std::string>());
  CHECK(inv.recovery_id == v.at("recovery_id").get<int>());
  CHECK(hex_of(inv.signing_hash()) == v.at("signing_hash").get<std::string>());
}

bool is_upper(const std::string& s) { return lower(s) != s; }

}  // namespace

TEST_CASE("bolt11: the specification's examples decode to the fields it lists") {
  for (const auto& v : bolt11_vectors().at("valid")) {
    SUBCASE(v.at("name").get<std::string>().c_str()) {
      const auto inv = Bolt11Invoice::decode(v.at("invoice").get<std::string>());
      check_fields(inv, v);
      check_signature(inv, v);
    }
  }
}

TEST_CASE("bolt11: the specification's examples re-encode exactly") {
  for (const auto& v : bolt11_vectors().at("valid")) {
    const std::string text = v.at("invoice").get<std::string>();
    INFO(v.at("name").get<std::string>());
    const auto inv = Bolt11Invoice::decode(text);
    CHECK(inv.encode(is_upper(text)) == text);
    CHECK(inv.encode() == lower(text));
  }
}

TEST_CASE("bolt11: signing the examples' fields with the spec's key reproduces them (RFC 6979)") {
  for (const auto& v : bolt11_vectors().at("valid")) {
    const std::string text = v.at("invoice").get<std::string>();
    INFO(v.at("name").get<std::string>());
    auto inv = Bolt11Invoice::decode(text);
    const bool high_s = v.at("name").get<std::string>().find("high-S") != std::string::npos;
    inv.signature.fill(0);
    inv.recovery_id = 0;
    inv.signature_valid = false;
    inv.sign(test::spec_key());
    CHECK(inv.signature_valid);
    CHECK(hex_of(*inv.payee) == bolt11_vectors().at("valid")[0].at("payee").get<std::string>());
    // libsecp256k1 signs low-S; the high-S example is the same signature with S negated.
    if (high_s) {
      CHECK(inv.encode() == Bolt11Invoice::decode(bolt11_vectors().at("valid")[0].at("invoice").get<std::string>()).encode());
    } else {
      CHECK(inv.encode() == lower(text));
    }
  }
}

TEST_CASE("bolt11: the specification's invalid examples are rejected with their reason") {
  for (const auto& v : bolt11_vectors().at("invalid")) {
    SUBCASE(v.at("name").get<std::string>().c_str()) {
      const std::string text = v.at("invoice").get<std::string>();
      try {
        (void)Bolt11Invoice::decode(text);
        FAIL("accepted: " << text);
      } catch (const Error& e) {
        INFO(e.what());
        CHECK(std::string(to_string(e.code())) == v.at("code").get<std::string>());
        CHECK(std::string(e.what()).find(v.at("reason").get<std::string>()) != std::string::npos);
        CHECK(std::string(e.what()).rfind("BOLT11 invoice: ", 0) == 0);
      }
    }
  }
}

TEST_CASE("bolt11: the 'hashed' examples commit to the specification's long description") {
  const std::string cake =
      "One piece of chocolate cake, one icecream cone, one pickle, one slice of swiss cheese, one slice of salami, "
      "one lollypop, one piece of cherry pie, one sausage, one cupcake, and one slice of watermelon";
  const auto inv = Bolt11Invoice::decode(bolt11_vectors().at("valid")[3].at("invoice").get<std::string>());
  CHECK(inv.description_matches(cake));
  CHECK_FALSE(inv.description_matches(cake + "."));
  const auto plain = Bolt11Invoice::decode(bolt11_vectors().at("valid")[1].at("invoice").get<std::string>());
  CHECK(plain.description_matches("1 cup coffee"));
  CHECK_FALSE(plain.description_matches("2 cups coffee"));
}

TEST_CASE("bolt11: the high-S example is accepted through recovery but refused once it states its payee") {
  const auto& valid = bolt11_vectors().at("valid");
  const auto high_s = Bolt11Invoice::decode(valid[valid.size() - 1].at("invoice").get<std::string>());
  CHECK(high_s.signature_valid);
  // Negating S mirrors R: with the other recovery id the spec's key comes back.
  auto flipped = high_s;
  flipped.recovery_id = 0;
  const auto recovered = Bolt11Invoice::decode(flipped.encode());
  CHECK(hex_of(*recovered.payee) == bolt11_vectors().at("valid")[0].at("payee").get<std::string>());
  // The same invoice with an 'n' field must verify low-S only.
  auto stated = high_s;
  stated.payee_node_id = high_s.payee;
  const std::string text = stated.encode();
  CHECK_THROWS_WITH_AS(Bolt11Invoice::decode(text), doctest::Contains("not low-S"), Error);
  const auto reported = Bolt11Invoice::decode(text, Bolt11SignatureCheck::report);
  CHECK_FALSE(reported.signature_valid);
  CHECK_FALSE(reported.payee.has_value());
}
