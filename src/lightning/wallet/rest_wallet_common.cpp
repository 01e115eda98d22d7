// Shared parsing and checking for the REST wallet backends.

#include "lightning/wallet/rest_wallet_common.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"
#include "petalsln/util/hex.hpp"
#include "util/secure_compare.hpp"
#include "util/secure_wipe.hpp"
#include "util/sha256.hpp"
#include "util/uri.hpp"

namespace petalsln::lightning {
namespace {

[[noreturn]] void bad_uri(const std::string& why, const std::string& usage) {
  throw Error(ErrorCode::invalid_argument, "wallet URI: " + why + " (expected " + usage + ")");
}

// A parameter's value: control characters are refused (they would end up in HTTP headers).
void check_value(const util::UriParam& param, const std::string& usage) {
  for (const char c : param.value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      bad_uri("parameter '" + param.key + "' contains a control character", usage);
    }
  }
}

// Only known keys are echoed; anything else might be a secret pasted in the wrong place.
void check_param(const util::UriParam& param, const RestUri& parsed_so_far, std::initializer_list<const char*> allowed_keys,
                 const std::string& usage) {
  if (param.key.empty() && param.value.empty()) bad_uri("empty parameter (stray '&')", usage);
  const bool known = std::any_of(allowed_keys.begin(), allowed_keys.end(), [&](const char* k) { return param.key == k; });
  if (!known) {
    std::string list;
    for (const char* k : allowed_keys) list += (list.empty() ? "" : ", ") + std::string(k);
    bad_uri("unknown parameter (" + std::to_string(param.key.size()) + " characters); known: " + list, usage);
  }
  if (param.value.empty()) bad_uri("parameter '" + param.key + "' has no value", usage);
  if (parsed_so_far.get(param.key)) bad_uri("parameter '" + param.key + "' is given twice", usage);
  check_value(param, usage);
}

// scheme://host[:port][/][?query]: no user information, path or fragment.
util::Uri parse_structure(const std::string& uri, const std::string& scheme, const std::string& usage) {
  const std::string prefix = scheme + "://";
  if (uri.compare(0, prefix.size(), prefix) != 0) bad_uri("it must start with '" + prefix + "'", usage);
  util::Uri parsed;
  try {
    parsed = util::Uri::parse(uri);  // '+' stays '+': runes and base64 keys contain it
  } catch (const Error& e) {
    bad_uri(e.what(), usage);
  }
  if (parsed.fragment) bad_uri("fragments ('#') are not allowed", usage);
  if (parsed.userinfo) bad_uri("user names or passwords before the host are not allowed; credentials go in parameters", usage);
  if (!parsed.path.empty() && parsed.path != "/") bad_uri("a path after the host is not allowed", usage);
  if (parsed.host.empty()) bad_uri("the host is missing", usage);
  return parsed;
}

[[noreturn]] void bad_json(const std::string& what, const char* key, const std::string& why) {
  throw Error(ErrorCode::invalid_format, what + ": field '" + key + "' " + why);
}

const nlohmann::json* member(const nlohmann::json& obj, const char* key, const std::string& what) {
  if (!obj.is_object()) throw Error(ErrorCode::invalid_format, what + ": expected a JSON object");
  if (!obj.contains(key)) return nullptr;
  const nlohmann::json& value = obj[key];
  return value.is_null() ? nullptr : &value;
}

}  // namespace

std::optional<std::string> RestUri::get(const std::string& key) const {
  for (const auto& [k, v] : params) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::string RestUri::https_base() const { return lightning::https_base(host, port); }

std::string RestUri::shown() const { return shown_uri(scheme, host, port); }

RestUri parse_rest_uri(const std::string& uri, const std::string& scheme, std::uint16_t default_port,
                       std::initializer_list<const char*> allowed_keys, const std::string& usage) {
  const util::Uri parsed = parse_structure(uri, scheme, usage);
  RestUri out;
  out.scheme = scheme;
  out.host = parsed.host;
  out.port = parsed.port.value_or(default_port);
  for (const util::UriParam& param : parsed.params) {
    check_param(param, out, allowed_keys, usage);
    out.params.emplace_back(param.key, param.value);
  }
  return out;
}

std::string read_secret_file(const std::string& path, std::size_t max_bytes, const std::string& what, bool trim) {
  const std::string file = what + " file '" + path + "'";
  std::string text;
  try {
    text = util::read_file(path, max_bytes);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::not_found) throw Error(ErrorCode::not_found, file + " does not exist");
    if (e.code() == ErrorCode::invalid_argument) {
      throw Error(ErrorCode::invalid_argument, util::is_regular_file(path) ? file + " is larger than " +
                                                                                 std::to_string(max_bytes) + " bytes"
                                                                           : file + " is not a regular file");
    }
    throw Error(e.code(), file + " could not be read: " + e.what());
  }
  if (trim) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) text.pop_back();
  }
  if (text.empty()) throw Error(ErrorCode::invalid_argument, file + " is empty");
  return text;
}

std::string secret_param(const RestUri& uri, const char* key, const char* file_key, std::size_t max_bytes,
                         const std::string& what, const std::string& usage) {
  const auto inline_value = uri.get(key);
  const auto file = uri.get(file_key);
  if (inline_value && file) {
    bad_uri(std::string("give either '") + key + "' or '" + file_key + "', not both", usage);
  }
  if (!inline_value && !file) bad_uri("the " + what + " is missing", usage);
  std::string secret = inline_value ? *inline_value : read_secret_file(*file, max_bytes, what);
  if (secret.size() > max_bytes) {
    util::secure_wipe(secret.data(), secret.size());
    bad_uri("the " + what + " is longer than " + std::to_string(max_bytes) + " bytes", usage);
  }
  return secret;
}

std::string https_base(const std::string& host, std::uint16_t port) {
  return "https://" + host + ":" + std::to_string(port);
}

std::string shown_uri(const std::string& scheme, const std::string& host, std::uint16_t port) {
  return scheme + "://" + host + ":" + std::to_string(port);
}

void throw_credential_refused(const std::string& where, const std::string& credential, long status,
                              const std::string& detail) {
  throw Error(ErrorCode::invalid_argument, where + " refused the " + credential + " (HTTP " + std::to_string(status) +
                                               ")" + (detail.empty() ? std::string() : ": " + detail));
}

void check_invoice_request(const InvoiceRequest& request) {
  if (request.amount_msat && *request.amount_msat == 0) {
    throw Error(ErrorCode::invalid_argument, "invoice amount must be above zero (or absent for any amount)");
  }
  if (request.expiry.count() <= 0) throw Error(ErrorCode::invalid_argument, "invoice expiry must be above zero seconds");
}

HttpOptions rest_http_options(const RestUri& uri, const std::string& usage) {
  HttpOptions options;
  if (const auto cert = uri.get("cert")) {
    if (!util::is_regular_file(*cert)) {
      throw Error(ErrorCode::not_found, "wallet URI: certificate file '" + *cert + "' does not exist");
    }
    options.ca_file = *cert;
  }
  if (const auto timeout = uri.get("timeout")) {
    const bool digits = !timeout->empty() && timeout->size() <= 4 &&
                        std::all_of(timeout->begin(), timeout->end(), [](char c) { return c >= '0' && c <= '9'; });
    const unsigned long seconds = digits ? std::stoul(*timeout) : 0;
    if (seconds < 1 || seconds > 3600) bad_uri("'timeout' must be a whole number of seconds from 1 to 3600", usage);
    options.timeout = std::chrono::seconds(seconds);
    options.connect_timeout = std::min(options.connect_timeout, std::chrono::milliseconds(options.timeout));
  }
  return options;
}

void set_endpoint(RestEndpoint& out, const RestUri& parsed, const std::string& usage) {
  const HttpOptions options = rest_http_options(parsed, usage);
  out.host = parsed.host;
  out.port = parsed.port;
  out.cert_file = options.ca_file;
  out.timeout = options.timeout;
}

HttpOptions endpoint_options(const RestEndpoint& endpoint, std::chrono::milliseconds timeout) {
  HttpOptions options;
  options.ca_file = endpoint.cert_file;
  options.skip_hostname_check_with_ca_file = false;  // the rule of rest_endpoint.hpp, for every backend
  options.timeout = timeout;
  options.connect_timeout = std::min(options.connect_timeout, timeout);
  return options;
}

std::string peer_text(const std::string& text) {
  std::string out = text.substr(0, 300);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (text.size() > 300) out += "...";
  return out;
}

nlohmann::json parse_json_reply(const HttpResponse& response, const std::string& what) {
  auto value = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    throw Error(ErrorCode::invalid_format, what + ": the reply (HTTP " + std::to_string(response.status) +
                                               ") is not JSON: " + peer_text(response.body.substr(0, 80)));
  }
  return value;
}

nlohmann::json json_object_reply(const HttpResponse& response, const std::string& what) {
  nlohmann::json value = parse_json_reply(response, what);
  if (!value.is_object()) throw Error(ErrorCode::invalid_format, what + ": the reply is not a JSON object");
  return value;
}

std::optional<std::uint64_t> json_opt_u64(const nlohmann::json& obj, const char* key, const std::string& what) {
  const nlohmann::json* v = member(obj, key, what);
  if (v == nullptr) return std::nullopt;
  if (v->is_number_unsigned()) return v->get<std::uint64_t>();
  if (v->is_number_integer()) bad_json(what, key, "is negative");
  bad_json(what, key, "is not an unsigned integer");
}

std::uint64_t json_u64(const nlohmann::json& obj, const char* key, const std::string& what) {
  const auto v = json_opt_u64(obj, key, what);
  if (!v) bad_json(what, key, "is missing");
  return *v;
}

std::optional<std::string> json_opt_string(const nlohmann::json& obj, const char* key, const std::string& what) {
  const nlohmann::json* v = member(obj, key, what);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) bad_json(what, key, "is not a string");
  return v->get<std::string>();
}

std::string json_string(const nlohmann::json& obj, const char* key, const std::string& what) {
  auto v = json_opt_string(obj, key, what);
  if (!v) bad_json(what, key, "is missing");
  return std::move(*v);
}

std::array<std::uint8_t, 32> json_hex32(const nlohmann::json& obj, const char* key, const std::string& what) {
  const std::string text = json_string(obj, key, what);
  std::array<std::uint8_t, 32> out{};
  if (text.size() != 64) bad_json(what, key, "is not 64 hexadecimal digits");
  util::from_hex_into(text, out.data(), out.size(), key);
  return out;
}

std::string hex32(const std::array<std::uint8_t, 32>& bytes) { return util::to_hex(bytes.data(), bytes.size()); }

void check_preimage(const Preimage& preimage, const PaymentHash& hash, const std::string& what) {
  const auto digest = util::sha256(std::string_view(reinterpret_cast<const char*>(preimage.data()), preimage.size()));
  if (!util::secure_equal(digest.data(), hash.data(), hash.size())) {
    throw Error(ErrorCode::invalid_format, what + ": the reported preimage does not hash to the payment hash");
  }
}

void check_created_invoice(const std::string& bolt11, const PaymentHash& payment_hash, const InvoiceRequest& request,
                           const std::string& what) {
  Bolt11Invoice invoice;
  try {
    invoice = Bolt11Invoice::decode(bolt11);
  } catch (const Error& e) {
    throw Error(ErrorCode::invalid_format, what + ": the returned invoice does not decode: " + e.what());
  }
  if (invoice.payment_hash != payment_hash) {
    throw Error(ErrorCode::invalid_format, what + ": the returned invoice's payment hash differs from the reported one");
  }
  if (invoice.amount_msat != request.amount_msat) {
    throw Error(ErrorCode::invalid_format, what + ": the returned invoice's amount differs from the requested one");
  }
  if (request.description_hash) {
    if (invoice.description_hash != request.description_hash) {
      throw Error(ErrorCode::invalid_format, what + ": the returned invoice lacks the requested description hash");
    }
  } else if (!request.memo.empty() && invoice.description != request.memo) {
    throw Error(ErrorCode::invalid_format, what + ": the returned invoice's description differs from the memo");
  }
}

Bolt11Invoice decode_for_payment(const std::string& bolt11, const PayOptions& options, std::string& refusal) {
  Bolt11Invoice invoice = Bolt11Invoice::decode(bolt11);
  refusal.clear();
  if (!invoice.amount_msat && !options.amount_msat) {
    refusal = "the invoice has no amount; PayOptions::amount_msat must say how much to pay";
  } else if (invoice.amount_msat && options.amount_msat && *options.amount_msat != *invoice.amount_msat) {
    refusal = "PayOptions::amount_msat (" + std::to_string(*options.amount_msat) + ") differs from the invoice's amount (" +
              std::to_string(*invoice.amount_msat) + " msat)";
  } else if (options.amount_msat && *options.amount_msat == 0) {
    refusal = "the amount to pay is zero";
  }
  return invoice;
}

PaymentResult failed_payment(const PaymentHash& hash, std::string reason) {
  PaymentResult r;
  r.payment_hash = hash;
  r.status = PaymentStatus::failed;
  r.failure_reason = std::move(reason);
  return r;
}

}  // namespace petalsln::lightning
