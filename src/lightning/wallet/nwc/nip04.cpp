#include "lightning/wallet/nwc/nip04.hpp"

#include <openssl/evp.h>

#include <memory>

#include "petalsln/util/error.hpp"
#include "util/base64.hpp"
#include "util/random.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln::lightning::nip04 {
namespace {

// AES-256-CBC with PKCS#7 padding in either direction; false if OpenSSL refuses (for
// decryption: bad padding, which is all a wrong key or tampered text can show without a MAC).
bool aes_cbc(bool encrypting, const std::array<std::uint8_t, 32>& key, const std::uint8_t* iv, std::string_view in,
             std::string& out) {
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  if (!ctx) return false;
  out.assign(in.size() + 16, '\0');
  int len = 0;
  int final_len = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  const bool ok = EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.data(), iv, encrypting ? 1 : 0) == 1 &&
                  EVP_CipherUpdate(ctx.get(), o, &len, reinterpret_cast<const unsigned char*>(in.data()),
                                   static_cast<int>(in.size())) == 1 &&
                  EVP_CipherFinal_ex(ctx.get(), o + len, &final_len) == 1;
  if (!ok) {
    util::secure_wipe(out.data(), out.size());
    out.clear();
    return false;
  }
  out.resize(static_cast<std::size_t>(len + final_len));
  return true;
}

}  // namespace

std::string encrypt(std::string_view plaintext, const NostrSecretKey& secret, const XOnlyPublicKey& peer,
                    const std::array<std::uint8_t, 16>* iv_in) {
  if (plaintext.size() > kMaxContent) {
    throw Error(ErrorCode::invalid_argument, "NIP-04 plaintext is longer than " + std::to_string(kMaxContent) + " bytes");
  }
  std::array<std::uint8_t, 32> key = ecdh_shared_x(secret, peer);
  std::array<std::uint8_t, 16> iv{};
  if (iv_in != nullptr) {
    iv = *iv_in;
  } else {
    util::random_bytes(iv.data(), iv.size());
  }
  std::string ciphertext;
  const bool ok = aes_cbc(true, key, iv.data(), plaintext, ciphertext);
  util::secure_wipe(key.data(), key.size());
  if (!ok) throw Error(ErrorCode::internal, "OpenSSL: AES-256-CBC encryption failed");
  return util::base64_encode(ciphertext) + "?iv=" +
         util::base64_encode(std::string_view(reinterpret_cast<const char*>(iv.data()), iv.size()));
}

std::string decrypt(std::string_view content, const NostrSecretKey& secret, const XOnlyPublicKey& peer) {
  if (content.size() > kMaxContent) {
    throw Error(ErrorCode::invalid_format, "NIP-04 content is longer than " + std::to_string(kMaxContent) + " characters");
  }
  const std::size_t sep = content.find("?iv=");
  if (sep == std::string_view::npos) {
    throw Error(ErrorCode::invalid_format, "NIP-04 content must be base64(ciphertext)?iv=base64(iv)");
  }
  const std::string ciphertext = util::base64_decode(content.substr(0, sep), util::Base64Alphabet::standard,
                                                     util::Base64Padding::optional, "NIP-04 ciphertext");
  const std::string iv = util::base64_decode(content.substr(sep + 4), util::Base64Alphabet::standard,
                                             util::Base64Padding::optional, "NIP-04 iv");
  if (iv.size() != 16) throw Error(ErrorCode::invalid_format, "NIP-04 iv must be 16 bytes, got " + std::to_string(iv.size()));
  if (ciphertext.empty() || ciphertext.size() % 16 != 0) {
    throw Error(ErrorCode::invalid_format, "NIP-04 ciphertext must be a non-empty multiple of 16 bytes");
  }
  std::array<std::uint8_t, 32> key = ecdh_shared_x(secret, peer);
  std::string plaintext;
  const bool ok = aes_cbc(false, key, reinterpret_cast<const std::uint8_t*>(iv.data()), ciphertext, plaintext);
  util::secure_wipe(key.data(), key.size());
  if (!ok) throw Error(ErrorCode::invalid_format, "NIP-04 content does not decrypt (wrong key or tampered ciphertext)");
  return plaintext;
}

}  // namespace petalsln::lightning::nip04
