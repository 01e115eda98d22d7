#pragma once
/// @file hex.hpp
/// Hexadecimal encoding of byte strings: peer ids, fingerprints, keys in files.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace petalsln::util {

/// Returns the lower-case hexadecimal form of @p size bytes at @p data (two digits a byte).
std::string to_hex(const std::uint8_t* data, std::size_t size);

/// Returns the lower-case hexadecimal form of the bytes in @p bytes.
std::string to_hex(std::string_view bytes);

/// Decodes @p hex (digits in either case, even length, nothing else) into bytes.
/// Throws Error(invalid_format) naming @p what and the offending offset otherwise.
std::string from_hex(std::string_view hex, const char* what = "hex string");

/// Decodes @p hex into exactly @p size bytes at @p out. Throws Error(invalid_format) naming
/// @p what if @p hex is not exactly 2 * @p size hexadecimal digits; @p out is then untouched.
void from_hex_into(std::string_view hex, std::uint8_t* out, std::size_t size, const char* what = "hex string");

}  // namespace petalsln::util
