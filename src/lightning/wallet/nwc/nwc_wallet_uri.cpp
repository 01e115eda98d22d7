// Parsing nostr+walletconnect:// URIs (NIP-47 "Nostr Wallet Connect URI").

#include <string_view>

#include "lightning/wallet/nwc/nostr_keys.hpp"
#include "lightning/wallet/nwc/nwc_wallet.hpp"
#include "net/websocket_client.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "util/secure_wipe.hpp"
#include "util/uri.hpp"

namespace petalsln {
namespace {

constexpr std::string_view kScheme = "nostr+walletconnect:";
constexpr std::size_t kMaxUri = 8192;
constexpr std::size_t kMaxRelays = 8;

[[noreturn]] void bad_uri(const std::string& why) {
  throw Error(ErrorCode::invalid_argument, "nostr+walletconnect URI: " + why);
}

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (const char c : s) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

// The parsed URI holds the decoded secret: wipe it however the scope is left.
struct WipedUri {
  util::Uri uri;
  ~WipedUri() {
    if (uri.query) util::secure_wipe(uri.query->data(), uri.query->size());
    for (auto& param : uri.params) util::secure_wipe(param.value.data(), param.value.size());
  }
};

// '+' decodes as a space, as in the form-encoded query strings NIP-47 services hand out.
void parse_structure(const std::string& text, WipedUri& out) {
  util::UriOptions options;
  options.plus_as_space = true;
  options.max_length = kMaxUri;
  try {
    out.uri = util::Uri::parse(text, options);
  } catch (const Error& e) {
    bad_uri(e.what());
  }
  if (out.uri.fragment) bad_uri("fragments ('#') are not allowed");
}

// The service's key is the host ("nostr+walletconnect://KEY?...") or the path ("...:KEY?...").
void parse_wallet_pubkey(const util::Uri& uri, NwcUri& out) {
  const std::string& text = uri.has_authority ? uri.host : uri.path;
  const bool more = uri.userinfo || uri.port || (uri.has_authority && !uri.path.empty());
  if (more || !is_hex64(text)) {
    bad_uri("the wallet service public key (after the scheme) must be 64 hex digits, got " +
            (more ? std::string("more than that before the '?'") : std::to_string(text.size()) + " characters"));
  }
  util::from_hex_into(text, out.wallet_pubkey.data(), 32, "wallet service public key");
  if (!lightning::is_valid_xonly_public_key(out.wallet_pubkey)) {
    bad_uri("the wallet service public key is not a point on secp256k1");
  }
}

void parse_secret(const std::string& text, NwcUri& out) {
  if (!is_hex64(text)) bad_uri("'secret' must be 64 hex digits");
  util::from_hex_into(text, out.secret.data(), 32, "secret");
  if (!lightning::is_valid_secret_key(out.secret)) bad_uri("'secret' is not a valid secp256k1 secret key");
}

}  // namespace

NwcUri::~NwcUri() { util::secure_wipe(secret.data(), secret.size()); }

NwcUri NwcUri::parse(const std::string& uri) {
  if (uri.size() > kMaxUri) throw Error(ErrorCode::invalid_argument, "nostr+walletconnect URI is longer than 8192 characters");
  if (uri.compare(0, kScheme.size(), kScheme) != 0) throw Error(ErrorCode::invalid_argument, "not a nostr+walletconnect: URI");
  WipedUri parsed;
  parse_structure(uri, parsed);
  NwcUri out;
  parse_wallet_pubkey(parsed.uri, out);
  bool have_secret = false;
  for (const util::UriParam& param : parsed.uri.params) {
    if (param.key == "relay") {
      lightning::WebSocketUrl::parse(param.value);  // throws, naming what is wrong with it
      if (out.relays.size() == kMaxRelays) bad_uri("more than 8 relays");
      out.relays.push_back(param.value);
    } else if (param.key == "secret") {
      if (have_secret) bad_uri("more than one 'secret'");
      parse_secret(param.value, out);
      have_secret = true;
    } else if (param.key == "lud16") {
      out.lud16 = param.value;
    }
    // Other parameters are for other clients (NIP-47 lets services add their own).
  }
  if (out.relays.empty()) bad_uri("missing 'relay' parameter");
  if (!have_secret) bad_uri("missing 'secret' parameter");
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
