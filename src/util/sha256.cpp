#include "util/sha256.hpp"

#include <openssl/evp.h>

#include <utility>

#include "petalsln/util/error.hpp"

namespace petalsln::util {
namespace {

EVP_MD_CTX* as_ctx(void* p) noexcept { return static_cast<EVP_MD_CTX*>(p); }

}  // namespace

Sha256::Sha256() {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    throw Error(ErrorCode::internal, "OpenSSL could not start a SHA-256 hash");
  }
  ctx_ = ctx;
}

Sha256::~Sha256() { EVP_MD_CTX_free(as_ctx(ctx_)); }

Sha256::Sha256(Sha256&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}

Sha256& Sha256::operator=(Sha256&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(as_ctx(ctx_));
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

Sha256& Sha256::update(const void* data, std::size_t size) {
  if (ctx_ == nullptr) throw Error(ErrorCode::internal, "SHA-256 updated after finish()");
  if (size > 0 && EVP_DigestUpdate(as_ctx(ctx_), data, size) != 1) {
    throw Error(ErrorCode::internal, "OpenSSL SHA-256 update failed");
  }
  return *this;
}

Sha256Digest Sha256::finish() {
  if (ctx_ == nullptr) throw Error(ErrorCode::internal, "SHA-256 finished twice");
  Sha256Digest out{};
  unsigned int len = 0;
  const int ok = EVP_DigestFinal_ex(as_ctx(ctx_), out.data(), &len);
  EVP_MD_CTX_free(as_ctx(ctx_));
  ctx_ = nullptr;
  if (ok != 1 || len != out.size()) throw Error(ErrorCode::internal, "OpenSSL SHA-256 finish failed");
  return out;
}

Sha256Digest sha256(std::string_view bytes) { return Sha256().update(bytes).finish(); }

Sha256Digest tagged_hash(std::string_view tag, std::string_view bytes) {
  const Sha256Digest tag_hash = sha256(tag);
  Sha256 h;
  h.update(tag_hash.data(), tag_hash.size());
  h.update(tag_hash.data(), tag_hash.size());
  h.update(bytes);
  return h.finish();
}

}  // namespace petalsln::util
