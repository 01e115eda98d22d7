#pragma once
// Comparisons of secrets (MACs, preimages, tokens) whose timing must not reveal where two
// values first differ.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace petalsln::util {

/// Returns true if the @p size bytes at @p a and @p b are equal. Its running time depends on
/// @p size only, never on the contents.
inline bool secure_equal(const void* a, const void* b, std::size_t size) noexcept {
  const volatile std::uint8_t* pa = static_cast<const volatile std::uint8_t*>(a);
  const volatile std::uint8_t* pb = static_cast<const volatile std::uint8_t*>(b);
  std::uint8_t diff = 0;
  for (std::size_t i = 0; i < size; ++i) diff = static_cast<std::uint8_t>(diff | (pa[i] ^ pb[i]));
  return diff == 0;
}

/// Returns true if @p a and @p b hold the same bytes. Lengths are treated as public: unequal
/// lengths return false at once; equal lengths compare in constant time.
inline bool secure_equal(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && secure_equal(a.data(), b.data(), a.size());
}

}  // namespace petalsln::util
