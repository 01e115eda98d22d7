#include "model/llama_ops.hpp"

#include <cmath>

namespace petalsln::model {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const auto in_dtype = x.scalar_type();
  auto xf = x.to(at::kFloat);
  auto variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * torch::rsqrt(variance + eps);
  return weight * xf.to(in_dtype);
}

at::Tensor rope_inverse_frequencies(const ModelConfig& config) {
  const auto dim = config.head_dim;
  auto exponents = torch::arange(0, dim, 2, torch::kInt64).to(torch::kFloat) / static_cast<double>(dim);
  auto inv_freq = 1.0 / torch::pow(config.rope_theta, exponents);
  const auto& rs = config.rope_scaling;
  if (rs.rope_type == "linear") return inv_freq / rs.factor;
  if (rs.rope_type != "llama3") return inv_freq;

  // llama3: long wavelengths are slowed by `factor`, short ones kept, and the band between
  // is interpolated smoothly (Meta's published formula, as transformers evaluates it).
  const double old_len = static_cast<double>(rs.original_max_position_embeddings);
  const double low_freq_wavelen = old_len / rs.low_freq_factor;
  const double high_freq_wavelen = old_len / rs.high_freq_factor;
  auto wavelen = 2.0 * M_PI / inv_freq;
  auto scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / rs.factor, inv_freq);
  auto smooth = (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
  auto smoothed = (1 - smooth) * scaled / rs.factor + smooth * scaled;
  auto is_medium = torch::logical_not(wavelen < high_freq_wavelen).logical_and(torch::logical_not(wavelen > low_freq_wavelen));
  return torch::where(is_medium, smoothed, scaled);
}

std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& inv_freq, std::int64_t start, std::int64_t seq,
                                               at::ScalarType dtype) {
  auto positions = torch::arange(start, start + seq, torch::TensorOptions().dtype(torch::kInt64).device(inv_freq.device()))
                       .to(torch::kFloat);
  auto freqs = torch::outer(positions, inv_freq);  // one multiply per entry, like HF's k=1 matmul
  auto emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const auto half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half);
  auto x2 = x.narrow(-1, half, half);
  auto rotated = torch::cat({-x2, x1}, -1);
  return x * cos + rotated * sin;
}

}  // namespace petalsln::model
