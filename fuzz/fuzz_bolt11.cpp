// Fuzzes BOLT11 invoice decoding (invoices come from paywalls, LNURL services and users).
// Property: an invoice that decodes encodes back to the same text (decode() keeps field order
// and raw unknown fields for exactly this), in the case it was written.
#include <cctype>
#include <string>

#include "fuzz_common.hpp"
#include "petalsln/bolt11.hpp"

namespace {

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace petalsln;
  const std::string_view text = fuzz::as_text(data, size);
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
  return 0;
}
