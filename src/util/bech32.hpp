#pragma once
// Bech32 (BIP-173) strings and the 5-bit/8-bit regrouping that goes with them. Lightning
// invoices (BOLT #11) use bech32 without BIP-173's 90-character limit, so the limit is the
// caller's choice here.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace petalsln::util {

/// The parts of a bech32 string: the human-readable part (lower case) and the data part as
/// 5-bit values (0..31), without the six checksum values.
struct Bech32String {
  std::string hrp;                  ///< Human-readable part, lower case.
  std::vector<std::uint8_t> words;  ///< Data part, one 5-bit value per element.
};

/// Decodes @p text as BIP-173 bech32: all lower or all upper case (never mixed), a non-empty
/// human-readable part of characters 33..126 before the last '1', data characters from the
/// bech32 alphabet, and a valid checksum. @p max_length bounds the whole string (BIP-173 says
/// 90; BOLT #11 lifts the limit: pass std::string_view::npos).
/// Returns the human-readable part in lower case and the data words without the checksum.
/// Throws Error(invalid_format) saying which rule @p text breaks.
Bech32String bech32_decode(std::string_view text, std::size_t max_length = 90);

/// Returns the lower-case bech32 string for @p hrp (characters 33..126, no upper case) and
/// the 5-bit @p words, with its checksum appended. Throws Error(invalid_argument) if @p hrp is
/// empty or has a character outside that range, or if a word is above 31.
std::string bech32_encode(std::string_view hrp, const std::vector<std::uint8_t>& words);

/// Regroups @p size bytes into 5-bit words, padding the last word with zero bits (the writer's
/// rule in BIP-173 and BOLT #11). Returns ceil(8 * size / 5) words.
std::vector<std::uint8_t> bytes_to_words(const std::uint8_t* data, std::size_t size);

/// Regroups 5-bit @p words into bytes the strict way (BIP-173's reader rule): fewer than five
/// bits may be left over, and they must all be zero. Returns floor(5 * count / 8) bytes.
/// Throws Error(invalid_format) naming @p what if the padding is too long or not zero, or if
/// a word is above 31.
std::vector<std::uint8_t> words_to_bytes(const std::uint8_t* words, std::size_t count, const char* what = "bech32 data");

/// Packs 5-bit @p words into bytes, appending zero bits to fill the last byte (the form that
/// BOLT #11 signs). Returns ceil(5 * count / 8) bytes. Words above 31 are taken modulo 32.
std::vector<std::uint8_t> words_to_bytes_padded(const std::uint8_t* words, std::size_t count);

}  // namespace petalsln::util
