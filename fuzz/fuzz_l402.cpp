// Fuzzes the L402 header parsers: WWW-Authenticate challenges (a client reads them from any
// server it pays) and Authorization tokens (a server reads them from any client).
// Property: a parsed header writes back as a header that parses to the same values.
#include "fuzz_common.hpp"
#include "petalsln/lightning/l402.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace petalsln;
  const std::string_view header = fuzz::as_text(data, size);
  fuzz::expect_rejection([&] {
    const L402Challenge c = L402Challenge::parse(header);
    const L402Challenge again = L402Challenge::parse(c.to_header());
    fuzz::require(again.macaroon == c.macaroon && again.invoice == c.invoice, "L402 challenge does not round-trip");
  });
  fuzz::expect_rejection([&] {
    const L402Token t = L402Token::parse(header);
    const L402Token again = L402Token::parse(t.to_header(L402Scheme::lsat));
    fuzz::require(again.macaroon == t.macaroon && again.preimage == t.preimage, "L402 token does not round-trip");
    (void)t.preimage_matches();
    fuzz::expect_rejection([&] { (void)t.identifier(); });
  });
  return 0;
}
