#pragma once
// The numeric building blocks of a Llama decoder, written to round the way transformers'
// float32 code does (same op order, same dtypes), so outputs match it to ~1e-6.

#include <torch/torch.h>

#include "petalsln/model/model_config.hpp"

namespace petalsln::model {

/// RMSNorm: x / sqrt(mean(x^2) + eps) computed in float32, scaled by @p weight.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

/// Rotary inverse frequencies [head_dim / 2] (float32), with the config's rope scaling.
at::Tensor rope_inverse_frequencies(const ModelConfig& config);

/// cos and sin tables [seq, head_dim] for positions start..start+seq-1.
std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& inv_freq, std::int64_t start, std::int64_t seq,
                                               at::ScalarType dtype);

/// Applies rotary embeddings to @p x [batch, heads, seq, head_dim].
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace petalsln::model
