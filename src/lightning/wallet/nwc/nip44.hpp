#pragma once
// NIP-44 version 2: the authenticated encryption of Nostr direct payloads (secp256k1 ECDH,
// HKDF-SHA256, ChaCha20, HMAC-SHA256, power-of-two-ish padding). Nostr Wallet Connect
// encrypts its requests and responses with it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lightning/wallet/nwc/nostr_keys.hpp"

namespace petalsln::lightning::nip44 {

/// The shared key of two parties, the same from either side.
using ConversationKey = std::array<std::uint8_t, 32>;
/// The 32-byte random nonce each payload carries.
using Nonce = std::array<std::uint8_t, 32>;

/// Shortest and longest plaintext NIP-44 v2 encrypts, in bytes.
constexpr std::size_t kMinPlaintext = 1;
constexpr std::size_t kMaxPlaintext = 65535;
/// Shortest and longest base64 payload a decoder accepts (the spec's bounds).
constexpr std::size_t kMinPayload = 132;
constexpr std::size_t kMaxPayload = 87472;

/// The keys one payload is encrypted and authenticated with (HKDF-expand of the nonce).
struct MessageKeys {
  std::array<std::uint8_t, 32> chacha_key{};
  std::array<std::uint8_t, 12> chacha_nonce{};
  std::array<std::uint8_t, 32> hmac_key{};
  ~MessageKeys();
};

/// Returns HKDF-extract(salt "nip44-v2", IKM = the unhashed ECDH x coordinate of @p secret and
/// @p peer). Throws Error(invalid_argument) if either key is invalid.
ConversationKey conversation_key(const NostrSecretKey& secret, const XOnlyPublicKey& peer);

/// Returns the message keys for @p nonce under @p key.
MessageKeys message_keys(const ConversationKey& key, const Nonce& nonce);

/// Returns the padded length of a plaintext of @p unpadded bytes (calc_padded_len: 32 for
/// short messages, then chunks of 1/8 of the next power of two). Throws
/// Error(invalid_argument) for 0 or above 2^30 (encrypt() itself takes at most 65535).
std::size_t padded_length(std::size_t unpadded);

/// Encrypts @p plaintext (1..65535 bytes) under @p key with @p nonce (fresh random bytes when
/// null; tests pass the vectors' nonces). Returns the base64 payload (version byte 2).
/// Throws Error(invalid_argument) for a plaintext out of range.
std::string encrypt(std::string_view plaintext, const ConversationKey& key, const Nonce* nonce = nullptr);

/// Decrypts the base64 @p payload under @p key, checking in this order: version, payload and
/// data lengths, MAC (in constant time), padding. Returns the plaintext. Throws
/// Error(invalid_format) naming the first check that failed (never showing key material).
std::string decrypt(std::string_view payload, const ConversationKey& key);

}  // namespace petalsln::lightning::nip44
