// Run-time choice between the AVX2 and portable builds, and the portable build itself.

#include "model/dot_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(PETALSLN_HAVE_AVX2_KERNELS)
#include <cpuid.h>
#endif

namespace petalsln::model::kernels {
namespace {

using std::int64_t;

#if defined(PETALSLN_HAVE_AVX2_KERNELS)
// CPUID itself (clang 14's __builtin_cpu_supports knows no "f16c"): AVX, FMA and F16C in leaf
// 1, AVX2 in leaf 7, and XGETBV to see that the OS saves the YMM registers.
bool detect_avx2() noexcept {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return false;
  const unsigned needed = (1u << 12) | (1u << 27) | (1u << 28) | (1u << 29);  // FMA, OSXSAVE, AVX, F16C
  if ((c & needed) != needed) return false;
  unsigned xcr0 = 0, xcr0_high = 0;
  __asm__("xgetbv" : "=a"(xcr0), "=d"(xcr0_high) : "c"(0));
  if ((xcr0 & 6u) != 6u) return false;  // XMM and YMM state
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
  return (b & (1u << 5)) != 0;  // AVX2
}
#endif

float weight_at(const MatrixView& w, int64_t n, int64_t k) noexcept {
  const auto i = n * w.cols + k;
  switch (w.format) {
    case Format::f32: return static_cast<const float*>(w.data)[i];
    case Format::bf16: return bf16_to_float(static_cast<const std::uint16_t*>(w.data)[i]);
    case Format::f16: return f16_to_float(static_cast<const std::uint16_t*>(w.data)[i]);
    case Format::int8: return static_cast<float>(static_cast<const std::int8_t*>(w.data)[i]) * w.scales[n * w.blocks_per_row + k / kInt8Block];
  }
  return 0.0f;
}

// Eight running sums, combined in the same tree as the AVX2 build's horizontal sum (so the two
// builds differ only where the FMA rounds once and a multiply-add twice).
float lanes_sum(const float lane[8]) noexcept {
  float s[4];
  for (int j = 0; j < 4; ++j) s[j] = lane[j] + lane[j + 4];
  return (s[0] + s[2]) + (s[1] + s[3]);
}

}  // namespace

bool cpu_has_avx2() noexcept {
#if defined(PETALSLN_HAVE_AVX2_KERNELS)
  static const bool has = detect_avx2();
  return has;
#else
  return false;
#endif
}

void multiply_rows(const MatrixView& w, const Product& p, int64_t n_begin, int64_t n_end) noexcept {
#if defined(PETALSLN_HAVE_AVX2_KERNELS)
  if (cpu_has_avx2()) return multiply_rows_avx2(w, p, n_begin, n_end);
#endif
  multiply_rows_portable(w, p, n_begin, n_end);
}

float dot(const float* a, const float* b, int64_t n) noexcept {
#if defined(PETALSLN_HAVE_AVX2_KERNELS)
  if (cpu_has_avx2()) return dot_avx2(a, b, n);
#endif
  return dot_portable(a, b, n);
}

void attend(const float* q, const float* keys, const float* values, int64_t length, int64_t dim, float scale, float* scores, float* out) noexcept {
#if defined(PETALSLN_HAVE_AVX2_KERNELS)
  if (cpu_has_avx2()) return attend_avx2(q, keys, values, length, dim, scale, scores, out);
#endif
  attend_portable(q, keys, values, length, dim, scale, scores, out);
}

void silu_times(const float* gate, const float* up, float* out, int64_t n) noexcept {
#if defined(PETALSLN_HAVE_AVX2_KERNELS)
  if (cpu_has_avx2()) return silu_times_avx2(gate, up, out, n);
#endif
  silu_times_portable(gate, up, out, n);
}

void multiply_rows_portable(const MatrixView& w, const Product& p, int64_t n_begin, int64_t n_end) noexcept {
  const int64_t body = w.cols & ~int64_t{7};
  for (int64_t n = n_begin; n < n_end; ++n) {
    for (int64_t i = 0; i < p.m; ++i) {
      const float* x = p.x + i * p.x_stride;
      float lane[8] = {};
      for (int64_t k = 0; k < body; k += 8)
        for (int j = 0; j < 8; ++j) lane[j] += weight_at(w, n, k + j) * x[k + j];
      float s = lanes_sum(lane);
      for (int64_t k = body; k < w.cols; ++k) s += weight_at(w, n, k) * x[k];
      if (p.bias) s += p.bias[n];
      p.out[i * p.out_stride + n] = s;
    }
  }
}

float dot_portable(const float* a, const float* b, int64_t n) noexcept {
  const int64_t body = n & ~int64_t{7};
  float lane[8] = {};
  for (int64_t k = 0; k < body; k += 8)
    for (int j = 0; j < 8; ++j) lane[j] += a[k + j] * b[k + j];
  float s = lanes_sum(lane);
  for (int64_t k = body; k < n; ++k) s += a[k] * b[k];
  return s;
}

void axpy_portable(float* y, float alpha, const float* x, int64_t n) noexcept {
  for (int64_t k = 0; k < n; ++k) y[k] += alpha * x[k];
}

void attend_portable(const float* q, const float* keys, const float* values, int64_t length, int64_t dim, float scale, float* scores,
                     float* out) noexcept {
  float top = -INFINITY;
  for (int64_t t = 0; t < length; ++t) top = std::max(top, scores[t] = dot_portable(q, keys + t * dim, dim) * scale);
  float sum = 0.0f;
  for (int64_t t = 0; t < length; ++t) sum += (scores[t] = std::exp(scores[t] - top));
  std::fill(out, out + dim, 0.0f);
  for (int64_t t = 0; t < length; ++t) axpy_portable(out, scores[t] / sum, values + t * dim, dim);
}

void silu_times_portable(const float* gate, const float* up, float* out, int64_t n) noexcept {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void unpack_row(const MatrixView& w, int64_t n, float* out) noexcept {
  for (int64_t k = 0; k < w.cols; ++k) out[k] = weight_at(w, n, k);
}

float bf16_to_float(std::uint16_t bits) noexcept {
  const std::uint32_t u = static_cast<std::uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

float f16_to_float(std::uint16_t bits) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const int exponent = (bits >> 10) & 0x1f;
  const std::uint32_t mantissa = bits & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal: exact
  } else if (exponent == 31) {
    magnitude = mantissa ? std::nanf("") : INFINITY;
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400u), exponent - 25);
  }
  std::uint32_t u;
  std::memcpy(&u, &magnitude, sizeof u);
  u |= sign;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace petalsln::model::kernels
