#pragma once
// BIP-340 Schnorr keys and signatures over secp256k1: what signs and verifies Nostr events.

#include <array>
#include <cstdint>
#include <string_view>

namespace petalsln::lightning {

/// A secp256k1 secret key (32 bytes, big-endian, in 1..n-1).
using NostrSecretKey = std::array<std::uint8_t, 32>;
/// A BIP-340 x-only public key: the x coordinate of a point with even y.
using XOnlyPublicKey = std::array<std::uint8_t, 32>;
/// A BIP-340 signature (R.x || s).
using SchnorrSignature = std::array<std::uint8_t, 64>;

/// Returns true if @p secret is a valid secp256k1 secret key (non-zero, below the curve order).
bool is_valid_secret_key(const NostrSecretKey& secret) noexcept;

/// Returns true if @p key is the x coordinate of a point on secp256k1.
bool is_valid_xonly_public_key(const XOnlyPublicKey& key) noexcept;

/// Returns the x-only public key of @p secret. Throws Error(invalid_argument) if @p secret is
/// not a valid secret key (the message never shows the key).
XOnlyPublicKey xonly_public_key(const NostrSecretKey& secret);

/// Signs @p message (any length; Nostr signs 32-byte event ids) with @p secret per BIP-340,
/// using @p aux_rand as auxiliary randomness when given (tests reproduce published vectors
/// with it), fresh random bytes otherwise. Returns the 64-byte signature. Throws
/// Error(invalid_argument) for an invalid secret, Error(internal) if signing fails.
SchnorrSignature schnorr_sign(const NostrSecretKey& secret, std::string_view message,
                              const std::array<std::uint8_t, 32>* aux_rand = nullptr);

/// Returns true if @p signature is a valid BIP-340 signature of @p message by @p key. Never
/// throws: an unparseable key or signature is simply invalid.
bool schnorr_verify(const XOnlyPublicKey& key, std::string_view message, const SchnorrSignature& signature) noexcept;

/// Returns the x coordinate of secret * point(@p peer), unhashed: the shared secret NIP-04
/// and NIP-44 build on. @p peer is lifted to the point with even y, as BIP-340 keys are.
/// Throws Error(invalid_argument) naming which key is invalid (never showing the secret).
std::array<std::uint8_t, 32> ecdh_shared_x(const NostrSecretKey& secret, const XOnlyPublicKey& peer);

}  // namespace petalsln::lightning
