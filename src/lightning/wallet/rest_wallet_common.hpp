#pragma once
// Pieces every REST wallet backend (Core Lightning REST, LNbits, LND REST) needs the same way:
// parsing `scheme://host[:port]?key=value&...` URIs strictly, reading secret files with a size
// limit, decoding JSON replies defensively, and checking what a node says about a payment
// against what we can verify ourselves. Internal: not part of the public API.
//
// Secrets (runes, API keys, macaroons) travel in URI parameters; nothing here ever puts a
// parameter's value into an error message, only its name.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/http_client.hpp"
#include "petalsln/lightning/bolt11.hpp"
#include "lightning/wallet/rest_endpoint.hpp"
#include "petalsln/lightning/wallet.hpp"

namespace petalsln::lightning {

/// A parsed REST wallet URI: `scheme://host[:port][/][?key=value&...]`.
struct RestUri {
  std::string scheme;        ///< e.g. "cln+rest", lower-case as written.
  std::string host;          ///< Host name, IPv4 literal or bracketed IPv6 literal ("[::1]").
  std::uint16_t port = 0;    ///< The port; the default passed to parse_rest_uri() when absent.
  std::vector<std::pair<std::string, std::string>> params;  ///< Percent-decoded, each key once.

  /// Returns the value of parameter @p key, or nullopt.
  std::optional<std::string> get(const std::string& key) const;

  /// Returns "https://host:port" (the base every request URL starts with).
  std::string https_base() const;

  /// Returns "scheme://host:port" (safe to log: no parameters).
  std::string shown() const;
};

/// Parses @p uri (with util::Uri), which must start with "@p scheme://" and have a host, and
/// no user information, path (other than "/") or fragment. Only the keys in @p allowed_keys are
/// accepted, each at most once, with a non-empty value; values are percent-decoded and must
/// not contain control characters. @p default_port is used when the URI has none; @p usage
/// (e.g. "cln+rest://HOST[:PORT]?rune=RUNE[&cert=FILE]") ends every error message. Throws
/// Error(invalid_argument) naming what is wrong (a key, never a value).
RestUri parse_rest_uri(const std::string& uri, const std::string& scheme, std::uint16_t default_port,
                       std::initializer_list<const char*> allowed_keys, const std::string& usage);

/// Returns "https://HOST:PORT", the base every request URL of a REST backend starts with.
std::string https_base(const std::string& host, std::uint16_t port);

/// Returns "SCHEME://HOST:PORT": what a backend's describe() shows (no parameters, so no secrets).
std::string shown_uri(const std::string& scheme, const std::string& host, std::uint16_t port);

/// Reads a secret (rune, API key, macaroon) from @p path, at most @p max_bytes. With @p trim,
/// trailing whitespace is removed (text secrets); without, the bytes are returned as they are
/// (binary macaroons). Throws Error(not_found) if the file is missing, Error(invalid_argument)
/// if it is not a regular file, larger than @p max_bytes or empty, Error(io) if unreadable;
/// messages name @p what and the path, never the contents.
std::string read_secret_file(const std::string& path, std::size_t max_bytes, const std::string& what,
                             bool trim = true);

/// The text credential of a URI given either inline (parameter @p key) or in a file (parameter
/// @p file_key, read with read_secret_file()), at most @p max_bytes either way. @p what names
/// it in errors ("rune", "API key"). Throws Error(invalid_argument) when both or neither are
/// given or it is too long, and as read_secret_file() does.
std::string secret_param(const RestUri& uri, const char* key, const char* file_key, std::size_t max_bytes,
                         const std::string& what, const std::string& usage);

/// The HTTP options shared by the REST backends, from the URI's optional `cert=FILE` (trust
/// that certificate instead of the system CA store) and `timeout=SECONDS` (1..3600, default
/// 30) parameters. Throws Error(invalid_argument) for a malformed timeout, Error(not_found) for
/// a missing certificate file.
HttpOptions rest_http_options(const RestUri& uri, const std::string& usage);

/// Fills @p out from @p parsed: host, port, certificate file and per-request timeout (see
/// rest_http_options()).
void set_endpoint(RestEndpoint& out, const RestUri& parsed, const std::string& usage);

/// The options one request to @p endpoint runs under, with @p timeout as its deadline, by the
/// TLS rule rest_endpoint.hpp states (the host name is always checked).
HttpOptions endpoint_options(const RestEndpoint& endpoint, std::chrono::milliseconds timeout);

/// Throws Error(invalid_argument) "WHERE refused the CREDENTIAL (HTTP STATUS): DETAIL": the one
/// form every backend reports a rejected macaroon, rune or API key in. @p detail is the peer's
/// (already peer_text()-cleaned) reason and may be empty; the credential itself is never named.
[[noreturn]] void throw_credential_refused(const std::string& where, const std::string& credential, long status,
                                          const std::string& detail);

/// Throws Error(invalid_argument) for what no backend can create: a zero amount (absent means
/// "any amount") or a zero expiry.
void check_invoice_request(const InvoiceRequest& request);

/// Returns @p text (a peer's message) cut to 300 bytes with control characters replaced by
/// '?', so that a hostile reply cannot flood or forge log lines.
std::string peer_text(const std::string& text);

/// Parses @p response's body as a JSON value. Throws Error(invalid_format) naming @p what if
/// it is not JSON.
nlohmann::json parse_json_reply(const HttpResponse& response, const std::string& what);

/// Like parse_json_reply(), but the value must be a JSON object (Error(invalid_format) otherwise).
nlohmann::json json_object_reply(const HttpResponse& response, const std::string& what);

/// Returns member @p key of object @p obj as an unsigned 64-bit integer. Throws
/// Error(invalid_format) naming @p what and @p key if it is missing or not one.
std::uint64_t json_u64(const nlohmann::json& obj, const char* key, const std::string& what);

/// Like json_u64(), but returns nullopt when the member is absent or null.
std::optional<std::uint64_t> json_opt_u64(const nlohmann::json& obj, const char* key, const std::string& what);

/// Returns member @p key of object @p obj as a string. Throws Error(invalid_format) naming
/// @p what and @p key if it is missing or not a string.
std::string json_string(const nlohmann::json& obj, const char* key, const std::string& what);

/// Like json_string(), but returns nullopt when the member is absent or null.
std::optional<std::string> json_opt_string(const nlohmann::json& obj, const char* key, const std::string& what);

/// Returns member @p key of @p obj decoded from 64 hexadecimal digits. Throws
/// Error(invalid_format) naming @p what and @p key otherwise.
std::array<std::uint8_t, 32> json_hex32(const nlohmann::json& obj, const char* key, const std::string& what);

/// Returns the lower-case hex form of a 32-byte value.
std::string hex32(const std::array<std::uint8_t, 32>& bytes);

/// Throws Error(invalid_format) naming @p what unless SHA-256(@p preimage) == @p hash: a node
/// that reports a preimage which does not open the payment hash cannot be believed.
void check_preimage(const Preimage& preimage, const PaymentHash& hash, const std::string& what);

/// Checks a freshly created invoice @p bolt11 that a node returned for @p request: it must
/// decode (signature included), carry @p payment_hash, the requested amount, and the memo or
/// description hash asked for. Throws Error(invalid_format) naming @p what otherwise.
void check_created_invoice(const std::string& bolt11, const PaymentHash& payment_hash, const InvoiceRequest& request,
                           const std::string& what);

/// The local checks every backend makes before paying: decodes @p bolt11 (Error
/// invalid_format / unsupported as Bolt11Invoice::decode throws) and returns the invoice.
/// Sets @p refusal to the reason when the payment must be refused as `failed` (an amount-less
/// invoice without options.amount_msat, an amount that differs from the invoice's, a zero
/// amount); leaves it empty otherwise.
Bolt11Invoice decode_for_payment(const std::string& bolt11, const PayOptions& options, std::string& refusal);

/// Returns a failed PaymentResult for @p hash with @p reason.
PaymentResult failed_payment(const PaymentHash& hash, std::string reason);

}  // namespace petalsln::lightning
