#pragma once
// The wall clock as Unix seconds: what records, invoices and tokens carry.

#include <chrono>
#include <cstdint>

namespace petalsln::util {

/// Seconds since the Unix epoch, from the system clock.
inline std::uint64_t unix_seconds() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

}  // namespace petalsln::util
