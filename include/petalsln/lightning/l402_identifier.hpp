#pragma once
/// @file l402_identifier.hpp
/// The identifier of an L402 macaroon, as the L402 specification (lightninglabs/L402,
/// macaroons.md) and Aperture define it: it binds the macaroon to one invoice's payment hash,
/// so the preimage that paying reveals is the proof of payment.
///
/// Wire form (version 0, 66 bytes): version (uint16, big-endian) || payment hash (32 bytes)
/// || token id (32 bytes).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace petalsln {

/// A decoded L402 macaroon identifier.
struct L402Identifier {
  /// A 32-byte value (payment hash, token id).
  using Bytes32 = std::array<std::uint8_t, 32>;

  /// The only version the specification defines.
  static constexpr std::uint16_t current_version = 0;
  /// The encoded size of a version-0 identifier.
  static constexpr std::size_t encoded_size = 2 + 32 + 32;

  std::uint16_t version = current_version;  ///< Identifier layout version (0).
  Bytes32 payment_hash{};                   ///< SHA-256 of the invoice's payment preimage.
  Bytes32 token_id{};                       ///< Random id of this token (keys its root key and credit).

  /// Returns the 66-byte encoding. Throws Error(unsupported) if version is not 0.
  std::string encode() const;

  /// Parses an encoded identifier. Throws Error(unsupported) for a version other than 0 and
  /// Error(invalid_format) if @p bytes is not exactly 66 bytes for version 0 (or shorter
  /// than the 2-byte version).
  static L402Identifier decode(std::string_view bytes);

  /// Returns an identifier for @p payment_hash with a fresh random token id.
  /// Throws Error(io) if the kernel provides no randomness.
  static L402Identifier random_for(const Bytes32& payment_hash);

  /// Returns true if every field is equal.
  friend bool operator==(const L402Identifier& a, const L402Identifier& b) {
    return a.version == b.version && a.payment_hash == b.payment_hash && a.token_id == b.token_id;
  }
  /// Returns !(a == b).
  friend bool operator!=(const L402Identifier& a, const L402Identifier& b) { return !(a == b); }
};

}  // namespace petalsln
