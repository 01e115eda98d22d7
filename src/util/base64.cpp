#include "util/base64.hpp"

#include <cstddef>
#include <cstdint>

#include "petalsln/util/error.hpp"

namespace petalsln::util {
namespace {

constexpr char kStandard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrlSafe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

[[noreturn]] void fail(const char* what, const std::string& message) {
  throw Error(ErrorCode::invalid_format, std::string(what) + ": " + message);
}

std::string describe_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[u >> 4] + kHex[u & 0x0f];
}

// The 6-bit value of @p c in the shared part of both alphabets, or -1.
int common_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  return -1;
}

// Tracks which alphabet the characters seen so far belong to, so that `either` accepts one
// alphabet per text and never a mixture (which no encoder produces).
struct AlphabetGuard {
  Base64Alphabet allowed;
  Base64Alphabet seen = Base64Alphabet::either;  // nothing alphabet-specific yet

  int value(char c, std::size_t offset, const char* what) {
    const int v = common_value(c);
    if (v >= 0) return v;
    const bool standard = (c == '+' || c == '/');
    if (!standard && c != '-' && c != '_') {
      fail(what, "invalid base64 character " + describe_char(c) + " at offset " + std::to_string(offset));
    }
    const Base64Alphabet needs = standard ? Base64Alphabet::standard : Base64Alphabet::url_safe;
    const int special = (c == '+' || c == '-') ? 62 : 63;
    if (allowed != Base64Alphabet::either && allowed != needs) {
      fail(what, describe_char(c) + " at offset " + std::to_string(offset) + " belongs to the " +
                     (needs == Base64Alphabet::standard ? "standard" : "URL-safe") + " base64 alphabet, expected the " +
                     (allowed == Base64Alphabet::standard ? "standard" : "URL-safe") + " one");
    }
    if (seen != Base64Alphabet::either && seen != needs) {
      fail(what, "mixes standard and URL-safe base64 characters (offset " + std::to_string(offset) + ")");
    }
    seen = needs;
    return special;
  }
};

// Returns how many '=' end @p text (at most 3, so that too many is reported as such).
std::size_t count_padding(std::string_view text) noexcept {
  std::size_t pads = 0;
  while (pads < text.size() && pads < 3 && text[text.size() - 1 - pads] == '=') ++pads;
  return pads;
}

// Checks the length of the unpadded @p body_size and the @p pads '=' against @p padding.
void check_length(std::size_t body_size, std::size_t pads, Base64Padding padding, const char* what) {
  if (body_size % 4 == 1) {
    fail(what, "length " + std::to_string(body_size) + " (without padding) is not a valid base64 length");
  }
  const std::size_t expected = (4 - body_size % 4) % 4;
  if (pads > 0 && padding == Base64Padding::unpadded) fail(what, "unexpected '=' padding");
  if (pads > 0 && pads != expected) {
    fail(what, "wrong padding: " + std::to_string(pads) + " '=' where " + std::to_string(expected) + " belong");
  }
  if (pads == 0 && expected > 0 && padding == Base64Padding::padded) fail(what, "missing '=' padding");
}

}  // namespace

std::string base64_encode(std::string_view bytes, Base64Alphabet alphabet, Base64Padding padding) {
  if (alphabet == Base64Alphabet::either || padding == Base64Padding::optional) {
    throw Error(ErrorCode::invalid_argument, "base64_encode: choose one alphabet and whether to pad");
  }
  const char* table = alphabet == Base64Alphabet::standard ? kStandard : kUrlSafe;
  const auto* in = reinterpret_cast<const std::uint8_t*>(bytes.data());
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out += table[(v >> shift) & 0x3f];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t{in[i]} << 16;
    if (rest == 2) v |= std::uint32_t{in[i + 1]} << 8;
    out += table[(v >> 18) & 0x3f];
    out += table[(v >> 12) & 0x3f];
    if (rest == 2) out += table[(v >> 6) & 0x3f];
    if (padding == Base64Padding::padded) out.append(3 - rest, '=');
  }
  return out;
}

std::string base64_decode(std::string_view text, Base64Alphabet alphabet, Base64Padding padding, const char* what) {
  const std::size_t pads = count_padding(text);
  const std::string_view body = text.substr(0, text.size() - pads);
  AlphabetGuard guard{alphabet};
  std::string out;
  out.reserve(body.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < body.size(); ++i) {
    acc = (acc << 6) | static_cast<std::uint32_t>(guard.value(body[i], i, what));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  check_length(body.size(), pads, padding, what);  // after the characters: a stray one is the likelier fault
  // Leftover bits (2 or 4) must be zero: otherwise two texts would decode to the same bytes.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    fail(what, "non-zero unused bits in the last character (offset " + std::to_string(body.size() - 1) + ")");
  }
  return out;
}

}  // namespace petalsln::util
