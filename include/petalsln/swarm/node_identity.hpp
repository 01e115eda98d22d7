#pragma once
/// @file node_identity.hpp
/// A swarm node's long-lived identity: a secp256k1 secret key whose BIP-340 x-only public key
/// is the node's peer id, and Schnorr signatures made with it.

#include <array>
#include <cstdint>
#include <string>

#include "petalsln/util/schnorr_signature.hpp"

namespace petalsln {

/// A peer id: the 32-byte x-only secp256k1 public key of a node (BIP-340).
using PeerId = std::array<std::uint8_t, 32>;

/// A 32-byte message digest, the only thing a NodeIdentity signs (hash your data first,
/// with a tagged hash so a signature made for one purpose is never valid for another).
using Digest32 = std::array<std::uint8_t, 32>;

/// A secp256k1 secret key and its peer id. The secret never leaves the object except into the
/// key file written by load_or_create(); it is wiped from memory when the object is destroyed.
/// Move-only. Signing and verifying are safe from several threads at once.
class NodeIdentity {
 public:
  /// Returns a new identity with a key from the kernel's secure random source.
  /// Throws Error(io) if no randomness is available.
  static NodeIdentity generate();

  /// Returns the identity stored at @p path, creating it first if the file does not exist.
  /// A new file is created exclusively (O_CREAT|O_EXCL) with mode 0600 and holds the secret
  /// key as 64 hex digits and a newline. An existing file must be a regular file that neither
  /// group nor others can access (else Error(invalid_argument) saying how to fix it) and must
  /// hold exactly that format (else Error(invalid_format)). Other failures: Error(io).
  static NodeIdentity load_or_create(const std::string& path);

  /// Returns the identity for the 32-byte big-endian secret key @p secret (imports, tests).
  /// Throws Error(invalid_argument) if it is zero or not below the curve order.
  static NodeIdentity from_secret(const std::array<std::uint8_t, 32>& secret);

  /// Wipes the secret key from memory.
  ~NodeIdentity();
  /// Takes over @p other's key; @p other is wiped and can no longer sign (sign() throws
  /// Error(internal)).
  NodeIdentity(NodeIdentity&& other) noexcept;
  /// Wipes this key, then takes over @p other's as the move constructor does.
  NodeIdentity& operator=(NodeIdentity&& other) noexcept;
  NodeIdentity(const NodeIdentity&) = delete;             ///< Secrets are copied only by clone().
  NodeIdentity& operator=(const NodeIdentity&) = delete;  ///< Secrets are copied only by clone().

  /// Returns an independent copy of this identity (the secret included), for a component
  /// that must keep signing after the caller's object is gone. Copies are explicit so that
  /// secrets are never duplicated by accident; each copy wipes itself.
  NodeIdentity clone() const;

  /// Returns the peer id (the x-only public key).
  const PeerId& peer_id() const noexcept { return peer_id_; }

  /// Returns the peer id as 64 lower-case hex digits.
  std::string peer_id_hex() const;

  /// Returns a BIP-340 signature of @p msg32, made with fresh auxiliary randomness (so a fault
  /// or side channel in one signing reveals less). Throws Error(io) if no randomness is
  /// available, Error(internal) if libsecp256k1 fails.
  SchnorrSignature sign(const Digest32& msg32) const;

  /// Returns the BIP-340 signature of @p msg32 made with the given auxiliary randomness
  /// @p aux_rand32. Deterministic: meant for checking against published test vectors; use
  /// sign() otherwise. Throws Error(internal) if libsecp256k1 fails.
  SchnorrSignature sign_with_aux(const Digest32& msg32, const std::array<std::uint8_t, 32>& aux_rand32) const;

  /// Returns true if @p signature is a valid BIP-340 signature of @p msg32 under @p peer_id.
  /// A peer id that is not a valid x-only public key verifies nothing (returns false).
  static bool verify(const PeerId& peer_id, const Digest32& msg32, const SchnorrSignature& signature) noexcept;

 private:
  NodeIdentity() = default;
  void wipe() noexcept;

  std::array<std::uint8_t, 32> secret_{};
  PeerId peer_id_{};
};

}  // namespace petalsln
