#pragma once
// The GPT-2 byte <-> unicode map of byte-level BPE: every byte is shown as a printable
// character so that vocabulary entries are valid strings ("Ġ" is the space byte).

#include <cstdint>
#include <string>
#include <string_view>

namespace petalsln::text {

/// The character that byte-level BPE uses for byte @p b.
char32_t byte_level_char(std::uint8_t b) noexcept;

/// Appends the byte-level spelling of raw @p bytes to @p out (what HF's ByteLevel
/// pre-tokenizer does to a piece).
void byte_level_encode(std::string_view bytes, std::string& out);

/// Maps a byte-level spelled @p token (valid UTF-8) back to raw bytes, appended to @p out.
/// Returns false (leaving @p out unchanged) if some character is not in the byte alphabet.
bool byte_level_decode(std::string_view token, std::string& out);

}  // namespace petalsln::text
