#pragma once
// An HTTP(S) client over libcurl for the lightning layer's network backends (Lightning
// addresses, LND / Core Lightning / LNbits REST). Internal: not part of the public API.
//
// Why a wrapper: every request a peer can answer needs the same defences (a deadline, a cap
// on the reply size, TLS verification, no redirects to places nobody checked, plain HTTP only
// to loopback and only when asked), and every backend must produce the same clear errors.

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace petalsln::lightning {

/// One HTTP request.
struct HttpRequest {
  std::string method = "GET";  ///< "GET", "POST", "DELETE", ...
  std::string url;             ///< Absolute http:// or https:// URL.
  std::vector<std::pair<std::string, std::string>> headers;  ///< Extra headers (name, value).
  std::string body;            ///< Request body (sent for any method when non-empty).
};

/// The limits and trust settings every request runs under.
struct HttpOptions {
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};          ///< Whole request deadline.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};  ///< Connection deadline.
  std::size_t max_response_bytes = 1 << 20;  ///< Larger replies are refused (Error io).
  /// Plain http:// is refused unless this is set AND the host is a loopback address
  /// (127.0.0.0/8, ::1, localhost). https:// is always allowed.
  bool allow_http_loopback = false;
  /// PEM file of the certificate(s) to trust instead of the system CA store (LND's tls.cert).
  /// Empty: the system store.
  std::string ca_file;
  /// When ca_file is set: skip the host-name check. The certificate chain is still verified.
  /// The REST wallet backends never set it (their one rule is in petalsln/rest_endpoint.hpp).
  bool skip_hostname_check_with_ca_file = false;
  /// For streaming replies of newline-delimited JSON (LND's server-streaming calls): return
  /// as soon as the body holds its first complete line, without waiting for the stream to
  /// end. The body then ends at that line's '\n'.
  bool stop_after_first_line = false;
};

/// A reply. Any status code is returned (callers map API errors); transport failures throw.
struct HttpResponse {
  long status = 0;           ///< HTTP status code.
  std::string content_type;  ///< The Content-Type header, lower-cased ("" if none).
  std::string body;          ///< The body, at most HttpOptions::max_response_bytes.
};

/// Returns true if @p host is a loopback host name or literal: "localhost", 127.x.y.z, "::1",
/// "[::1]".
bool is_loopback_host(const std::string& host);

/// Performs @p request under @p options. Redirects are not followed. Throws
/// Error(invalid_argument) for a malformed URL or a plain-http URL that is not allowed,
/// Error(io) naming the URL's scheme://host:port (never its query, which may hold keys) for a
/// connection failure, TLS failure, timeout, or a reply over the size limit. Thread-safe.
HttpResponse http_request(const HttpRequest& request, const HttpOptions& options);

/// Returns @p url with everything from the first '?' replaced by "?..." so it can be logged or
/// put in an error message without leaking keys.
std::string redact_url(const std::string& url);

}  // namespace petalsln::lightning
