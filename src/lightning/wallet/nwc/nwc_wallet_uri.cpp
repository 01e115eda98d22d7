// Parsing nostr+walletconnect:// URIs (NIP-47 "Nostr Wallet Connect URI").

#include "lightning/wallet/nwc/nostr_keys.hpp"
#include "net/websocket_client.hpp"
#include "lightning/wallet/nwc/nwc_wallet.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln {
namespace {

constexpr std::size_t kMaxUri = 8192;
constexpr std::size_t kMaxRelays = 8;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes @p s (RFC 3986), and '+' as space as form encoding does. @p what names the
// parameter in errors; the value itself is not shown (it may be the secret).
std::string percent_decode(std::string_view s, const char* what) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      const int hi = i + 1 < s.size() ? hex_digit(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        throw Error(ErrorCode::invalid_argument, std::string("nostr+walletconnect URI: bad percent-escape in '") + what + "'");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (const char c : s) {
    if (hex_digit(c) < 0) return false;
  }
  return true;
}

}  // namespace

NwcUri::~NwcUri() { util::secure_wipe(secret.data(), secret.size()); }

NwcUri NwcUri::parse(const std::string& uri) {
  constexpr std::string_view kScheme = "nostr+walletconnect:";
  if (uri.size() > kMaxUri) throw Error(ErrorCode::invalid_argument, "nostr+walletconnect URI is longer than 8192 characters");
  if (uri.size() < kScheme.size() || std::string_view(uri).substr(0, kScheme.size()) != kScheme) {
    throw Error(ErrorCode::invalid_argument, "not a nostr+walletconnect: URI");
  }
  std::string_view rest = std::string_view(uri).substr(kScheme.size());
  if (rest.substr(0, 2) == "//") rest.remove_prefix(2);
  const std::size_t q = rest.find('?');
  const std::string_view pubkey_text = rest.substr(0, q);
  NwcUri out;
  if (!is_hex64(std::string(pubkey_text))) {
    throw Error(ErrorCode::invalid_argument,
                "nostr+walletconnect URI: the wallet service public key (after the scheme) must be 64 hex digits, got " +
                    std::to_string(pubkey_text.size()) + " characters");
  }
  util::from_hex_into(pubkey_text, out.wallet_pubkey.data(), 32, "wallet service public key");
  if (!lightning::is_valid_xonly_public_key(out.wallet_pubkey)) {
    throw Error(ErrorCode::invalid_argument, "nostr+walletconnect URI: the wallet service public key is not a point on secp256k1");
  }
  bool have_secret = false;
  std::string_view query = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    const std::string key = percent_decode(pair.substr(0, eq), "parameter name");
    const std::string_view raw = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (key == "relay") {
      std::string relay = percent_decode(raw, "relay");
      lightning::WebSocketUrl::parse(relay);  // throws, naming what is wrong with it
      if (out.relays.size() == kMaxRelays) {
        throw Error(ErrorCode::invalid_argument, "nostr+walletconnect URI: more than 8 relays");
      }
      out.relays.push_back(std::move(relay));
    } else if (key == "secret") {
      if (have_secret) throw Error(ErrorCode::invalid_argument, "nostr+walletconnect URI: more than one 'secret'");
      std::string secret = percent_decode(raw, "secret");
      const bool ok = is_hex64(secret);
      if (ok) util::from_hex_into(secret, out.secret.data(), 32, "secret");
      util::secure_wipe(secret.data(), secret.size());
      if (!ok) throw Error(ErrorCode::invalid_argument, "nostr+walletconnect URI: 'secret' must be 64 hex digits");
      if (!lightning::is_valid_secret_key(out.secret)) {
        throw Error(ErrorCode::invalid_argument, "nostr+walletconnect URI: 'secret' is not a valid secp256k1 secret key");
      }
      have_secret = true;
    } else if (key == "lud16") {
      out.lud16 = percent_decode(raw, "lud16");
    }
    // Other parameters are for other clients (NIP-47 lets services add their own).
  }
  if (out.relays.empty()) throw Error(ErrorCode::invalid_argument, "nostr+walletconnect URI: missing 'relay' parameter");
  if (!have_secret) throw Error(ErrorCode::invalid_argument, "nostr+walletconnect URI: missing 'secret' parameter");
  return out;
}

std::string NwcUri::describe() const {
  std::string out = "nostr+walletconnect://" + util::to_hex(wallet_pubkey.data(), wallet_pubkey.size());
  char sep = '?';
  for (const auto& r : relays) {
    out += sep;
    out += "relay=" + r;
    sep = '&';
  }
  return out;
}

}  // namespace petalsln
