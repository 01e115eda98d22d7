#include "text/pretokenizer.hpp"

#include <string>

#include <nlohmann/json.hpp>

#include "petalsln/util/error.hpp"
#include "text/pretokenizer_regex.hpp"
#include "text/unicode_text.hpp"

namespace petalsln::text {

namespace {

using nlohmann::json;

// The regex that HF's ByteLevel pre-tokenizer splits with when use_regex is true (GPT-2's).
constexpr const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

[[noreturn]] void malformed(const std::string& what) {
  throw Error(ErrorCode::invalid_format, "tokenizer.json: pre_tokenizer " + what);
}

const json& field(const json& object, const char* key) {
  static const json null_value;
  const auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

bool bool_field(const json& config, const char* key, bool fallback) {
  const json& v = field(config, key);
  if (v.is_null()) return fallback;
  if (!v.is_boolean()) malformed(std::string("field \"") + key + "\" must be a boolean");
  return v.get<bool>();
}

// How a Split treats the delimiters it finds (HF's SplitDelimiterBehavior).
enum class Behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

Behavior parse_behavior(const json& config) {
  const json& v = field(config, "behavior");
  if (!v.is_string()) malformed("Split needs a string \"behavior\"");
  const std::string b = v.get<std::string>();
  if (b == "Removed") return Behavior::removed;
  if (b == "Isolated") return Behavior::isolated;
  if (b == "MergedWithPrevious") return Behavior::merged_with_previous;
  if (b == "MergedWithNext") return Behavior::merged_with_next;
  if (b == "Contiguous") return Behavior::contiguous;
  throw Error(ErrorCode::unsupported, "tokenizer.json: unsupported Split behavior \"" + b + "\"");
}

// Turns the stream of (span, is_match) that covers a piece into the pieces a behavior keeps,
// exactly as HF's NormalizedString::split folds them. Spans arrive in order and contiguous.
class SpanFolder {
 public:
  SpanFolder(std::string_view piece, Behavior behavior, WordSink emit) : piece_(piece), behavior_(behavior), emit_(emit) {}

  void feed(std::size_t start, std::size_t end, bool is_match) {
    switch (behavior_) {
      case Behavior::isolated: emit(start, end); break;
      case Behavior::removed:
        if (!is_match) emit(start, end);
        break;
      case Behavior::contiguous: fold(start, end, has_pending_ && is_match == previous_match_); break;
      case Behavior::merged_with_previous: fold(start, end, has_pending_ && is_match && !previous_match_); break;
      case Behavior::merged_with_next:
        // A match joins the span after it when that span is not a match itself.
        if (has_pending_ && previous_match_ && !is_match) {
          pending_end_ = end;
          flush();
        } else {
          flush();
          pending(start, end);
          if (!is_match) flush();
        }
        break;
    }
    previous_match_ = is_match;
  }

  void finish() { flush(); }

 private:
  void emit(std::size_t start, std::size_t end) const {
    if (end > start) emit_(piece_.substr(start, end - start));
  }
  void fold(std::size_t start, std::size_t end, bool extend) {
    if (extend) {
      pending_end_ = end;
      return;
    }
    flush();
    pending(start, end);
  }
  void pending(std::size_t start, std::size_t end) {
    has_pending_ = true;
    pending_start_ = start;
    pending_end_ = end;
  }
  void flush() {
    if (has_pending_) emit(pending_start_, pending_end_);
    has_pending_ = false;
  }

  std::string_view piece_;
  Behavior behavior_;
  WordSink emit_;
  bool previous_match_ = false;
  bool has_pending_ = false;
  std::size_t pending_start_ = 0;
  std::size_t pending_end_ = 0;
};

// Feeds a folder the spans of HF's Pattern::find_matches for a regex: gaps and matches.
void fold_regex_matches(const Regex& regex, std::string_view piece, bool invert, SpanFolder& folder) {
  std::size_t prev = 0;
  regex.for_each_match(piece, [&](std::size_t start, std::size_t end) {
    if (prev != start) folder.feed(prev, start, invert);
    folder.feed(start, end, !invert);
    prev = end;
  });
  if (prev != piece.size()) folder.feed(prev, piece.size(), invert);
  folder.finish();
}

class SplitStep final : public PreTokenizerStep {
 public:
  explicit SplitStep(const json& config) : behavior_(parse_behavior(config)), invert_(bool_field(config, "invert", false)) {
    const json& pattern = field(config, "pattern");
    if (!pattern.is_object()) malformed("Split needs a \"pattern\" object");
    if (const json& r = field(pattern, "Regex"); r.is_string()) {
      regex_ = std::make_unique<Regex>(r.get<std::string>(), false);
    } else if (const json& s = field(pattern, "String"); s.is_string()) {
      regex_ = std::make_unique<Regex>(s.get<std::string>(), true);
    } else {
      malformed("Split pattern must be {\"Regex\": string} or {\"String\": string}");
    }
  }

  void split(std::string_view piece, WordSink emit) const override {
    SpanFolder folder(piece, behavior_, emit);
    fold_regex_matches(*regex_, piece, invert_, folder);
  }

 private:
  std::unique_ptr<Regex> regex_;
  Behavior behavior_;
  bool invert_;
};

// Digits: every numeric character is a match; individual digits stay alone, otherwise runs of
// them are kept together.
class DigitsStep final : public PreTokenizerStep {
 public:
  explicit DigitsStep(const json& config) : individual_(bool_field(config, "individual_digits", false)) {}

  void split(std::string_view piece, WordSink emit) const override {
    SpanFolder folder(piece, individual_ ? Behavior::isolated : Behavior::contiguous, emit);
    std::size_t gap_start = 0;
    std::size_t i = 0;
    while (i < piece.size()) {
      const std::size_t at = i;
      const char32_t cp = next_code_point(piece, i);
      if (!is_numeric_char(cp)) continue;
      if (gap_start < at) folder.feed(gap_start, at, false);
      folder.feed(at, i, true);
      gap_start = i;
    }
    if (gap_start < piece.size()) folder.feed(gap_start, piece.size(), false);
    folder.finish();
  }

 private:
  bool individual_;
};

// ByteLevel: optional leading space and the GPT-2 split. Mapping bytes to the byte alphabet
// is left to the BPE model, which works on raw bytes directly.
class ByteLevelStep final : public PreTokenizerStep {
 public:
  explicit ByteLevelStep(const json& config)
      : add_prefix_space_(bool_field(config, "add_prefix_space", true)) {
    if (bool_field(config, "use_regex", true)) regex_ = std::make_unique<Regex>(kGpt2Pattern, false);
  }

  void split(std::string_view piece, WordSink emit) const override {
    if (add_prefix_space_ && (piece.empty() || piece.front() != ' ')) {
      std::string spaced;
      spaced.reserve(piece.size() + 1);
      spaced += ' ';
      spaced += piece;
      split_spaced(spaced, emit);
    } else {
      split_spaced(piece, emit);
    }
  }

 private:
  void split_spaced(std::string_view piece, WordSink emit) const {
    if (!regex_) {
      if (!piece.empty()) emit(piece);
      return;
    }
    SpanFolder folder(piece, Behavior::isolated, emit);
    fold_regex_matches(*regex_, piece, false, folder);
  }

  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

}  // namespace

PreTokenizer::PreTokenizer(const json& config) {
  if (!config.is_null()) add(config, 0);
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

void PreTokenizer::add(const json& config, int depth) {
  // Real files nest one Sequence at most; the limit keeps a hostile file off the stack.
  if (depth > 16) malformed("Sequences are nested too deeply");
  if (!config.is_object()) malformed("must be an object or null");
  const json& type_value = field(config, "type");
  if (!type_value.is_string()) malformed("entry needs a string \"type\"");
  const std::string type = type_value.get<std::string>();
  if (byte_level_) {
    // Steps after ByteLevel would see byte-alphabet text; no known tokenizer does that.
    throw Error(ErrorCode::unsupported, "tokenizer.json: pre-tokenizer \"" + type + "\" after ByteLevel is not supported");
  }
  if (type == "Sequence") {
    const json& list = field(config, "pretokenizers");
    if (!list.is_array()) malformed("Sequence needs a \"pretokenizers\" array");
    for (const auto& step : list) add(step, depth + 1);
  } else if (type == "Split") {
    steps_.push_back(std::make_unique<SplitStep>(config));
  } else if (type == "Digits") {
    steps_.push_back(std::make_unique<DigitsStep>(config));
  } else if (type == "ByteLevel") {
    steps_.push_back(std::make_unique<ByteLevelStep>(config));
    byte_level_ = true;
  } else {
    throw Error(ErrorCode::unsupported, "tokenizer.json: unsupported pre-tokenizer type \"" + type + "\"");
  }
}

void PreTokenizer::run_from(std::size_t step, std::string_view text, WordSink emit) const {
  if (text.empty()) return;
  if (step == steps_.size()) {
    emit(text);
    return;
  }
  steps_[step]->split(text, [&](std::string_view piece) { run_from(step + 1, piece, emit); });
}

}  // namespace petalsln::text
