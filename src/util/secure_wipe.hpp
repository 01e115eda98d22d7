#pragma once
// Erasing secrets from memory in a way the optimiser cannot remove.

#include <cstddef>

namespace petalsln::util {

/// Overwrites @p size bytes at @p data with zeros; never elided as a dead store.
void secure_wipe(void* data, std::size_t size) noexcept;

}  // namespace petalsln::util
