#pragma once
// One strict URI parser (RFC 3986) with percent-decoding, for every URI and URL petalsln reads:
// wallet URIs (devnet:, cln+rest://, lnd+rest://, lnbits://, nostr+walletconnect:), the HTTP
// client's URLs and the callbacks LNURL services send.
//
// Strict about the structure: the scheme's characters, the host (a name, an IPv4 literal or a
// bracketed IPv6 literal), the port (1 to 65535), the user information's characters, every
// percent-escape, a size limit, and no control characters anywhere. Lenient, as browsers and
// libcurl are, about other characters RFC 3986 would have percent-encoded in the path, query
// and fragment (a space, '|', UTF-8): callers that care check their own parts.
//
// Errors name the part that is wrong ("query parameter 2", "the port"), never its text: URIs
// carry secrets (runes, API keys, Nostr secrets).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace petalsln::util {

/// One query parameter, key and value percent-decoded.
struct UriParam {
  std::string key;    ///< The text before the first '=' (the whole piece if there is none).
  std::string value;  ///< The text after the first '='; empty if there is none.
};

/// How Uri::parse() reads a URI.
struct UriOptions {
  /// Decode '+' in query keys and values as a space (HTML form encoding, as NIP-47 URIs use).
  /// Off by default: runes and base64 keys contain '+'.
  bool plus_as_space = false;
  /// The longest URI accepted, in bytes.
  std::size_t max_length = 65536;
};

/// A parsed URI: `scheme ":" ["//" [userinfo "@"] host [":" port]] path ["?" query] ["#" fragment]`.
/// Every part but the query parameters is kept as written (escapes checked, not decoded), so
/// that no caller sees a '/' or '?' that was escaped as one that was not.
struct Uri {
  std::string scheme;                    ///< As written (compare case-insensitively if RFC 3986 matters).
  bool has_authority = false;            ///< The URI had "//" after the scheme.
  std::optional<std::string> userinfo;   ///< The text before '@' in the authority, if any.
  std::string host;                      ///< As written; an IPv6 literal keeps its brackets ("[::1]"). May be empty.
  std::optional<std::uint16_t> port;     ///< The port, if the authority names one.
  std::string path;                      ///< As written; may be empty.
  std::optional<std::string> query;      ///< The text after '?' up to '#', as written, if there was a '?'.
  /// The query split at '&', in order, repeated keys kept. An empty piece (a bare '?', "&&",
  /// a leading or trailing '&') is kept as a parameter with an empty key and value, so that
  /// strict callers can refuse it.
  std::vector<UriParam> params;
  std::optional<std::string> fragment;   ///< The text after '#', as written, if there was a '#'.

  /// Parses @p text under @p options. Returns the parts. Throws Error(invalid_argument) saying
  /// what is wrong and where (never quoting the text): too long, a control character, no
  /// scheme, a bad host, IPv6 literal, port or user information, a malformed percent-escape.
  static Uri parse(std::string_view text, const UriOptions& options = {});

  /// Returns the value of the first parameter named @p key, or nullopt if there is none.
  std::optional<std::string> param(std::string_view key) const;

  /// Returns how many parameters are named @p key.
  std::size_t param_count(std::string_view key) const;
};

/// Returns @p text with every "%XX" replaced by the byte it encodes (and '+' by a space when
/// @p plus_as_space). Throws Error(invalid_argument) if a '%' is not followed by two
/// hexadecimal digits (the message never quotes @p text).
std::string percent_decode(std::string_view text, bool plus_as_space = false);

}  // namespace petalsln::util
