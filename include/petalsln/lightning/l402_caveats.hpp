#pragma once
/// @file l402_caveats.hpp
/// The caveats petalsln writes into the macaroon of every L402 token it sells, and the checker
/// that decides whether a token covers a request.
///
/// Each caveat is the text `key=value` (no spaces; the value is everything after the first
/// '='), following the L402 specification's caveat style. The keys:
///
/// | caveat                    | meaning                                                    |
/// | ------------------------- | ---------------------------------------------------------- |
/// | `service=petalsln`        | the service sold (the request's service must be equal)     |
/// | `model=<name>`            | the model's name (must equal the requested model)          |
/// | `peer=<hex peer id>`      | the selling server's peer id, 64 hex digits (must match)   |
/// | `blocks=<a>-<b>`          | blocks [a, b) (the requested range must lie inside)        |
/// | `credit=<block-tokens>`   | credit bought, in block-tokens (blocks x tokens processed) |
/// | `expires=<unix seconds>`  | the token is valid while now < expires                     |
///
/// Attenuation only ever narrows: anyone holding a token may append caveats, so every caveat
/// is checked and the effective terms are the narrowest of all of them: a second `blocks=`
/// caveat narrows the range to the intersection, a second `credit=` can only lower the credit
/// (the minimum counts), `expires` takes the earliest, and a second `service`/`model`/`peer`
/// with another value makes the token match nothing. A caveat with an unknown key, or a
/// known key with a malformed value, fails verification (petalsln's verifier is also its
/// minter, so an unknown key can only be an attempt to confuse it). A token missing any of
/// the six keys is refused, so a token minted by mistake without a binding grants nothing.
/// The metering of credit against work done is the paywall's; this checker reports the
/// effective credit.

#include <cstdint>
#include <string>
#include <string_view>

#include "petalsln/lightning/l402_identifier.hpp"
#include "petalsln/lightning/macaroon.hpp"

namespace petalsln {

/// The service name petalsln servers sell under (`service=petalsln`).
inline constexpr std::string_view kL402Service = "petalsln";

/// What a token grants: the terms a server writes when it mints one, and the effective
/// (narrowest) terms the checker reads back.
struct L402Terms {
  std::string service{kL402Service};  ///< `service=`.
  std::string model;                  ///< `model=`: the model's name.
  std::string peer;                   ///< `peer=`: the server's peer id, 64 hex digits.
  std::uint32_t block_begin = 0;      ///< `blocks=`: first block sold.
  std::uint32_t block_end = 0;        ///< `blocks=`: one past the last block sold.
  std::uint64_t credit = 0;           ///< `credit=`: block-tokens bought.
  std::int64_t expires = 0;           ///< `expires=`: unix seconds; valid while now < expires.
};

/// The request a token is presented for.
struct L402Request {
  std::string service{kL402Service};  ///< The service asked for.
  std::string model;                  ///< The model the server runs.
  std::string peer;                   ///< This server's peer id, 64 hex digits.
  std::uint32_t block_begin = 0;      ///< First block the request runs.
  std::uint32_t block_end = 0;        ///< One past the last block the request runs.
  std::int64_t now = 0;               ///< The current time, unix seconds.
};

/// Appends the six petalsln caveats for @p terms to @p macaroon, in the order of the table
/// above. Throws Error(invalid_argument) if a value cannot be written as a caveat (empty
/// service or model, or one with whitespace or control characters; a peer that is not 64 hex
/// digits; block_begin >= block_end; negative expires), before appending anything.
void add_l402_caveats(Macaroon& macaroon, const L402Terms& terms);

/// Returns a macaroon minted with @p root_key for @p identifier (encoded as the macaroon
/// identifier) carrying the caveats for @p terms. Throws as Macaroon::mint(),
/// L402Identifier::encode() and add_l402_caveats().
Macaroon mint_l402_macaroon(std::string_view root_key, const L402Identifier& identifier, const L402Terms& terms,
                            std::string_view location = {});

/// Checks the caveats of one macaroon against one request, one caveat at a time, and
/// accumulates the effective terms. Use check() as the Macaroon::CaveatChecker (see
/// as_checker()), then finish(). One object per verification.
class L402CaveatChecker {
 public:
  /// Prepares to check caveats against @p request.
  explicit L402CaveatChecker(L402Request request);

  /// Checks one caveat predicate: known key, well-formed value, satisfied by the request.
  /// Returns a failing verdict with the reason otherwise.
  Verdict check(std::string_view predicate);

  /// Returns a Macaroon::CaveatChecker that calls check() on this object (which must outlive it).
  Macaroon::CaveatChecker as_checker();

  /// After every caveat passed check(): verifies that the request itself is well formed and
  /// that all six keys appeared. Returns the failure, or a pass.
  Verdict finish() const;

  /// Returns the effective terms so far: the requested service, model and peer; the
  /// intersection of the block ranges; the lowest credit; the earliest expiry.
  const L402Terms& granted() const noexcept { return granted_; }

 private:
  Verdict check_value(std::string_view key, std::string_view value);

  L402Request request_;
  L402Terms granted_;
  unsigned seen_ = 0;  // bit set of the keys met so far
};

/// Verifies @p macaroon for @p request: the signature from @p root_key, every caveat, and the
/// presence of all six keys (it does not look at the identifier or a preimage: see
/// L402Token::verify()). On a pass, stores the effective terms in @p granted if not null.
Verdict verify_l402_caveats(const Macaroon& macaroon, std::string_view root_key, const L402Request& request,
                            L402Terms* granted = nullptr);

}  // namespace petalsln
