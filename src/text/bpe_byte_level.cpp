#include "text/bpe_byte_level.hpp"

#include <array>

#include "text/unicode_text.hpp"

namespace petalsln::text {

namespace {

// Bytes that are printable in Latin-1 keep their own code point; the other 68 are shifted to
// U+0100 onwards, in byte order. This is GPT-2's `bytes_to_unicode`.
struct ByteTables {
  std::array<char32_t, 256> to_char{};
  std::array<std::int16_t, 324> to_byte{};  // indexed by code point; -1 when not in the alphabet

  ByteTables() {
    to_byte.fill(-1);
    char32_t next_shifted = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t c = printable ? static_cast<char32_t>(b) : next_shifted++;
      to_char[static_cast<std::size_t>(b)] = c;
      to_byte[c] = static_cast<std::int16_t>(b);
    }
  }
};

const ByteTables& tables() {
  static const ByteTables t;
  return t;
}

}  // namespace

char32_t byte_level_char(std::uint8_t b) noexcept { return tables().to_char[b]; }

void byte_level_encode(std::string_view bytes, std::string& out) {
  const auto& t = tables();
  for (const char c : bytes) append_utf8(out, t.to_char[static_cast<unsigned char>(c)]);
}

bool byte_level_decode(std::string_view token, std::string& out) {
  const auto& t = tables();
  const std::size_t mark = out.size();
  std::size_t i = 0;
  while (i < token.size()) {
    const char32_t cp = next_code_point(token, i);
    if (cp >= t.to_byte.size() || t.to_byte[cp] < 0) {
      out.resize(mark);
      return false;
    }
    out.push_back(static_cast<char>(static_cast<unsigned char>(t.to_byte[cp])));
  }
  return true;
}

}  // namespace petalsln::text
