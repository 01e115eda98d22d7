#pragma once
/// @file schnorr_signature.hpp
/// The BIP-340 Schnorr signature type, shared by everything that signs with secp256k1 keys
/// (node identities in the swarm, Nostr events in the lightning layer).

#include <array>
#include <cstdint>

namespace petalsln {

/// A 64-byte BIP-340 Schnorr signature (R.x || s).
using SchnorrSignature = std::array<std::uint8_t, 64>;

}  // namespace petalsln
