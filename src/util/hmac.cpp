#include "util/hmac.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>

#include "petalsln/util/error.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln::util {
namespace {

constexpr std::size_t kBlockSize = 64;  // SHA-256's block size, the HMAC key-pad width

// SHA-256 fetched once: OpenSSL 3's implicit fetch on every init (EVP_sha256(), HMAC()) costs
// more than the hashing itself, and macaroon verification is on every paid request's path.
const EVP_MD* sha256_md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) throw Error(ErrorCode::internal, "OpenSSL cannot provide SHA-256");
  return md;
}

struct CtxFree {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<EVP_MD_CTX, CtxFree>;

// SHA-256(pad || data) into @p out, reusing @p ctx.
void hash_padded(EVP_MD_CTX* ctx, const std::array<std::uint8_t, kBlockSize>& pad, const void* data,
                 std::size_t size, Sha256Digest& out) {
  unsigned int len = 0;
  if (EVP_DigestInit_ex(ctx, sha256_md(), nullptr) != 1 || EVP_DigestUpdate(ctx, pad.data(), pad.size()) != 1 ||
      (size > 0 && EVP_DigestUpdate(ctx, data, size) != 1) || EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 ||
      len != out.size()) {
    throw Error(ErrorCode::internal, "OpenSSL SHA-256 failed inside HMAC");
  }
}

// Owns the keyed pads and inner hash so they are wiped however hmac_sha256 exits.
struct HmacScratch {
  std::array<std::uint8_t, kBlockSize> key{};
  std::array<std::uint8_t, kBlockSize> pad{};
  Sha256Digest inner{};
  ~HmacScratch() {
    secure_wipe(key.data(), key.size());
    secure_wipe(pad.data(), pad.size());
    secure_wipe(inner.data(), inner.size());
  }
};

}  // namespace

Sha256Digest hmac_sha256(std::string_view key, std::string_view message) {
  HmacScratch s;
  if (key.size() > kBlockSize) {
    Sha256Digest hashed = sha256(key);
    std::copy(hashed.begin(), hashed.end(), s.key.begin());
    secure_wipe(hashed.data(), hashed.size());
  } else {
    std::copy(key.begin(), key.end(), s.key.begin());
  }
  CtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) throw Error(ErrorCode::internal, "OpenSSL could not allocate a digest context");
  for (std::size_t i = 0; i < kBlockSize; ++i) s.pad[i] = static_cast<std::uint8_t>(s.key[i] ^ 0x36);
  hash_padded(ctx.get(), s.pad, message.data(), message.size(), s.inner);
  for (std::size_t i = 0; i < kBlockSize; ++i) s.pad[i] = static_cast<std::uint8_t>(s.key[i] ^ 0x5c);
  Sha256Digest out{};
  hash_padded(ctx.get(), s.pad, s.inner.data(), s.inner.size(), out);
  return out;
}

}  // namespace petalsln::util
