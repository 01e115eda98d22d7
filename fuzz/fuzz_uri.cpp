// Fuzzes util::Uri, the one URI parser every wallet URI, HTTP URL and LNURL callback goes
// through, and the percent-decoder behind its query parameters.
#include <string>

#include "fuzz_common.hpp"
#include "util/uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace petalsln;
  if (size == 0) return 0;
  // The first byte picks the options, so one corpus covers both query encodings.
  util::UriOptions options;
  options.plus_as_space = (data[0] & 1) != 0;
  const std::string_view text = fuzz::as_text(data + 1, size - 1);
  fuzz::expect_rejection([&] {
    const util::Uri uri = util::Uri::parse(text, options);
    fuzz::require(!uri.scheme.empty(), "a parsed URI without a scheme");
    fuzz::require(!uri.port || *uri.port != 0, "a parsed URI with port 0");
    fuzz::require(uri.has_authority || (uri.host.empty() && !uri.port && !uri.userinfo),
                  "a host, port or user information without an authority");
    for (const auto& p : uri.params) {
      // Decoding never grows text: each escape or '+' gives at most one byte.
      fuzz::require(p.key.size() + p.value.size() <= text.size(), "a decoded parameter longer than the URI");
    }
    if (uri.query) {
      (void)uri.param("a");
      (void)uri.param_count("");
    }
  });
  fuzz::expect_rejection([&] { (void)util::percent_decode(text, options.plus_as_space); });
  return 0;
}
