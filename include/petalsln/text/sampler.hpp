#pragma once
/// @file sampler.hpp
/// Picks the next token from a row of logits, the way Hugging Face transformers' `generate`
/// does: repetition penalty, then (when sampling) temperature, top-k and top-p, then softmax,
/// then a greedy argmax or a seeded random draw. Plain C++ over float arrays.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "petalsln/util/token.hpp"

namespace petalsln {

/// How to choose tokens. The defaults are greedy decoding with no penalty.
struct SamplingParams {
  /// true: take the most likely token (after the repetition penalty); temperature, top_k and
  /// top_p are then ignored, as with transformers' `do_sample=False`.
  bool greedy = true;
  /// Divides the logits before sampling; must be finite and > 0 when greedy is false.
  float temperature = 1.0f;
  /// Keeps only the top_k most likely tokens (plus any tied with the k-th); 0 disables.
  int top_k = 0;
  /// Keeps the smallest set of most likely tokens whose probability reaches top_p; in (0, 1],
  /// 1 disables. Interpreted as the shortest decimal that rounds to this float (0.9f acts as
  /// 0.9), exactly as transformers sees the Python float a user writes.
  float top_p = 1.0f;
  /// transformers' repetition penalty: the logit of every token already in the sequence is
  /// divided by it when positive, multiplied by it when negative; 1 disables; must be > 0.
  float repetition_penalty = 1.0f;
  /// Seeds the random draws; the same seed gives the same tokens on every platform.
  std::uint64_t seed = 0;

  /// Throws Error(invalid_argument) naming the offending field if temperature is <= 0 or not
  /// finite while greedy is false, top_k < 0, top_p is not in (0, 1], or repetition_penalty is
  /// <= 0 or not finite.
  void validate() const;
};

/// Turns logits into tokens. Not thread-safe (sample() advances the random generator); use
/// one Sampler per generation stream.
///
/// The random generator is xoshiro256** seeded through splitmix64 from SamplingParams::seed,
/// and a draw is an inverse-CDF lookup of one double in [0, 1): integer and IEEE arithmetic
/// only, so the same seed, logits and history give the same tokens on every platform and
/// compiler (the one caveat: math libraries may differ in the last bit of exp(), which could
/// only matter for a draw landing within about 1e-16 of a boundary). It is not PyTorch's
/// generator, so the tokens differ from transformers' for the same seed; the distribution they
/// are drawn from is the same.
class Sampler {
 public:
  /// Creates a sampler. Throws Error(invalid_argument) if @p params fails validate().
  explicit Sampler(SamplingParams params);

  /// Returns the probability of each of the @p vocab tokens after transformers' processors, in
  /// this order: repetition penalty over the distinct ids in @p previous_ids; then, unless
  /// greedy, temperature, top-k (ties with the k-th largest kept) and top-p (at least one token
  /// kept); then softmax. Removed tokens get probability 0. Matches float32 PyTorch within
  /// 1e-5. Ties straddling the top-p cut are broken by keeping the higher token id (PyTorch's
  /// sort leaves that order unspecified).
  /// Logits may be -inf (a masked token) but not NaN or +inf, and at least one must be finite.
  /// Throws Error(invalid_argument) if @p logits is null, @p vocab is 0 or above INT32_MAX, or
  /// the logits are invalid as above; Error(out_of_range) if an id in @p previous_ids is not in
  /// [0, vocab).
  std::vector<float> probabilities(const float* logits, std::size_t vocab,
                                   const std::vector<TokenId>& previous_ids) const;

  /// Returns the next token. Greedy: the argmax of the penalised logits (the lowest id among
  /// equal maxima, like torch.argmax). Otherwise a draw from probabilities(), which advances the
  /// random generator. Throws what probabilities() throws.
  TokenId sample(const float* logits, std::size_t vocab, const std::vector<TokenId>& previous_ids);

  /// Returns the parameters this sampler was created with.
  const SamplingParams& params() const noexcept { return params_; }

 private:
  std::vector<float> penalised_logits(const float* logits, std::size_t vocab,
                                      const std::vector<TokenId>& previous_ids) const;
  double next_uniform();

  SamplingParams params_;
  std::array<std::uint64_t, 4> rng_state_{};
};

}  // namespace petalsln
