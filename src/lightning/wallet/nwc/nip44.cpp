#include "lightning/wallet/nwc/nip44.hpp"

#include <openssl/evp.h>

#include <cstring>
#include <memory>

#include "petalsln/util/error.hpp"
#include "util/base64.hpp"
#include "util/hmac.hpp"
#include "util/random.hpp"
#include "util/secure_compare.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln::lightning::nip44 {
namespace {

constexpr std::uint8_t kVersion = 2;
// version (1) + nonce (32) + shortest padded plaintext with its length prefix (34) + MAC (32).
constexpr std::size_t kMinData = 99;
// version (1) + nonce (32) + longest padded plaintext with its length prefix (65538) + MAC (32).
constexpr std::size_t kMaxData = 65603;

std::string_view view(const std::uint8_t* p, std::size_t n) { return {reinterpret_cast<const char*>(p), n}; }

// ChaCha20 (RFC 8439 block function, counter starting at 0) of @p in with @p keys.
std::string chacha20(const MessageKeys& keys, std::string_view in) {
  // OpenSSL's EVP_chacha20 takes a 16-byte IV: the 32-bit block counter, little-endian,
  // followed by the 12-byte nonce. NIP-44 starts the counter at zero.
  std::array<std::uint8_t, 16> iv{};
  std::memcpy(iv.data() + 4, keys.chacha_nonce.data(), 12);
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::string out(in.size(), '\0');
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_chacha20(), nullptr, keys.chacha_key.data(), iv.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                        reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size())) != 1 ||
      static_cast<std::size_t>(len) != in.size()) {
    throw Error(ErrorCode::internal, "OpenSSL: ChaCha20 failed");
  }
  return out;
}

util::Sha256Digest payload_mac(const MessageKeys& keys, const Nonce& nonce, std::string_view ciphertext) {
  std::string aad;
  aad.reserve(nonce.size() + ciphertext.size());
  aad.append(view(nonce.data(), nonce.size()));
  aad.append(ciphertext);
  return util::hmac_sha256(view(keys.hmac_key.data(), keys.hmac_key.size()), aad);
}

}  // namespace

MessageKeys::~MessageKeys() {
  util::secure_wipe(chacha_key.data(), chacha_key.size());
  util::secure_wipe(hmac_key.data(), hmac_key.size());
}

ConversationKey conversation_key(const NostrSecretKey& secret, const XOnlyPublicKey& peer) {
  std::array<std::uint8_t, 32> shared = ecdh_shared_x(secret, peer);
  // HKDF-extract(salt, IKM) = HMAC-SHA256(key = salt, message = IKM).
  const util::Sha256Digest prk = util::hmac_sha256("nip44-v2", view(shared.data(), shared.size()));
  util::secure_wipe(shared.data(), shared.size());
  return prk;
}

MessageKeys message_keys(const ConversationKey& key, const Nonce& nonce) {
  // HKDF-expand(PRK = key, info = nonce, L = 76): T(i) = HMAC(PRK, T(i-1) || info || i).
  std::array<std::uint8_t, 96> okm{};
  std::string block;
  std::size_t filled = 0;
  for (std::uint8_t i = 1; filled < 76; ++i) {
    std::string input = block;
    input.append(view(nonce.data(), nonce.size()));
    input.push_back(static_cast<char>(i));
    const util::Sha256Digest t = util::hmac_sha256(view(key.data(), key.size()), input);
    std::memcpy(okm.data() + filled, t.data(), t.size());
    filled += t.size();
    util::secure_wipe(block.data(), block.size());
    block.assign(view(t.data(), t.size()));
    util::secure_wipe(input.data(), input.size());
  }
  util::secure_wipe(block.data(), block.size());
  MessageKeys keys;
  std::memcpy(keys.chacha_key.data(), okm.data(), 32);
  std::memcpy(keys.chacha_nonce.data(), okm.data() + 32, 12);
  std::memcpy(keys.hmac_key.data(), okm.data() + 44, 32);
  util::secure_wipe(okm.data(), okm.size());
  return keys;
}

std::size_t padded_length(std::size_t unpadded) {
  // The spec defines the function past 65535 (its vectors go to 2^20); encrypt() is what
  // limits plaintexts. The bound here only keeps the arithmetic far from overflow.
  if (unpadded < 1 || unpadded > (std::size_t{1} << 30)) {
    throw Error(ErrorCode::invalid_argument, "NIP-44 padded length: length must be 1 to 2^30, got " + std::to_string(unpadded));
  }
  if (unpadded <= 32) return 32;
  std::size_t next_power = 1;
  while (next_power < unpadded) next_power <<= 1;  // smallest power of two >= unpadded
  const std::size_t chunk = next_power <= 256 ? 32 : next_power / 8;
  return chunk * ((unpadded - 1) / chunk + 1);
}

std::string encrypt(std::string_view plaintext, const ConversationKey& key, const Nonce* nonce_in) {
  if (plaintext.size() < kMinPlaintext || plaintext.size() > kMaxPlaintext) {
    throw Error(ErrorCode::invalid_argument,
                "NIP-44 plaintext must be 1 to 65535 bytes, got " + std::to_string(plaintext.size()));
  }
  const std::size_t padded_len = padded_length(plaintext.size());
  Nonce nonce{};
  if (nonce_in != nullptr) {
    nonce = *nonce_in;
  } else {
    util::random_bytes(nonce.data(), nonce.size());
  }
  const MessageKeys keys = message_keys(key, nonce);
  std::string padded(2 + padded_len, '\0');
  padded[0] = static_cast<char>(plaintext.size() >> 8);
  padded[1] = static_cast<char>(plaintext.size() & 0xff);
  std::memcpy(padded.data() + 2, plaintext.data(), plaintext.size());
  const std::string ciphertext = chacha20(keys, padded);
  util::secure_wipe(padded.data(), padded.size());
  const util::Sha256Digest mac = payload_mac(keys, nonce, ciphertext);
  std::string data;
  data.reserve(1 + nonce.size() + ciphertext.size() + mac.size());
  data.push_back(static_cast<char>(kVersion));
  data.append(view(nonce.data(), nonce.size()));
  data.append(ciphertext);
  data.append(view(mac.data(), mac.size()));
  return util::base64_encode(data);
}

std::string decrypt(std::string_view payload, const ConversationKey& key) {
  if (payload.empty() || payload[0] == '#') {
    throw Error(ErrorCode::invalid_format, "NIP-44 payload: unknown encryption version (not base64 version 2)");
  }
  if (payload.size() < kMinPayload || payload.size() > kMaxPayload) {
    throw Error(ErrorCode::invalid_format, "NIP-44 payload: invalid length " + std::to_string(payload.size()) +
                                               " (must be 132 to 87472 characters)");
  }
  const std::string data =
      util::base64_decode(payload, util::Base64Alphabet::standard, util::Base64Padding::padded, "NIP-44 payload");
  if (data.size() < kMinData || data.size() > kMaxData) {
    throw Error(ErrorCode::invalid_format, "NIP-44 payload: invalid decoded length " + std::to_string(data.size()));
  }
  if (static_cast<std::uint8_t>(data[0]) != kVersion) {
    throw Error(ErrorCode::invalid_format, "NIP-44 payload: unknown encryption version " +
                                               std::to_string(static_cast<std::uint8_t>(data[0])));
  }
  Nonce nonce{};
  std::memcpy(nonce.data(), data.data() + 1, nonce.size());
  const std::string_view ciphertext = std::string_view(data).substr(33, data.size() - 33 - 32);
  const std::string_view mac = std::string_view(data).substr(data.size() - 32);
  const MessageKeys keys = message_keys(key, nonce);
  const util::Sha256Digest expected = payload_mac(keys, nonce, ciphertext);
  if (!util::secure_equal(expected.data(), mac.data(), expected.size())) {
    throw Error(ErrorCode::invalid_format, "NIP-44 payload: invalid MAC");
  }
  std::string padded = chacha20(keys, ciphertext);
  const std::size_t len = (static_cast<std::size_t>(static_cast<std::uint8_t>(padded[0])) << 8) |
                          static_cast<std::uint8_t>(padded[1]);
  const bool ok = len >= kMinPlaintext && 2 + len <= padded.size() && padded.size() == 2 + padded_length(len);
  if (!ok) {
    util::secure_wipe(padded.data(), padded.size());
    throw Error(ErrorCode::invalid_format, "NIP-44 payload: invalid padding");
  }
  std::string plaintext = padded.substr(2, len);
  util::secure_wipe(padded.data(), padded.size());
  return plaintext;
}

}  // namespace petalsln::lightning::nip44
