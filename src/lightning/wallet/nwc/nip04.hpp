#pragma once
// NIP-04: the older Nostr encryption (AES-256-CBC keyed by the unhashed ECDH x coordinate,
// "base64(ciphertext)?iv=base64(iv)"). Deprecated in favour of NIP-44, but Nostr Wallet
// Connect services that advertise no `encryption` tag speak only this. It has no MAC: a
// tampered payload decrypts to garbage or fails the padding check, never silently to the
// sender's plaintext.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "lightning/wallet/nwc/nostr_keys.hpp"

namespace petalsln::lightning::nip04 {

/// The longest NIP-04 content decrypt() accepts, in characters (a bound on what peers send).
constexpr std::size_t kMaxContent = 256 * 1024;

/// Encrypts @p plaintext from @p secret to @p peer with @p iv (fresh random bytes when null).
/// Returns "base64(ciphertext)?iv=base64(iv)". Throws Error(invalid_argument) for invalid keys.
std::string encrypt(std::string_view plaintext, const NostrSecretKey& secret, const XOnlyPublicKey& peer,
                    const std::array<std::uint8_t, 16>* iv = nullptr);

/// Decrypts @p content sent between @p secret's owner and @p peer. Throws
/// Error(invalid_format) if it is not "base64?iv=base64" with a 16-byte IV, is longer than
/// kMaxContent, or does not decrypt with valid PKCS#7 padding; Error(invalid_argument) for
/// invalid keys.
std::string decrypt(std::string_view content, const NostrSecretKey& secret, const XOnlyPublicKey& peer);

}  // namespace petalsln::lightning::nip04
