// Fuzzes BOLT11 invoice decoding (invoices come from paywalls, LNURL services and users).
// Property: an invoice that decodes encodes back to the same text (decode() keeps field order
// and raw unknown fields for exactly this), in the case it was written.
// Each input is decoded as it is and once more with its bech32 checksum made valid: mutations
// almost never keep the checksum, and without the fix-up the fields behind it go unfuzzed.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "petalsln/lightning/bolt11.hpp"
#include "util/bech32.hpp"

namespace {

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// Returns @p text with its last six data characters replaced by the checksum the rest calls
// for (characters outside the bech32 alphabet are dropped), or "" if there is no valid
// human-readable part to checksum.
std::string with_valid_checksum(std::string_view text) {
  static constexpr std::string_view kAlphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
  const std::size_t sep = text.rfind('1');
  if (sep == std::string_view::npos || sep == 0) return {};
  std::string hrp(text.substr(0, sep));
  for (char& c : hrp) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::vector<std::uint8_t> words;
  const std::string_view rest = text.substr(sep + 1, text.size() - sep - 1 - std::min<std::size_t>(6, text.size() - sep - 1));
  for (const char c : rest) {
    const std::size_t v = kAlphabet.find(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (v != std::string_view::npos) words.push_back(static_cast<std::uint8_t>(v));
  }
  try {
    return petalsln::util::bech32_encode(hrp, words);
  } catch (const petalsln::Error&) {
    return {};
  }
}

void decode_and_check(std::string_view text) {
  using namespace petalsln;
  fuzz::expect_rejection([&] {
    // report: the signature check still runs, but a forged signature does not stop the
    // fuzzer from reaching the accessors and encode() below.
    const Bolt11Invoice invoice = Bolt11Invoice::decode(text, Bolt11SignatureCheck::report);
    (void)invoice.expires_at();
    (void)invoice.description_matches(text);
    for (const auto& hint : invoice.route_hints) {
      for (const auto& hop : hint) (void)format_short_channel_id(hop.short_channel_id);
    }
    const bool upper = !text.empty() && std::isupper(static_cast<unsigned char>(text[0]));
    fuzz::require(equal_ignoring_case(invoice.encode(upper), text), "BOLT11 encode(decode(x)) != x");
  });
  fuzz::expect_rejection([&] { (void)Bolt11Invoice::decode(text); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = petalsln::fuzz::as_text(data, size);
  decode_and_check(text);
  const std::string fixed = with_valid_checksum(text);
  if (!fixed.empty() && fixed != text) decode_and_check(fixed);
  return 0;
}
