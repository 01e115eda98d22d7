#pragma once
// SHA-256 through OpenSSL's EVP interface, and BIP-340-style tagged hashes for domain
// separation (a signature or fingerprint made for one purpose can never be valid for another).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace petalsln::util {

/// A SHA-256 digest.
using Sha256Digest = std::array<std::uint8_t, 32>;

/// Incremental SHA-256. Move-only; not thread-safe (one hashing operation per object).
class Sha256 {
 public:
  /// Starts a new hash. Throws Error(internal) if OpenSSL cannot provide SHA-256.
  Sha256();
  ~Sha256();
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  /// Appends @p size bytes at @p data. Returns *this. Throws Error(internal) after finish().
  Sha256& update(const void* data, std::size_t size);
  /// Appends the bytes of @p bytes. Returns *this.
  Sha256& update(std::string_view bytes) { return update(bytes.data(), bytes.size()); }
  /// Returns the digest of everything appended. The object cannot be updated afterwards.
  Sha256Digest finish();

 private:
  void* ctx_ = nullptr;  // EVP_MD_CTX*, kept opaque so OpenSSL headers stay out of this one
};

/// Returns SHA-256(@p bytes).
Sha256Digest sha256(std::string_view bytes);

/// Returns the BIP-340 tagged hash SHA-256(SHA-256(tag) || SHA-256(tag) || bytes).
Sha256Digest tagged_hash(std::string_view tag, std::string_view bytes);

}  // namespace petalsln::util
