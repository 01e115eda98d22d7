#pragma once
// Unicode helpers for the tokenizer: code point iteration, the character classes that HF
// `tokenizers` (Rust) uses, lossy UTF-8 repair, and ICU normalization forms.

#include <cstddef>
#include <string>
#include <string_view>

namespace petalsln::text {

/// Decodes the code point starting at byte @p i of @p s (which must be valid UTF-8) and
/// advances @p i past it.
char32_t next_code_point(std::string_view s, std::size_t& i) noexcept;

/// Appends the UTF-8 encoding of @p cp to @p out.
void append_utf8(std::string& out, char32_t cp);

/// Rust's `char::is_numeric`: general category Nd, Nl or No.
bool is_numeric_char(char32_t cp) noexcept;

/// Rust regex `\w` (Unicode): Alphabetic, Mark, Nd, Pc or Join_Control.
bool is_word_char(char32_t cp) noexcept;

/// The Unicode White_Space property (Rust regex `\s`, `char::is_whitespace`).
bool is_white_space(char32_t cp) noexcept;

/// Appends @p bytes to @p out, replacing each maximal invalid UTF-8 subpart with U+FFFD, the
/// way Rust's `String::from_utf8_lossy` (and the WHATWG decoder) do.
void append_utf8_lossy(std::string& out, std::string_view bytes);

/// The Unicode normalization forms tokenizer.json may ask for.
enum class NormalForm { nfc, nfd, nfkc, nfkd };

/// Returns @p s (valid UTF-8) in normalization form @p form. Throws Error(internal) if ICU
/// fails.
std::string normalize_unicode(NormalForm form, std::string_view s);

}  // namespace petalsln::text
