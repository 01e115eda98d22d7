#pragma once
/// @file macaroon.hpp
/// Macaroons: bearer tokens whose holder can add restrictions (caveats) but never remove them,
/// because each caveat is folded into an HMAC-SHA256 chain that only the minter's root key
/// can recompute. petalsln writes and reads the version-2 binary format of libmacaroons, the Go
/// library gopkg.in/macaroon.v2 (used by LND and Aperture) and the npm `macaroon` package, so
/// its macaroons verify there and theirs verify here.
///
/// Only first-party caveats (predicates the verifier checks itself) are supported; a macaroon
/// carrying a third-party caveat is refused when parsed.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace petalsln {

/// The outcome of a check: passed, or failed with a reason fit to show the client.
struct Verdict {
  bool ok = false;     ///< True if the check passed.
  std::string reason;  ///< Why it failed; empty when ok.

  /// Returns a passing verdict.
  static Verdict pass() { return Verdict{true, {}}; }
  /// Returns a failing verdict explaining @p why.
  static Verdict fail(std::string why) { return Verdict{false, std::move(why)}; }
  /// Returns ok, so a verdict can be tested like a bool.
  explicit operator bool() const noexcept { return ok; }
};

/// How Macaroon::to_base64() writes the binary form.
enum class MacaroonBase64 {
  standard,           ///< RFC 4648 section 4 with "=" padding (Aperture, LND's HTTP headers).
  standard_unpadded,  ///< RFC 4648 section 4 without padding.
  url_safe,           ///< RFC 4648 section 5 with "=" padding.
  url_safe_unpadded,  ///< RFC 4648 section 5 without padding (the macaroon libraries' default).
};

/// A macaroon with first-party caveats. A value type: copying it copies the token (which is a
/// bearer credential, so treat copies as secrets too).
class Macaroon {
 public:
  /// A macaroon signature: the last link of the HMAC-SHA256 chain.
  using Signature = std::array<std::uint8_t, 32>;

  /// Limits enforced by deserialize() and by the builders, so that hostile input cannot make
  /// a verifier allocate or hash without bound.
  static constexpr std::size_t max_serialized_size = 64 * 1024;  ///< Whole binary macaroon.
  static constexpr std::size_t max_caveats = 64;                 ///< First-party caveats.
  static constexpr std::size_t max_identifier_size = 4096;       ///< Macaroon identifier bytes.
  static constexpr std::size_t max_location_size = 1024;         ///< Location hint bytes.
  static constexpr std::size_t max_caveat_size = 4096;           ///< One caveat predicate's bytes.

  /// Decides whether one caveat predicate holds for the request being authorised. It must
  /// return Verdict::fail for any predicate it does not understand.
  using CaveatChecker = std::function<Verdict(std::string_view predicate)>;

  /// Returns a new macaroon with no caveats: signature = HMAC-SHA256(K, @p identifier), where
  /// K = HMAC-SHA256("macaroons-key-generator", @p root_key) as in libmacaroons (so a root
  /// key of any length works). @p identifier is arbitrary bytes (for L402, an encoded
  /// L402Identifier); @p location is an unauthenticated hint and may be empty.
  /// Throws Error(invalid_argument) if @p root_key or @p identifier is empty or a field
  /// exceeds its limit.
  static Macaroon mint(std::string_view root_key, std::string_view identifier, std::string_view location = {});

  /// Appends the first-party caveat @p predicate (arbitrary non-empty bytes; petalsln uses
  /// "key=value" text) and advances the signature: sig' = HMAC-SHA256(sig, predicate). Anyone
  /// holding the macaroon can do this; nobody can undo it. Throws Error(invalid_argument) if
  /// @p predicate is empty, longer than max_caveat_size, or the macaroon already has
  /// max_caveats caveats.
  void add_first_party_caveat(std::string_view predicate);

  /// Returns the location hint (may be empty; it is not covered by the signature).
  const std::string& location() const noexcept { return location_; }
  /// Returns the identifier bytes.
  const std::string& identifier() const noexcept { return identifier_; }
  /// Returns the first-party caveat predicates, oldest first.
  const std::vector<std::string>& caveats() const noexcept { return caveats_; }
  /// Returns the current signature.
  const Signature& signature() const noexcept { return signature_; }

  /// Returns true if the HMAC chain from @p root_key over the identifier and every caveat
  /// ends in this macaroon's signature (compared in constant time). Checks no caveats.
  bool signature_valid(std::string_view root_key) const;

  /// Verifies the macaroon for one request: the signature chain from @p root_key (constant-
  /// time comparison), then every caveat through @p checker, each of which must pass.
  /// Returns the first failure's reason, or a pass. A checker that throws is treated as
  /// failing that caveat (the message becomes the reason).
  Verdict verify(std::string_view root_key, const CaveatChecker& checker) const;

  /// Returns the version-2 binary encoding (version byte 2, then location?, identifier, EOS,
  /// one "identifier EOS" section per caveat, EOS, signature; varint types and lengths).
  std::string serialize() const;

  /// Parses a version-2 binary macaroon. Strict: fields in grammar order, exact lengths, a
  /// 32-byte signature, nothing after it, and the limits above. Throws Error(invalid_format)
  /// saying what is wrong and at which offset; Error(unsupported) for a version-1 macaroon or
  /// a third-party caveat.
  static Macaroon deserialize(std::string_view bytes);

  /// Returns serialize() in base64 of the given @p form.
  std::string to_base64(MacaroonBase64 form = MacaroonBase64::standard) const;

  /// Parses a base64 macaroon in either alphabet, with or without padding (as Aperture, LND
  /// and the macaroon libraries accept). Throws Error(invalid_format) for bad base64 (or
  /// text longer than a max_serialized_size macaroon could be), else as deserialize().
  static Macaroon from_base64(std::string_view text);

  /// Returns true if both macaroons have the same location, identifier, caveats and
  /// signature (the signature compared in constant time).
  friend bool operator==(const Macaroon& a, const Macaroon& b);
  /// Returns !(a == b).
  friend bool operator!=(const Macaroon& a, const Macaroon& b) { return !(a == b); }

 private:
  Macaroon() = default;

  std::string location_;
  std::string identifier_;
  std::vector<std::string> caveats_;
  Signature signature_{};
};

}  // namespace petalsln
