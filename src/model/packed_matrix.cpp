#include "model/packed_matrix.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

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

std::int64_t blocks_per_row(std::int64_t cols) { return (cols + kernels::kInt8Block - 1) / kernels::kInt8Block; }

std::int64_t data_bytes(WeightFormat format, std::int64_t rows, std::int64_t cols) {
  switch (format) {
    case WeightFormat::f32: return rows * cols * 4;
    case WeightFormat::bf16:
    case WeightFormat::f16: return rows * cols * 2;
    case WeightFormat::int8: return rows * cols;
  }
  return rows * cols * 4;
}

// int8 rows: each 32 weights share s = max|w| / 127 and store round(w / s) (half away from
// zero, as llama.cpp's q8_0 does), so the largest weight of a block is kept exactly.
void quantize_int8(const float* w, std::int64_t rows, std::int64_t cols, std::int8_t* out, float* scales) {
  const std::int64_t blocks = blocks_per_row(cols);
  for (std::int64_t n = 0; n < rows; ++n) {
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t k0 = b * kernels::kInt8Block, k1 = std::min(cols, k0 + kernels::kInt8Block);
      float amax = 0.0f;
      for (auto k = k0; k < k1; ++k) amax = std::max(amax, std::fabs(w[n * cols + k]));
      const float scale = amax / 127.0f;
      const float inverse = scale > 0.0f ? 1.0f / scale : 0.0f;
      scales[n * blocks + b] = scale;
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

std::int64_t PackedMatrix::arena_footprint(WeightFormat format, std::int64_t rows, std::int64_t cols) noexcept {
  const auto scales = format == WeightFormat::int8 ? WeightArena::footprint(rows * blocks_per_row(cols) * 4) : 0;
  return WeightArena::footprint(data_bytes(format, rows, cols)) + scales;
}

PackedMatrix PackedMatrix::pack(const at::Tensor& weight, WeightFormat format, const std::shared_ptr<WeightArena>& arena) {
  if (!weight.defined() || weight.dim() != 2 || !weight.device().is_cpu() || !at::isFloatingType(weight.scalar_type()) ||
      weight.size(0) <= 0 || weight.size(1) <= 0) {
    throw Error(ErrorCode::invalid_argument, "a packed weight matrix needs a non-empty 2-D floating tensor on the CPU");
  }
  c10::InferenceMode guard;
  PackedMatrix m;
  m.format_ = format;
  m.rows_ = weight.size(0);
  m.cols_ = weight.size(1);
  m.data_bytes_ = data_bytes(format, m.rows_, m.cols_);
  m.scale_count_ = format == WeightFormat::int8 ? m.rows_ * blocks_per_row(m.cols_) : 0;
  std::uint8_t* data = nullptr;
  float* scales = nullptr;
  if (arena) {
    data = arena->take(m.data_bytes_);
    if (m.scale_count_ > 0) scales = reinterpret_cast<float*>(arena->take(m.scale_count_ * 4));
    m.storage_ = arena;
  } else {
    auto own = std::make_shared<std::vector<std::uint8_t>>(static_cast<std::size_t>(m.data_bytes_ + m.scale_count_ * 4 + 64));
    data = own->data();
    scales = reinterpret_cast<float*>(own->data() + (m.data_bytes_ + 63) / 64 * 64);
    m.storage_ = own;
  }
  const auto f32 = weight.to(at::kFloat).contiguous();
  switch (format) {
    case WeightFormat::f32: std::memcpy(data, f32.data_ptr(), static_cast<std::size_t>(m.data_bytes_)); break;
    case WeightFormat::bf16: std::memcpy(data, f32.to(at::kBFloat16).contiguous().data_ptr(), static_cast<std::size_t>(m.data_bytes_)); break;
    case WeightFormat::f16: std::memcpy(data, f32.to(at::kHalf).contiguous().data_ptr(), static_cast<std::size_t>(m.data_bytes_)); break;
    case WeightFormat::int8: quantize_int8(f32.data_ptr<float>(), m.rows_, m.cols_, reinterpret_cast<std::int8_t*>(data), scales); break;
  }
  m.data_ = data;
  m.scales_ = scales;
  return m;
}

kernels::MatrixView PackedMatrix::view() const noexcept {
  kernels::MatrixView v;
  v.format = kernel_format(format_);
  v.data = data_;
  v.scales = scales_;
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
  return data_bytes_ + scale_count_ * 4;
}

}  // namespace petalsln::model
