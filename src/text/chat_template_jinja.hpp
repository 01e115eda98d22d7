#pragma once
// Just enough of Jinja's lexer to tell whether two chat templates render identically: the
// canonical form of a template is the token stream Jinja itself would see (with transformers'
// environment: trim_blocks and lstrip_blocks on), so formatting that cannot change the output —
// whitespace inside tags, quote style, escapes, comments, whitespace eaten by `-`, trim_blocks or
// lstrip_blocks — disappears, and everything that can change the output stays.
// Also Python's notion of whitespace, which Jinja's `trim` filter and whitespace control use.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace petalsln::text {

/// One element of a template's canonical form.
struct JinjaToken {
  enum class Kind {
    text,         ///< Literal output between tags, after whitespace control.
    block_begin,  ///< `{%` (any whitespace-control sign).
    block_end,    ///< `%}`.
    expr_begin,   ///< `{{`.
    expr_end,     ///< `}}`.
    string,       ///< A string literal inside a tag; value is the decoded string.
    word,         ///< A name, number or operator inside a tag; value is its text.
  };
  Kind kind;
  std::string value;

  bool operator==(const JinjaToken& other) const {
    return kind == other.kind && value == other.value;
  }
};

/// Returns the canonical form of Jinja @p source, or std::nullopt when the source is not
/// something this lexer can canonicalise with certainty (an unterminated tag or string, an
/// escape sequence other than \n \t \r \\ \' \", unbalanced brackets). Such a source simply is
/// not recognised as a known template.
std::optional<std::vector<JinjaToken>> canonical_jinja(std::string_view source);

/// Returns the byte length of the Python whitespace character (str.isspace()) that starts at
/// byte @p pos of UTF-8 @p s, or 0 if there is none there.
std::size_t python_space_at(std::string_view s, std::size_t pos) noexcept;

/// Returns @p s without leading and trailing Python whitespace: Python's `str.strip()`, which
/// is what Jinja's `trim` filter does.
std::string_view python_strip(std::string_view s) noexcept;

/// Returns @p s without trailing Python whitespace (`str.rstrip()`).
std::string_view python_rstrip(std::string_view s) noexcept;

}  // namespace petalsln::text
