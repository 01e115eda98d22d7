// Canonical forms of Jinja chat templates; see chat_template_jinja.hpp.
//
// The rules mirror Jinja 3's lexer with transformers' environment (trim_blocks=True,
// lstrip_blocks=True, keep_trailing_newline=False):
//  - "\r\n" and "\r" become "\n"; one trailing newline of the whole source is dropped;
//  - `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`, `-}}`, `-#}` strip all
//    whitespace after it;
//  - trim_blocks: a block or comment tag ending in plain `%}`/`#}` eats one following "\n";
//  - lstrip_blocks: spaces and tabs between a line start and a block or comment tag are dropped
//    (not for `{{`, and not when the tag opens with `{%+`);
//  - comments vanish; inside tags, whitespace only separates tokens.

#include "text/chat_template_jinja.hpp"

#include <utility>

namespace petalsln::text {

namespace {

using Kind = JinjaToken::Kind;

bool is_ascii_space(unsigned char c) noexcept {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20);
}

// The non-ASCII code points for which Python's str.isspace() is true, in UTF-8.
constexpr std::string_view kWideSpaces[] = {
    "\xc2\x85",     "\xc2\xa0",     "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81",
    "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86",
    "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a", "\xe2\x80\xa8",
    "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80",
};

// Byte length of the Python whitespace character that ends at byte @p end, or 0.
std::size_t python_space_before(std::string_view s, std::size_t end) noexcept {
  if (end == 0) return 0;
  if (is_ascii_space(static_cast<unsigned char>(s[end - 1]))) return 1;
  for (std::string_view w : kWideSpaces) {
    if (end >= w.size() && s.substr(end - w.size(), w.size()) == w) return w.size();
  }
  return 0;
}

std::string normalise_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] != '\r') {
      out += source[i];
      continue;
    }
    out += '\n';
    if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
  return out;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool is_name_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || is_digit(c) || u >= 0x80;
}

class JinjaLexer {
 public:
  explicit JinjaLexer(std::string source) : src_(std::move(source)) {}

  std::optional<std::vector<JinjaToken>> run() {
    while (pos_ < src_.size()) {
      const std::size_t open = find_tag_open();
      if (open == std::string::npos) {
        emit_text(src_.substr(pos_));
        break;
      }
      const Tag tag = src_[open + 1] == '%' ? Tag::block : src_[open + 1] == '{' ? Tag::expr
                                                                                  : Tag::comment;
      std::size_t body = open + 2;
      char sign = '\0';
      if (body < src_.size() && (src_[body] == '-' || src_[body] == '+')) sign = src_[body++];
      emit_text(control_left(src_.substr(pos_, open - pos_), tag, sign));
      pos_ = body;
      const bool ok = tag == Tag::comment ? skip_comment() : lex_tag(tag);
      if (!ok) return std::nullopt;
    }
    return std::move(out_);
  }

 private:
  enum class Tag { block, expr, comment };

  bool starts_with(std::string_view s) const { return src_.compare(pos_, s.size(), s) == 0; }

  std::size_t find_tag_open() const {
    for (std::size_t i = src_.find('{', pos_); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#'))
        return i;
    }
    return std::string::npos;
  }

  // Whitespace control on the text before a tag: `-` strips it all; otherwise lstrip_blocks
  // drops the spaces/tabs that only indent a block or comment tag on its own line.
  std::string control_left(std::string text, Tag tag, char sign) const {
    if (sign == '-') return std::string(python_rstrip(text));
    if (sign == '+' || tag == Tag::expr) return text;
    const std::size_t nl = text.rfind('\n');
    const std::size_t line = nl == std::string::npos ? 0 : nl + 1;
    if ((line > 0 || line_starting_) && text.find_first_not_of(" \t", line) == std::string::npos)
      text.resize(line);
    return text;
  }

  void emit_text(std::string text) {
    if (text.empty()) return;
    if (!out_.empty() && out_.back().kind == Kind::text) {
      out_.back().value += text;  // text on both sides of a vanished comment
    } else {
      out_.push_back({Kind::text, std::move(text)});
    }
  }

  // After `-%}`, `-}}` or `-#}`: Jinja's `\s*`.
  void skip_space_after_tag() {
    bool newline = false;
    while (std::size_t n = python_space_at(src_, pos_)) {
      newline = src_[pos_] == '\n' && n == 1;
      pos_ += n;
    }
    line_starting_ = newline;
  }

  // After a plain `%}` or `#}`: trim_blocks eats one newline.
  void trim_block_newline() {
    line_starting_ = pos_ < src_.size() && src_[pos_] == '\n';
    if (line_starting_) ++pos_;
  }

  bool skip_comment() {
    for (; pos_ < src_.size(); ++pos_) {
      if (starts_with("+#}")) {
        pos_ += 3;
        line_starting_ = false;
        return true;
      }
      if (starts_with("-#}")) {
        pos_ += 3;
        skip_space_after_tag();
        return true;
      }
      if (starts_with("#}")) {
        pos_ += 2;
        trim_block_newline();
        return true;
      }
    }
    return false;  // unterminated comment
  }

  bool try_tag_end(Tag tag) {
    if (tag == Tag::block) {
      if (starts_with("+%}")) {
        pos_ += 3;
        line_starting_ = false;
        return true;
      }
      if (starts_with("-%}")) {
        pos_ += 3;
        skip_space_after_tag();
        return true;
      }
      if (!starts_with("%}")) return false;
      pos_ += 2;
      trim_block_newline();
      return true;
    }
    if (starts_with("-}}")) {
      pos_ += 3;
      skip_space_after_tag();
      return true;
    }
    if (!starts_with("}}")) return false;
    pos_ += 2;
    line_starting_ = false;
    return true;
  }

  bool lex_tag(Tag tag) {
    out_.push_back({tag == Tag::block ? Kind::block_begin : Kind::expr_begin, {}});
    brackets_.clear();
    while (pos_ < src_.size()) {
      // Like Jinja, an end delimiter only counts outside brackets (`{{ {'a': {}} }}`).
      if (brackets_.empty() && try_tag_end(tag)) {
        out_.push_back({tag == Tag::block ? Kind::block_end : Kind::expr_end, {}});
        return true;
      }
      if (std::size_t n = python_space_at(src_, pos_)) {
        pos_ += n;
      } else if (src_[pos_] == '\'' || src_[pos_] == '"') {
        if (!lex_string()) return false;
      } else if (is_digit(src_[pos_])) {
        lex_number();
      } else if (is_name_char(src_[pos_])) {
        lex_name();
      } else if (!lex_operator()) {
        return false;
      }
    }
    return false;  // unterminated tag
  }

  // A string literal, decoded. Escapes beyond the common ones make the template unrecognised
  // rather than risk decoding them differently from Python's unicode-escape codec.
  bool lex_string() {
    const char quote = src_[pos_++];
    std::string value;
    while (pos_ < src_.size() && src_[pos_] != quote) {
      char c = src_[pos_++];
      if (c == '\\') {
        if (pos_ >= src_.size()) return false;
        switch (src_[pos_++]) {
          case 'n': c = '\n'; break;
          case 't': c = '\t'; break;
          case 'r': c = '\r'; break;
          case '\\': c = '\\'; break;
          case '\'': c = '\''; break;
          case '"': c = '"'; break;
          default: return false;
        }
      }
      value += c;
    }
    if (pos_ >= src_.size()) return false;  // unterminated string
    ++pos_;
    out_.push_back({Kind::string, std::move(value)});
    return true;
  }

  void lex_number() {
    const std::size_t start = pos_;
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      const bool fraction = c == '.' && pos_ + 1 < src_.size() && is_digit(src_[pos_ + 1]);
      const bool exponent_sign = (c == '+' || c == '-') &&
                                 (src_[pos_ - 1] == 'e' || src_[pos_ - 1] == 'E');
      if (!(is_name_char(c) || fraction || exponent_sign)) break;
      ++pos_;
    }
    out_.push_back({Kind::word, src_.substr(start, pos_ - start)});
  }

  void lex_name() {
    const std::size_t start = pos_;
    while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
    out_.push_back({Kind::word, src_.substr(start, pos_ - start)});
  }

  // Jinja's operators, longest first; anything else is a syntax error in Jinja.
  bool lex_operator() {
    for (std::string_view op : {"//", "**", "==", "!=", ">=", "<="}) {
      if (starts_with(op)) {
        out_.push_back({Kind::word, std::string(op)});
        pos_ += op.size();
        return true;
      }
    }
    const char c = src_[pos_];
    if (std::string_view("+-/*%~[](){}><=.:|,;").find(c) == std::string_view::npos) return false;
    if (!track_bracket(c)) return false;
    out_.push_back({Kind::word, std::string(1, c)});
    ++pos_;
    return true;
  }

  bool track_bracket(char c) {
    if (c == '(' || c == '[' || c == '{') {
      brackets_.push_back(c);
      return true;
    }
    const char open = c == ')' ? '(' : c == ']' ? '[' : c == '}' ? '{' : '\0';
    if (open == '\0') return true;
    if (brackets_.empty() || brackets_.back() != open) return false;
    brackets_.pop_back();
    return true;
  }

  std::string src_;
  std::size_t pos_ = 0;
  bool line_starting_ = true;  // the previous lexeme ended a line (or nothing came before)
  std::string brackets_;
  std::vector<JinjaToken> out_;
};

}  // namespace

std::optional<std::vector<JinjaToken>> canonical_jinja(std::string_view source) {
  return JinjaLexer(normalise_newlines(source)).run();
}

std::size_t python_space_at(std::string_view s, std::size_t pos) noexcept {
  if (pos >= s.size()) return 0;
  if (is_ascii_space(static_cast<unsigned char>(s[pos]))) return 1;
  for (std::string_view w : kWideSpaces) {
    if (s.compare(pos, w.size(), w) == 0) return w.size();
  }
  return 0;
}

std::string_view python_rstrip(std::string_view s) noexcept {
  std::size_t end = s.size();
  while (std::size_t n = python_space_before(s, end)) end -= n;
  return s.substr(0, end);
}

std::string_view python_strip(std::string_view s) noexcept {
  std::size_t begin = 0;
  while (std::size_t n = python_space_at(s, begin)) begin += n;
  return python_rstrip(s.substr(begin));
}

}  // namespace petalsln::text
