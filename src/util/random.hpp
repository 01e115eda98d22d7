#pragma once
// Cryptographically secure random bytes from the kernel (getrandom), for keys and nonces.

#include <cstddef>
#include <cstdint>

namespace petalsln::util {

/// Fills @p size bytes at @p out with secure random bytes, blocking only until the kernel's
/// pool is initialised (early boot). Throws Error(io) if the kernel refuses.
void random_bytes(std::uint8_t* out, std::size_t size);

}  // namespace petalsln::util
