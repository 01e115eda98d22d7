#pragma once
/// @file local_head.hpp
/// The client-side ends of a Llama model: token embeddings, final norm and LM head.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "petalsln/model/block_stack.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/util/token.hpp"

namespace petalsln {

/// Embeddings, the final RMSNorm and the LM head (its own matrix, or the embeddings when
/// `tie_word_embeddings`). The client runs these; the blocks in between run anywhere.
class LocalHead {
 public:
  /// Loads the head tensors only. Throws the checkpoint's errors for missing/malformed ones.
  LocalHead(const ModelConfig& config, const Checkpoint& checkpoint, ComputeOptions options = {});
  ~LocalHead();
  LocalHead(LocalHead&&) noexcept;
  LocalHead& operator=(LocalHead&&) noexcept;

  /// Looks up @p ids ([batch][seq], rectangular) and returns hidden states [batch, seq, hidden].
  /// Throws Error(out_of_range) naming the first id outside [0, vocab_size), and
  /// Error(invalid_argument) for an empty or ragged batch.
  at::Tensor embed(const std::vector<std::vector<TokenId>>& ids) const;

  /// Applies the final norm and LM head to @p hidden ([batch, seq, hidden]) and returns float32
  /// logits [batch, seq, vocab_size]. Throws Error(invalid_argument) for a wrong shape.
  at::Tensor logits(const at::Tensor& hidden) const;

  /// Logits of the last position only, [batch, vocab_size] float32 (what decoding needs).
  at::Tensor last_logits(const at::Tensor& hidden) const;

  /// The model's configuration.
  const ModelConfig& config() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace petalsln
