#include "petalsln/util/hex.hpp"

#include "petalsln/util/error.hpp"

namespace petalsln::util {
namespace {

constexpr char kDigits[] = "0123456789abcdef";

int digit_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Checks every digit before anything is written, so a failed decode leaves no partial output.
void check_hex(std::string_view hex, const char* what) {
  if (hex.size() % 2 != 0) {
    throw Error(ErrorCode::invalid_format,
                std::string(what) + ": odd number of hex digits (" + std::to_string(hex.size()) + ")");
  }
  for (std::size_t i = 0; i < hex.size(); ++i) {
    if (digit_value(hex[i]) < 0) {
      throw Error(ErrorCode::invalid_format,
                  std::string(what) + ": not a hex digit at offset " + std::to_string(i));
    }
  }
}

void decode_checked(std::string_view hex, std::uint8_t* out) noexcept {
  for (std::size_t i = 0; i < hex.size() / 2; ++i) {
    out[i] = static_cast<std::uint8_t>((digit_value(hex[2 * i]) << 4) | digit_value(hex[2 * i + 1]));
  }
}

}  // namespace

std::string to_hex(const std::uint8_t* data, std::size_t size) {
  std::string out(size * 2, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0x0f];
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  return to_hex(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

std::string from_hex(std::string_view hex, const char* what) {
  check_hex(hex, what);
  std::string out(hex.size() / 2, '\0');
  decode_checked(hex, reinterpret_cast<std::uint8_t*>(out.data()));
  return out;
}

void from_hex_into(std::string_view hex, std::uint8_t* out, std::size_t size, const char* what) {
  if (hex.size() != 2 * size) {
    throw Error(ErrorCode::invalid_format, std::string(what) + ": expected " + std::to_string(2 * size) +
                                               " hex digits, got " + std::to_string(hex.size()));
  }
  check_hex(hex, what);
  decode_checked(hex, out);
}

}  // namespace petalsln::util
