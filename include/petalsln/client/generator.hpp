#pragma once
/// @file generator.hpp
/// Token generation: embeddings → blocks (a BlockPipeline) → LM head → sampler, streamed.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "petalsln/model/block_pipeline.hpp"
#include "petalsln/model/local_head.hpp"
#include "petalsln/text/sampler.hpp"
#include "petalsln/text/tokenizer.hpp"
#include "petalsln/util/token.hpp"

namespace petalsln {

/// What to generate and when to stop.
struct GenerationOptions {
  std::int64_t max_new_tokens = 128;  ///< Upper bound on new tokens (0: run nothing).
  SamplingParams sampling;            ///< Greedy by default.
  std::vector<TokenId> stop_ids;      ///< Generation ends after emitting any of these.
};

/// Why generation ended.
enum class StopReason {
  stop_token,  ///< A stop id was generated.
  length,      ///< max_new_tokens, or the model's context, was reached.
  cancelled,   ///< The token callback asked to stop.
};

/// Returns "stop_token", "length" or "cancelled".
const char* to_string(StopReason reason) noexcept;

/// The outcome of one generate() call.
struct GenerationResult {
  std::vector<TokenId> new_ids;  ///< Generated ids, including a final stop id if one was hit.
  std::string text;              ///< new_ids decoded with special tokens skipped.
  StopReason stop_reason = StopReason::length;
};

/// Receives each new token and the text it completes (possibly empty while a multi-byte
/// character is still incomplete). Return false to stop generating.
using TokenCallback = std::function<bool(TokenId id, const std::string& text_piece)>;

/// Drives one model through prefill and token-by-token decoding. Borrows its parts, which
/// must outlive it. Not thread-safe: one generate() at a time.
class Generator {
 public:
  /// Wires the parts together. The pipeline must cover the same model as @p head.
  Generator(const Tokenizer& tokenizer, const LocalHead& head, BlockPipeline& pipeline);

  /// Generates after @p prompt_ids. Throws Error(invalid_argument) for an empty prompt, a
  /// prompt longer than the model's context or invalid sampling parameters,
  /// Error(out_of_range) for prompt ids outside the vocabulary, and whatever the pipeline
  /// throws (the result so far is lost in that case).
  GenerationResult generate(const std::vector<TokenId>& prompt_ids, const GenerationOptions& options,
                            const TokenCallback& on_token = {});

 private:
  const Tokenizer& tokenizer_;
  const LocalHead& head_;
  BlockPipeline& pipeline_;
};

}  // namespace petalsln
