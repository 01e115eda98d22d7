#pragma once
// A weight matrix kept in the format a server or a local model chose (float32, bf16, f16, or
// int8 with a float32 scale per 32 weights), multiplied with float32 rows on persistent threads.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>

#include "model/dot_kernels.hpp"
#include "model/weight_arena.hpp"
#include "petalsln/model/weight_format.hpp"

namespace petalsln::model {

/// A row-major [rows, cols] weight matrix in one WeightFormat. Immutable once packed; products
/// on several threads at once are safe.
class PackedMatrix {
 public:
  PackedMatrix() = default;

  /// Packs @p weight (a 2-D floating tensor on the CPU; converted to float32 first) in
  /// @p format: bf16 and f16 round to nearest even, int8 stores round(w / s) with s the
  /// absolute maximum of each 32 weights of a row divided by 127. The values go into slices
  /// of @p arena (which the matrix then keeps alive), or into an allocation of their own when
  /// it is null. Throws Error(invalid_argument) for another shape or device, and the arena's
  /// errors.
  static PackedMatrix pack(const at::Tensor& weight, WeightFormat format, const std::shared_ptr<WeightArena>& arena = nullptr);

  /// Bytes an arena gives up to hold a @p rows x @p cols matrix in @p format.
  static std::int64_t arena_footprint(WeightFormat format, std::int64_t rows, std::int64_t cols) noexcept;

  /// out[i][n] = sum_k W[n][k] * x[i][k] (+ bias[n]) for the @p m rows of @p x (row stride
  /// cols()) into @p out (row stride @p out_stride), on compute_threads() threads. Each output
  /// is computed the same way whatever @p m is (dot_kernels.hpp). @p bias may be null.
  void multiply(const float* x, std::int64_t m, float* out, std::int64_t out_stride, const float* bias = nullptr) const;

  /// Row @p n as float32 into @p out (cols() values).
  void unpack_row(std::int64_t n, float* out) const;

  /// The whole matrix as a float32 tensor [rows, cols] (the values products use).
  at::Tensor unpack() const;

  /// The format the weights are kept in.
  WeightFormat format() const noexcept { return format_; }
  /// Output features.
  std::int64_t rows() const noexcept { return rows_; }
  /// Input features.
  std::int64_t cols() const noexcept { return cols_; }
  /// Bytes held (weights and scales).
  std::int64_t bytes() const noexcept;
  /// True once packed.
  bool defined() const noexcept { return rows_ > 0; }
  /// The kernels' view of the stored weights (valid while this matrix lives).
  kernels::MatrixView view() const noexcept;

 private:

  WeightFormat format_ = WeightFormat::f32;
  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
  std::shared_ptr<const void> storage_;  // keeps data_ and scales_ alive (an arena or their own)
  const std::uint8_t* data_ = nullptr;
  std::int64_t data_bytes_ = 0;
  const float* scales_ = nullptr;  // int8 only: rows * ceil(cols / 32)
  std::int64_t scale_count_ = 0;
};

}  // namespace petalsln::model
