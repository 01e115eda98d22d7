#pragma once
// UTF-8 validation helpers: every string that reaches the tokenizer from outside is checked.

#include <cstddef>
#include <string_view>

namespace petalsln::util {

/// Returns the byte offset of the first invalid UTF-8 sequence in @p s (overlong forms,
/// surrogates and code points above U+10FFFF are invalid), or std::string_view::npos.
std::size_t find_invalid_utf8(std::string_view s) noexcept;

/// Returns the length of the longest prefix of @p s that does not end inside a multi-byte
/// sequence: a streaming decoder prints that prefix and holds the rest back.
std::size_t complete_utf8_prefix(std::string_view s) noexcept;

/// Throws Error(invalid_argument) naming @p what and the byte offset if @p s is not valid UTF-8.
void require_valid_utf8(std::string_view s, const char* what);

}  // namespace petalsln::util
