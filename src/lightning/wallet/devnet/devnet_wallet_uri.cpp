// Parsing `devnet:PATH?account=NAME`, strictly: a wallet URI that is almost right is more
// likely a typo that would open (or create) the wrong file than something to guess at.

#include <string_view>

#include "petalsln/lightning/devnet_wallet.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln {
namespace {

constexpr std::string_view kPrefix = "devnet:";
constexpr std::string_view kAccountKey = "account=";

[[noreturn]] void bad_uri(const std::string& why) {
  throw Error(ErrorCode::invalid_argument, "devnet wallet URI: " + why + " (expected devnet:PATH?account=NAME)");
}

void check_path(const std::string& path) {
  if (path.empty()) bad_uri("the path is empty");
  if (path.rfind("//", 0) == 0) bad_uri("write the path directly after 'devnet:', without '//'");
  if (path.find('\0') != std::string::npos) bad_uri("the path contains a NUL byte");
}

std::string parse_query(std::string_view query) {
  if (query.find('&') != std::string_view::npos || query.find(';') != std::string_view::npos) {
    bad_uri("'account' must be the only parameter");
  }
  if (query.substr(0, kAccountKey.size()) != kAccountKey) {
    const std::string_view key = query.substr(0, query.find('='));
    bad_uri("unknown parameter '" + std::string(key) + "'");
  }
  std::string account(query.substr(kAccountKey.size()));
  if (!is_valid_devnet_account_name(account)) {
    bad_uri("account name '" + account + "' must be 1 to 64 characters of a-z, 0-9, '_' and '-'");
  }
  return account;
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
  if (uri.compare(0, kPrefix.size(), kPrefix) != 0) bad_uri("it must start with 'devnet:'");
  const std::string_view rest = std::string_view(uri).substr(kPrefix.size());
  const std::size_t q = rest.find('?');
  if (q == std::string_view::npos && require_account) bad_uri("the account is missing");
  DevnetUri out;
  out.path = std::string(rest.substr(0, q));
  check_path(out.path);
  if (q != std::string_view::npos) out.account = parse_query(rest.substr(q + 1));
  return out;
}

std::string DevnetUri::to_string() const {
  std::string out = std::string(kPrefix) + path;
  if (!account.empty()) out += "?" + std::string(kAccountKey) + account;
  return out;
}

}  // namespace petalsln
