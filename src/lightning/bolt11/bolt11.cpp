// Bolt11Invoice: the whole invoice string, from the bech32 envelope down to the signature.
// The human-readable part, the tagged fields and the signature each live in their own file.

#include "petalsln/lightning/bolt11.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "lightning/bolt11/bolt11_codec.hpp"
#include "util/bech32.hpp"
#include "util/random.hpp"
#include "util/sha256.hpp"

namespace petalsln {
namespace lightning {

void fail(ErrorCode code, const std::string& why) { throw Error(code, "BOLT11 invoice: " + why); }

}  // namespace lightning

namespace {

using lightning::kSignatureWords;
using lightning::kTimestampWords;
using lightning::malformed;
using lightning::Words;

constexpr std::uint64_t kMaxTimestamp = (std::uint64_t{1} << 35) - 1;

std::uint64_t read_timestamp(const std::uint8_t* words) {
  std::uint64_t t = 0;
  for (std::size_t i = 0; i < kTimestampWords; ++i) t = (t << 5) | words[i];
  return t;
}

void append_timestamp(std::uint64_t t, Words& out) {
  if (t > kMaxTimestamp) {
    lightning::fail(ErrorCode::invalid_argument, "timestamp " + std::to_string(t) + " does not fit in 35 bits");
  }
  for (std::size_t i = kTimestampWords; i-- > 0;) out.push_back(static_cast<std::uint8_t>((t >> (5 * i)) & 31));
}

// The timestamp and tagged fields: everything the signature covers after the prefix.
// @p order receives the order the fields were written in.
Words signed_words(const Bolt11Invoice& inv, std::vector<std::uint8_t>* order = nullptr) {
  Words words;
  append_timestamp(inv.timestamp, words);
  auto written = lightning::write_tagged_fields(inv, words);
  if (order != nullptr) *order = std::move(written);
  return words;
}

Bolt11Hash digest_of(const std::string& hrp, const std::uint8_t* words, std::size_t count) {
  const auto bytes = util::words_to_bytes_padded(words, count);
  util::Sha256 h;
  h.update(hrp);
  h.update(bytes.data(), bytes.size());
  return h.finish();
}

util::Bech32String unwrap_bech32(std::string_view text) {
  try {
    return util::bech32_decode(text, std::string_view::npos);  // invoices may exceed 90 characters
  } catch (const Error& e) {
    malformed(e.what());
  }
}

void read_signature(const std::uint8_t* words, Bolt11Invoice& inv) {
  const auto bytes = util::words_to_bytes(words, kSignatureWords, "signature");
  std::memcpy(inv.signature.data(), bytes.data(), inv.signature.size());
  inv.recovery_id = bytes[64];
}

std::uint64_t unix_now() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

std::vector<std::uint16_t> writer_features(const Bolt11Params& p) {
  std::vector<std::uint16_t> bits{Bolt11Invoice::kFeatureVarOnionOptin, Bolt11Invoice::kFeaturePaymentSecret};
  if (p.metadata) bits.push_back(Bolt11Invoice::kFeaturePaymentMetadata);
  bits.insert(bits.end(), p.extra_features.begin(), p.extra_features.end());
  std::sort(bits.begin(), bits.end());
  bits.erase(std::unique(bits.begin(), bits.end()), bits.end());
  return bits;
}

Bolt11Hash random_secret() {
  Bolt11Hash s{};
  util::random_bytes(s.data(), s.size());
  return s;
}

}  // namespace

Bolt11Invoice Bolt11Invoice::decode(std::string_view text, Bolt11SignatureCheck check) {
  const util::Bech32String b = unwrap_bech32(text);
  Bolt11Invoice inv;
  lightning::parse_human_readable_part(b.hrp, inv);
  if (b.words.size() < kTimestampWords + kSignatureWords) {
    malformed("too short: " + std::to_string(b.words.size()) + " data words, while a timestamp and a signature take " +
              std::to_string(kTimestampWords + kSignatureWords));
  }
  const std::size_t fields_end = b.words.size() - kSignatureWords;
  inv.timestamp = read_timestamp(b.words.data());
  lightning::parse_tagged_fields(b.words.data() + kTimestampWords, fields_end - kTimestampWords, inv);
  lightning::check_required_fields(inv);
  read_signature(b.words.data() + fields_end, inv);
  // The signature covers the words exactly as received, so it is checked over those.
  const Bolt11Hash digest = digest_of(b.hrp, b.words.data(), fields_end);
  const auto problem = lightning::check_signature(digest, inv);
  if (problem && check == Bolt11SignatureCheck::require) malformed(*problem);
  inv.signature_valid = !problem;
  return inv;
}

Bolt11Invoice Bolt11Invoice::create(const Bolt11Params& params, const Bolt11SecretKey& secret_key) {
  Bolt11Invoice inv;
  inv.network = params.network;
  inv.amount_msat = params.amount_msat;
  inv.timestamp = params.timestamp ? *params.timestamp : unix_now();
  inv.payment_hash = params.payment_hash;
  inv.payment_secret = params.payment_secret ? *params.payment_secret : random_secret();
  inv.description = params.description;
  inv.description_hash = params.description_hash;
  inv.expiry = params.expiry;
  inv.min_final_cltv_expiry = params.min_final_cltv_expiry;
  inv.features = writer_features(params);
  inv.fallback_addresses = params.fallback_addresses;
  inv.route_hints = params.route_hints;
  inv.metadata = params.metadata;
  if (params.include_payee_node_id) inv.payee_node_id = lightning::public_key_of(secret_key);
  inv.sign(secret_key);
  return inv;
}

void Bolt11Invoice::sign(const Bolt11SecretKey& secret_key) {
  if (description.has_value() == description_hash.has_value()) {
    lightning::fail(ErrorCode::invalid_argument, "needs exactly one of a description and a description hash");
  }
  const Bolt11NodeId key = lightning::public_key_of(secret_key);
  if (payee_node_id && *payee_node_id != key) {
    lightning::fail(ErrorCode::invalid_argument, "payee_node_id is not the public key of the signing key");
  }
  // What gets signed is what encode() will write, so field_order is made to say exactly that.
  std::vector<std::uint8_t> order;
  const Words words = signed_words(*this, &order);
  const Bolt11Hash digest = digest_of(human_readable_part(), words.data(), words.size());
  field_order = std::move(order);
  lightning::sign_digest(digest, secret_key, *this);
  payee = key;
  signature_valid = true;
}

std::string Bolt11Invoice::encode(bool upper_case) const {
  Words words = signed_words(*this);
  std::vector<std::uint8_t> sig(signature.begin(), signature.end());
  sig.push_back(recovery_id);
  const Words sig_words = util::bytes_to_words(sig.data(), sig.size());
  words.insert(words.end(), sig_words.begin(), sig_words.end());
  std::string text = util::bech32_encode(human_readable_part(), words);
  if (upper_case) {
    for (char& c : text) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return text;
}

std::string Bolt11Invoice::human_readable_part() const {
  return std::string("ln") + bolt11_currency_prefix(network) + lightning::write_amount(*this);
}

Bolt11Hash Bolt11Invoice::signing_hash() const {
  const Words words = signed_words(*this);
  return digest_of(human_readable_part(), words.data(), words.size());
}

std::uint64_t Bolt11Invoice::expires_at() const noexcept {
  const std::uint64_t e = expiry_seconds();
  return timestamp > UINT64_MAX - e ? UINT64_MAX : timestamp + e;
}

bool Bolt11Invoice::has_feature(unsigned bit) const noexcept {
  return std::find(features.begin(), features.end(), bit) != features.end();
}

bool Bolt11Invoice::description_matches(std::string_view full_description) const {
  if (description_hash) return util::sha256(full_description) == *description_hash;
  return description && *description == full_description;
}

std::string format_short_channel_id(std::uint64_t scid) {
  return std::to_string(scid >> 40) + "x" + std::to_string((scid >> 16) & 0xffffff) + "x" + std::to_string(scid & 0xffff);
}

}  // namespace petalsln
