#pragma once
// The pre-tokenizers of tokenizer.json (Sequence, Split, ByteLevel, Digits): they cut a piece
// of normalized text into the words that BPE then encodes one by one.

#include <memory>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "text/tokenizer_function_ref.hpp"

namespace petalsln::text {

/// Receives each final word (non-empty).
using WordSink = FunctionRef<void(std::string_view)>;

/// One step of the pipeline.
class PreTokenizerStep {
 public:
  virtual ~PreTokenizerStep() = default;
  /// Splits @p piece and passes every non-empty sub-piece to @p emit, in order.
  virtual void split(std::string_view piece, WordSink emit) const = 0;
};

/// The whole pre-tokenizer of a tokenizer.json, flattened into a list of steps.
class PreTokenizer {
 public:
  /// Builds it from the "pre_tokenizer" value (null means: the whole piece is one word).
  /// Throws Error(unsupported) naming an unknown type, Error(invalid_format) for a malformed
  /// entry.
  explicit PreTokenizer(const nlohmann::json& config);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  /// Cuts @p text into words; the byte-level mapping is left to the BPE model.
  void run(std::string_view text, WordSink emit) const { run_from(0, text, emit); }

  /// True if a ByteLevel step is present: words are then raw bytes that BPE sees through the
  /// GPT-2 byte alphabet.
  bool byte_level() const noexcept { return byte_level_; }

 private:
  void run_from(std::size_t step, std::string_view text, WordSink emit) const;
  void add(const nlohmann::json& config, int depth);

  std::vector<std::unique_ptr<PreTokenizerStep>> steps_;
  bool byte_level_ = false;
};

}  // namespace petalsln::text
