#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/pretokenizer_regex.hpp"

#include <pcre2.h>

#include "petalsln/util/error.hpp"

namespace petalsln::text {

namespace {

// Oniguruma's `\s` in Unicode mode: tab..carriage return, NEL, and the Z categories, which is
// the White_Space property exactly.
constexpr const char* kOnigSpaceItems = "\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}";

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  const int n = pcre2_get_error_message(code, buf, sizeof buf);
  if (n < 0) return "PCRE2 error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

// Per-thread match state: match data for one pair of offsets and, when a pattern needs it, a
// JIT stack larger than PCRE2's 32 KiB default.
struct MatchScratch {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* stack = nullptr;
  std::size_t stack_size = 0;

  MatchScratch() = default;
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;
  ~MatchScratch() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    if (stack != nullptr) pcre2_jit_stack_free(stack);
  }

  // Grows the JIT stack; false once it is as large as we allow.
  bool grow_stack() {
    constexpr std::size_t kMax = 64u << 20;
    const std::size_t next = stack_size == 0 ? (1u << 20) : stack_size * 4;
    if (next > kMax) return false;
    pcre2_jit_stack* grown = pcre2_jit_stack_create(32u << 10, next, nullptr);
    if (grown == nullptr) return false;
    if (stack != nullptr) pcre2_jit_stack_free(stack);
    stack = grown;
    stack_size = next;
    pcre2_jit_stack_assign(context, nullptr, stack);
    return true;
  }
};

MatchScratch& scratch() {
  thread_local MatchScratch s;
  if (s.data == nullptr || s.context == nullptr) throw Error(ErrorCode::internal, "out of memory for regex match data");
  return s;
}

}  // namespace

std::string onig_to_pcre2(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  bool in_class = false;
  std::size_t class_start = 0;  // index in `pattern` just past '[' or '[^'
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        out += in_class ? std::string(kOnigSpaceItems) : std::string("[") + kOnigSpaceItems + "]";
      } else if (e == 'S' && !in_class) {
        out += std::string("[^") + kOnigSpaceItems + "]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      class_start = i + 1;
      if (class_start < pattern.size() && pattern[class_start] == '^') {
        out += "[^";
        ++i;
        class_start = i + 1;
        continue;
      }
    } else if (in_class && c == ']' && i != class_start) {
      in_class = false;  // a ']' right after '[' or '[^' is a literal member
    }
    out += c;
  }
  return out;
}

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  Compiled() = default;
  Compiled(const Compiled&) = delete;
  Compiled& operator=(const Compiled&) = delete;
  ~Compiled() { pcre2_code_free(code); }
};

Regex::Regex(const std::string& pattern, bool literal) : compiled_(std::make_unique<Compiled>()), pattern_(pattern) {
  const std::string source = literal ? pattern : onig_to_pcre2(pattern);
  // PCRE2_LITERAL refuses PCRE2_UCP, which a literal does not need anyway. Oniguruma's
  // default (Ruby) syntax makes ^ and $ match at every line, hence PCRE2_MULTILINE.
  const std::uint32_t options =
      literal ? (PCRE2_UTF | PCRE2_LITERAL) : (PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE);
  int code = 0;
  PCRE2_SIZE offset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(), options, &code, &offset,
                                  nullptr);
  if (compiled_->code == nullptr) {
    throw Error(ErrorCode::invalid_format, "tokenizer.json: regex \"" + pattern + "\" does not compile: " +
                                               pcre2_message(code) + " (at offset " + std::to_string(offset) + ")");
  }
  // JIT is an optimisation only: without it pcre2_match interprets the same pattern.
  compiled_->jit = pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() = default;

bool Regex::find(std::string_view subject, std::size_t from, std::size_t& start, std::size_t& end) const {
  MatchScratch& s = scratch();
  for (;;) {
    // pcre2_jit_match skips the checks pcre2_match repeats on every call; the subject was
    // validated as UTF-8 once, up front.
    const auto* text = reinterpret_cast<PCRE2_SPTR>(subject.data());
    const int rc = compiled_->jit ? pcre2_jit_match(compiled_->code, text, subject.size(), from, 0, s.data, s.context)
                                  : pcre2_match(compiled_->code, text, subject.size(), from, PCRE2_NO_UTF_CHECK, s.data,
                                                s.context);
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && s.grow_stack()) continue;
    if (rc < 0) {
      throw Error(ErrorCode::internal, "regex \"" + pattern_ + "\" failed on a " + std::to_string(subject.size()) +
                                           "-byte piece: " + pcre2_message(rc));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.data);
    start = ov[0];
    end = ov[1];
    return true;
  }
}

std::size_t Regex::char_length_at(std::string_view s, std::size_t i) noexcept {
  if (i >= s.size()) return 1;
  const auto b = static_cast<unsigned char>(s[i]);
  if (b < 0xC0) return 1;
  if (b < 0xE0) return 2;
  if (b < 0xF0) return 3;
  return 4;
}

}  // namespace petalsln::text
