#pragma once
// Nostr keys: BIP-340 keys over secp256k1 (signed and verified by util's one BIP-340
// implementation, named here as the Nostr code uses them), plus the unhashed ECDH that NIP-04
// and NIP-44 encryption build on.

#include <array>
#include <cstdint>

#include "petalsln/util/schnorr_signature.hpp"
#include "util/schnorr.hpp"

namespace petalsln::lightning {

/// A Nostr secret key: a secp256k1 secret key (32 bytes, big-endian, in 1..n-1).
using NostrSecretKey = util::SecretKey;
/// A Nostr public key: a BIP-340 x-only public key.
using XOnlyPublicKey = util::XOnlyPublicKey;

// Signing, verifying and key checks are util's BIP-340 functions (see util/schnorr.hpp).
using util::is_valid_secret_key;
using util::is_valid_xonly_public_key;
using util::schnorr_sign;
using util::schnorr_verify;
using util::xonly_public_key;

/// Returns the x coordinate of secret * point(@p peer), unhashed: the shared secret NIP-04
/// and NIP-44 build on. @p peer is lifted to the point with even y, as BIP-340 keys are.
/// Throws Error(invalid_argument) naming which key is invalid (never showing the secret).
std::array<std::uint8_t, 32> ecdh_shared_x(const NostrSecretKey& secret, const XOnlyPublicKey& peer);

}  // namespace petalsln::lightning
