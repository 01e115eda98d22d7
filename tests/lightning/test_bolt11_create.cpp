// BOLT11: creating and signing invoices, round trips, the amount in the human-readable part,
// expiry, and attacks on the string (tampering, truncation, unknown networks).
#include <doctest/doctest.h>

#include <string>

#include "bolt11_test_support.hpp"
#include "petalsln/util/error.hpp"
#include "util/sha256.hpp"

using namespace petalsln;
using petalsln::test::hex_of;
using petalsln::test::sample_key;
using petalsln::test::sample_params;

namespace {

// The reason decode() gives for @p text, or "" if it is accepted.
std::string rejection(const std::string& text) {
  try {
    (void)Bolt11Invoice::decode(text);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("bolt11: create() writes what a BOLT11 writer must and decode() reads it back") {
  const auto inv = Bolt11Invoice::create(sample_params(), sample_key());
  const std::string text = inv.encode();
  CHECK(text.rfind("lnbcrt1234560p1", 0) == 0);  // 123456 msat is not a whole nano-bitcoin: pico
  const auto back = Bolt11Invoice::decode(text);
  CHECK(back.network == Bolt11Network::regtest);
  CHECK(back.amount_msat == std::optional<std::uint64_t>(123456));
  CHECK(back.timestamp == 1700000000);
  CHECK(back.payment_hash == inv.payment_hash);
  CHECK(back.payment_secret == *sample_params().payment_secret);
  CHECK(back.description == std::optional<std::string>("block-tokens for a test"));
  CHECK(back.expiry_seconds() == 600);
  CHECK(back.min_final_cltv_expiry == std::optional<std::uint64_t>(18));  // always written
  CHECK(back.features == std::vector<std::uint16_t>{8, 14});
  CHECK(back.has_feature(Bolt11Invoice::kFeaturePaymentSecret));
  CHECK_FALSE(back.has_feature(15));
  CHECK(back.payee == std::optional<Bolt11NodeId>(test::hex_array<33>(
                          "031b84c5567b126440995d3ed5aaba0565d71e1834604819ff9c17f5e9d5dd078f")));
  CHECK_FALSE(back.payee_node_id.has_value());
  CHECK(back.signature_valid);
  CHECK(back.encode() == text);
  CHECK(back.field_order == std::vector<std::uint8_t>{1, 16, 13, 6, 24, 5});  // p s d x c 9
}

TEST_CASE("bolt11: create() with every optional field round-trips") {
  Bolt11Params p = sample_params();
  p.network = Bolt11Network::signet;
  p.amount_msat.reset();
  p.description.reset();
  p.description_hash = util::sha256("a long description");
  p.include_payee_node_id = true;
  p.extra_features = {17, 25};
  p.metadata = std::vector<std::uint8_t>{0xde, 0xad, 0xbe, 0xef};
  p.fallback_addresses = {{0, std::vector<std::uint8_t>(20, 7)}, {18, std::vector<std::uint8_t>(20, 9)}};
  Bolt11RouteHop hop;
  hop.pubkey = test::hex_array<33>("02" + std::string(64, 'c'));
  hop.short_channel_id = (std::uint64_t{800000} << 40) | (std::uint64_t{1234} << 16) | 7;
  hop.fee_base_msat = 1000;
  hop.fee_proportional_millionths = 1;
  hop.cltv_expiry_delta = 144;
  p.route_hints = {{hop}, {hop, hop}};
  const auto inv = Bolt11Invoice::create(p, sample_key());
  const auto back = Bolt11Invoice::decode(inv.encode());
  CHECK(inv.encode().rfind("lntbs1", 0) == 0);
  CHECK_FALSE(back.amount_msat.has_value());
  CHECK(back.description_matches("a long description"));
  CHECK(back.payee_node_id == back.payee);
  CHECK(back.features == std::vector<std::uint16_t>{8, 14, 17, 25, 48});
  CHECK(back.metadata == p.metadata);
  CHECK(back.fallback_addresses == p.fallback_addresses);
  CHECK(back.route_hints == p.route_hints);
  CHECK(format_short_channel_id(back.route_hints[0][0].short_channel_id) == "800000x1234x7");
  CHECK(back.encode() == inv.encode());
}

TEST_CASE("bolt11: writer rules are enforced by create() and sign()") {
  const auto key = sample_key();
  auto expect_invalid = [&](Bolt11Params p, const char* why) {
    CAPTURE(why);
    try {
      (void)Bolt11Invoice::create(p, key);
      FAIL("created");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_argument);
      CHECK(std::string(e.what()).find(why) != std::string::npos);
    }
  };
  auto p = sample_params();
  p.description_hash = Bolt11Hash{};
  expect_invalid(p, "exactly one of a description and a description hash");
  p = sample_params();
  p.description.reset();
  expect_invalid(p, "exactly one of a description and a description hash");
  p = sample_params();
  p.description = std::string("\xff\xfe");
  expect_invalid(p, "UTF-8");
  p = sample_params();
  p.description = std::string(640, 'x');
  expect_invalid(p, "more than the 1023 a field can hold");
  p = sample_params();
  p.amount_msat = 0;
  expect_invalid(p, "not between 1 msat and 21 million bitcoin");
  p = sample_params();
  p.timestamp = std::uint64_t{1} << 35;
  expect_invalid(p, "does not fit in 35 bits");
  p = sample_params();
  p.fallback_addresses = {{0, std::vector<std::uint8_t>(21, 0)}};
  expect_invalid(p, "fallback address version 0");
  p = sample_params();
  p.route_hints = {{}};
  expect_invalid(p, "at least one hop");
  p = sample_params();
  p.route_hints = {Bolt11RouteHint(13)};
  expect_invalid(p, "more than the 1023");
  Bolt11SecretKey zero{};
  CHECK_THROWS_WITH_AS(Bolt11Invoice::create(sample_params(), zero), doctest::Contains("not a valid secp256k1 secret key"), Error);
  auto inv = Bolt11Invoice::create(sample_params(), key);
  inv.payee_node_id = test::hex_array<33>("03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad");
  CHECK_THROWS_WITH_AS(inv.sign(key), doctest::Contains("not the public key of the signing key"), Error);
  p = sample_params();
  p.description = std::string(639, 'x');  // the longest description that fits
  CHECK(Bolt11Invoice::decode(Bolt11Invoice::create(p, key).encode()).description->size() == 639);
}

TEST_CASE("bolt11: amounts in the human-readable part") {
  auto inv = Bolt11Invoice::create(sample_params(), sample_key());
  auto hrp_for = [&](std::uint64_t msat, Bolt11AmountUnit unit) {
    inv.amount_msat = msat;
    inv.amount_unit = unit;
    return inv.human_readable_part();
  };
  CHECK(hrp_for(100'000'000'000, Bolt11AmountUnit::shortest) == "lnbcrt1");
  CHECK(hrp_for(2'500'000'000, Bolt11AmountUnit::shortest) == "lnbcrt25m");
  CHECK(hrp_for(250'000'000, Bolt11AmountUnit::shortest) == "lnbcrt2500u");
  CHECK(hrp_for(1'000, Bolt11AmountUnit::shortest) == "lnbcrt10n");
  CHECK(hrp_for(1, Bolt11AmountUnit::shortest) == "lnbcrt10p");
  CHECK(hrp_for(2'500'000'000, Bolt11AmountUnit::micro) == "lnbcrt25000u");
  CHECK(hrp_for(2'500'000'000, Bolt11AmountUnit::pico) == "lnbcrt25000000000p");
  CHECK(hrp_for(2'100'000'000'000'000'000ULL, Bolt11AmountUnit::shortest) == "lnbcrt21000000");
  CHECK_THROWS_WITH_AS(hrp_for(1'550, Bolt11AmountUnit::nano), doctest::Contains("not a whole number"), Error);
  CHECK_THROWS_AS(hrp_for(2'100'000'000'000'000'001ULL, Bolt11AmountUnit::shortest), Error);
  inv.amount_msat.reset();
  CHECK(inv.human_readable_part() == "lnbcrt");

  // Each accepted form decodes to the msat it stands for and is written back the same way.
  const std::string base = Bolt11Invoice::create(sample_params(), sample_key()).encode();
  const auto base_payee = Bolt11Invoice::decode(base).payee;
  for (const auto& [amount, msat] : std::vector<std::pair<std::string, std::uint64_t>>{
           {"1", 100'000'000'000}, {"25m", 2'500'000'000}, {"2500u", 250'000'000}, {"10n", 1000}, {"10p", 1},
           {"9678785340p", 967'878'534}, {"21000000", 2'100'000'000'000'000'000ULL}}) {
    CAPTURE(amount);
    const std::string text = test::with_hrp(base, "lnbcrt" + amount);
    const auto d = Bolt11Invoice::decode(text);
    CHECK(d.amount_msat == std::optional<std::uint64_t>(msat));
    CHECK(d.payee != base_payee);  // the amount is signed: another amount, another signer
    CHECK(d.encode() == text);
  }
  for (const auto& [amount, why] : std::vector<std::pair<std::string, std::string>>{
           {"2500x", "invalid amount multiplier 'x'"},
           {"25mm", "at most one multiplier"},
           {"025m", "without leading zeros"},
           {"0", "without leading zeros"},
           {"11p", "not a whole number of millisatoshi"},
           {"21000001", "more than 21 million bitcoin"},
           {"99999999999999999999999", "more than 21 million bitcoin"}}) {
    CAPTURE(amount);
    CHECK(rejection(test::with_hrp(base, "lnbcrt" + amount)).find(why) != std::string::npos);
  }
}

TEST_CASE("bolt11: networks and unknown currency prefixes") {
  for (auto n : {Bolt11Network::mainnet, Bolt11Network::testnet, Bolt11Network::signet, Bolt11Network::regtest,
                 Bolt11Network::simnet}) {
    auto p = sample_params();
    p.network = n;
    const auto text = Bolt11Invoice::create(p, sample_key()).encode();
    CHECK(text.rfind(std::string("ln") + bolt11_currency_prefix(n), 0) == 0);
    CHECK(Bolt11Invoice::decode(text).network == n);
  }
  const std::string base = Bolt11Invoice::create(sample_params(), sample_key()).encode();
  try {
    (void)Bolt11Invoice::decode(test::with_hrp(base, "lnxy10n"));
    FAIL("unknown network accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
    CHECK(std::string(e.what()).find("unknown currency prefix \"xy\"") != std::string::npos);
  }
  CHECK(rejection(test::with_hrp(base, "bcrt10n")).find("does not start with \"ln\"") != std::string::npos);
  CHECK(rejection(test::with_hrp(base, "lnbcrtx")).find("unknown currency prefix \"bcrtx\"") != std::string::npos);
  CHECK(rejection("lightning:" + base).find("bech32") != std::string::npos);
}

TEST_CASE("bolt11: tampering with any signed word is detected") {
  auto p = sample_params();
  const std::string plain = Bolt11Invoice::create(p, sample_key()).encode();
  p.include_payee_node_id = true;
  const std::string stated = Bolt11Invoice::create(p, sample_key()).encode();
  const auto payee = Bolt11Invoice::decode(plain).payee;
  for (const std::string& text : {plain, stated}) {
    CAPTURE(text);
    const auto words = util::bech32_decode(text, std::string::npos).words;
    for (std::size_t i = 0; i < words.size(); ++i) {
      const std::string t = test::tamper(text, i, static_cast<std::uint8_t>(words[i] ^ 1));
      CAPTURE(i);
      try {
        const auto inv = Bolt11Invoice::decode(t);
        if (inv.payee != payee) continue;  // any signature recovers some key: another payee
        // With 'n' the recovery id is not used (the spec verifies against 'n' instead), so
        // its low bit in the last word may change; nothing the payer relies on does.
        CHECK(text == stated);
        CHECK(i == words.size() - 1);
        CHECK(inv.payment_hash == Bolt11Invoice::decode(text).payment_hash);
      } catch (const Error&) {
        // rejected: fine
      }
    }
  }
  // A changed character that keeps the old checksum fails the checksum.
  std::string bad = plain;
  bad[bad.size() - 10] = bad[bad.size() - 10] == 'q' ? 'p' : 'q';
  CHECK(rejection(bad).find("checksum is invalid") != std::string::npos);
}

TEST_CASE("bolt11: every truncation is rejected") {
  const std::string text = Bolt11Invoice::create(sample_params(), sample_key()).encode();
  for (std::size_t n = 0; n < text.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(rejection(text.substr(0, n)).empty());
  }
  // Dropping data words but keeping a valid checksum: the fields or signature come up short.
  auto b = util::bech32_decode(text, std::string::npos);
  for (std::size_t n = 1; n < b.words.size(); n += 7) {
    const std::vector<std::uint8_t> shorter(b.words.begin(), b.words.end() - static_cast<std::ptrdiff_t>(n));
    CAPTURE(n);
    CHECK_FALSE(rejection(util::bech32_encode(b.hrp, shorter)).empty());
  }
}

TEST_CASE("bolt11: expiry") {
  auto inv = Bolt11Invoice::create(sample_params(), sample_key());
  CHECK(inv.expires_at() == 1700000600);
  CHECK_FALSE(inv.is_expired(1700000599));
  CHECK(inv.is_expired(1700000600));
  inv.expiry.reset();
  CHECK(inv.expiry_seconds() == Bolt11Invoice::kDefaultExpiry);
  CHECK(inv.expires_at() == 1700003600);
  inv.expiry = UINT64_MAX;
  CHECK(inv.expires_at() == UINT64_MAX);
  CHECK_FALSE(inv.is_expired(UINT64_MAX - 1));
  inv.min_final_cltv_expiry.reset();
  CHECK(inv.min_final_cltv_expiry_delta() == 18);
}
