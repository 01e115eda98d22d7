// The L402 token: `L402 <base64 macaroon>:<hex preimage>`, and its verification.
#include <string>
#include <string_view>

#include "lightning/l402/l402_header.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "util/secure_compare.hpp"
#include "util/sha256.hpp"

namespace petalsln {
namespace {

constexpr const char* kWhat = "L402 token";

[[noreturn]] void fail(const std::string& message) {
  throw Error(ErrorCode::invalid_format, std::string(kWhat) + ": " + message);
}

}  // namespace

std::string L402Token::to_header(L402Scheme scheme) const {
  return std::string(l402_header::scheme_name(scheme)) + " " + macaroon.to_base64() + ":" +
         util::to_hex(preimage.data(), preimage.size());
}

L402Token L402Token::parse(std::string_view header) {
  std::string_view rest;
  l402_header::read_scheme(header, kWhat, rest);
  // Base64 never contains ':', so the last one separates the macaroon(s) from the preimage.
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) fail("expected <macaroon>:<preimage>, found no ':'");
  const std::string_view mac_text = l402_header::trim(rest.substr(0, colon));
  const std::string_view preimage_hex = l402_header::trim(rest.substr(colon + 1));
  if (mac_text.find(',') != std::string_view::npos) {
    throw Error(ErrorCode::unsupported,
                "L402 token: several macaroons (discharges of third-party caveats) are not supported");
  }
  if (mac_text.empty()) fail("the macaroon is empty");
  if (preimage_hex.size() != 64) {
    fail("the preimage must be 64 hex digits (32 bytes), got " + std::to_string(preimage_hex.size()) + " characters");
  }
  Preimage preimage{};
  util::from_hex_into(preimage_hex, preimage.data(), preimage.size(), "L402 token preimage");
  return L402Token{Macaroon::from_base64(mac_text), preimage};
}

L402Identifier L402Token::identifier() const { return L402Identifier::decode(macaroon.identifier()); }

bool L402Token::preimage_matches() const {
  L402Identifier id;
  try {
    id = identifier();
  } catch (const Error&) {
    return false;
  }
  const util::Sha256Digest hash =
      util::sha256(std::string_view(reinterpret_cast<const char*>(preimage.data()), preimage.size()));
  return util::secure_equal(hash.data(), id.payment_hash.data(), hash.size());
}

Verdict L402Token::verify(std::string_view root_key, const Macaroon::CaveatChecker& checker) const {
  try {
    (void)identifier();
  } catch (const Error& e) {
    return Verdict::fail(std::string("not an L402 macaroon: ") + e.what());
  }
  if (!preimage_matches()) return Verdict::fail("the preimage does not pay the token's payment hash");
  return macaroon.verify(root_key, checker);
}

Verdict L402Token::verify(std::string_view root_key, const L402Request& request, L402Terms* granted) const {
  L402CaveatChecker checker(request);
  Verdict v = verify(root_key, checker.as_checker());
  if (v.ok) v = checker.finish();
  if (v.ok && granted != nullptr) *granted = checker.granted();
  return v;
}

}  // namespace petalsln
