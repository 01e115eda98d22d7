// Choosing a wallet backend by URI scheme.

#include "petalsln/lightning/wallet.hpp"

#include "lightning/wallet/cln_rest/cln_rest_wallet.hpp"
#include "lightning/wallet/devnet/devnet_wallet.hpp"
#include "lightning/wallet/lnbits/lnbits_wallet.hpp"
#include "lightning/wallet/lnd_rest/lnd_rest_wallet.hpp"
#include "lightning/wallet/nwc/nwc_wallet.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln {
namespace {

bool is_scheme_char(char c, bool first) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (first) return alpha;
  return alpha || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

// Returns the scheme (before the first ':'), or throws if there is none.
std::string scheme_of(const std::string& uri) {
  const std::size_t colon = uri.find(':');
  bool valid = colon != std::string::npos && colon > 0;
  for (std::size_t i = 0; valid && i < colon; ++i) valid = is_scheme_char(uri[i], i == 0);
  if (!valid) {
    throw Error(ErrorCode::invalid_argument,
                "wallet URI must start with a scheme, e.g. devnet:PATH?account=NAME (a local simulated network)");
  }
  return uri.substr(0, colon);
}

}  // namespace

const char* to_string(PaymentStatus status) noexcept {
  switch (status) {
    case PaymentStatus::pending: return "pending";
    case PaymentStatus::succeeded: return "succeeded";
    case PaymentStatus::failed: return "failed";
  }
  return "unknown";
}

std::unique_ptr<Wallet> open_wallet(const std::string& uri) {
  const std::string scheme = scheme_of(uri);
  if (scheme == "devnet") return DevnetWallet::open(uri);
  if (scheme == "cln+rest") return ClnRestWallet::open(uri);
  if (scheme == "lnbits") return LnbitsWallet::open(uri);
  if (scheme == "lnd+rest") return LndRestWallet::open(uri);
  if (scheme == "nostr+walletconnect") return NwcWallet::open(uri);
  // The scheme alone is safe to echo: credentials of other backends live after it.
  throw Error(ErrorCode::unsupported, "unsupported wallet URI scheme '" + scheme + "'; supported: devnet, cln+rest, lnbits, lnd+rest, nostr+walletconnect");
}

}  // namespace petalsln
