#pragma once
/// @file l402.hpp
/// L402 (formerly LSAT): the challenge a priced server sends instead of service, and the token
/// a client sends back once it has paid.
///
/// Challenge (HTTP `WWW-Authenticate`, gRPC trailing metadata `www-authenticate`):
///     L402 macaroon="<base64 macaroon>", invoice="<BOLT11 invoice>"
/// Token (HTTP `Authorization`, gRPC metadata `authorization`):
///     L402 <base64 macaroon>:<preimage as 64 hex digits>
/// These are the forms Aperture writes and reads. Both parsers also accept the legacy scheme
/// name `LSAT`, any letter case in the scheme (RFC 7235), and either base64 alphabet with or
/// without padding. The caveats petalsln puts in the macaroon are in l402_caveats.hpp.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "petalsln/lightning/l402_caveats.hpp"
#include "petalsln/lightning/l402_identifier.hpp"
#include "petalsln/lightning/macaroon.hpp"

namespace petalsln {

/// Which scheme name a header is written with.
enum class L402Scheme {
  l402,  ///< "L402", the current name.
  lsat,  ///< "LSAT", the legacy name older clients and servers still send.
};

/// The longest header value either parser reads: a maximal macaroon in base64 plus room for
/// an invoice. Longer input is refused before any decoding.
inline constexpr std::size_t kL402MaxHeaderSize = 96 * 1024;

/// A payment challenge: pay @ref invoice, then present @ref macaroon with its preimage.
struct L402Challenge {
  /// The longest invoice accepted (BOLT11 invoices with many route hints stay far below).
  static constexpr std::size_t max_invoice_size = 8192;

  Macaroon macaroon;    ///< The macaroon the token must carry (its identifier holds the payment hash).
  std::string invoice;  ///< The BOLT11 invoice to pay (not decoded here; see bolt11.hpp).

  /// Returns `L402 macaroon="<standard padded base64>", invoice="<invoice>"` (or with the
  /// LSAT scheme name). Throws Error(invalid_argument) if the invoice is empty, longer than
  /// max_invoice_size, or holds characters other than letters and digits.
  std::string to_header(L402Scheme scheme = L402Scheme::l402) const;

  /// Parses a challenge header value: the scheme (L402 or LSAT, any case), then the
  /// comma-separated parameters `macaroon` and `invoice` in any order, names in any case, with
  /// optional whitespace around '=' and ',', values quoted (with RFC 7230 backslash escapes) or
  /// bare. Unknown parameters are ignored (RFC 7235). Throws Error(invalid_format) for a
  /// missing, repeated or empty parameter, bad syntax, a bad macaroon, an invoice that is not
  /// letters and digits starting with "ln", or input longer than kL402MaxHeaderSize;
  /// Error(unsupported) for another scheme.
  static L402Challenge parse(std::string_view header);
};

/// A paid token: the challenge's macaroon and the preimage of the invoice it named.
struct L402Token {
  /// A payment preimage: 32 bytes whose SHA-256 is the payment hash.
  using Preimage = std::array<std::uint8_t, 32>;

  Macaroon macaroon;     ///< The macaroon from the challenge (possibly with caveats added).
  Preimage preimage{};   ///< The preimage paying the invoice revealed.

  /// Returns `L402 <standard padded base64 macaroon>:<64 lower-case hex digits>` (or LSAT).
  std::string to_header(L402Scheme scheme = L402Scheme::l402) const;

  /// Parses an authorization header value: scheme (L402 or LSAT, any case), whitespace, the
  /// base64 macaroon, ':', the preimage as 64 hex digits; surrounding whitespace is ignored.
  /// Throws Error(invalid_format) for bad syntax, bad base64, a bad macaroon, a preimage that
  /// is not exactly 64 hex digits, or input longer than kL402MaxHeaderSize; Error(unsupported)
  /// for another scheme or for several comma-separated macaroons (discharge macaroons belong
  /// to third-party caveats, which petalsln does not use).
  static L402Token parse(std::string_view header);

  /// Returns the decoded identifier of the macaroon. Throws as L402Identifier::decode().
  L402Identifier identifier() const;

  /// Returns true if SHA-256(preimage) equals the identifier's payment hash (compared in
  /// constant time); false if the identifier is not a valid L402 identifier.
  bool preimage_matches() const;

  /// Verifies the whole token for one request: the identifier decodes, the preimage pays its
  /// payment hash, the macaroon's signature chains from @p root_key, and every caveat passes
  /// @p checker. Returns the first failure's reason, or a pass.
  Verdict verify(std::string_view root_key, const Macaroon::CaveatChecker& checker) const;

  /// As above with petalsln's caveats (l402_caveats.hpp) checked against @p request; on a pass
  /// stores the effective terms (narrowest range, lowest credit, earliest expiry) in
  /// @p granted if not null.
  Verdict verify(std::string_view root_key, const L402Request& request, L402Terms* granted = nullptr) const;
};

}  // namespace petalsln
