#include "model/packed_matrix.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "model/work_pool.hpp"
#include "petalsln/model/compute_threads.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln::model {
namespace {

// Below this many weights a product is too short to be worth a hand-off to another thread.
constexpr std::int64_t kMinSplitWeights = std::int64_t{1} << 15;

kernels::Format kernel_format(WeightFormat f) {
  switch (f) {
    case WeightFormat::f32: return kernels::Format::f32;
    case WeightFormat::bf16: return kernels::Format::bf16;
    case WeightFormat::f16: return kernels::Format::f16;
    case WeightFormat::int8: return kernels::Format::int8;
  }
  return kernels::Format::f32;
}

template <class T>
void copy_bytes(std::vector<std::uint8_t>& out, const at::Tensor& t) {
  out.resize(static_cast<std::size_t>(t.numel()) * sizeof(T));
  std::memcpy(out.data(), t.data_ptr(), out.size());
}

// int8 rows: each 32 weights share s = max|w| / 127 and store round(w / s) (half away from
// zero, as llama.cpp's q8_0 does), so the largest weight of a block is kept exactly.
void quantize_int8(const float* w, std::int64_t rows, std::int64_t cols, std::vector<std::uint8_t>& q, std::vector<float>& scales) {
  const std::int64_t blocks = (cols + kernels::kInt8Block - 1) / kernels::kInt8Block;
  q.resize(static_cast<std::size_t>(rows * cols));
  scales.resize(static_cast<std::size_t>(rows * blocks));
  auto* out = reinterpret_cast<std::int8_t*>(q.data());
  for (std::int64_t n = 0; n < rows; ++n) {
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t k0 = b * kernels::kInt8Block, k1 = std::min(cols, k0 + kernels::kInt8Block);
      float amax = 0.0f;
      for (auto k = k0; k < k1; ++k) amax = std::max(amax, std::fabs(w[n * cols + k]));
      const float scale = amax / 127.0f;
      const float inverse = scale > 0.0f ? 1.0f / scale : 0.0f;
      scales[static_cast<std::size_t>(n * blocks + b)] = scale;
      for (auto k = k0; k < k1; ++k) {
        const float v = std::round(w[n * cols + k] * inverse);
        out[n * cols + k] = static_cast<std::int8_t>(std::clamp(v, -127.0f, 127.0f));
      }
    }
  }
}

struct ProductJob {
  kernels::MatrixView w;
  kernels::Product p;
  int parts = 1;
};

// Part boundaries on multiples of 8 rows, the widest tile: tiles never change a result, but
// whole tiles are faster.
std::int64_t part_start(std::int64_t rows, int part, int parts) {
  if (part >= parts) return rows;
  return std::min(rows, (rows * part / parts) / 8 * 8);
}

void run_product_part(void* context, int part) {
  const auto& job = *static_cast<const ProductJob*>(context);
  const auto lo = part_start(job.w.rows, part, job.parts), hi = part_start(job.w.rows, part + 1, job.parts);
  if (hi > lo) kernels::multiply_rows(job.w, job.p, lo, hi);
}

}  // namespace

PackedMatrix PackedMatrix::pack(const at::Tensor& weight, WeightFormat format) {
  if (!weight.defined() || weight.dim() != 2 || !weight.device().is_cpu() || !at::isFloatingType(weight.scalar_type()) ||
      weight.size(0) <= 0 || weight.size(1) <= 0) {
    throw Error(ErrorCode::invalid_argument, "a packed weight matrix needs a non-empty 2-D floating tensor on the CPU");
  }
  c10::InferenceMode guard;
  PackedMatrix m;
  m.format_ = format;
  m.rows_ = weight.size(0);
  m.cols_ = weight.size(1);
  const auto f32 = weight.to(at::kFloat).contiguous();
  switch (format) {
    case WeightFormat::f32: copy_bytes<float>(m.data_, f32); break;
    case WeightFormat::bf16: copy_bytes<std::uint16_t>(m.data_, f32.to(at::kBFloat16).contiguous()); break;
    case WeightFormat::f16: copy_bytes<std::uint16_t>(m.data_, f32.to(at::kHalf).contiguous()); break;
    case WeightFormat::int8: quantize_int8(f32.data_ptr<float>(), m.rows_, m.cols_, m.data_, m.scales_); break;
  }
  return m;
}

kernels::MatrixView PackedMatrix::view() const noexcept {
  kernels::MatrixView v;
  v.format = kernel_format(format_);
  v.data = data_.data();
  v.scales = scales_.data();
  v.rows = rows_;
  v.cols = cols_;
  v.blocks_per_row = (cols_ + kernels::kInt8Block - 1) / kernels::kInt8Block;
  return v;
}

void PackedMatrix::multiply(const float* x, std::int64_t m, float* out, std::int64_t out_stride, const float* bias) const {
  if (m <= 0) return;
  ProductJob job{view(), kernels::Product{x, m, cols_, out, out_stride, bias}, 1};
  const int threads = petalsln::compute_threads();
  if (threads > 1 && rows_ * cols_ >= kMinSplitWeights && rows_ >= 16) {
    // Two parts per thread for large products, so a worker that starts late still gets a share.
    job.parts = static_cast<int>(std::min<std::int64_t>(rows_ / 8, rows_ * cols_ >= (std::int64_t{1} << 20) ? 2 * threads : threads));
  }
  run_parts(job.parts, threads, run_product_part, &job);
}

void PackedMatrix::unpack_row(std::int64_t n, float* out) const { kernels::unpack_row(view(), n, out); }

at::Tensor PackedMatrix::unpack() const {
  auto t = at::empty({rows_, cols_}, at::kFloat);
  for (std::int64_t n = 0; n < rows_; ++n) unpack_row(n, t.data_ptr<float>() + n * cols_);
  return t;
}

std::int64_t PackedMatrix::bytes() const noexcept {
  return static_cast<std::int64_t>(data_.size() + scales_.size() * sizeof(float));
}

}  // namespace petalsln::model
