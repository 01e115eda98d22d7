#pragma once
// A compiled PCRE2 regex (UTF + Unicode properties, JIT when available) that iterates matches
// the way HF `tokenizers` iterates its Oniguruma regexes.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace petalsln::text {

/// Rewrites an Oniguruma pattern (the syntax tokenizer.json regexes are written in) into the
/// PCRE2 pattern that matches the same text. For the constructs tokenizers use, only `\s` /
/// `\S` differ: Oniguruma's `\s` is exactly the White_Space property, PCRE2's is not. (Rarer
/// differences, e.g. Oniguruma's `\h` for hex digits, are not translated.)
std::string onig_to_pcre2(std::string_view pattern);

/// One compiled regex, shared read-only across threads (match state is per thread).
class Regex {
 public:
  /// Compiles @p pattern; @p literal makes it match the pattern text itself. Throws
  /// Error(invalid_format) naming the pattern and PCRE2's message if it does not compile.
  Regex(const std::string& pattern, bool literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  /// Calls @p on_match(start, end) for each match in @p subject (valid UTF-8), left to right,
  /// with Oniguruma's rule for empty matches: an empty match right where the previous match
  /// ended is skipped and the search moves on by one character. Throws Error(internal) if
  /// PCRE2 fails (e.g. a resource limit).
  template <typename OnMatch>
  void for_each_match(std::string_view subject, OnMatch&& on_match) const {
    std::size_t search_from = 0;
    std::size_t last_match_end = std::string_view::npos;
    std::size_t start = 0;
    std::size_t end = 0;
    while (search_from <= subject.size() && find(subject, search_from, start, end)) {
      if (start == end && end == last_match_end) {
        search_from += char_length_at(subject, search_from);
        continue;
      }
      search_from = end;
      last_match_end = end;
      on_match(start, end);
    }
  }

  /// The pattern as written in tokenizer.json (for messages).
  const std::string& pattern() const noexcept { return pattern_; }

 private:
  // Finds the first match at or after @p from; false when there is none.
  bool find(std::string_view subject, std::size_t from, std::size_t& start, std::size_t& end) const;
  static std::size_t char_length_at(std::string_view s, std::size_t i) noexcept;

  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
  std::string pattern_;
};

}  // namespace petalsln::text
