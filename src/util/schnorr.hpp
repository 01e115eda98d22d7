#pragma once
// BIP-340 Schnorr keys and signatures over secp256k1: one implementation for every layer that
// signs (the swarm's node identities, the lightning layer's Nostr events).

#include <array>
#include <cstdint>
#include <string_view>

#include "petalsln/util/schnorr_signature.hpp"

namespace petalsln::util {

/// A secp256k1 secret key: 32 bytes, big-endian, in 1..n-1 (n the curve order).
using SecretKey = std::array<std::uint8_t, 32>;
/// A BIP-340 x-only public key: the x coordinate of a point with even y.
using XOnlyPublicKey = std::array<std::uint8_t, 32>;
/// BIP-340's auxiliary randomness for one signature.
using AuxRandom = std::array<std::uint8_t, 32>;

/// Returns true if @p secret is a valid secp256k1 secret key (non-zero, below the curve
/// order). Never throws: false also when no secp256k1 context can be created.
bool is_valid_secret_key(const SecretKey& secret) noexcept;

/// Returns true if @p key is the x coordinate of a point on secp256k1. Never throws.
bool is_valid_xonly_public_key(const XOnlyPublicKey& key) noexcept;

/// Returns the x-only public key of @p secret. Throws Error(invalid_argument) if @p secret is
/// not a valid secret key (the message never shows the key), Error(internal) if libsecp256k1
/// fails.
XOnlyPublicKey xonly_public_key(const SecretKey& secret);

/// Signs @p message (any length) with @p secret per BIP-340, using @p aux_random as auxiliary
/// randomness when given (deterministic: for published test vectors), fresh random bytes
/// otherwise. The keypair and the randomness are wiped before returning, however it returns.
/// Returns the 64-byte signature. Throws Error(invalid_argument) for an invalid secret,
/// Error(io) without randomness, Error(internal) if libsecp256k1 fails.
SchnorrSignature schnorr_sign(const SecretKey& secret, std::string_view message,
                              const AuxRandom* aux_random = nullptr);

/// Returns true if @p signature is a valid BIP-340 signature of @p message by @p key. Never
/// throws: an unparseable key or signature is simply invalid.
bool schnorr_verify(const XOnlyPublicKey& key, std::string_view message, const SchnorrSignature& signature) noexcept;

}  // namespace petalsln::util
