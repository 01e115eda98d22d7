// BOLT11: the reader's rules for each tagged field. Invoices are made with hand-written raw
// fields and signed properly, so that only the rule under test can reject them.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "bolt11_test_support.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;
using petalsln::test::sample_key;
using petalsln::test::sample_params;
using Words = std::vector<std::uint8_t>;

namespace {

// Field types by their bech32 character.
constexpr std::uint8_t kP = 1, kR = 3, kNine = 5, kX = 6, kF = 9, kD = 13, kS = 16, kN = 19, kH = 23, kC = 24, kUnknownZ = 2;

Bolt11Invoice base_invoice() { return Bolt11Invoice::create(sample_params(), sample_key()); }

// The base invoice with @p fields appended, signed again.
std::string signed_with(std::vector<Bolt11RawField> fields, Bolt11Invoice inv = base_invoice()) {
  for (auto& f : fields) {
    inv.extra_fields.push_back(std::move(f));
    inv.field_order.push_back(Bolt11Invoice::kExtraFieldSlot);
  }
  inv.sign(sample_key());
  return inv.encode();
}

Words zeros(std::size_t n) { return Words(n, 0); }

Words words_of(const std::string& bytes) {
  return util::bytes_to_words(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

void expect_rejected(const std::string& text, const std::string& why, ErrorCode code = ErrorCode::invalid_format) {
  try {
    (void)Bolt11Invoice::decode(text);
    FAIL("accepted, expected: " << why);
  } catch (const Error& e) {
    CHECK(e.code() == code);
    CHECK_MESSAGE(std::string(e.what()).find(why) != std::string::npos, e.what());
  }
}

}  // namespace

TEST_CASE("bolt11: fixed-length fields with another length make the invoice invalid") {
  expect_rejected(signed_with({{kP, zeros(51)}}), "field 'p' (payment hash) has data_length 51, must be 52");
  expect_rejected(signed_with({{kP, zeros(53)}}), "field 'p' (payment hash) has data_length 53, must be 52");
  expect_rejected(signed_with({{kS, zeros(0)}}), "field 's' (payment secret) has data_length 0, must be 52");
  expect_rejected(signed_with({{kH, zeros(53)}}), "field 'h' (description hash) has data_length 53, must be 52");
  expect_rejected(signed_with({{kN, zeros(52)}}), "field 'n' (payee node id) has data_length 52, must be 53");
  expect_rejected(signed_with({{kN, zeros(54)}}), "field 'n' (payee node id) has data_length 54, must be 53");
}

TEST_CASE("bolt11: x, c and 9 must be minimally encoded") {
  expect_rejected(signed_with({{kX, {0, 3}}}), "field 'x' (expiry) has a non-minimal data_length");
  expect_rejected(signed_with({{kC, {0, 18}}}), "field 'c' (min_final_cltv_expiry_delta) has a non-minimal data_length");
  expect_rejected(signed_with({{kNine, {0, 16, 8, 0}}}), "field '9' (features) has a non-minimal data_length");
  expect_rejected(signed_with({{kNine, {}}}), "field '9' (features) has a non-minimal data_length");
  expect_rejected(signed_with({{kX, Words(14, 31)}}), "does not fit in 64 bits");
  // A zero-length x or c is the minimal form of zero.
  auto inv = base_invoice();
  inv.expiry = 0;
  inv.sign(sample_key());
  CHECK(Bolt11Invoice::decode(inv.encode()).expiry == std::optional<std::uint64_t>(0));
}

TEST_CASE("bolt11: feature bits follow 'it's ok to be odd'") {
  auto with_features = [](std::vector<std::uint16_t> bits) {
    auto inv = base_invoice();
    inv.features = std::move(bits);
    inv.sign(sample_key());
    return inv.encode();
  };
  expect_rejected(with_features({8, 14, 100}), "requires unknown feature bit 100", ErrorCode::unsupported);
  expect_rejected(with_features({2, 8, 14}), "requires unknown feature bit 2", ErrorCode::unsupported);
  CHECK(Bolt11Invoice::decode(with_features({8, 14, 101})).features == std::vector<std::uint16_t>{8, 14, 101});
  CHECK(Bolt11Invoice::decode(with_features({8, 14, 16, 24, 36, 48})).has_feature(16));
  CHECK(Bolt11Invoice::decode(with_features({9, 15, 5113})).has_feature(5113));  // the largest field
}

TEST_CASE("bolt11: field contents must be canonical") {
  Words d = words_of("ab");  // 16 bits in 4 words: 4 bits of padding
  d.back() = static_cast<std::uint8_t>(d.back() | 1);
  auto inv = base_invoice();
  inv.description.reset();
  inv.description_hash = Bolt11Hash{};
  expect_rejected(signed_with({{kD, d}}, inv), "field 'd' (description): padding bits are not zero");
  expect_rejected(signed_with({{kD, words_of("ab")}}, inv), "has both a description ('d') and a description hash ('h')");
  Words padded = words_of("abcde");
  padded.push_back(0);  // a whole extra word
  expect_rejected(signed_with({{kD, padded}}, inv), "a whole 5-bit word of padding");
  expect_rejected(signed_with({{kD, words_of("\xc3\x28")}}, inv), "field 'd' (description) is not valid UTF-8 at byte 0");
}

TEST_CASE("bolt11: a description or a description hash, and a payment hash and secret, are required") {
  auto inv = base_invoice();
  inv.description.reset();  // after signing: the field check comes before the signature's
  expect_rejected(inv.encode(), "has neither a description ('d') nor a description hash ('h')");
  expect_rejected(signed_with({{kH, zeros(52)}}), "has both a description ('d') and a description hash ('h')");
  // Drop the first field (p, 55 words after the 7-word timestamp) and keep a valid checksum.
  auto b = util::bech32_decode(base_invoice().encode(), std::string::npos);
  REQUIRE(b.words[7] == kP);
  b.words.erase(b.words.begin() + 7, b.words.begin() + 7 + 55);
  expect_rejected(util::bech32_encode(b.hrp, b.words), "no payment hash ('p' field)");
}

TEST_CASE("bolt11: fallback addresses") {
  expect_rejected(signed_with({{kF, {}}}), "field 'f' (fallback address) is empty");
  Words v0{0};
  const Words prog21 = words_of(std::string(21, '\x01'));
  v0.insert(v0.end(), prog21.begin(), prog21.end());
  expect_rejected(signed_with({{kF, v0}}), "version 0 has a 21-byte program");
  Words p2pkh32{17};
  const Words prog32 = words_of(std::string(32, '\x01'));
  p2pkh32.insert(p2pkh32.end(), prog32.begin(), prog32.end());
  expect_rejected(signed_with({{kF, p2pkh32}}), "version 17 has a 32-byte program");
  // Versions 19..31 are skipped by readers and kept as they are.
  Words v19{19};
  v19.insert(v19.end(), prog32.begin(), prog32.end());
  const std::string text = signed_with({{kF, v19}});
  const auto inv = Bolt11Invoice::decode(text);
  CHECK(inv.fallback_addresses.empty());
  REQUIRE(inv.extra_fields.size() == 1);
  CHECK(inv.extra_fields[0] == Bolt11RawField{kF, v19});
  CHECK(inv.encode() == text);
}

TEST_CASE("bolt11: route hints hold whole 51-byte hops") {
  expect_rejected(signed_with({{kR, words_of(std::string(50, '\x02'))}}), "holds 50 bytes, not a positive multiple of 51");
  expect_rejected(signed_with({{kR, {}}}), "holds 0 bytes");
  expect_rejected(signed_with({{kR, words_of(std::string(103, '\x02'))}}), "holds 103 bytes");
}

TEST_CASE("bolt11: unknown fields and repeated fields are kept, in place, and the first one counts") {
  auto inv = base_invoice();
  Words other_hash = words_of(std::string(32, '\x07'));
  const std::string text = signed_with({{kUnknownZ, {1, 2, 3}}, {kP, other_hash}, {0, {}}, {31, Words(1023, 31)}});
  const auto back = Bolt11Invoice::decode(text);
  CHECK(back.payment_hash == inv.payment_hash);  // the first 'p'
  REQUIRE(back.extra_fields.size() == 4);
  CHECK(back.extra_fields[0] == Bolt11RawField{kUnknownZ, {1, 2, 3}});
  CHECK(back.extra_fields[1] == Bolt11RawField{kP, other_hash});
  CHECK(back.extra_fields[3].words.size() == 1023);
  CHECK(back.encode() == text);
  // Fields moved around by field_order come back in that order: the unknown 'z' goes first.
  auto reordered = back;
  REQUIRE(reordered.field_order[6] == Bolt11Invoice::kExtraFieldSlot);
  std::rotate(reordered.field_order.begin(), reordered.field_order.begin() + 6, reordered.field_order.begin() + 7);
  reordered.sign(sample_key());
  const auto again = Bolt11Invoice::decode(reordered.encode());
  CHECK(again.field_order == reordered.field_order);
  CHECK(again.extra_fields == back.extra_fields);
  CHECK(again.field_order[0] == Bolt11Invoice::kExtraFieldSlot);
  // A repeated 'p' moved in front of the first one becomes the one that counts.
  auto swapped = again;
  std::swap(swapped.extra_fields[0], swapped.extra_fields[1]);
  swapped.sign(sample_key());
  const auto first_p = Bolt11Invoice::decode(swapped.encode());
  Bolt11Hash sevens{};
  sevens.fill(7);
  CHECK(first_p.payment_hash == sevens);
  CHECK(first_p.extra_fields[0].type == kP);  // the created invoice's own 'p', now the repeat
}

TEST_CASE("bolt11: a field whose data_length runs into the signature is rejected") {
  auto b = util::bech32_decode(base_invoice().encode(), std::string::npos);
  b.words[8] = 31;  // the first field now claims 31 * 32 + ... words
  expect_rejected(util::bech32_encode(b.hrp, b.words), "running into the signature");
}

TEST_CASE("bolt11: an 'n' field must be a valid key that signed the invoice") {
  auto p = sample_params();
  p.include_payee_node_id = true;
  auto inv = Bolt11Invoice::create(p, sample_key());
  auto other = inv;
  other.payee_node_id = test::hex_array<33>("03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad");
  expect_rejected(other.encode(), "does not verify against the 'n' field's public key");
  const auto reported = Bolt11Invoice::decode(other.encode(), Bolt11SignatureCheck::report);
  CHECK_FALSE(reported.signature_valid);
  other.payee_node_id = test::hex_array<33>("05" + std::string(64, '1'));
  expect_rejected(other.encode(), "field 'n' (payee node id) is not a valid public key");
  auto bad_recid = inv;
  bad_recid.payee_node_id.reset();
  bad_recid.recovery_id = 4;
  expect_rejected(bad_recid.encode(), "recovery id 4 is not 0..3");
}
