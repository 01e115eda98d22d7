#pragma once
// HMAC-SHA256 (RFC 2104 over SHA-256): the MAC behind every macaroon signature.

#include <string_view>

#include "util/sha256.hpp"

namespace petalsln::util {

/// Returns HMAC-SHA256(@p key, @p message). Keys of any length are accepted (longer than 64
/// bytes: hashed first, as RFC 2104 says). Intermediate secrets are wiped before returning.
/// Safe to call from several threads at once. Throws Error(internal) if OpenSSL fails.
Sha256Digest hmac_sha256(std::string_view key, std::string_view message);

}  // namespace petalsln::util
