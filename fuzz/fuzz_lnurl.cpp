// Fuzzes what a payer reads from a Lightning address's LNURL-pay service (LUD-06/LUD-16):
// the pay-request reply, the invoice reply, and the address text itself.
#include "fuzz_common.hpp"
#include "petalsln/lightning/lightning_address.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace petalsln;
  if (size == 0) return 0;
  // The first byte picks the parser (and the loopback flag), so one corpus covers all three.
  const std::uint8_t mode = data[0];
  const std::string_view text = fuzz::as_text(data + 1, size - 1);
  const bool loopback = (mode & 4) != 0;
  switch (mode % 3) {
    case 0:
      fuzz::expect_rejection([&] {
        const LnurlPayRequest r = parse_pay_request(text, loopback);
        fuzz::require(r.min_sendable_msat <= r.max_sendable_msat, "LNURL pay request with min > max");
        (void)r.accepts(r.min_sendable_msat);
      });
      break;
    case 1:
      fuzz::expect_rejection([&] { (void)parse_invoice_reply(text); });
      break;
    default:
      fuzz::expect_rejection([&] {
        const LightningAddress a = LightningAddress::parse(text, loopback);
        (void)a.pay_request_url();
        const LightningAddress again = LightningAddress::parse(a.to_string(), loopback);
        fuzz::require(again.to_string() == a.to_string(), "Lightning address does not round-trip");
      });
  }
  return 0;
}
