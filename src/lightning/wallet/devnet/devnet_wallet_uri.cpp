// Parsing `devnet:PATH?account=NAME`, strictly: a wallet URI that is almost right is more
// likely a typo that would open (or create) the wrong file than something to guess at.

#include <string_view>

#include "petalsln/lightning/devnet.hpp"
#include "petalsln/util/error.hpp"
#include "util/uri.hpp"

namespace petalsln {
namespace {

constexpr std::string_view kPrefix = "devnet:";
constexpr std::string_view kAccountKey = "account";

[[noreturn]] void bad_uri(const std::string& why) {
  throw Error(ErrorCode::invalid_argument, "devnet wallet URI: " + why + " (expected devnet:PATH?account=NAME)");
}

// The path is a file name, kept as written (never percent-decoded: "a%20b.db" names that file).
util::Uri parse_structure(const std::string& uri) {
  if (uri.compare(0, kPrefix.size(), kPrefix) != 0) bad_uri("it must start with 'devnet:'");
  if (uri.compare(kPrefix.size(), 2, "//") == 0) bad_uri("write the path directly after 'devnet:', without '//'");
  util::Uri parsed;
  try {
    parsed = util::Uri::parse(uri);
  } catch (const Error& e) {
    bad_uri(e.what());
  }
  if (parsed.fragment) bad_uri("'#' is not allowed (it would start a fragment)");
  return parsed;
}

std::string parse_account(const util::Uri& parsed) {
  const std::string& query = *parsed.query;
  if (parsed.params.size() != 1 || query.find(';') != std::string::npos) bad_uri("'account' must be the only parameter");
  const util::UriParam& param = parsed.params.front();
  if (param.key != kAccountKey) bad_uri("unknown parameter '" + param.key + "'");
  if (!is_valid_devnet_account_name(param.value)) {
    bad_uri("account name '" + param.value + "' must be 1 to 64 characters of a-z, 0-9, '_' and '-'");
  }
  // No character of a valid name needs an escape: an escaped one is a typo, not a spelling.
  if (query != std::string(kAccountKey) + "=" + param.value) bad_uri("write 'account=NAME' without %-escapes");
  return param.value;
}

}  // namespace

bool is_valid_devnet_account_name(const std::string& name) noexcept {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

DevnetUri DevnetUri::parse(const std::string& uri, bool require_account) {
  const util::Uri parsed = parse_structure(uri);
  if (!parsed.query && require_account) bad_uri("the account is missing");
  if (parsed.path.empty()) bad_uri("the path is empty");
  DevnetUri out;
  out.path = parsed.path;
  if (parsed.query) out.account = parse_account(parsed);
  return out;
}

std::string DevnetUri::to_string() const {
  std::string out = std::string(kPrefix) + path;
  if (!account.empty()) out += "?" + std::string(kAccountKey) + "=" + account;
  return out;
}

}  // namespace petalsln
