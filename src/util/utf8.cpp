#include "util/utf8.hpp"

#include <string>

#include "petalsln/util/error.hpp"

namespace petalsln::util {
namespace {

// Length of the sequence starting with lead byte @p b, 0 if @p b cannot start one.
std::size_t sequence_length(unsigned char b) noexcept {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

}  // namespace

std::size_t find_invalid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    const std::size_t n = sequence_length(b0);
    if (n == 0 || i + n > s.size()) return i;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
    }
    if (n >= 3) {
      const auto b1 = static_cast<unsigned char>(s[i + 1]);
      if (b0 == 0xE0 && b1 < 0xA0) return i;  // overlong
      if (b0 == 0xED && b1 >= 0xA0) return i;  // surrogate
      if (b0 == 0xF0 && b1 < 0x90) return i;  // overlong
      if (b0 == 0xF4 && b1 >= 0x90) return i;  // above U+10FFFF
    }
    i += n;
  }
  return std::string_view::npos;
}

std::size_t complete_utf8_prefix(std::string_view s) noexcept {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  const std::size_t n = s.size();
  for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto b = static_cast<unsigned char>(s[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    const std::size_t len = sequence_length(b);
    if (len > back) return n - back;  // incomplete sequence at the end
    return n;
  }
  return n;
}

void require_valid_utf8(std::string_view s, const char* what) {
  const std::size_t bad = find_invalid_utf8(s);
  if (bad != std::string_view::npos) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + " is not valid UTF-8 (invalid byte sequence at offset " + std::to_string(bad) + ")");
  }
}

}  // namespace petalsln::util
