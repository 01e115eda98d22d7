#pragma once
// The inner loops of the CPU engine: products of packed weight matrices with float32 rows,
// the dot of norms, attention and SiLU. One AVX2+FMA+F16C build (dot_kernels_avx2.cpp,
// compiled with those flags and chosen at run time when the CPU has them) and one portable
// build.
//
// Why hand-written: Debian bookworm's oneDNN (2.6) has no weight-only int8 with per-block
// scales, no f16 matmul on the CPU, and bf16 only on AVX-512; OpenBLAS has no 16-bit or int8
// GEMV; and libtorch's linear packs the whole weight matrix for one row (docs/BENCHMARKS.md).
//
// Every output is one dot product accumulated in one fixed order (8-wide chunks of k in
// sequence into one vector accumulator, then a fixed horizontal sum, then the tail), whatever
// the number of rows multiplied together or the tile that computes it: a session's output does
// not depend on which other sessions share its batch (bit for bit).
//
// This header includes nothing but <cstdint>: the AVX2 file must not instantiate any inline
// library code that the linker could pick for other files (they must run without AVX2).

#include <cstdint>

namespace petalsln::model::kernels {

/// Storage format of a packed matrix (mirrors petalsln::WeightFormat).
enum class Format : int { f32 = 0, bf16 = 1, f16 = 2, int8 = 3 };

/// Weights per int8 scale.
constexpr std::int64_t kInt8Block = 32;

/// A packed row-major [rows, cols] matrix. For int8, `scales` holds one float per kInt8Block
/// weights of each row (row n's block j at scales[n * blocks_per_row + j]).
struct MatrixView {
  Format format = Format::f32;
  const void* data = nullptr;
  const float* scales = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t blocks_per_row = 0;
};

/// out[i * out_stride + n] = sum_k W[n][k] * x[i * x_stride + k] (+ bias[n]) for rows i of x
/// in [0, m) and weight rows n in [n_begin, n_end).
struct Product {
  const float* x = nullptr;
  std::int64_t m = 0;
  std::int64_t x_stride = 0;
  float* out = nullptr;
  std::int64_t out_stride = 0;
  const float* bias = nullptr;  ///< may be null
};

/// True when this CPU runs the AVX2 build (AVX2, FMA and F16C).
bool cpu_has_avx2() noexcept;

/// The product for weight rows [n_begin, n_end), with the build chosen for this CPU.
void multiply_rows(const MatrixView& w, const Product& p, std::int64_t n_begin, std::int64_t n_end) noexcept;

/// sum_k a[k] * b[k], in the same fixed order as multiply_rows uses per output.
float dot(const float* a, const float* b, std::int64_t n) noexcept;

/// Single-query attention of one head over @p length cached positions: out = sum_t p_t v_t with
/// p = softmax(scale * q . k_t), for @p q, @p keys and @p values of @p dim floats per position
/// (keys and values row-major, @p length rows). @p scores needs @p length + 8 floats of scratch.
/// The result depends only on these arguments (not on other heads or rows computed with it).
void attend(const float* q, const float* keys, const float* values, std::int64_t length, std::int64_t dim, float scale, float* scores,
            float* out) noexcept;

/// out[i] = gate[i] / (1 + exp(-gate[i])) * up[i] for i in [0, n): SiLU(gate) times up, as
/// Llama's MLP combines its two projections. The AVX2 build takes exp from glibc's libmvec
/// (within 3 ulp of expf); every element is computed the same way whatever n is.
void silu_times(const float* gate, const float* up, float* out, std::int64_t n) noexcept;

/// Row n of @p w as float32 into @p out (cols values).
void unpack_row(const MatrixView& w, std::int64_t n, float* out) noexcept;

// The two builds (dispatched by the functions above).
void multiply_rows_avx2(const MatrixView& w, const Product& p, std::int64_t n_begin, std::int64_t n_end) noexcept;
void multiply_rows_portable(const MatrixView& w, const Product& p, std::int64_t n_begin, std::int64_t n_end) noexcept;
float dot_avx2(const float* a, const float* b, std::int64_t n) noexcept;
float dot_portable(const float* a, const float* b, std::int64_t n) noexcept;
void axpy_portable(float* y, float alpha, const float* x, std::int64_t n) noexcept;
void attend_avx2(const float* q, const float* keys, const float* values, std::int64_t length, std::int64_t dim, float scale, float* scores,
                 float* out) noexcept;
void attend_portable(const float* q, const float* keys, const float* values, std::int64_t length, std::int64_t dim, float scale, float* scores,
                     float* out) noexcept;
void silu_times_avx2(const float* gate, const float* up, float* out, std::int64_t n) noexcept;
void silu_times_portable(const float* gate, const float* up, float* out, std::int64_t n) noexcept;

/// float32 from bfloat16 bits and IEEE half bits (exact conversions).
float bf16_to_float(std::uint16_t bits) noexcept;
float f16_to_float(std::uint16_t bits) noexcept;

}  // namespace petalsln::model::kernels
