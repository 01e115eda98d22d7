// Lightning addresses and LNURL-pay (LUD-06, LUD-12, LUD-16). Everything a remote service
// sends is checked before it is used: the pay request's fields, the invoice's amount and
// description hash. Its texts (an ERROR reason) are shortened and stripped of control
// characters before they reach an error message.

#include "petalsln/lightning/lightning_address.hpp"

#include <algorithm>
#include <cctype>
#include <string>

#include <nlohmann/json.hpp>

#include "net/http_client.hpp"
#include "petalsln/util/error.hpp"
#include "util/clock.hpp"
#include "util/sha256.hpp"
#include "util/uri.hpp"

namespace petalsln {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxUserLength = 64;
constexpr std::size_t kMaxDomainLength = 253;
constexpr std::size_t kMaxCallbackLength = 2048;
constexpr std::size_t kMaxInvoiceLength = 7089;  // the longest a BOLT11 string can be in a QR code; ample
constexpr std::size_t kMaxReasonShown = 200;
constexpr std::size_t kMaxMetadataEntries = 64;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A remote text made safe to show: printable ASCII only, and short.
std::string shown(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (out.size() >= kMaxReasonShown) {
      out += "...";
      break;
    }
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out;
}

json parse_json_object(std::string_view text, const char* what) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error(ErrorCode::invalid_format, std::string(what) + " is not valid JSON");
  if (!j.is_object()) throw Error(ErrorCode::invalid_format, std::string(what) + " is not a JSON object");
  // LUD-06: {"status": "ERROR", "reason": "..."} is the service saying no.
  // (contains()+at() rather than find(): GCC's -Wnull-dereference misreads the iterator.)
  if (j.contains("status") && j.at("status").is_string() && lower(j.at("status").get<std::string>()) == "error") {
    std::string reason = "(no reason given)";
    if (j.contains("reason") && j.at("reason").is_string()) reason = shown(j.at("reason").get<std::string>());
    throw Error(ErrorCode::io, std::string(what) + ": the service refused: " + reason);
  }
  return j;
}

std::uint64_t unsigned_field(const json& j, const char* name, const char* what) {
  auto it = j.find(name);
  if (it == j.end()) throw Error(ErrorCode::invalid_format, std::string(what) + " has no '" + name + "'");
  if (!it->is_number_unsigned()) {
    throw Error(ErrorCode::invalid_format, std::string(what) + ": '" + name + "' must be a non-negative integer");
  }
  return it->get<std::uint64_t>();
}

void check_callback(const std::string& callback, bool allow_http_loopback) {
  if (callback.empty() || callback.size() > kMaxCallbackLength) {
    throw Error(ErrorCode::invalid_format, "pay request: 'callback' must be a URL of 1 to 2048 characters");
  }
  for (const char c : callback) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      throw Error(ErrorCode::invalid_format, "pay request: 'callback' holds spaces or control characters");
    }
  }
  const std::string shown_url = lightning::redact_url(callback);
  util::Uri url;
  try {
    url = util::Uri::parse(callback);
  } catch (const Error& e) {
    throw Error(ErrorCode::invalid_format, "pay request: 'callback' " + shown_url + " is not a valid URL: " + e.what());
  }
  // User information before the host ("https://trusted.example@evil.example/") names no host
  // a payer could trust.
  if (!url.has_authority || url.host.empty() || url.userinfo) {
    throw Error(ErrorCode::invalid_format, "pay request: 'callback' " + shown_url + " has no host");
  }
  const std::string scheme = lower(url.scheme);
  if (scheme == "https") return;
  if (scheme == "http" && allow_http_loopback && lightning::is_loopback_host(url.host)) return;
  throw Error(ErrorCode::invalid_format, "pay request: 'callback' " + shown_url + " must be an https:// URL");
}

void check_metadata(const std::string& metadata) {
  json m = json::parse(metadata, nullptr, false);
  if (m.is_discarded() || !m.is_array()) {
    throw Error(ErrorCode::invalid_format, "pay request: 'metadata' must be a JSON array encoded as a string");
  }
  if (m.size() > kMaxMetadataEntries) throw Error(ErrorCode::invalid_format, "pay request: 'metadata' has too many entries");
  int plain = 0;
  for (const auto& entry : m) {
    if (!entry.is_array() || entry.size() < 2 || !entry[0].is_string()) {
      throw Error(ErrorCode::invalid_format, "pay request: every 'metadata' entry must be a [type, content] array");
    }
    if (entry[0].get<std::string>() == "text/plain") {
      if (!entry[1].is_string()) throw Error(ErrorCode::invalid_format, "pay request: the text/plain metadata must be a string");
      ++plain;
    }
  }
  if (plain != 1) {
    throw Error(ErrorCode::invalid_format, "pay request: 'metadata' must have exactly one text/plain entry, has " + std::to_string(plain));
  }
}

std::string percent_encode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

lightning::HttpResponse get(const std::string& url, const LnurlOptions& options, const char* what) {
  lightning::HttpRequest request;
  request.url = url;
  request.headers.emplace_back("Accept", "application/json");
  lightning::HttpOptions http;
  http.timeout = options.timeout;
  http.connect_timeout = std::min(options.timeout, http.connect_timeout);
  http.max_response_bytes = options.max_response_bytes;
  http.allow_http_loopback = options.allow_http_loopback;
  lightning::HttpResponse response = lightning::http_request(request, http);
  if (response.status != 200) {
    // An LNURL service may explain a refusal in an ERROR body; prefer its reason when it does.
    try {
      parse_json_object(response.body, what);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::io) throw;
    }
    throw Error(ErrorCode::io, std::string(what) + ": " + lightning::redact_url(url) + " answered HTTP " +
                                   std::to_string(response.status));
  }
  return response;
}

bool valid_user_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '+';
}

bool valid_domain(const std::string& d) {
  if (d.empty() || d.size() > kMaxDomainLength || d.find('.') == std::string::npos) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i <= d.size(); ++i) {
    if (i == d.size() || d[i] == '.') {
      if (label == 0 || label > 63 || d[i - 1] == '-' || d[i - label] == '-') return false;
      label = 0;
      continue;
    }
    const char c = d[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    ++label;
  }
  return true;
}

// A loopback host with a port: "127.0.0.1:8080", "localhost:8080", "[::1]:8080".
bool valid_loopback_with_port(const std::string& d) {
  const auto colon = d.rfind(':');
  if (colon == std::string::npos || colon + 1 == d.size() || d.size() - colon - 1 > 5) return false;
  const std::string host = d.substr(0, colon);
  const std::string port = d.substr(colon + 1);
  for (const char c : port) {
    if (c < '0' || c > '9') return false;
  }
  const long p = std::stol(port);
  if (p < 1 || p > 65535) return false;
  if (host.find(':') != std::string::npos && host.front() != '[') return false;  // bare IPv6 is ambiguous
  return lightning::is_loopback_host(host);
}

}  // namespace

LnurlPayRequest parse_pay_request(std::string_view text, bool allow_http_loopback) {
  const char* what = "pay request";
  const json j = parse_json_object(text, what);
  auto tag = j.find("tag");
  if (tag == j.end() || !tag->is_string()) throw Error(ErrorCode::invalid_format, "pay request has no 'tag'");
  if (tag->get<std::string>() != "payRequest") {
    throw Error(ErrorCode::invalid_format, "pay request: 'tag' is '" + shown(tag->get<std::string>()) + "', not 'payRequest'");
  }
  LnurlPayRequest r;
  auto cb = j.find("callback");
  if (cb == j.end() || !cb->is_string()) throw Error(ErrorCode::invalid_format, "pay request has no 'callback' string");
  r.callback = cb->get<std::string>();
  check_callback(r.callback, allow_http_loopback);
  r.min_sendable_msat = unsigned_field(j, "minSendable", what);
  r.max_sendable_msat = unsigned_field(j, "maxSendable", what);
  if (r.min_sendable_msat < 1) throw Error(ErrorCode::invalid_format, "pay request: 'minSendable' must be at least 1 msat");
  if (r.min_sendable_msat > r.max_sendable_msat) {
    throw Error(ErrorCode::invalid_format, "pay request: 'minSendable' " + std::to_string(r.min_sendable_msat) +
                                               " is above 'maxSendable' " + std::to_string(r.max_sendable_msat));
  }
  auto md = j.find("metadata");
  if (md == j.end() || !md->is_string()) throw Error(ErrorCode::invalid_format, "pay request has no 'metadata' string");
  r.metadata = md->get<std::string>();
  check_metadata(r.metadata);
  if (j.contains("commentAllowed")) {
    const std::uint64_t allowed = unsigned_field(j, "commentAllowed", what);
    r.comment_allowed = allowed > 2000 ? 2000u : static_cast<std::uint32_t>(allowed);  // keep URLs sane
  }
  return r;
}

std::string parse_invoice_reply(std::string_view text) {
  const json j = parse_json_object(text, "invoice reply");
  auto pr = j.find("pr");
  if (pr == j.end() || !pr->is_string()) throw Error(ErrorCode::invalid_format, "invoice reply has no 'pr' string");
  const std::string bolt11 = pr->get<std::string>();
  if (bolt11.empty() || bolt11.size() > kMaxInvoiceLength || lower(bolt11).rfind("ln", 0) != 0) {
    throw Error(ErrorCode::invalid_format, "invoice reply: 'pr' is not a BOLT11 invoice");
  }
  return bolt11;
}

Bolt11Invoice check_invoice(const std::string& bolt11, const LnurlPayRequest& request, std::uint64_t amount_msat,
                            std::uint64_t now_unix) {
  Bolt11Invoice invoice;
  try {
    invoice = Bolt11Invoice::decode(bolt11);
  } catch (const Error& e) {
    throw Error(ErrorCode::invalid_format, std::string("the payee's invoice does not decode: ") + e.what());
  }
  if (!invoice.amount_msat) {
    throw Error(ErrorCode::invalid_format, "the payee's invoice has no amount (asked for " + std::to_string(amount_msat) + " msat)");
  }
  if (*invoice.amount_msat != amount_msat) {
    throw Error(ErrorCode::invalid_format, "the payee's invoice is for " + std::to_string(*invoice.amount_msat) +
                                               " msat, not the " + std::to_string(amount_msat) + " msat asked for");
  }
  const auto expected = util::sha256(request.metadata);
  if (!invoice.description_hash || *invoice.description_hash != expected) {
    throw Error(ErrorCode::invalid_format,
                "the payee's invoice description hash is not the SHA-256 of the pay request's metadata");
  }
  if (invoice.is_expired(now_unix)) throw Error(ErrorCode::invalid_format, "the payee's invoice has already expired");
  return invoice;
}

LightningAddress LightningAddress::parse(std::string_view text_in, bool allow_http_loopback) {
  const std::string text = lower(text_in);
  const auto at = text.find('@');
  if (at == std::string::npos || text.find('@', at + 1) != std::string::npos) {
    throw Error(ErrorCode::invalid_argument, "Lightning address '" + shown(text_in) + "' must be user@domain");
  }
  std::string user = text.substr(0, at);
  std::string domain = text.substr(at + 1);
  if (user.empty() || user.size() > kMaxUserLength) {
    throw Error(ErrorCode::invalid_argument, "Lightning address '" + shown(text_in) + "': the user name must be 1 to 64 characters");
  }
  for (const char c : user) {
    if (!valid_user_char(c)) {
      throw Error(ErrorCode::invalid_argument,
                  "Lightning address '" + shown(text_in) + "': the user name may hold only a-z 0-9 - _ . +");
    }
  }
  if (allow_http_loopback && valid_loopback_with_port(domain)) return LightningAddress(user, domain, true);
  if (allow_http_loopback && lightning::is_loopback_host(domain)) return LightningAddress(user, domain, true);
  if (!valid_domain(domain)) {
    throw Error(ErrorCode::invalid_argument, "Lightning address '" + shown(text_in) + "': '" + shown(domain) +
                                                 "' is not a domain name" +
                                                 (allow_http_loopback ? " or a loopback host[:port]" : ""));
  }
  return LightningAddress(user, domain, false);
}

std::string LightningAddress::pay_request_url() const {
  return std::string(loopback_http_ ? "http://" : "https://") + domain_ + "/.well-known/lnurlp/" + user_;
}

LnurlPayRequest LightningAddress::fetch_pay_request(const LnurlOptions& options) const {
  const auto response = get(pay_request_url(), options, "pay request");
  try {
    return parse_pay_request(response.body, options.allow_http_loopback);
  } catch (const Error& e) {
    throw Error(e.code(), to_string() + ": " + e.what());
  }
}

std::string LightningAddress::fetch_invoice(const LnurlPayRequest& request, std::uint64_t amount_msat,
                                            const LnurlOptions& options, const std::string& comment) {
  if (!request.accepts(amount_msat)) {
    throw Error(ErrorCode::invalid_argument, std::to_string(amount_msat) + " msat is outside the payee's range [" +
                                                 std::to_string(request.min_sendable_msat) + ", " +
                                                 std::to_string(request.max_sendable_msat) + "] msat");
  }
  if (comment.size() > request.comment_allowed) {
    throw Error(ErrorCode::invalid_argument, "the comment is " + std::to_string(comment.size()) +
                                                 " characters; the payee accepts at most " +
                                                 std::to_string(request.comment_allowed));
  }
  std::string url = request.callback;
  url += url.find('?') == std::string::npos ? '?' : '&';
  url += "amount=" + std::to_string(amount_msat);
  if (!comment.empty()) url += "&comment=" + percent_encode(comment);
  const auto response = get(url, options, "invoice reply");
  const std::string bolt11 = parse_invoice_reply(response.body);
  check_invoice(bolt11, request, amount_msat, util::unix_seconds());
  return bolt11;
}

}  // namespace petalsln
