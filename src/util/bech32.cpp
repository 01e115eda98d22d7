#include "util/bech32.hpp"

#include <array>

#include "petalsln/util/error.hpp"

namespace petalsln::util {
namespace {

constexpr char kAlphabet[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr std::size_t kChecksumWords = 6;

// BIP-173's BCH code: the generator coefficients of its degree-6 polynomial over GF(32).
constexpr std::array<std::uint32_t, 5> kGenerator{{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}};

std::uint32_t polymod_step(std::uint32_t chk, std::uint8_t value) noexcept {
  const std::uint32_t top = chk >> 25;
  chk = ((chk & 0x1ffffff) << 5) ^ value;
  for (std::size_t i = 0; i < kGenerator.size(); ++i) {
    if (((top >> i) & 1) != 0) chk ^= kGenerator[i];
  }
  return chk;
}

// The checksum state after the expanded human-readable part (high bits, a zero, low bits).
std::uint32_t polymod_hrp(std::string_view hrp) noexcept {
  std::uint32_t chk = 1;
  for (char c : hrp) chk = polymod_step(chk, static_cast<std::uint8_t>(static_cast<unsigned char>(c) >> 5));
  chk = polymod_step(chk, 0);
  for (char c : hrp) chk = polymod_step(chk, static_cast<std::uint8_t>(static_cast<unsigned char>(c) & 31));
  return chk;
}

int word_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (int i = 0; i < 32; ++i) {
    if (kAlphabet[i] == c) return i;
  }
  return -1;
}

[[noreturn]] void fail(const std::string& why) { throw Error(ErrorCode::invalid_format, "bech32: " + why); }

// Refuses characters outside US-ASCII 33..126 and strings mixing cases (BIP-173).
void check_characters(std::string_view text) {
  bool lower = false, upper = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 33 || c > 126) fail("character " + std::to_string(c) + " at offset " + std::to_string(i) + " is not allowed");
    lower = lower || (c >= 'a' && c <= 'z');
    upper = upper || (c >= 'A' && c <= 'Z');
  }
  if (lower && upper) fail("mixed upper and lower case");
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

Bech32String bech32_decode(std::string_view text, std::size_t max_length) {
  if (text.size() > max_length) {
    fail("string is " + std::to_string(text.size()) + " characters, more than " + std::to_string(max_length));
  }
  check_characters(text);
  const std::size_t sep = text.rfind('1');
  if (sep == std::string_view::npos) fail("no separator '1'");
  if (sep == 0) fail("empty human-readable part");
  if (text.size() - sep - 1 < kChecksumWords) fail("data part is shorter than the 6-character checksum");
  Bech32String out;
  out.hrp = to_lower(text.substr(0, sep));
  std::uint32_t chk = polymod_hrp(out.hrp);
  out.words.reserve(text.size() - sep - 1);
  for (std::size_t i = sep + 1; i < text.size(); ++i) {
    const int v = word_value(text[i]);
    if (v < 0) fail("'" + std::string(1, text[i]) + "' at offset " + std::to_string(i) + " is not a bech32 character");
    out.words.push_back(static_cast<std::uint8_t>(v));
    chk = polymod_step(chk, static_cast<std::uint8_t>(v));
  }
  if (chk != 1) fail("checksum is invalid");
  out.words.resize(out.words.size() - kChecksumWords);
  return out;
}

std::string bech32_encode(std::string_view hrp, const std::vector<std::uint8_t>& words) {
  if (hrp.empty()) throw Error(ErrorCode::invalid_argument, "bech32: empty human-readable part");
  for (char ch : hrp) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 33 || c > 126 || (c >= 'A' && c <= 'Z')) {
      throw Error(ErrorCode::invalid_argument, "bech32: character " + std::to_string(c) + " not allowed in the human-readable part");
    }
  }
  std::string out(hrp);
  out += '1';
  std::uint32_t chk = polymod_hrp(hrp);
  for (std::uint8_t w : words) {
    if (w > 31) throw Error(ErrorCode::invalid_argument, "bech32: data word " + std::to_string(w) + " is above 31");
    out += kAlphabet[w];
    chk = polymod_step(chk, w);
  }
  for (std::size_t i = 0; i < kChecksumWords; ++i) chk = polymod_step(chk, 0);
  chk ^= 1;
  for (std::size_t i = 0; i < kChecksumWords; ++i) out += kAlphabet[(chk >> (5 * (kChecksumWords - 1 - i))) & 31];
  return out;
}

std::vector<std::uint8_t> bytes_to_words(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> out;
  out.reserve((size * 8 + 4) / 5);
  std::uint32_t acc = 0;
  unsigned bits = 0;
  for (std::size_t i = 0; i < size; ++i) {
    acc = (acc << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 31));
    }
  }
  if (bits > 0) out.push_back(static_cast<std::uint8_t>((acc << (5 - bits)) & 31));
  return out;
}

std::vector<std::uint8_t> words_to_bytes(const std::uint8_t* words, std::size_t count, const char* what) {
  std::vector<std::uint8_t> out;
  out.reserve(count * 5 / 8);
  std::uint32_t acc = 0;
  unsigned bits = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (words[i] > 31) throw Error(ErrorCode::invalid_format, std::string(what) + ": word above 31");
    acc = ((acc << 5) | words[i]) & 0xfff;  // at most 12 bits are ever pending
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  // A whole unused word, or non-zero padding, would let two strings carry the same bytes.
  if (bits >= 5) throw Error(ErrorCode::invalid_format, std::string(what) + ": a whole 5-bit word of padding");
  if ((acc & ((1u << bits) - 1)) != 0) throw Error(ErrorCode::invalid_format, std::string(what) + ": padding bits are not zero");
  return out;
}

std::vector<std::uint8_t> words_to_bytes_padded(const std::uint8_t* words, std::size_t count) {
  std::vector<std::uint8_t> out;
  out.reserve((count * 5 + 7) / 8);
  std::uint32_t acc = 0;
  unsigned bits = 0;
  for (std::size_t i = 0; i < count; ++i) {
    acc = ((acc << 5) | (words[i] & 31u)) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0) out.push_back(static_cast<std::uint8_t>((acc << (8 - bits)) & 0xff));
  return out;
}

}  // namespace petalsln::util
