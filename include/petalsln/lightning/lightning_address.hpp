#pragma once
/// @file lightning_address.hpp
/// Lightning addresses (LUD-16, `user@domain`) and the LNURL-pay protocol behind them (LUD-06,
/// with LUD-12 comments): fetch the pay request, validate it, ask its callback for an invoice,
/// and make the checks a payer must make before paying it (amount and description hash).
///
/// The pure parts (parse_pay_request, parse_invoice_reply, check_invoice) need no network, so
/// they can be tested and reused on their own; LightningAddress::fetch_* do the HTTP(S) calls
/// with a deadline and a size limit on every reply.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "petalsln/lightning/bolt11.hpp"

namespace petalsln {

/// Limits and trust settings for LNURL-pay requests.
struct LnurlOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(15)};  ///< Deadline of each HTTP request.
  std::size_t max_response_bytes = 64 * 1024;  ///< Larger replies are refused (Error io).
  /// Allow plain http:// to loopback hosts (127.0.0.0/8, ::1, localhost), and a port on a
  /// loopback address (`name@127.0.0.1:8080`). For tests and local setups only: a Lightning
  /// address on the real network is always https.
  bool allow_http_loopback = false;
};

/// A validated LUD-06 pay request (the first reply of a Lightning address).
struct LnurlPayRequest {
  std::string callback;                ///< Where to ask for an invoice (https, or loopback http when allowed).
  std::uint64_t min_sendable_msat = 0; ///< Smallest amount the payee accepts (>= 1).
  std::uint64_t max_sendable_msat = 0; ///< Largest amount the payee accepts (>= min).
  std::string metadata;                ///< The metadata string exactly as sent (its SHA-256 is the invoice's `h`).
  std::uint32_t comment_allowed = 0;   ///< LUD-12: longest comment accepted (0: none).

  /// True if @p amount_msat lies within [min_sendable_msat, max_sendable_msat].
  bool accepts(std::uint64_t amount_msat) const noexcept {
    return amount_msat >= min_sendable_msat && amount_msat <= max_sendable_msat;
  }
};

/// Parses and validates a pay-request reply: a JSON object with `tag` "payRequest", a
/// `callback` URL (https; http only to a loopback host when @p allow_http_loopback), integer
/// `minSendable` (>= 1) <= `maxSendable`, a `metadata` string that is a JSON array of
/// [type, content] string pairs with exactly one "text/plain" entry, and an optional integer
/// `commentAllowed`. Throws Error(io) carrying the service's reason for a
/// `{"status":"ERROR","reason":...}` reply, and Error(invalid_format) naming the field for
/// anything malformed.
LnurlPayRequest parse_pay_request(std::string_view json, bool allow_http_loopback = false);

/// Parses an invoice reply (`{"pr": "<bolt11>", ...}`) and returns the invoice text. Throws
/// Error(io) carrying the reason for an ERROR status, Error(invalid_format) for anything
/// malformed (no `pr`, not a string, not a BOLT11 string).
std::string parse_invoice_reply(std::string_view json);

/// Decodes @p bolt11 (signature required) and makes the payer's checks against the pay
/// request it answers: its amount is present and equals @p amount_msat, its description hash
/// equals SHA-256(@p request.metadata), and it has not expired at @p now_unix. Returns the
/// decoded invoice. Throws Error(invalid_format) naming the failed check.
Bolt11Invoice check_invoice(const std::string& bolt11, const LnurlPayRequest& request, std::uint64_t amount_msat,
                            std::uint64_t now_unix);

/// A Lightning address, `user@domain` (LUD-16).
class LightningAddress {
 public:
  /// Parses @p text: a user name of a-z 0-9 - _ . + and a domain name (both lower-cased;
  /// at most 64 and 253 characters). With @p allow_http_loopback, the domain may instead be a
  /// loopback host with a port (`127.0.0.1:8080`, `localhost:8080`, `[::1]:8080`). Throws
  /// Error(invalid_argument) naming what is wrong.
  static LightningAddress parse(std::string_view text, bool allow_http_loopback = false);

  /// The user part.
  const std::string& user() const noexcept { return user_; }
  /// The domain part (with its port, for loopback addresses).
  const std::string& domain() const noexcept { return domain_; }
  /// `user@domain`, lower-cased.
  std::string to_string() const { return user_ + "@" + domain_; }

  /// The LUD-16 well-known URL: `https://DOMAIN/.well-known/lnurlp/USER`, or `http://` for a
  /// loopback host parsed with allow_http_loopback.
  std::string pay_request_url() const;

  /// Fetches and validates the pay request (see parse_pay_request). Throws Error(io) for
  /// network failures, timeouts, oversized replies, non-200 statuses and ERROR replies,
  /// Error(invalid_format) for malformed replies.
  LnurlPayRequest fetch_pay_request(const LnurlOptions& options) const;

  /// Asks @p request's callback for an invoice of @p amount_msat (with @p comment when not
  /// empty; refused if longer than request.comment_allowed) and checks it (see
  /// check_invoice). Returns the invoice text. Throws Error(invalid_argument) for an amount
  /// outside [min, max] or a comment too long (before any request), and otherwise as
  /// fetch_pay_request and check_invoice do.
  static std::string fetch_invoice(const LnurlPayRequest& request, std::uint64_t amount_msat, const LnurlOptions& options,
                                   const std::string& comment = "");

 private:
  LightningAddress(std::string user, std::string domain, bool loopback_http)
      : user_(std::move(user)), domain_(std::move(domain)), loopback_http_(loopback_http) {}
  std::string user_;
  std::string domain_;
  bool loopback_http_ = false;
};

}  // namespace petalsln
