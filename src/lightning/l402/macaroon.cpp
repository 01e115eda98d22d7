// Macaroon minting, attenuation and verification: the HMAC-SHA256 chain.
#include "petalsln/lightning/macaroon.hpp"

#include <exception>

#include "petalsln/util/error.hpp"
#include "util/base64.hpp"
#include "util/hmac.hpp"
#include "util/secure_compare.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln {
namespace {

// libmacaroons, the Go and the JS libraries all key the chain with HMAC(this, root key)
// rather than the root key itself, so root keys of any length give a 32-byte key.
constexpr std::string_view kKeyGenerator = "macaroons-key-generator";

std::string_view as_view(const util::Sha256Digest& d) noexcept {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

void require_size(std::string_view value, std::size_t limit, const char* what, bool allow_empty) {
  if (!allow_empty && value.empty()) throw Error(ErrorCode::invalid_argument, std::string("macaroon ") + what + " is empty");
  if (value.size() > limit) {
    throw Error(ErrorCode::invalid_argument, std::string("macaroon ") + what + " is " + std::to_string(value.size()) +
                                                 " bytes, more than the limit of " + std::to_string(limit));
  }
}

// The first link of the chain: HMAC(HMAC(key-generator, root key), identifier).
util::Sha256Digest chain_start(std::string_view root_key, std::string_view identifier) {
  util::Sha256Digest derived = util::hmac_sha256(kKeyGenerator, root_key);
  const util::Sha256Digest sig = util::hmac_sha256(as_view(derived), identifier);
  util::secure_wipe(derived.data(), derived.size());
  return sig;
}

util::Base64Alphabet alphabet_of(MacaroonBase64 form) noexcept {
  return (form == MacaroonBase64::standard || form == MacaroonBase64::standard_unpadded) ? util::Base64Alphabet::standard
                                                                                         : util::Base64Alphabet::url_safe;
}

util::Base64Padding padding_of(MacaroonBase64 form) noexcept {
  return (form == MacaroonBase64::standard || form == MacaroonBase64::url_safe) ? util::Base64Padding::padded
                                                                                : util::Base64Padding::unpadded;
}

}  // namespace

Macaroon Macaroon::mint(std::string_view root_key, std::string_view identifier, std::string_view location) {
  if (root_key.empty()) throw Error(ErrorCode::invalid_argument, "macaroon root key is empty");
  require_size(identifier, max_identifier_size, "identifier", false);
  require_size(location, max_location_size, "location", true);
  Macaroon m;
  m.location_ = std::string(location);
  m.identifier_ = std::string(identifier);
  m.signature_ = chain_start(root_key, identifier);
  return m;
}

void Macaroon::add_first_party_caveat(std::string_view predicate) {
  require_size(predicate, max_caveat_size, "caveat", false);
  if (caveats_.size() >= max_caveats) {
    throw Error(ErrorCode::invalid_argument,
                "macaroon already has the maximum of " + std::to_string(max_caveats) + " caveats");
  }
  caveats_.emplace_back(predicate);
  signature_ = util::hmac_sha256(std::string_view(reinterpret_cast<const char*>(signature_.data()), signature_.size()),
                                 predicate);
}

bool Macaroon::signature_valid(std::string_view root_key) const {
  if (root_key.empty()) return false;
  util::Sha256Digest sig = chain_start(root_key, identifier_);
  for (const std::string& caveat : caveats_) sig = util::hmac_sha256(as_view(sig), caveat);
  const bool equal = util::secure_equal(sig.data(), signature_.data(), sig.size());
  util::secure_wipe(sig.data(), sig.size());
  return equal;
}

Verdict Macaroon::verify(std::string_view root_key, const CaveatChecker& checker) const {
  // The signature first: caveats of a forged macaroon are attacker-chosen, so they are never
  // shown to the checker.
  if (!signature_valid(root_key)) {
    return Verdict::fail("macaroon signature does not verify (wrong root key, or the macaroon was altered)");
  }
  for (std::size_t i = 0; i < caveats_.size(); ++i) {
    Verdict v;
    try {
      v = checker ? checker(caveats_[i]) : Verdict::fail("no caveat checker");
    } catch (const std::exception& e) {
      v = Verdict::fail(e.what());
    }
    if (!v.ok) {
      return Verdict::fail("caveat " + std::to_string(i + 1) + " not satisfied: " +
                           (v.reason.empty() ? std::string("rejected") : v.reason));
    }
  }
  return Verdict::pass();
}

std::string Macaroon::to_base64(MacaroonBase64 form) const {
  return util::base64_encode(serialize(), alphabet_of(form), padding_of(form));
}

Macaroon Macaroon::from_base64(std::string_view text) {
  // Checked before decoding so an enormous header costs nothing.
  if (text.size() > (max_serialized_size + 2) / 3 * 4) {
    throw Error(ErrorCode::invalid_format, "macaroon: base64 text of " + std::to_string(text.size()) +
                                               " characters is longer than any allowed macaroon");
  }
  return deserialize(
      util::base64_decode(text, util::Base64Alphabet::either, util::Base64Padding::optional, "macaroon base64"));
}

bool operator==(const Macaroon& a, const Macaroon& b) {
  const bool same_sig = util::secure_equal(a.signature_.data(), b.signature_.data(), a.signature_.size());
  return same_sig && a.location_ == b.location_ && a.identifier_ == b.identifier_ && a.caveats_ == b.caveats_;
}

}  // namespace petalsln
